#!/usr/bin/env python
"""Self-test of the migrations, as the migration guide describes it. Run from backend/.

    python scripts/test_migration.py                       # temporary SQLite database
    python scripts/test_migration.py --database-url postgresql://postgres@127.0.0.1:5432/test
    python scripts/test_migration.py --legacy tests/fixtures/legacy/secureai-legacy.db

Fresh run: create a temporary database, apply every migration, verify each table, column, type, nullability
and index of the models, downgrade to base, upgrade again and verify again. With --legacy: upgrade a copy of
that legacy database (loaded into a temporary PostgreSQL database when --database-url says so), compare every
row and value with the original file, check the manifest beside it (counts, passwords, text digest), downgrade
to the legacy revision and compare again. Exit 0 only if everything holds.

The legacy samples hold plaintext API keys, which the upgrade seals with a key derived from
SECUREAI_SECRET_KEY: --legacy checks that it is set before anything runs (`secureai secrets generate-key`
makes one). The database URL is shown with its password masked.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console
from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from app.auth.passwords import verify_password
from app.db import migrate
from app.db.errors import MigrationPreconditionError
from app.db.legacy import compare_with_original, copy_legacy_database, open_read_only, text_sha256
from app.db.preflight import check_upgrade_preconditions
from app.db.schema_check import check_schema
from app.db.session import make_engine
from app.db.tempdb import temporary_database

console = Console(highlight=False)


@dataclass
class Step:
    """One verified step of the self-test."""

    name: str
    ok: bool
    details: list[str] = field(default_factory=list)


@dataclass
class Run:
    """Everything the self-test did, for the text and the JSON report."""

    database: str
    steps: list[Step] = field(default_factory=list)

    def record(self, name: str, ok: bool, details: list[str] | None = None) -> bool:
        self.steps.append(Step(name, ok, details or []))
        mark = "[green]PASS[/]" if ok else "[red]FAIL[/]"
        if not self.quiet:
            console.print(f"{mark} {name}")
            for line in (details or [])[: 40 if ok else 200]:
                console.print(f"       {line}")
        return ok

    quiet: bool = False

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)


def _verify_schema(run: Run, engine: Engine, label: str, verbose: bool) -> None:
    report = check_schema(engine)
    details = report.problems or (report.checked if verbose else [f"{len(report.checked)} items match the models"])
    run.record(f"{label}: schema matches the models (tables, columns, types, nullability, indexes)", report.ok, details)


def fresh_database(run: Run, url: str, verbose: bool) -> None:
    """Upgrade an empty database to head, verify, downgrade to base, upgrade again, verify."""
    engine = make_engine(url, sqlite_foreign_keys=False)
    try:
        steps: list[str] = []
        migrate.upgrade(url, "head", on_step=steps.append)
        heads = migrate.head_revisions()
        run.record("upgrade base -> head", migrate.current_revisions(engine) == heads, steps)
        _verify_schema(run, engine, "after upgrade", verbose)
        steps = []
        migrate.downgrade(url, "base", on_step=steps.append)
        with engine.connect() as connection:
            left = sorted(set(inspect(connection).get_table_names()) - {"alembic_version"})
        run.record(
            "downgrade head -> base leaves no table",
            not left and not migrate.current_revisions(engine),
            steps + ([f"left behind: {', '.join(left)}"] if left else []),
        )
        migrate.upgrade(url, "head")
        run.record("upgrade base -> head again", migrate.current_revisions(engine) == heads)
        _verify_schema(run, engine, "after the second upgrade", verbose)
    finally:
        engine.dispose()


def _manifest(path: Path) -> dict[str, Any] | None:
    manifest = path.with_name(path.name.removesuffix(".db") + ".manifest.json")
    return json.loads(manifest.read_text(encoding="utf-8")) if manifest.exists() else None


def _check_manifest(run: Run, engine: Engine, manifest: dict[str, Any]) -> None:
    with engine.connect() as connection:
        counts = {
            table: connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
            for table in manifest["counts"]
        }
        hashes: dict[str, str] = {
            name: hashed for name, hashed in connection.execute(text("SELECT username, hashed_password FROM users"))
        }
    run.record(
        "row counts equal the manifest",
        counts == manifest["counts"],
        [f"{table}: {counts[table]} (manifest {manifest['counts'][table]})" for table in counts],
    )
    verified = [
        name
        for name, password in manifest.get("passwords", {}).items()
        if name in hashes and verify_password(password, hashes[name])
    ]
    run.record(
        "legacy passwords still verify (bcrypt)",
        len(verified) == len(manifest.get("passwords", {})),
        [f"verified: {', '.join(verified) or 'none'}"],
    )
    digest = text_sha256(engine)
    run.record("text digest equals the manifest's text_sha256", digest == manifest["text_sha256"], [digest])


def legacy_database(run: Run, legacy: Path, server_url: str | None, verbose: bool) -> None:
    """Upgrade a copy of `legacy`, compare with the original, downgrade back and compare again."""
    with temporary_database(server_url, prefix="secureai_legacy") as url:
        if make_url(url).get_backend_name() == "sqlite":
            copy = Path(make_url(url).database or "")
            shutil.copyfile(legacy, copy)
            copy.chmod(0o644)
            run.record(f"copied {legacy.name} to a temporary SQLite file", True)
        else:
            counts = copy_legacy_database(legacy, url)
            run.record(
                f"loaded {legacy.name} into a temporary PostgreSQL database",
                True,
                [", ".join(f"{table} {count}" for table, count in counts.items())],
            )
        engine = make_engine(url, sqlite_foreign_keys=False)
        try:
            before = migrate.current_revisions(engine) or ("unstamped",)
            steps: list[str] = []
            migrate.upgrade(url, "head", on_step=steps.append)
            run.record(
                f"upgrade {', '.join(before)} -> head",
                migrate.current_revisions(engine) == migrate.head_revisions(),
                steps,
            )
            _verify_schema(run, engine, "legacy after upgrade", verbose)
            comparison = compare_with_original(legacy, engine)
            run.record(
                "every row and value survived the upgrade (compared with the original file)",
                comparison.ok,
                comparison.problems
                or [
                    ", ".join(f"{table} {count} rows" for table, count in comparison.rows.items()),
                    f"{comparison.values_checked} values compared; {comparison.fixups} legacy value(s) changed "
                    "and recorded in migration_fixups",
                ],
            )
            manifest = _manifest(legacy)
            if manifest:
                _check_manifest(run, engine, manifest)
            migrate.downgrade(url, migrate.LEGACY_REVISION)
            back = compare_with_original(legacy, engine, at_legacy_revision=True)
            run.record(
                f"downgrade to {migrate.LEGACY_REVISION} restores every legacy value",
                back.ok,
                back.problems or [f"{back.values_checked} values equal the original"],
            )
            migrate.upgrade(url, "head")
            again = compare_with_original(legacy, engine)
            run.record("upgrade again after the downgrade: still nothing lost", again.ok, again.problems)
        finally:
            engine.dispose()


def _guarded(run: Run, name: str, action: Callable[[], None]) -> None:
    """Run one part; an exception is a failed step with its message, never a traceback."""
    try:
        action()
    except Exception as error:  # the self-test reports any failure as a failed step, never a traceback
        run.record(name, False, [f"{type(error).__name__}: {error}"])


def _shown(url: str) -> str:
    """`url` with its password masked, for the report."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(not a database URL)"


