"""identity: answered certificate-login challenges (数字证书登录)

Revision ID: 4c8e21a9f0d3
Revises: 10f90cae1d80
Create Date: 2026-11-26 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import zhengwu.kernel.db

revision: str = "4c8e21a9f0d3"
down_revision: str | Sequence[str] | None = "10f90cae1d80"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "identity_login_challenge_use",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("used_at", zhengwu.kernel.db.UTCDateTime(), nullable=False),
        sa.Column("expires_at", zhengwu.kernel.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_identity_login_challenge_use")),
    )
    with op.batch_alter_table("identity_login_challenge_use", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_identity_login_challenge_use_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("identity_login_challenge_use", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identity_login_challenge_use_expires_at"))
    op.drop_table("identity_login_challenge_use")
