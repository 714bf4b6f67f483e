"""Catalog data migrations on a scratch database: 通办范围 names become national codes and back,
and no child row is lost on the way (SQLite has no in-place type change)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text, update

from catalog_kit import guide, make_basic, make_department
from dbkit import scratch_database
from zhengwu.audit.models import AuditChainHead, AuditChange
from zhengwu.catalog import service
from zhengwu.catalog.models import HandleItem, Material, TaskItem
from zhengwu.kernel.db import make_engine
from zhengwu.kernel.migrate import downgrade, upgrade
from zhengwu.kernel.session import make_session_factory, unit_of_work

BEFORE_HANDLE_AREA_CODE = "d58c343bb4c2"
HANDLE_AREA_CODE = "10f90cae1d80"
# Columns of catalog_task that later migrations add: the test writes through today's models at an
# older revision, so it adds them for the while and drops them before upgrading to the head.
LATER_COLUMNS = ("auth_level", "auth_max_age")
# Tables of later revisions that today's catalog writes use (every catalog write is in the change log).
LATER_TABLES = (AuditChainHead.__table__, AuditChange.__table__)


def _later_columns(engine: Engine, *, present: bool) -> None:
    with engine.begin() as conn:
        for name in LATER_COLUMNS:
            if present:
                conn.execute(text(f"ALTER TABLE catalog_task ADD COLUMN {name} INTEGER"))
            else:
                conn.execute(text(f"ALTER TABLE catalog_task DROP COLUMN {name}"))
        for table in LATER_TABLES:
            if present:
                table.create(conn)  # type: ignore[attr-defined]
            else:
                table.drop(conn)  # type: ignore[attr-defined]


@pytest.fixture
def scratch_url(tmp_path: Path, database_url: str) -> Iterator[str]:
    """An empty database of the same kind as the test database (its own PostgreSQL database)."""
    yield from scratch_database(database_url, tmp_path)


def test_handle_area_names_become_codes_and_back(scratch_url: str) -> None:
    upgrade(scratch_url, BEFORE_HANDLE_AREA_CODE)
    engine = make_engine(scratch_url)
    legacy = {"全省通办": "3", " 本行政区域 ": "6", "石家庄市范围内": None, "2": "2", "": None}
    _later_columns(engine, present=True)
    try:
        factory = make_session_factory(engine)
        with unit_of_work(factory) as session:
            make_basic(session)
            codes = []
            for serial, value in enumerate(legacy, 41):
                dept = make_department(session, "130100", f"石家庄市测试局{serial}", serial)
                item = service.create_task(session, guide(dept.credit_code), actor="test")
                session.execute(
                    update(TaskItem).where(TaskItem.id == item.id).values(handle_area=value)
                )  # the old free-text column
                codes.append(item.task_code)
        with unit_of_work(factory) as session:
            children = session.scalar(select(func.count()).select_from(Material))
            handle_items = session.scalar(select(func.count()).select_from(HandleItem))
        assert children == 2 * len(legacy) and handle_items == 2 * len(legacy)

        upgrade(scratch_url, HANDLE_AREA_CODE)
        with unit_of_work(factory) as session:
            stored = dict(session.execute(select(TaskItem.task_code, TaskItem.handle_area)).all())
            assert [stored[c] for c in codes] == list(legacy.values())
            assert session.scalar(select(func.count()).select_from(Material)) == children
            assert session.scalar(select(func.count()).select_from(HandleItem)) == handle_items

        downgrade(scratch_url, BEFORE_HANDLE_AREA_CODE)
        with engine.connect() as conn:
            rows: dict[str, str | None] = dict(
                conn.execute(text("SELECT task_code, handle_area FROM catalog_task")).all()
            )
            assert [rows[c] for c in codes] == ["全省通办", "本行政区域", None, "跨省通办", None]
            assert conn.scalar(text("SELECT count(*) FROM catalog_material")) == children
        _later_columns(engine, present=False)
        upgrade(scratch_url)
    finally:
        engine.dispose()


def test_sqlite_keeps_foreign_keys_after_the_column_swap(tmp_path: Path) -> None:
    url = f"sqlite:///{(tmp_path / 'fk.db').as_posix()}"
    upgrade(url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
            columns = [r[1] for r in conn.exec_driver_sql("PRAGMA table_info(catalog_task)")]
            assert columns.count("handle_area") == 1 and "handle_area_new" not in columns
    finally:
        engine.dispose()
