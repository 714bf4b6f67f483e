"""Run Alembic migrations programmatically (``zhengwu migrate``, tests, the demo)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory


def alembic_config(database_url: str) -> Config:
    """An Alembic config pointing at this checkout's migrations and the given database."""
    root = Path(__file__).resolve().parents[3]
    ini = root / "alembic.ini"
    cfg = Config(str(ini)) if ini.exists() else Config()
    cfg.set_main_option("script_location", str(root / "migrations"))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    """Upgrade the database to ``revision``."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    """Downgrade the database to ``revision``."""
    command.downgrade(alembic_config(database_url), revision)


def heads(database_url: str = "sqlite://") -> tuple[str, ...]:
    """The head revisions of the migration scripts (exactly one is allowed)."""
    return tuple(ScriptDirectory.from_config(alembic_config(database_url)).get_heads())
