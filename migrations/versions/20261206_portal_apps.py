"""portal: department H5 apps registered in the mobile front end (name, icon, entry, OIDC client, items)

Revision ID: 5a0c3e7d9b21
Revises: 4b7d2e9c1a60
Create Date: 2026-12-06 07:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import zhengwu.kernel.db

revision: str = "5a0c3e7d9b21"
down_revision: str | Sequence[str] | None = "4b7d2e9c1a60"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "portal_app",
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("entry_url", sa.String(length=500), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("items", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                  nullable=False),
        sa.Column("icon", sa.LargeBinary(), nullable=True),
        sa.Column("icon_type", sa.String(length=16), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_app")),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("portal_app")
