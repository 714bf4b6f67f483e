"""security: receipts of the lower nodes' handling of the notices this node issued

Revision ID: da6485239898
Revises: 6d1f2b8c4e90
Create Date: 2026-12-06 04:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import zhengwu.kernel.db

revision: str = "da6485239898"
down_revision: str | Sequence[str] | None = "6d1f2b8c4e90"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "security_notice_receipt",
        sa.Column("notice_key", sa.String(length=100), nullable=False),
        sa.Column("node_id", sa.String(length=63), nullable=False),
        sa.Column("route", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=2000), nullable=True),
        sa.Column("acknowledged_at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("received_at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_notice_receipt")),
        sa.UniqueConstraint(
            "notice_key", "node_id", name=op.f("uq_security_notice_receipt_notice_key_node_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("security_notice_receipt")
