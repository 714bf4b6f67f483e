"""kernel: change stamps (kernel_stamp) — a counter per kind of data, raised with each change, so that
processes keep derived values (the home page's theme counts, the adopted portal style) until it moves

Revision ID: 5b7e2c0d4a19
Revises: 7b3e9d05c1a8
Create Date: 2026-12-06 07:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b7e2c0d4a19"
down_revision: str | Sequence[str] | None = "7b3e9d05c1a8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "kernel_stamp",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_kernel_stamp")),
    )


def downgrade() -> None:
    op.drop_table("kernel_stamp")
