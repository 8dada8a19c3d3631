"""pytest-alembic's standard tests, run on SQLite and on PostgreSQL (via the parametrised engine fixture).

single head; upgrade base -> head one revision at a time; the models match what the migrations build
(an autogenerate against head is empty); every revision's downgrade undoes its upgrade.
"""

from pytest_alembic.tests import (
    test_model_definitions_match_ddl,
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)

__all__ = [
    "test_model_definitions_match_ddl",
    "test_single_head_revision",
    "test_up_down_consistency",
    "test_upgrade",
]
