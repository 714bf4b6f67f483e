"""identity: a client's default_max_age (OIDC Dynamic Client Registration §2)

Revision ID: d8a3f61c0e47
Revises: c41d7a9e2b18
Create Date: 2026-12-02 01:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d8a3f61c0e47"
down_revision: str | Sequence[str] | None = "c41d7a9e2b18"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("identity_oidc_client", sa.Column("default_max_age", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("identity_oidc_client") as batch:
        batch.drop_column("default_max_age")
