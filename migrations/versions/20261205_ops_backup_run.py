"""ops: the node's record of its backups and restore drills; statuses lower nodes report

Revision ID: 5b8d2e6f0a13
Revises: 3c9e1f7a5b24
Create Date: 2026-12-05 22:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import zhengwu.kernel.db

revision: str = "5b8d2e6f0a13"
down_revision: str | Sequence[str] | None = "3c9e1f7a5b24"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ops_backup_run",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("set_name", sa.String(length=120), nullable=False),
        sa.Column("target", sa.String(length=1000), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("snapshot_at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("bytes", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "detail",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ops_backup_run")),
    )
    op.create_index(op.f("ix_ops_backup_run_set_name"), "ops_backup_run", ["set_name"], unique=False)
    op.create_table(
        "ops_node_status",
        sa.Column("sender", sa.String(length=63), nullable=False),
        sa.Column("node_name", sa.String(length=200), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("division_code", sa.String(length=6), nullable=False),
        sa.Column("version", sa.String(length=40), nullable=False),
        sa.Column("migration", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outbox_pending", sa.Integer(), nullable=False),
        sa.Column("lag_seconds", sa.Float(), nullable=False),
        sa.Column("dead_letters", sa.Integer(), nullable=False),
        sa.Column("backup_age_seconds", sa.Float(), nullable=True),
        sa.Column("reported_at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reports", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ops_node_status")),
        sa.UniqueConstraint("sender", name=op.f("uq_ops_node_status_sender")),
    )


def downgrade() -> None:
    op.drop_table("ops_node_status")
    op.drop_index(op.f("ix_ops_backup_run_set_name"), table_name="ops_backup_run")
    op.drop_table("ops_backup_run")
