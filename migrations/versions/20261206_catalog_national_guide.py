"""catalog: the guide of a national body's item pushed down from above (dn_task_* extend, materials, fees,
questions), kept by 实施编码 for the local items of the same 基本编码

Revision ID: 4b7d2e9c1a60
Revises: cd5716046ae0
Create Date: 2026-12-06 07:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from zhengwu.kernel.db import PortableJSON, UTCDateTime

revision: str = "4b7d2e9c1a60"
down_revision: str | Sequence[str] | None = "cd5716046ae0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "catalog_national_guide",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("task_code", sa.String(length=36), nullable=False),
        sa.Column("catalog_code", sa.String(length=12), nullable=False),
        sa.Column("part", sa.String(length=16), nullable=False),
        sa.Column("part_key", sa.String(length=64), nullable=False),
        sa.Column("order_num", sa.Integer(), nullable=False),
        sa.Column("content", PortableJSON, nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_national_guide")),
        sa.UniqueConstraint(
            "task_code", "part", "part_key", name=op.f("uq_catalog_national_guide_task_code_part_part_key")
        ),
    )
    op.create_index(
        op.f("ix_catalog_national_guide_catalog_code"), "catalog_national_guide", ["catalog_code"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_catalog_national_guide_catalog_code"), table_name="catalog_national_guide")
    op.drop_table("catalog_national_guide")
