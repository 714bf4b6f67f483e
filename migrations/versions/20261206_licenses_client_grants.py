"""licenses: per-client grants (用证授权) and the grant each department-system use went through

Revision ID: 866385307a46
Revises: 498ccd964535
Create Date: 2026-12-06 04:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import zhengwu.kernel.db

revision: str = "866385307a46"
down_revision: str | Sequence[str] | None = "498ccd964535"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "licenses_client_grant",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("client_name", sa.String(length=200), nullable=False),
        sa.Column("department_id", sa.String(length=32), nullable=False),
        sa.Column("type_code", sa.String(length=21), nullable=False),
        sa.Column("operations", _JSON, nullable=False),
        sa.Column("purpose", sa.String(length=200), nullable=False),
        sa.Column("valid_from", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("valid_until", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("granted_by", sa.String(length=100), nullable=False),
        sa.Column("granted_at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=100), nullable=True),
        sa.Column("revoked_reason", sa.String(length=300), nullable=True),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_licenses_client_grant")),
    )
    op.create_index(
        "ix_licenses_client_grant_client_type", "licenses_client_grant", ["client_id", "type_code"], unique=False
    )
    with op.batch_alter_table("licenses_usage") as batch:
        batch.add_column(sa.Column("grant_id", sa.String(length=32), nullable=True))
    with op.batch_alter_table("licenses_download_ticket") as batch:
        batch.add_column(sa.Column("grant_id", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("licenses_download_ticket") as batch:
        batch.drop_column("grant_id")
    with op.batch_alter_table("licenses_usage") as batch:
        batch.drop_column("grant_id")
    op.drop_index("ix_licenses_client_grant_client_type", table_name="licenses_client_grant")
    op.drop_table("licenses_client_grant")
