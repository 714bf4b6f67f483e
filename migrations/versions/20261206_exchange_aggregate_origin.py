"""exchange: the aggregate keeps one row per business object per origin node, not per sender — two cities
reporting the same business key through the province no longer overwrite each other at the national node

Revision ID: cd5716046ae0
Revises: 866385307a46
Create Date: 2026-12-06 04:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "cd5716046ae0"
down_revision: str | Sequence[str] | None = "866385307a46"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Rows from before the tiers kept no origin: the sender made them.
    op.execute("UPDATE exchange_aggregate SET origin = sender WHERE origin IS NULL")
    with op.batch_alter_table("exchange_aggregate") as batch:
        batch.alter_column("origin", existing_type=sa.String(length=63), nullable=False)
        batch.drop_constraint("uq_exchange_aggregate_sender_table_name_business_key", type_="unique")
        batch.create_unique_constraint(
            "uq_exchange_aggregate_sender_origin_table_name_business_key",
            ["sender", "origin", "table_name", "business_key"],
        )


def downgrade() -> None:
    # Back to one row per sender and key: keep the newest of each, as the older schema would have.
    op.execute(
        "DELETE FROM exchange_aggregate WHERE id NOT IN (SELECT MAX(id) FROM exchange_aggregate "
        "GROUP BY sender, table_name, business_key)"
    )
    with op.batch_alter_table("exchange_aggregate") as batch:
        batch.drop_constraint("uq_exchange_aggregate_sender_origin_table_name_business_key", type_="unique")
        batch.create_unique_constraint(
            "uq_exchange_aggregate_sender_table_name_business_key", ["sender", "table_name", "business_key"]
        )
        batch.alter_column("origin", existing_type=sa.String(length=63), nullable=True)
