"""portal: an offered style's logo travels as bytes (PNG or JPEG, ≤ 64 KB) with the offer

Revision ID: 7c2e9a4f1d63
Revises: 5a0c3e7d9b21
Create Date: 2026-12-06 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7c2e9a4f1d63"
down_revision: str | Sequence[str] | None = "5a0c3e7d9b21"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("portal_style") as batch:
        batch.add_column(sa.Column("logo", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("logo_type", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("portal_style") as batch:
        batch.drop_column("logo_type")
        batch.drop_column("logo")
