"""catalog: the process that owns an import job (orphaned jobs are found by a stale heartbeat)

Revision ID: 5e0c9b7a3d21
Revises: d8a3f61c0e47
Create Date: 2026-12-05 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5e0c9b7a3d21"
down_revision: str | Sequence[str] | None = "d8a3f61c0e47"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("catalog_import_job", sa.Column("owner", sa.String(length=80), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("catalog_import_job") as batch:
        batch.drop_column("owner")
