"""The README's first command: `secureai demo` scans the simulator through the platform and reports it."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import free_port, pdf_text, run_cli


def test_the_demo_scans_through_the_api_and_prints_findings(tmp_path: Path) -> None:
    env = {"SECUREAI_DEMO": "1", "SECUREAI_SECRET_KEY": "", "SECUREAI_DATA_DIR": str(tmp_path / "data")}
    for _ in range(2):  # a second run reuses the database and the admin
        ports = ["--port", str(free_port()), "--target-port", str(free_port())]
        result = run_cli("secureai", "demo", "--exit", *ports, env=env, cwd=tmp_path, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        flat = " ".join(result.stdout.split())
        assert "completed" in flat and "findings, risk score" in flat and "not a model" in flat
        assert "spl.repeat_verbatim" in flat  # the simulator leaks its system prompt
        assert f"dashboard: http://127.0.0.1:{ports[1]}/ " in flat and "this scan in the dashboard:" in flat
    password_file = tmp_path / "data" / "demo-admin-password.txt"
    assert password_file.stat().st_mode & 0o777 == 0o600
    assert password_file.read_text().strip() not in result.stdout + result.stderr
    assert (tmp_path / "data" / "secureai.db").is_file()
    reports = sorted((tmp_path / "data" / "reports").iterdir())
    assert [path.suffix for path in reports[-2:]] == [".html", ".pdf"]  # the second run's scan
    html, pdf = reports[-2:]
    assert html.as_uri() in flat and pdf.as_uri() in flat
    assert "Security assessment of" in html.read_text() and "Compliance matrix" in pdf_text(pdf)
