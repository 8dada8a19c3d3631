# SecureAI developer and operator entry points. Every target sets itself up: a fresh clone needs only
# python3.11 (and, for the tests, the PostgreSQL and Redis servers the tests talk to).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
BACKEND := backend
VENV := $(BACKEND)/.venv
BIN := $(VENV)/bin
export UV_PROJECT_ENVIRONMENT := .venv
export UV_PYTHON_DOWNLOADS := never
# Demo data lives in the repository's data/ directory unless the caller says otherwise.
DEMO_DATA ?= $(CURDIR)/data
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: help setup system-deps demo serve test lint typecheck pytest migration-selftest bench lock clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/'

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

# Extras to install: mcp (`secureai mcp scan`) and litellm (the litellm target type) always, so their tests run
# wherever the tests do; `make test` adds local-model (the real-LLM test; llama-cpp-python compiles once per
# machine, 5-10 min on 2 cores, then comes from a per-machine wheelhouse: see tools/sync-venv.sh).
EXTRAS ?= --extra mcp --extra litellm

setup: $(UV)  ## create backend/.venv with the locked dependencies (uv.lock)
	tools/sync-venv.sh $(UV) $(PYTHON) $(EXTRAS)

# Debian packages the tests need beyond Python: poppler-utils (pdftotext, pdftoppm: the PDF report's checks),
# HarfBuzz's subsetter (WeasyPrint embeds font subsets with it; without it, a slower fallback) and chromium
# (browser tests, driven by Playwright; Playwright's own browser download does not work here). Pango comes
# with the base system. Installed only when missing, and only where apt-get can run (root).
SYSTEM_PACKAGES := poppler-utils libharfbuzz-subset0 chromium
system-deps:  ## install the Debian packages the tests use, if missing (needs root and apt-get)
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing $$missing"; \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null || \
			{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null; }; \
		else echo "missing Debian packages: $$missing (install them: apt-get install $$missing)"; exit 1; fi; \
	fi

demo: setup  ## the main job: migrate SQLite, start the server and a vulnerable simulator, scan it via the API
	cd $(BACKEND) && SECUREAI_DEMO=1 SECUREAI_DATA_DIR=$(DEMO_DATA) .venv/bin/secureai demo --host $(HOST) --port $(PORT)

serve: setup  ## the API server alone on the demo data (no scan)
	cd $(BACKEND) && SECUREAI_DEMO=1 SECUREAI_DATA_DIR=$(DEMO_DATA) .venv/bin/secureai db upgrade
	cd $(BACKEND) && SECUREAI_DEMO=1 SECUREAI_DATA_DIR=$(DEMO_DATA) .venv/bin/secureai serve --host $(HOST) --port $(PORT)

test: EXTRAS := --extra local-model --extra mcp --extra litellm
test: system-deps setup lint typecheck pytest  ## everything CI runs: ruff, mypy, pytest (with the local-model, mcp and litellm extras)

lint: setup  ## ruff lint and format check, and the layer contracts ([tool.importlinter] in backend/pyproject.toml)
	cd $(BACKEND) && .venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/lint-imports

typecheck: setup  ## mypy --strict over the package, scripts and benchmarks
	cd $(BACKEND) && .venv/bin/mypy app scripts ../bench

pytest: setup  ## the test suite (PostgreSQL and Redis tests need 127.0.0.1:5432 and :6379, else they skip saying so (fail under CI=true))
	cd $(BACKEND) && .venv/bin/pytest -n 2 --dist loadfile --durations=20 $(PYTEST_ARGS)

migration-selftest: setup  ## the guide's self-test on SQLite, with both legacy samples
	cd $(BACKEND) && .venv/bin/python scripts/test_migration.py \
		--legacy tests/fixtures/legacy/secureai-legacy.db --legacy tests/fixtures/legacy/secureai-legacy-unversioned.db

bench: setup  ## run every benchmark; each prints one JSON line
	cd $(BACKEND) && for b in ../bench/[a-z]*.py; do .venv/bin/python $$b || exit 1; done

lock: $(UV)  ## refresh uv.lock after changing dependencies in backend/pyproject.toml
	cd $(BACKEND) && ../$(UV) lock

clean:  ## remove the virtual environments and caches (not data/)
	rm -rf $(TOOLS) $(VENV) $(BACKEND)/.mypy_cache $(BACKEND)/.ruff_cache $(BACKEND)/.pytest_cache
