"""licenses shares and consent, annotated copies, one-time download tickets, usage log who/item/case

Revision ID: 0667a8d2b187
Revises: ef45e21c6476
Create Date: 2026-12-05 22:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import zhengwu.kernel.db

revision: str = "0667a8d2b187"
down_revision: str | Sequence[str] | None = "ef45e21c6476"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")


def _time(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "licenses_share",
        sa.Column("license_id", sa.String(length=32), nullable=False),
        sa.Column("granted_by", sa.String(length=32), nullable=False),
        sa.Column("audience_kind", sa.String(length=16), nullable=False),
        sa.Column("audience", sa.String(length=64), nullable=False),
        sa.Column("audience_name", sa.String(length=200), nullable=False),
        sa.Column("purpose", sa.String(length=200), nullable=False),
        sa.Column("grants", _JSON, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        _time("created_at"),
        _time("expires_at"),
        _time("revoked_at", True),
        sa.Column("revoked_reason", sa.String(length=300), nullable=True),
        sa.Column("superseded_by", sa.String(length=32), nullable=True),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["license_id"],
            ["licenses_license.id"],
            name=op.f("fk_licenses_share_license_id_licenses_license"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_licenses_share")),
        sa.UniqueConstraint("token_digest", name=op.f("uq_licenses_share_token_digest")),
        sa.UniqueConstraint(
            "license_id",
            "audience_kind",
            "audience",
            "version",
            name=op.f("uq_licenses_share_license_id_audience_kind_audience_version"),
        ),
    )
    op.create_index(op.f("ix_licenses_share_license_id"), "licenses_share", ["license_id"])
    op.create_index(op.f("ix_licenses_share_granted_by"), "licenses_share", ["granted_by"])
    op.create_table(
        "licenses_copy",
        sa.Column("license_id", sa.String(length=32), nullable=False),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("requester_name", sa.String(length=200), nullable=False),
        sa.Column("purpose", sa.String(length=200), nullable=False),
        sa.Column("annotation", sa.String(length=500), nullable=False),
        _time("expires_at"),
        sa.Column("es_id", sa.String(length=64), nullable=False),
        sa.Column("file_sm3", sa.String(length=64), nullable=False),
        sa.Column("file_size", sa.Integer(), nullable=False),
        _time("created_at"),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["license_id"], ["licenses_license.id"], name=op.f("fk_licenses_copy_license_id_licenses_license")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_licenses_copy")),
    )
    op.create_index(op.f("ix_licenses_copy_license_id"), "licenses_copy", ["license_id"])
    op.create_index(op.f("ix_licenses_copy_file_sm3"), "licenses_copy", ["file_sm3"])
    op.create_table(
        "licenses_download_ticket",
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("license_id", sa.String(length=32), nullable=False),
        sa.Column("copy_id", sa.String(length=32), nullable=True),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("client_name", sa.String(length=200), nullable=False),
        sa.Column("purpose", sa.String(length=200), nullable=False),
        sa.Column("item_code", sa.String(length=64), nullable=True),
        sa.Column("case_number", sa.String(length=64), nullable=True),
        _time("created_at"),
        _time("expires_at"),
        _time("used_at", True),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["license_id"],
            ["licenses_license.id"],
            name=op.f("fk_licenses_download_ticket_license_id_licenses_license"),
        ),
        sa.ForeignKeyConstraint(
            ["copy_id"], ["licenses_copy.id"], name=op.f("fk_licenses_download_ticket_copy_id_licenses_copy")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_licenses_download_ticket")),
        sa.UniqueConstraint("token_digest", name=op.f("uq_licenses_download_ticket_token_digest")),
    )
    op.create_index(
        op.f("ix_licenses_download_ticket_license_id"), "licenses_download_ticket", ["license_id"]
    )
    with op.batch_alter_table("licenses_usage") as batch:
        batch.add_column(sa.Column("caller_name", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("item_code", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("case_number", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("licenses_usage") as batch:
        batch.drop_column("case_number")
        batch.drop_column("item_code")
        batch.drop_column("caller_name")
    op.drop_index(op.f("ix_licenses_download_ticket_license_id"), table_name="licenses_download_ticket")
    op.drop_table("licenses_download_ticket")
    op.drop_index(op.f("ix_licenses_copy_file_sm3"), table_name="licenses_copy")
    op.drop_index(op.f("ix_licenses_copy_license_id"), table_name="licenses_copy")
    op.drop_table("licenses_copy")
    op.drop_index(op.f("ix_licenses_share_granted_by"), table_name="licenses_share")
    op.drop_index(op.f("ix_licenses_share_license_id"), table_name="licenses_share")
    op.drop_table("licenses_share")
