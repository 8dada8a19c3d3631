# syntax=docker/dockerfile:1
# SecureAI server and worker image (docs/deploy.md). Build from the repository root:
#   docker build -t secureai:0.1.0 .
#
# The base is pinned by digest so that a rebuild starts from the same bytes. The digest below is the one
# published for python:3.11-slim-bookworm as referenced by public Dockerfiles; it was NOT checked against the
# registry from the machine this file was written on (no registry access there). Check it, or move to a newer
# one, with `docker buildx imagetools inspect python:3.11-slim-bookworm` and override it at build time:
#   docker build --build-arg PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:<digest> .
# Bookworm (Debian 12) is the base on purpose: its postgresql-client-15 matches the PostgreSQL major the
# project is tested against, and it is the Debian release the tests run on.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b

# ---- build: the locked dependencies into a virtualenv, then the project as a wheel -------------------------
FROM ${PYTHON_IMAGE} AS build
# the uv release the Makefile uses (UV_VERSION there)
ARG UV_VERSION=0.13.8
ENV UV_PROJECT_ENVIRONMENT=/opt/secureai \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
WORKDIR /src/backend
# dependencies first (exactly uv.lock, without the dev group and the optional extras), so that a change in the
# code alone does not reinstall them
COPY backend/pyproject.toml backend/uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project --python /usr/local/bin/python3.11
COPY backend/ ./
RUN uv build --wheel --out-dir /dist \
    && uv pip install --python /opt/secureai/bin/python --no-deps /dist/secureai-*.whl

# ---- runtime: no compilers, no uv, no sources; the virtualenv and the system libraries it needs ------------
FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="SecureAI" \
      org.opencontainers.image.description="Self-hosted security testing for LLM applications: server and worker" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.documentation="docs/deploy.md" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11-slim-bookworm"
# WeasyPrint (PDF reports): Pango, its FreeType backend, HarfBuzz's subsetter and the DejaVu fonts the report
# stylesheet names; pg_dump and pg_restore of PostgreSQL 15 for `secureai db backup`. Versions come from the
# Debian release of the pinned base (bookworm's security updates included), hence no per-package pins.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core postgresql-client-15 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 secureai \
    && useradd --system --uid 10001 --gid secureai --home-dir /var/lib/secureai --shell /usr/sbin/nologin secureai \
    && install -d -o secureai -g secureai -m 0700 /var/lib/secureai /var/lib/secureai/backups
COPY --from=build /opt/secureai /opt/secureai
# /app is where `docker compose exec backend alembic upgrade head` runs (the migration guide's command): the
# repository's alembic.ini beside `app`, a link to the installed package, so its `%(here)s/app/db/migrations`
# is the migrations of the package the server runs.
WORKDIR /app
COPY backend/alembic.ini ./alembic.ini
RUN ln -s /opt/secureai/lib/python3.11/site-packages/app /app/app
ENV PATH=/opt/secureai/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SECUREAI_DATA_DIR=/var/lib/secureai
USER 10001:10001
EXPOSE 8000
VOLUME ["/var/lib/secureai"]
# /ready answers 200 once the database is reachable and migrated (and the broker answers, with
# SECUREAI_QUEUE=celery); 503 otherwise. urllib raises on a 503, so the check fails then.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/ready', timeout=4)"]
# wait for the database (and broker), migrate unless SECUREAI_MIGRATE_ON_START=0, serve
CMD ["secureai", "start", "--host", "0.0.0.0", "--port", "8000"]
