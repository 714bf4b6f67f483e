"""catalog: what signing in for an implementation item demands (minimum real-name level, authentication age)

Revision ID: c41d7a9e2b18
Revises: b7e2f4a61c05
Create Date: 2026-12-02 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c41d7a9e2b18"
down_revision: str | Sequence[str] | None = "b7e2f4a61c05"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN: SQLite supports it without recreating the table (and its search triggers).
    op.add_column("catalog_task", sa.Column("auth_level", sa.Integer(), nullable=True))
    op.add_column("catalog_task", sa.Column("auth_max_age", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("catalog_task") as batch:
        batch.drop_column("auth_max_age")
        batch.drop_column("auth_level")
