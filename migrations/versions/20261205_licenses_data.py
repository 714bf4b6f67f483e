"""licenses data side: result kinds, issued vs imported, historical import records, abnormal data queue

Revision ID: ef45e21c6476
Revises: 5b8d2e6f0a13
Create Date: 2026-12-05 22:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import zhengwu.kernel.db

revision: str = "ef45e21c6476"
down_revision: str | Sequence[str] | None = "5b8d2e6f0a13"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("licenses_type") as batch:
        batch.add_column(
            sa.Column("result_kind", sa.String(length=16), server_default="license", nullable=False)
        )
    with op.batch_alter_table("licenses_license") as batch:
        batch.add_column(sa.Column("source", sa.String(length=16), server_default="issued", nullable=False))
    op.create_table(
        "licenses_import",
        sa.Column("license_id", sa.String(length=32), nullable=False),
        sa.Column("import_key", sa.String(length=64), nullable=False),
        sa.Column("batch_id", sa.String(length=32), nullable=False),
        sa.Column("original_identifier", sa.String(length=128), nullable=True),
        sa.Column("identifier_allocated", sa.Boolean(), nullable=False),
        sa.Column("warning", sa.String(length=500), nullable=True),
        sa.Column("source_file", sa.String(length=300), nullable=True),
        sa.Column("imported_at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["license_id"],
            ["licenses_license.id"],
            name=op.f("fk_licenses_import_license_id_licenses_license"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_licenses_import")),
        sa.UniqueConstraint("import_key", name=op.f("uq_licenses_import_import_key")),
        sa.UniqueConstraint("license_id", name=op.f("uq_licenses_import_license_id")),
    )
    op.create_index(op.f("ix_licenses_import_batch_id"), "licenses_import", ["batch_id"], unique=False)
    op.create_table(
        "licenses_abnormal",
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("type_code", sa.String(length=64), nullable=True),
        sa.Column("identifier", sa.String(length=128), nullable=True),
        sa.Column("license_id", sa.String(length=32), nullable=True),
        sa.Column("department_id", sa.String(length=32), nullable=True),
        sa.Column("origin", sa.String(length=100), nullable=False),
        sa.Column("row_key", sa.String(length=64), nullable=True),
        sa.Column("row_enc", sa.LargeBinary(), nullable=False),
        sa.Column("summary", _JSON, nullable=False),
        sa.Column("received_at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("handled_at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("handled_by", sa.String(length=100), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("resubmitted_license_id", sa.String(length=32), nullable=True),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["orgs_department.id"],
            name=op.f("fk_licenses_abnormal_department_id_orgs_department"),
        ),
        sa.ForeignKeyConstraint(
            ["license_id"],
            ["licenses_license.id"],
            name=op.f("fk_licenses_abnormal_license_id_licenses_license"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_licenses_abnormal")),
        sa.UniqueConstraint("origin", name=op.f("uq_licenses_abnormal_origin")),
    )
    op.create_index(
        op.f("ix_licenses_abnormal_department_id"), "licenses_abnormal", ["department_id"], unique=False
    )
    op.create_index(
        op.f("ix_licenses_abnormal_identifier"), "licenses_abnormal", ["identifier"], unique=False
    )
    op.create_index(
        op.f("ix_licenses_abnormal_license_id"), "licenses_abnormal", ["license_id"], unique=False
    )
    op.create_index("ix_licenses_abnormal_row_key", "licenses_abnormal", ["row_key", "status"], unique=False)
    op.create_index(
        "ix_licenses_abnormal_status_at", "licenses_abnormal", ["status", "received_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_licenses_abnormal_status_at", table_name="licenses_abnormal")
    op.drop_index("ix_licenses_abnormal_row_key", table_name="licenses_abnormal")
    op.drop_index(op.f("ix_licenses_abnormal_license_id"), table_name="licenses_abnormal")
    op.drop_index(op.f("ix_licenses_abnormal_identifier"), table_name="licenses_abnormal")
    op.drop_index(op.f("ix_licenses_abnormal_department_id"), table_name="licenses_abnormal")
    op.drop_table("licenses_abnormal")
    op.drop_index(op.f("ix_licenses_import_batch_id"), table_name="licenses_import")
    op.drop_table("licenses_import")
    with op.batch_alter_table("licenses_license") as batch:
        batch.drop_column("source")
    with op.batch_alter_table("licenses_type") as batch:
        batch.drop_column("result_kind")
