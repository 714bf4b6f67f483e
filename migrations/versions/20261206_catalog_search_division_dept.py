"""catalog: index the search entries by division and department (the search page's department filter)

Revision ID: 7d2e9b4c1f05
Revises: 6c1d4f8a2e37
Create Date: 2026-12-06 14:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "7d2e9b4c1f05"
down_revision: str | Sequence[str] | None = "6c1d4f8a2e37"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_catalog_search_entry_division_dept",
        "catalog_search_entry",
        ["division_code", "dept_name", "dept_code"],
    )


def downgrade() -> None:
    op.drop_index("ix_catalog_search_entry_division_dept", table_name="catalog_search_entry")
