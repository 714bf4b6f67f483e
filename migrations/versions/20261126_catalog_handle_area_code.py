"""catalog handle area code: 通办范围 is stored as the national varchar(2) code, not free text

The national up_task_*_extend tables give handle_area 2 characters, so names such as 全省通办 were
refused there. Known names become their codes (catalog.codetables.HANDLE_AREAS); any other text could
never have been accepted by the national node and is cleared (published versions keep it in their
snapshots). Downgrade turns the codes back into names.

Revision ID: 10f90cae1d80
Revises: d58c343bb4c2
Create Date: 2026-11-26 06:01:55.771127
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "10f90cae1d80"
down_revision: str | Sequence[str] | None = "d58c343bb4c2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A copy, not an import: a migration must not change when the code table does later (UNCERTAIN
# numbering, see codetables.HANDLE_AREAS).
_AREAS = {
    "1": "全国通办",
    "2": "跨省通办",
    "3": "全省通办",
    "4": "全市通办",
    "5": "全县通办",
    "6": "本行政区域",
}


def _mapped(pairs: dict[str, str]) -> str:
    """SQL giving the new value of handle_area (NULL for anything not in ``pairs``)."""
    whens = " ".join(f"WHEN TRIM(handle_area) = '{old}' THEN '{new}'" for old, new in pairs.items())
    return f"CASE {whens} ELSE NULL END"


def _retype(pairs: dict[str, str], old_type: sa.types.TypeEngine, new_type: sa.types.TypeEngine) -> None:
    if op.get_bind().dialect.name == "sqlite":
        # No batch copy: dropping catalog_task under PRAGMA foreign_keys would cascade to its child
        # rows. A new column, filled, then swapped in place (SQLite 3.35+).
        op.add_column("catalog_task", sa.Column("handle_area_new", new_type, nullable=True))
        op.execute(f"UPDATE catalog_task SET handle_area_new = {_mapped(pairs)}")  # noqa: S608 - constants
        op.execute("ALTER TABLE catalog_task DROP COLUMN handle_area")
        op.execute("ALTER TABLE catalog_task RENAME COLUMN handle_area_new TO handle_area")
    else:
        op.alter_column(
            "catalog_task",
            "handle_area",
            existing_type=old_type,
            type_=new_type,
            existing_nullable=True,
            postgresql_using=_mapped(pairs),
        )


def upgrade() -> None:
    to_code = {name: code for code, name in _AREAS.items()} | {code: code for code in _AREAS}
    _retype(to_code, sa.VARCHAR(length=200), sa.String(length=2))


def downgrade() -> None:
    _retype(_AREAS, sa.String(length=2), sa.VARCHAR(length=200))
