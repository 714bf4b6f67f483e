"""security events: typed security events (WAF, node signals) and the WAF audit log cursor

Revision ID: 16a05ee4b543
Revises: 0667a8d2b187
Create Date: 2026-12-05 22:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import zhengwu.kernel.db

revision: str = "16a05ee4b543"
down_revision: str | Sequence[str] | None = "0667a8d2b187"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "security_event",
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("peer", sa.String(length=64), nullable=True),
        sa.Column("occurred_at", zhengwu.kernel.db.UTCDateTime(), nullable=False),
        sa.Column("last_at", zhengwu.kernel.db.UTCDateTime(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column(
            "detail", sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"), nullable=False
        ),
        sa.Column("source_key", sa.String(length=128), nullable=True),
        sa.Column("recorded_at", zhengwu.kernel.db.UTCDateTime(), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_event")),
        sa.UniqueConstraint("source_key", name=op.f("uq_security_event_source_key")),
    )
    op.create_index("ix_security_event_time", "security_event", ["occurred_at"], unique=False)
    op.create_index("ix_security_event_type_time", "security_event", ["event_type", "occurred_at"], unique=False)
    op.create_table(
        "security_waf_cursor",
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("inode", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("offset", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("line", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("head_digest", sa.String(length=64), nullable=False),
        sa.Column("updated_at", zhengwu.kernel.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("path", name=op.f("pk_security_waf_cursor")),
    )


def downgrade() -> None:
    op.drop_table("security_waf_cursor")
    op.drop_index("ix_security_event_type_time", table_name="security_event")
    op.drop_index("ix_security_event_time", table_name="security_event")
    op.drop_table("security_event")
