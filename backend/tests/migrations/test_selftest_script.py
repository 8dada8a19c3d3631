"""scripts/test_migration.py as a user runs it: passes on a sound database, fails (exit 1) when data is off."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import LEGACY_DIR, LEGACY_STAMPED, LEGACY_UNVERSIONED, run_cli


def test_selftest_on_postgres_with_both_legacy_samples(postgres_server: str) -> None:
    result = run_cli(
        "python",
        "scripts/test_migration.py",
        "--database-url",
        postgres_server,
        "--legacy",
        str(LEGACY_STAMPED),
        "--legacy",
        str(LEGACY_UNVERSIONED),
        "--json",
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    names = [step["name"] for step in report["steps"]]
    assert report["ok"] is True
    assert "downgrade head -> base leaves no table" in names
    assert names.count("every row and value survived the upgrade (compared with the original file)") == 2
    assert names.count("legacy passwords still verify (bcrypt)") == 2
    assert all(step["ok"] for step in report["steps"])


def test_selftest_fails_when_the_manifest_disagrees(tmp_path: Path) -> None:
    legacy = tmp_path / "secureai-legacy.db"
    shutil.copyfile(LEGACY_STAMPED, legacy)
    manifest = json.loads((LEGACY_DIR / "secureai-legacy.manifest.json").read_text())
    manifest["counts"]["vulnerabilities"] += 1
    manifest["passwords"]["admin"] = "not-the-password"
    (tmp_path / "secureai-legacy.manifest.json").write_text(json.dumps(manifest))

    result = run_cli("python", "scripts/test_migration.py", "--skip-fresh", "--legacy", str(legacy))

    assert result.returncode == 1
    output = " ".join(result.stdout.split())
    assert "FAIL row counts equal the manifest" in output
    assert "FAIL legacy passwords still verify (bcrypt)" in output
    assert "PASS every row and value survived the upgrade" in output


def test_selftest_rejects_a_missing_file(tmp_path: Path) -> None:
    result = run_cli("python", "scripts/test_migration.py", "--legacy", str(tmp_path / "nope.db"))
    assert result.returncode == 2
    assert "no such file" in result.stderr
