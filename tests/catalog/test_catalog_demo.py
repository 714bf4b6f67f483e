"""The Hebei demo catalog: size, realism checks, the deliberate divergences, idempotence."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from nodekit import demo_template
from zhengwu.catalog import service
from zhengwu.catalog.models import BasicItem, Status, TaskItem
from zhengwu.catalog.search import SearchFilters, search
from zhengwu.kernel.codes import validate_catalog_code, validate_task_code
from zhengwu.kernel.db import make_engine
from zhengwu.kernel.session import make_session_factory, unit_of_work
from zhengwu.seed import seed_demo
from zhengwu.seed.catalog import DIVERGENCES, INCOMPLETE_DRAFT
from zhengwu.seed.catalog_items import ITEMS


def test_demo_items_are_well_formed() -> None:
    assert len(ITEMS) >= 100
    assert len({i.code for i in ITEMS}) == len(ITEMS) and len({i.name for i in ITEMS}) == len(ITEMS)
    for item in ITEMS:
        verdict = validate_catalog_code(item.code)
        assert verdict.ok and not verdict.warnings, item.code
        assert item.code[2:4] == item.task_type
    kinds = Counter(i.task_type for i in ITEMS)
    # the six kinds of administrative power plus public services (issue #4)
    assert {"01", "05", "07", "08", "09", "10", "20"} <= set(kinds)


@pytest.mark.slow
def test_seed_demo_loads_the_catalog_once(tmp_path: Path) -> None:
    # The first load is the per-process template's (the seed in a child process, as `zhengwu seed
    # --demo` runs it); this test checks what it produced and loads the seed a second time itself.
    demo = demo_template()
    demo.copy_to(tmp_path / "demo.db")
    url = f"sqlite:///{(tmp_path / 'demo.db').as_posix()}"
    settings = demo.settings(tmp_path / "data", url)
    summary = demo.summary["catalog"]
    assert summary["basic_items"] == len(ITEMS) and summary["rejected"] == []
    assert summary["implementation_items"] >= 3000
    engine = make_engine(url)
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            assert session.scalar(select(func.count()).select_from(BasicItem)) == len(ITEMS)
            levels = Counter(session.scalars(select(TaskItem.use_level)))
            assert levels["2"] > 20 and levels["3"] > 500 and levels["4"] > 1000
            for code in session.scalars(select(TaskItem.task_code).limit(200)):
                assert validate_task_code(code).ok
            issues = list(service.validate_catalog(session))
            divergent = {(i.task_code[:18], i.field) for i in issues if i.kind == "divergence"}
            assert len({i.task_code for i in issues if i.kind == "divergence"}) == len(DIVERGENCES)
            assert {f for _, f in divergent} == {
                "accept_condition",
                "materials",
                "accept_stand",
                "anticipate_day",
                "by_law",
            }
            missing = [i for i in issues if i.kind == "missing"]
            assert {i.field for i in missing} == {"transact_addr", "handle_flow", "supervise_way"}
            draft = service.get_task(session, missing[0].task_code)
            assert (draft.task_name, draft.division_code, draft.status) == (*INCOMPLETE_DRAFT, Status.DRAFT)
            found = search(session, "护照", SearchFilters(division="130100"), scope="130000")
            assert found.total > 10 and found.hits[0].task_name == "普通护照签发"
            assert search(session, "社保", scope="130000").total > 50
            # 全程网办 items demand a registry-matched identity and a fresh login (the published version).
            online = session.scalars(
                select(TaskItem.task_code).where(TaskItem.online_handle_depth == "1^2^3^4^5^6").limit(1)
            ).one()
            demand = service.access_demand(session, online)
            assert demand is not None and (demand.requirement.level, demand.requirement.max_age) == (3, 1800)
        again = seed_demo(settings)["catalog"]
        assert again["inserted"] == 0 and again["implementation_items"] == summary["implementation_items"]
    finally:
        engine.dispose()
