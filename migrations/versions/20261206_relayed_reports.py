"""ops, security: the route by which a relayed node status or posture summary came up

Revision ID: 6d1f2b8c4e90
Revises: 5c3e7a91d2f4
Create Date: 2026-12-06 02:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "6d1f2b8c4e90"
down_revision: str | Sequence[str] | None = "5c3e7a91d2f4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ops_node_status") as batch:
        batch.add_column(sa.Column("route", sa.String(length=255), nullable=True))
    with op.batch_alter_table("security_posture") as batch:
        batch.add_column(sa.Column("route", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("security_posture") as batch:
        batch.drop_column("route")
    with op.batch_alter_table("ops_node_status") as batch:
        batch.drop_column("route")
