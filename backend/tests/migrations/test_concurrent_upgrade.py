"""Two `alembic upgrade head` started at once on PostgreSQL: each revision is applied exactly once.

The test proves the two runs overlapped: it holds the migration's advisory lock itself, waits until PostgreSQL
shows both runs waiting on that lock at the same moment, and only then lets them go, so one of them runs its
revisions while the other waits for it (without the lock in app/db/migrations/env.py no run would wait and
the test fails).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import Connection, create_engine, inspect, text

from app.db import migrate
from app.db.tempdb import temporary_database
from tests.conftest import BACKEND_DIR

#: The key env.py's MIGRATION_LOCK_KEY holds ("SecAI"); restated here: a run that takes another key is a bug.
MIGRATION_LOCK_KEY = 0x53656341_49
WAITING = text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
    " AND ((classid::bigint << 32) | objid::bigint) = :key"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


def _waiting(connection: Connection) -> int:
    return int(connection.execute(WAITING, {"key": MIGRATION_LOCK_KEY}).scalar_one())


def test_concurrent_upgrades_apply_each_revision_once(postgres_server: str) -> None:
    alembic_bin = str(Path(sys.executable).parent / "alembic")
    with temporary_database(postgres_server) as url:
        env = {**os.environ, "DATABASE_URL": url}
        holder_engine = create_engine(url, isolation_level="AUTOCOMMIT")
        with holder_engine.connect() as holder:
            holder.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
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
            deadline = time.monotonic() + 60
            while _waiting(holder) < 2:  # an event: both runs blocked on the lock at once
                exited = [process.returncode for process in processes if process.poll() is not None]
                assert not exited and time.monotonic() < deadline, ("a run did not wait on the lock", exited)
                time.sleep(0.05)
            assert _waiting(holder) == 2
            holder.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
        holder_engine.dispose()
        outputs = [process.communicate(timeout=120) for process in processes]
        assert [process.returncode for process in processes] == [0, 0], outputs
        applied = [line for _, err in outputs for line in err.splitlines() if "Running upgrade" in line]
        assert len(applied) == len(migrate.history())  # every revision once, across both processes
        engine = create_engine(url)
        assert migrate.current_revisions(engine) == migrate.head_revisions()
        assert "migration_fixups" in inspect(engine).get_table_names()
        engine.dispose()
