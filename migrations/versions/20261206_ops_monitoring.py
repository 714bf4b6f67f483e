"""ops: worker heartbeats

Revision ID: 8e4a1c6b2d70
Revises: 5c1f8a3e9d27
Create Date: 2026-12-06 01:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import zhengwu.kernel.db

revision: str = "8e4a1c6b2d70"
down_revision: str | Sequence[str] | None = "5c1f8a3e9d27"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ops_worker_beat",
        sa.Column("worker", sa.String(length=120), nullable=False),
        sa.Column("started_at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("beat_at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("loops", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ops_worker_beat")),
        sa.UniqueConstraint("worker", name=op.f("uq_ops_worker_beat_worker")),
    )


def downgrade() -> None:
    op.drop_table("ops_worker_beat")
