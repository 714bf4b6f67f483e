"""Alembic environment: runs migrations against the node's database."""

from __future__ import annotations

from alembic import context

from zhengwu.kernel.config import Settings
from zhengwu.kernel.db import make_engine
from zhengwu.main import import_models

config = context.config
target_metadata = import_models()


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    return url or Settings().database_url


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(_url())
    try:
        with engine.connect() as conn:
            context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()  # also when a migration refuses: no pooled connection outlives the engine


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
