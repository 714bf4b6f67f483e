"""identity: accounts whose password an administrator set (password_initial)

Revision ID: 9a1d3c5e7f20
Revises: 4c8e21a9f0d3
Create Date: 2026-11-26 08:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9a1d3c5e7f20"
down_revision: str | Sequence[str] | None = "4c8e21a9f0d3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("identity_account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("password_initial", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("identity_account", schema=None) as batch_op:
        batch_op.drop_column("password_initial")
