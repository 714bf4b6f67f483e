"""catalog search filters: covering entry index for filtered counts, item types per name

Revision ID: acb3c17869e8
Revises: 79316f70d499
Create Date: 2026-11-26 05:11:19.449576
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'acb3c17869e8'
down_revision: str | Sequence[str] | None = '79316f70d499'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index('ix_catalog_search_entry_name_division', table_name='catalog_search_entry')
    op.create_index(
        'ix_catalog_search_entry_name_filters',
        'catalog_search_entry',
        ['name_id', 'division_code', 'task_code', 'task_type', 'level', 'object_mask', 'depth_mask'],
        unique=False,
    )
    # Plain ADD COLUMN (no batch copy): catalog_search_name carries the FTS5 triggers.
    op.add_column('catalog_search_name', sa.Column('task_types', sa.String(length=64), server_default='', nullable=False))
    op.execute(
        "UPDATE catalog_search_name SET task_types = COALESCE((SELECT group_concat(t, '^') FROM "
        "(SELECT DISTINCT task_type AS t FROM catalog_search_entry e WHERE e.name_id = catalog_search_name.id "
        "ORDER BY task_type) AS types), '')"
        if op.get_bind().dialect.name == "sqlite"
        else "UPDATE catalog_search_name SET task_types = COALESCE((SELECT string_agg(DISTINCT task_type, '^' "
        "ORDER BY task_type) FROM catalog_search_entry e WHERE e.name_id = catalog_search_name.id), '')"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite 3.35+ drops a column in place; a batch copy would lose the FTS5 triggers.
        op.execute("ALTER TABLE catalog_search_name DROP COLUMN task_types")
    else:
        op.drop_column('catalog_search_name', 'task_types')
    op.drop_index('ix_catalog_search_entry_name_filters', table_name='catalog_search_entry')
    op.create_index(
        'ix_catalog_search_entry_name_division',
        'catalog_search_entry',
        ['name_id', 'division_code', 'task_code'],
        unique=False,
    )
