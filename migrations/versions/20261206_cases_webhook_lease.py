"""cases: a webhook delivery names the round that leased it, so a round that outlived its lease neither
sends nor records what another worker took over

Revision ID: 5b0e7c1d9a42
Revises: 5b7e2c0d4a19
Create Date: 2026-12-06 07:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b0e7c1d9a42"
down_revision: str | Sequence[str] | None = "5b7e2c0d4a19"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cases_webhook_delivery") as batch:
        batch.add_column(sa.Column("lease", sa.String(length=32), nullable=True))
        batch.create_index("ix_cases_webhook_delivery_lease", ["lease"])


def downgrade() -> None:
    with op.batch_alter_table("cases_webhook_delivery") as batch:
        batch.drop_index("ix_cases_webhook_delivery_lease")
        batch.drop_column("lease")
