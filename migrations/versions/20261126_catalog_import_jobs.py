"""catalog: import jobs for files uploaded over HTTP

Revision ID: b7e2f4a61c05
Revises: 9a1d3c5e7f20
Create Date: 2026-11-26 08:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import zhengwu.kernel.db

revision: str = "b7e2f4a61c05"
down_revision: str | Sequence[str] | None = "9a1d3c5e7f20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "catalog_import_job",
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("publish", sa.Boolean(), nullable=False),
        sa.Column("file_path", sa.String(length=500), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("summary", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True),
        sa.Column("rejects", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("created_at", zhengwu.kernel.db.UTCDateTime(), nullable=False),
        sa.Column("started_at", zhengwu.kernel.db.UTCDateTime(), nullable=True),
        sa.Column("heartbeat_at", zhengwu.kernel.db.UTCDateTime(), nullable=True),
        sa.Column("finished_at", zhengwu.kernel.db.UTCDateTime(), nullable=True),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_import_job")),
    )
    with op.batch_alter_table("catalog_import_job", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_catalog_import_job_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("catalog_import_job", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_catalog_import_job_status"))
    op.drop_table("catalog_import_job")
