"""ops: worker heartbeats and synthetic probe runs; kernel: rate-limit buckets shared by the processes

Revision ID: 8e4a1c6b2d70
Revises: 7a2d4c9e1b38
Create Date: 2026-12-06 01:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import zhengwu.kernel.db

revision: str = "8e4a1c6b2d70"
down_revision: str | Sequence[str] | None = "7a2d4c9e1b38"
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
    op.create_table(
        "ops_probe_run",
        sa.Column("started_at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column(
            "steps",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ops_probe_run")),
    )
    op.create_index(op.f("ix_ops_probe_run_started_at"), "ops_probe_run", ["started_at"], unique=False)
    op.create_table(
        "kernel_rate_bucket",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("allowed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("name", "key", name=op.f("pk_kernel_rate_bucket")),
    )


def downgrade() -> None:
    op.drop_table("kernel_rate_bucket")
    op.drop_index(op.f("ix_ops_probe_run_started_at"), table_name="ops_probe_run")
    op.drop_table("ops_probe_run")
    op.drop_table("ops_worker_beat")
