"""ops: the WAL-archive lag and failure in the status lower nodes report

Revision ID: 7b3e9d05c1a8
Revises: 5e0a7c21b9d4
Create Date: 2026-12-06 07:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7b3e9d05c1a8"
down_revision: str | Sequence[str] | None = "5e0a7c21b9d4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ops_node_status") as batch:
        batch.add_column(sa.Column("wal_archive_lag_seconds", sa.Float(), nullable=True))
        batch.add_column(sa.Column("wal_archive_failing", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ops_node_status") as batch:
        batch.drop_column("wal_archive_failing")
        batch.drop_column("wal_archive_lag_seconds")
