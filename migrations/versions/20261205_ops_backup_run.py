"""ops: the node's record of its backups and restore drills

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


def downgrade() -> None:
    op.drop_index(op.f("ix_ops_backup_run_set_name"), table_name="ops_backup_run")
    op.drop_table("ops_backup_run")
