"""exchange progress and schedules: counts lower nodes report (应上尽上), per-table exchange schedules

Revision ID: 7a4c2e9b1d53
Revises: 5c1f8a3e9d27
Create Date: 2026-12-06 01:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import zhengwu.kernel.db

revision: str = "7a4c2e9b1d53"
down_revision: str | Sequence[str] | None = "5c1f8a3e9d27"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "exchange_schedule",
        sa.Column("table_name", sa.String(length=64), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("every_minutes", sa.Integer(), nullable=True),
        sa.Column("window_start", sa.String(length=5), nullable=True),
        sa.Column("window_end", sa.String(length=5), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=True),
        sa.Column("updated_at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("table_name", name=op.f("pk_exchange_schedule")),
    )
    op.create_table(
        "exchange_progress_count",
        sa.Column("sender", sa.String(length=63), nullable=False),
        sa.Column("origin", sa.String(length=63), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("department_code", sa.String(length=64), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("reported_at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_progress_count")),
        sa.UniqueConstraint(
            "sender",
            "origin",
            "kind",
            "department_code",
            name=op.f("uq_exchange_progress_count_sender_origin_kind_department_code"),
        ),
    )


def downgrade() -> None:
    op.drop_table("exchange_progress_count")
    op.drop_table("exchange_schedule")
