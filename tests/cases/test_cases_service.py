"""Cases services on a real database: concurrent case numbers, the operator's calendar, item processes,
the clock across a supplement, and the overdue / soon-due queue."""

from __future__ import annotations

import secrets
import threading
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import delete
from sqlalchemy.engine import Engine

from cases_kit import Casework
from zhengwu.cases import service
from zhengwu.cases.errors import ActionNotAllowed, CaseInvalid, StepsChanged
from zhengwu.cases.models import CaseSerial
from zhengwu.cases.repository import CaseRepository
from zhengwu.kernel.session import make_session_factory, unit_of_work


def test_concurrent_serials_are_unique(engine: Engine) -> None:
    """Committed units on their own connections, as concurrent submissions are."""
    factory = make_session_factory(engine)
    scope = f"test{secrets.token_hex(6)}"
    got: list[int] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            for _ in range(5):
                with unit_of_work(factory) as session:
                    value = CaseRepository(session).next_serial(scope)
                with lock:
                    got.append(value)
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert failures == []
        assert sorted(got) == list(range(1, 21))
    finally:
        with unit_of_work(factory) as session:
            session.execute(delete(CaseSerial).where(CaseSerial.scope == scope))


def test_serial_bumps_do_not_wait_for_their_flush(engine: Engine) -> None:
    """PostgreSQL: the serial's own transaction commits asynchronously (the submission's commit flushes
    the bump with it); the node's sessions keep the server's setting."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite bumps the serial in the submitting transaction")
    from sqlalchemy import event

    from zhengwu.cases import serials

    seen: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("INSERT INTO cases_serial"):
            seen.append(conn.exec_driver_sql("SHOW synchronous_commit").scalar_one())

    pool = serials._pool_of(engine)
    event.listen(pool, "before_cursor_execute", before)
    scope = f"test{secrets.token_hex(6)}"
    try:
        assert serials.take(engine, scope) == 1
    finally:
        event.remove(pool, "before_cursor_execute", before)
        with engine.begin() as conn:
            conn.execute(delete(CaseSerial).where(CaseSerial.scope == scope))
    assert seen == ["off"]
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW synchronous_commit").scalar_one() == "on"


def test_a_serial_is_not_held_until_the_submission_commits(engine: Engine) -> None:
    """PostgreSQL: a submission still open does not hold its prefix's counter — another takes the next
    serial meanwhile — and one that rolls back leaves a gap. SQLite: the bump is part of the submitting
    transaction (one writer at a time there), so a rollback burns no number."""
    factory = make_session_factory(engine)
    scope = f"test{secrets.token_hex(6)}"
    open_unit = factory()
    try:
        assert CaseRepository(open_unit).next_serial(scope) == 1
        if engine.dialect.name == "postgresql":
            other: list[int] = []

            def submit() -> None:
                with unit_of_work(factory) as session:
                    other.append(CaseRepository(session).next_serial(scope))

            # Had the first unit kept the row locked, this thread would wait on it for ever.
            thread = threading.Thread(target=submit, daemon=True)
            thread.start()
            thread.join(60)
            assert not thread.is_alive(), "the counter row was held by the open submission"
            assert other == [2]
        open_unit.rollback()
        with unit_of_work(factory) as session:
            after = CaseRepository(session).next_serial(scope)
        assert after == (3 if engine.dialect.name == "postgresql" else 1)
    finally:
        open_unit.close()
        with unit_of_work(factory) as session:
            session.execute(delete(CaseSerial).where(CaseSerial.scope == scope))


def _apply(work: Casework, at: datetime) -> Any:
    return service.save(
        work.session,
        work.citizen,
        task_code=work.task_code,
        form={},
        materials=[
            service.MaterialInput(work.license_material, license_id=work.held_license_id),
            service.MaterialInput(work.upload_material, file_sm3=work.upload(b"form")),
        ],
        submit=True,
        at=at,
    ).case


def test_the_clock_pauses_for_a_supplement_and_skips_the_spring_festival(casework: Casework) -> None:
    work = casework
    case = _apply(work, datetime(2026, 2, 11, 2, tzinfo=UTC))
    service.act(work.session, case.case_no, service.ActionInput("accept"), actor="t", at=datetime(2026, 2, 11, 3, tzinfo=UTC))  # fmt: skip
    # Wed 11 Feb + 5 working days: 12, 13, 14 (调休 Saturday), then the festival 15–23, then 24, 25.
    assert case.deadline == date(2026, 2, 25)
    asked = service.ActionInput("request_supplement", opinion="补正", materials=(work.upload_material,))
    service.act(work.session, case.case_no, asked, actor="t", at=datetime(2026, 2, 12, 3, tzinfo=UTC))
    assert case.status == "supplement_requested" and case.paused_since == date(2026, 2, 12)
    service.supplement(
        work.session, work.citizen, case.case_no, form={},
        materials=[service.MaterialInput(work.upload_material, file_sm3=work.upload(b"again"))],
        at=datetime(2026, 2, 14, 3, tzinfo=UTC),
    )  # fmt: skip
    # 13 and 14 February did not count: two working days more.
    assert case.status == "accepted" and case.paused_since is None
    assert case.deadline == date(2026, 2, 27)
    pauses = CaseRepository(work.session).pauses(case.id)
    assert [(p.kind, p.start, p.end) for p in pauses] == [
        ("supplement", date(2026, 2, 13), date(2026, 2, 14))
    ]


def test_operator_overrides_move_the_deadline(casework: Casework) -> None:
    work = casework
    assert service.import_calendar(work.session, "2026-02-12,holiday\n2026-02-13,holiday\n", actor="cli") == 2
    case = _apply(work, datetime(2026, 2, 11, 2, tzinfo=UTC))
    service.act(work.session, case.case_no, service.ActionInput("accept"), actor="t", at=datetime(2026, 2, 11, 3, tzinfo=UTC))  # fmt: skip
    assert case.deadline == date(2026, 2, 27)
    with pytest.raises(Exception, match="line 1"):
        service.import_calendar(work.session, "tomorrow,holiday", actor="cli")


def test_item_processes(casework: Casework) -> None:
    work = casework
    steps = {"steps": [{"code": "accept", "name": "窗口受理", "role": "case_handler", "days": 1},
                       {"code": "review", "name": "科室审核", "role": "case_handler", "days": 2},
                       {"code": "sign", "name": "领导签发", "role": "admin", "days": 1}]}  # fmt: skip
    with pytest.raises(CaseInvalid, match="超过承诺时限"):
        service.set_process(
            work.session, work.task_code, {"steps": [{**steps["steps"][0], "days": 9}]}, actor="t"
        )
    service.set_process(work.session, work.task_code, steps, actor="t")
    case = _apply(work, datetime(2026, 3, 2, 2, tzinfo=UTC))
    service.act(work.session, case.case_no, service.ActionInput("accept"), actor="t")
    service.act(
        work.session, case.case_no, service.ActionInput("complete_step", opinion="审核通过"), actor="t"
    )
    history = service.history(work.session, case)
    assert [h.step for h in history] == ["已申报，待受理", "科室审核", "领导签发"]
    with pytest.raises(ActionNotAllowed) as refused:
        service.act(work.session, case.case_no, service.ActionInput("complete_step"), actor="t")
    assert refused.value.extra["allowed"] == ["conclude"]
    # A step added to this case only, after the current one, validated like the rest.
    with pytest.raises(CaseInvalid):
        service.act(
            work.session, case.case_no, service.ActionInput("add_step", step={"code": "x y"}), actor="t"
        )
    extra = {"code": "expert", "name": "专家复核", "role": "case_handler", "days": 2}
    service.act(
        work.session, case.case_no, service.ActionInput("add_step", step=extra, steps_seen=3), actor="t"
    )
    assert [s["code"] for s in case.process["steps"]] == ["accept", "review", "sign", "expert"]
    # The same request again (a second click, a retry): the steps it saw have changed, nothing is added.
    with pytest.raises(StepsChanged):
        again = {**extra, "code": "expert2"}
        service.act(
            work.session, case.case_no, service.ActionInput("add_step", step=again, steps_seen=3), actor="t"
        )
    assert len(case.process["steps"]) == 4
    service.act(work.session, case.case_no, service.ActionInput("complete_step", opinion="已签发"), actor="t")
    assert service.history(work.session, case)[-1].step == "专家复核"
    assert (
        service.process_for(work.session, work.task_code).steps[-1].code == "sign"
    )  # the item's own is unchanged


def test_overdue_and_soon_due_queue(casework: Casework) -> None:
    work = casework
    old = _apply(work, datetime(2026, 3, 2, 2, tzinfo=UTC))
    service.act(work.session, old.case_no, service.ActionInput("accept"), actor="t", at=datetime(2026, 3, 2, 3, tzinfo=UTC))  # fmt: skip
    fresh = _apply(work, datetime.now(UTC))
    dept = [work.env.department.id]
    overdue, total = service.queue(work.session, department_ids=dept, statuses=None, due="overdue")
    assert [c.case_no for c in overdue] == [old.case_no] and total == 1
    assert service.due_state(work.session, old) == "overdue"
    everything, total = service.queue(work.session, department_ids=dept, statuses=["submitted"], due=None)
    assert [c.case_no for c in everything] == [fresh.case_no]
    work.session.flush()
    fresh.deadline = service.beijing_day(datetime.now(UTC))
    soon, _ = service.queue(work.session, department_ids=dept, statuses=None, due="soon")
    assert [c.case_no for c in soon] == [fresh.case_no] and service.due_state(work.session, fresh) == "soon"
