"""Two `alembic upgrade head` started at once on PostgreSQL: each revision is applied exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, inspect

from app.db import migrate
from app.db.tempdb import temporary_database
from tests.conftest import BACKEND_DIR


def test_concurrent_upgrades_apply_each_revision_once(postgres_server: str) -> None:
    alembic_bin = str(Path(sys.executable).parent / "alembic")
    with temporary_database(postgres_server) as url:
        env = {**os.environ, "DATABASE_URL": url}
        processes = [
            subprocess.Popen(
                [alembic_bin, "upgrade", "head"],
                cwd=BACKEND_DIR,
                env=env,
                stderr=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outputs = [process.communicate(timeout=120) for process in processes]
        assert [process.returncode for process in processes] == [0, 0], outputs
        applied = [line for _, err in outputs for line in err.splitlines() if "Running upgrade" in line]
        assert len(applied) == len(migrate.history())  # every revision once, across both processes
        engine = create_engine(url)
        assert migrate.current_revisions(engine) == migrate.head_revisions()
        assert "migration_fixups" in inspect(engine).get_table_names()
        engine.dispose()
