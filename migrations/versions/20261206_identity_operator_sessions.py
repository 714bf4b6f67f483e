"""identity: operator sessions of privileged CLI commands (one second factor, several commands)

Revision ID: 5e0a7c21b9d4
Revises: 7c2e9a4f1d63
Create Date: 2026-12-06 07:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import zhengwu.kernel.db

revision: str = "5e0a7c21b9d4"
down_revision: str | Sequence[str] | None = "7c2e9a4f1d63"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "identity_operator_session",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("os_user", sa.String(length=40), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("terminal", sa.String(length=255), nullable=False),
        sa.Column("rights_digest", sa.String(length=64), nullable=False),
        sa.Column("factor_enabled_at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("ended_at", zhengwu.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=32), nullable=True),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["identity_account.id"],
            name=op.f("fk_identity_operator_session_account_id_identity_account"),
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_operator_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_identity_operator_session_token_hash")),
    )
    op.create_index(
        op.f("ix_identity_operator_session_account_id"), "identity_operator_session", ["account_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_identity_operator_session_account_id"), table_name="identity_operator_session")
    op.drop_table("identity_operator_session")
