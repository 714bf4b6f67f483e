"""exchange tiers: the origin and route of received rows, per-route counts, refusals passed down

Revision ID: 7a2d4c9e1b38
Revises: 9e3b7d2a6f41
Create Date: 2026-12-06 01:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import zhengwu.kernel.db

revision: str = "7a2d4c9e1b38"
down_revision: str | Sequence[str] | None = "9e3b7d2a6f41"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("exchange_inbox") as batch:
        batch.add_column(sa.Column("origin", sa.String(length=63), nullable=True))
        batch.add_column(sa.Column("origin_division", sa.String(length=6), nullable=True))
        batch.add_column(sa.Column("route", sa.String(length=255), nullable=True))
    with op.batch_alter_table("exchange_aggregate") as batch:
        batch.add_column(sa.Column("origin", sa.String(length=63), nullable=True))
        batch.add_column(sa.Column("route", sa.String(length=255), nullable=True))
    op.create_table(
        "exchange_route_stats",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("route", sa.String(length=255), nullable=False),
        sa.Column("origin", sa.String(length=63), nullable=False),
        sa.Column("origin_division", sa.String(length=6), nullable=True),
        sa.Column("origin_tier", sa.String(length=16), nullable=True),
        sa.Column("table_name", sa.String(length=64), nullable=False),
        sa.Column("received", sa.BigInteger(), nullable=False),
        sa.Column("applied", sa.BigInteger(), nullable=False),
        sa.Column("rejected", sa.BigInteger(), nullable=False),
        sa.Column("last_received_at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_route_stats")),
        sa.UniqueConstraint("route", "table_name", name=op.f("uq_exchange_route_stats_route_table_name")),
    )
    op.create_table(
        "exchange_feedback_down",
        sa.Column("seq", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("target", sa.String(length=63), nullable=False),
        sa.Column("feedback_guid", sa.String(length=64), nullable=False),
        sa.Column("row_guid", sa.String(length=50), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=True),
        sa.Column("table_name", sa.String(length=64), nullable=False),
        sa.Column("business_key", sa.String(length=256), nullable=True),
        sa.Column("error_code", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("refused_by", sa.String(length=63), nullable=False),
        sa.Column("created_at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_exchange_feedback_down")),
        sa.UniqueConstraint(
            "target",
            "feedback_guid",
            "row_guid",
            name=op.f("uq_exchange_feedback_down_target_feedback_guid_row_guid"),
        ),
    )
    op.create_index(
        "ix_exchange_feedback_down_target_seq", "exchange_feedback_down", ["target", "seq"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_exchange_feedback_down_target_seq", table_name="exchange_feedback_down")
    op.drop_table("exchange_feedback_down")
    op.drop_table("exchange_route_stats")
    with op.batch_alter_table("exchange_aggregate") as batch:
        batch.drop_column("route")
        batch.drop_column("origin")
    with op.batch_alter_table("exchange_inbox") as batch:
        batch.drop_column("route")
        batch.drop_column("origin_division")
        batch.drop_column("origin")
