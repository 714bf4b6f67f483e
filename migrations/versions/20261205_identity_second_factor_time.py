"""identity: when a session last passed a second factor (second_factor_at), for the staff-rights policy

Revision ID: e5b19c7a3d02
Revises: 8b4f2e6d1a93
Create Date: 2026-12-05 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from zhengwu.kernel.db import UTCDateTime

revision: str = "e5b19c7a3d02"
down_revision: str | Sequence[str] | None = "8b4f2e6d1a93"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Sessions opened before this revision have no time: their staff step up once (ADR 0010).
    op.add_column("identity_session", sa.Column("second_factor_at", UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("identity_session") as batch:
        batch.drop_column("second_factor_at")
