"""security upward: the origin of events reported by lower nodes, their newest posture summaries, notices

Revision ID: 5c1f8a3e9d27
Revises: 5d8e1f3a7c20
Create Date: 2026-12-05 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import zhengwu.kernel.db

revision: str = "5c1f8a3e9d27"
down_revision: str | Sequence[str] | None = "5d8e1f3a7c20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("security_event") as batch:
        batch.add_column(sa.Column("origin", sa.String(length=63), nullable=True))
        batch.create_index(batch.f("ix_security_event_origin"), ["origin"], unique=False)
    op.create_table(
        "security_posture",
        sa.Column("sender", sa.String(length=63), nullable=False),
        sa.Column("node_name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.String(length=40), nullable=False),
        sa.Column(
            "summary",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("reported_at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reports", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_posture")),
        sa.UniqueConstraint("sender", name=op.f("uq_security_posture_sender")),
    )
    op.create_table(
        "security_notice",
        sa.Column("notice_key", sa.String(length=100), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("issuer", sa.String(length=63), nullable=False),
        sa.Column("to_node", sa.String(length=63), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.String(length=4000), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("assignee", sa.String(length=100), nullable=True),
        sa.Column("note", sa.String(length=2000), nullable=True),
        sa.Column("issued_at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_notice")),
        sa.UniqueConstraint("notice_key", name=op.f("uq_security_notice_notice_key")),
    )


def downgrade() -> None:
    op.drop_table("security_notice")
    op.drop_table("security_posture")
    with op.batch_alter_table("security_event") as batch:
        batch.drop_index(batch.f("ix_security_event_origin"))
        batch.drop_column("origin")