def legacy_precondition(path: Path) -> str | None:
    """Why upgrading a copy of `path` cannot work as things are (no SECUREAI_SECRET_KEY for its plaintext
    credentials), checked on the original, read-only; None when it can."""
    engine = open_read_only(path)
    try:
        with engine.connect() as connection:
            check_upgrade_preconditions(connection)
    except MigrationPreconditionError as error:
        return str(error).removesuffix(" Nothing was changed.")
    finally:
        engine.dispose()
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--database-url",
        help="PostgreSQL server to create the temporary database on (default: a temporary SQLite file)",
    )
    parser.add_argument(
        "--legacy",
        type=Path,
        action="append",
        default=[],
        help="legacy SQLite database to upgrade a copy of (repeatable)",
    )
    parser.add_argument("--skip-fresh", action="store_true", help="only run the --legacy checks")
    parser.add_argument("--verbose", action="store_true", help="list every column and index checked")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    if args.skip_fresh and not args.legacy:
        parser.error("--skip-fresh leaves only the --legacy checks: give at least one --legacy PATH")
    for path in args.legacy:
        if not path.is_file():
            parser.error(f"--legacy {path}: no such file")
    for path in args.legacy:
        problem = legacy_precondition(path)
        if problem:
            parser.error(f"--legacy {path}: {problem}")

    run = Run(database=_shown(args.database_url) if args.database_url else "sqlite (temporary file)", quiet=args.json)
    if not args.json:
        console.print(f"[bold]SecureAI migration self-test[/] on {run.database}")
    if not args.skip_fresh:

        def fresh() -> None:
            with temporary_database(args.database_url, prefix="secureai_migtest") as url:
                fresh_database(run, url, args.verbose)

        _guarded(run, "fresh database", fresh)
    for legacy in args.legacy:
        _guarded(run, f"legacy {legacy.name}", partial(legacy_database, run, legacy, args.database_url, args.verbose))

    if args.json:
        print(
            json.dumps(
                {"database": run.database, "ok": run.ok, "steps": [step.__dict__ for step in run.steps]}, indent=2
            )
        )
    else:
        passed = sum(step.ok for step in run.steps)
        colour = "green" if run.ok else "red"
        console.print(f"[bold {colour}]{passed} of {len(run.steps)} checks passed[/]")
    return 0 if run.ok else 1


if __name__ == "__main__":
    sys.exit(main())
