"""cases: a partial index of the open cases in the staff queue's order (department, deadline, newest, id)

With a million cases the queue's page fetched every open case of the department and sorted them (the
index on department, status and deadline does not give the page's order across several statuses). The
status list is the queue's open statuses as they are now (``cases.machine.OPEN``): a status added to
them needs a migration rebuilding this index. On a large PostgreSQL table an operator may build it
beforehand with ``CREATE INDEX CONCURRENTLY`` under the same name and definition; then this step finds
it and does nothing.

Revision ID: 498ccd964535
Revises: cecb7c71cac4
Create Date: 2026-12-06 04:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "498ccd964535"
down_revision: str | Sequence[str] | None = "cecb7c71cac4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = ("accepted", "in_process", "joint_review", "special_procedure", "submitted", "supplement_requested")
WHERE = sa.text("status IN ({})".format(", ".join(f"'{s}'" for s in OPEN)))


def upgrade() -> None:
    op.create_index(
        "ix_cases_case_open_queue",
        "cases_case",
        ["department_id", "deadline", sa.text("created_at DESC"), "id", "status"],
        unique=False,
        postgresql_where=WHERE,
        sqlite_where=WHERE,
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_index("ix_cases_case_open_queue", table_name="cases_case")
