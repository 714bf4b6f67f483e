"""exchange applied: the apply log of downward rows, and the division a downward row is for

Revision ID: 7a4d2c9e1b38
Revises: 7a4c2e9b1d53
Create Date: 2026-12-06 01:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import zhengwu.kernel.db

revision: str = "7a4d2c9e1b38"
down_revision: str | Sequence[str] | None = "7a4c2e9b1d53"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("exchange_downward") as batch:
        batch.add_column(sa.Column("division_code", sa.String(length=6), nullable=True))
    op.create_table(
        "exchange_applied",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("peer", sa.String(length=63), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("row_guid", sa.String(length=50), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("table_name", sa.String(length=64), nullable=False),
        sa.Column("business_key", sa.String(length=256), nullable=True),
        sa.Column("cd_operation", sa.String(length=2), nullable=True),
        sa.Column("division_code", sa.String(length=6), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.String(length=100), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("forwarded", sa.Boolean(), nullable=False),
        sa.Column("fed_back", sa.Boolean(), nullable=False),
        sa.Column(
            "notes", sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"), nullable=True
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_exchange_applied")),
        sa.UniqueConstraint(
            "peer", "message_id", "row_guid", name=op.f("uq_exchange_applied_peer_message_id_row_guid")
        ),
    )
    op.create_index("ix_exchange_applied_outcome_seq", "exchange_applied", ["outcome", "seq"], unique=False)
    op.create_index("ix_exchange_applied_row_guid", "exchange_applied", ["row_guid"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_exchange_applied_row_guid", table_name="exchange_applied")
    op.drop_index("ix_exchange_applied_outcome_seq", table_name="exchange_applied")
    op.drop_table("exchange_applied")
    with op.batch_alter_table("exchange_downward") as batch:
        batch.drop_column("division_code")
