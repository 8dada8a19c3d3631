"""scripts/test_migration.py's usage, in-process (its main()): what it refuses before doing anything, the paths
its help, the README and `make migration-selftest` give, and the password it never prints."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from collections.abc import Callable
from types import ModuleType

import pytest

from tests.conftest import BACKEND_DIR, LEGACY_STAMPED

REPOSITORY = BACKEND_DIR.parent


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "test_migration_script", BACKEND_DIR / "scripts" / "test_migration.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def run(main: Callable[[list[str]], int], capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    try:
        code = main(list(args))
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, " ".join((captured.out + captured.err).split())


def test_skip_fresh_alone_is_a_usage_error(script: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    code, output = run(script.main, capsys, "--skip-fresh")
    assert code == 2
    assert "--skip-fresh leaves only the --legacy checks: give at least one --legacy PATH" in output
    assert "checks passed" not in output


def test_legacy_checks_say_first_that_they_need_the_key(
    script: ModuleType, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SECUREAI_SECRET_KEY")
    from app.config import get_settings

    get_settings.cache_clear()
    code, output = run(script.main, capsys, "--legacy", str(LEGACY_STAMPED))
    assert code == 2
    assert "SECUREAI_SECRET_KEY is required to seal the credentials of 40 legacy scan configuration(s)" in output
    assert "PASS" not in output and "FAIL" not in output  # refused before the fresh run started


def test_the_database_password_is_masked(script: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    code, output = run(script.main, capsys, "--database-url", "postgresql://ops:s3cret-pw@127.0.0.1:1/none")
    assert code == 1
    assert "postgresql://ops:***@127.0.0.1:1/none" in output
    assert "s3cret-pw" not in output


def test_every_legacy_path_in_the_help_readme_and_makefile_is_in_the_repository(script: ModuleType) -> None:
    """Run from backend/ as they say; each must be a file git tracks (a fresh clone has it)."""
    makefile = (REPOSITORY / "Makefile").read_text()
    recipe = makefile.split("migration-selftest:", 1)[1].split("\n\n", 1)[0]
    sources = {"--help": script.__doc__ or "", "README.md": (REPOSITORY / "README.md").read_text(), "Makefile": recipe}
    tracked = set(
        subprocess.run(
            ["git", "ls-files"], cwd=BACKEND_DIR, capture_output=True, text=True, check=True
        ).stdout.splitlines()
    )
    found = 0
    for source, text in sources.items():
        for path in re.findall(r"--legacy\s+(\S+\.db)", text):
            found += 1
            resolved = (BACKEND_DIR / path).resolve()
            assert resolved.is_relative_to(REPOSITORY), f"{source}: {path} lies outside the repository"
            assert str(resolved.relative_to(BACKEND_DIR)) in tracked, f"{source}: {path} is not in the repository"
    assert found >= 4
