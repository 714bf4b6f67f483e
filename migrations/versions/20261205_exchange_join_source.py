"""exchange: the address a join request came from (pending requests are bounded per source)

Revision ID: 8b4f2e6d1a93
Revises: 5e0c9b7a3d21
Create Date: 2026-12-05 16:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8b4f2e6d1a93"
down_revision: str | Sequence[str] | None = "5e0c9b7a3d21"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("exchange_node", sa.Column("source_address", sa.String(length=45), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("exchange_node") as batch:
        batch.drop_column("source_address")
