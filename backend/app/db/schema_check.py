"""Check a live database against the models: tables, columns, types, nullability, indexes.

Presence, nullability and indexes are compared here so the report can name each item; types and server
defaults are left to Alembic's comparison (`migrate.drift`), which knows each dialect's spelling of a type.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine, inspect

from app.db.migrate import drift
from app.db.models import Base


@dataclass
class SchemaReport:
    """What was checked and what did not hold."""

    checked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_schema(engine: Engine) -> SchemaReport:
    """Compare the database behind `engine` with `Base.metadata`."""
    report = SchemaReport()
    with engine.connect() as connection:
        inspector = inspect(connection)
        present = set(inspector.get_table_names())
        for table in Base.metadata.sorted_tables:
            if table.name not in present:
                report.problems.append(f"table {table.name} is missing")
                continue
            columns = {column["name"]: column for column in inspector.get_columns(table.name)}
            for column in table.columns:
                found = columns.get(column.name)
                type_name = column.type.compile(dialect=engine.dialect)
                label = f"{table.name}.{column.name} {type_name} {'NULL' if column.nullable else 'NOT NULL'}"
                if found is None:
                    report.problems.append(f"column {table.name}.{column.name} is missing")
                elif bool(found["nullable"]) != bool(column.nullable) and not column.primary_key:
                    report.problems.append(
                        f"column {table.name}.{column.name}: nullable is {found['nullable']}, "
                        f"the model says {column.nullable}"
                    )
                else:
                    report.checked.append(f"column {label}")
            indexes = {index["name"]: index for index in inspector.get_indexes(table.name)}
            for index in table.indexes:
                found_index = indexes.get(str(index.name))
                columns_wanted = [column.name for column in index.columns]
                if found_index is None:
                    report.problems.append(f"index {index.name} on {table.name} is missing")
                elif list(found_index["column_names"]) != columns_wanted or bool(found_index["unique"]) != bool(
                    index.unique
                ):
                    report.problems.append(
                        f"index {index.name}: {found_index['column_names']} unique={found_index['unique']}, "
                        f"the model says {columns_wanted} unique={index.unique}"
                    )
                else:
                    unique = "UNIQUE " if index.unique else ""
                    report.checked.append(f"{unique}index {index.name} ({', '.join(columns_wanted)})")
    for difference in drift(engine):
        report.problems.append(f"drift between models and database: {difference!r}")
    return report
