"""Migration discipline: one head, upgrade → downgrade → upgrade on an empty database, models == migrations."""

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from zhengwu.kernel.db import make_engine
from zhengwu.kernel.migrate import downgrade, heads, upgrade
from zhengwu.main import import_models


def test_single_head() -> None:
    assert len(heads()) == 1


def _diff(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, import_models()))


def test_upgrade_downgrade_upgrade_and_models_match(tmp_path: Path, database_url: str) -> None:
    if database_url.startswith("postgresql"):
        url = database_url  # the session database was migrated from empty by the fixture
        engine = make_engine(url)
    else:
        url = f"sqlite:///{(tmp_path / 'm.db').as_posix()}"
        upgrade(url)
        engine = make_engine(url)
    try:
        assert _diff(engine) == []
        downgrade(url, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade(url)
        assert _diff(engine) == []
    finally:
        engine.dispose()
        if database_url.startswith("postgresql"):
            upgrade(database_url)


@pytest.mark.parametrize("table", ["kernel_outbox", "kernel_idempotency", "orgs_department"])
def test_core_tables_exist(engine: Engine, table: str) -> None:
    assert table in inspect(engine).get_table_names()
