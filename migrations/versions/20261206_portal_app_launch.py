"""portal: one-time launch codes with which the native mobile app opens a department app logged in

Revision ID: 6c1d4f8a2e37
Revises: 5b0e7c1d9a42
Create Date: 2026-12-06 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import zhengwu.kernel.db

revision: str = "6c1d4f8a2e37"
down_revision: str | Sequence[str] | None = "5b0e7c1d9a42"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "portal_app_launch",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("app_id", sa.String(length=32), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("issued_to", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("acting_for", sa.String(length=32), nullable=True),
        sa.Column("auth_level", sa.Integer(), nullable=False),
        sa.Column("auth_time", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("amr", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                  nullable=False),
        sa.Column("created_at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_app_launch")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_portal_app_launch_code_hash")),
    )  # fmt: skip
    op.create_index(op.f("ix_portal_app_launch_expires_at"), "portal_app_launch", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_portal_app_launch_expires_at"), table_name="portal_app_launch")
    op.drop_table("portal_app_launch")
