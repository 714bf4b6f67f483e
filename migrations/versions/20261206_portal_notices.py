"""portal: notices and columns published here or come down the feed, the style offered by upper nodes

Revision ID: 031be0be81df
Revises: da6485239898
Create Date: 2026-12-06 04:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import zhengwu.kernel.db

revision: str = "031be0be81df"
down_revision: str | Sequence[str] | None = "da6485239898"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "portal_notice",
        sa.Column("notice_key", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("origin", sa.String(length=63), nullable=False),
        sa.Column("origin_name", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.String(length=8000), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=True),
        sa.Column("published_at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_notice")),
        sa.UniqueConstraint("notice_key", name=op.f("uq_portal_notice_notice_key")),
    )
    with op.batch_alter_table("portal_notice") as batch:
        batch.create_index("ix_portal_notice_listing", ["kind", "withdrawn_at", "published_at"], unique=False)
    op.create_table(
        "portal_style",
        sa.Column("origin", sa.String(length=63), nullable=False),
        sa.Column("origin_name", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=60), nullable=False),
        sa.Column("logo_url", sa.String(length=500), nullable=False),
        sa.Column("header_colour", sa.String(length=7), nullable=False),
        sa.Column("footer", sa.String(length=500), nullable=False),
        sa.Column("offered_at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("adopted", sa.Boolean(), nullable=False),
        sa.Column("updated_at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_style")),
        sa.UniqueConstraint("origin", name=op.f("uq_portal_style_origin")),
    )


def downgrade() -> None:
    op.drop_table("portal_style")
    with op.batch_alter_table("portal_notice") as batch:
        batch.drop_index("ix_portal_notice_listing")
    op.drop_table("portal_notice")
