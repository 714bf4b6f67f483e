"""cases webhooks: per-event subscriptions of an endpoint (NULL: every event type)

Revision ID: 9e3b7d2a6f41
Revises: 5c1f8a3e9d27
Create Date: 2026-12-06 01:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "9e3b7d2a6f41"
down_revision: str | Sequence[str] | None = "5c1f8a3e9d27"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cases_webhook_endpoint") as batch:
        batch.add_column(
            sa.Column("event_types", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("cases_webhook_endpoint") as batch:
        batch.drop_column("event_types")
