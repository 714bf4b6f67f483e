"""``zhengwu worker`` roles: a province relaying into the 前置库 and reading feedback and downward data,
a national node ingesting the province's 前置库."""

from __future__ import annotations

from pathlib import Path

import pytest
from exchange_nodes import Node
from sqlalchemy import func, select

from zhengwu.exchange.models import ExchangeAggregate, ExchangeFeedback
from zhengwu.exchange.transports.frontdb import FrontDb, FrontDbTransport
from zhengwu.exchange.transports.local import LocalTransport
from zhengwu.kernel.codes import make_task_code
from zhengwu.kernel.codes.uscc import complete_uscc, org_check_digit
from zhengwu.kernel.events import OutboxRecord, emit
from zhengwu.worker import roles, run

pytestmark = pytest.mark.db


def test_frontdb_roles_end_to_end(province: Node, national: Node, tmp_path: Path) -> None:
    url = f"sqlite:///{(tmp_path / 'frontdb.db').as_posix()}"
    for node in (province, national):
        node.settings.exchange.frontdb_url = url
        node.settings.exchange.frontdb_settle_seconds = 0
    province.settings.exchange.transport = "frontdb"
    national.settings.exchange.frontdb_peer = "hebei"
    duties = roles(province.settings, province.runtime)
    assert (
        isinstance(duties.transport, FrontDbTransport) and duties.poll_feedback and duties.ingest_from is None
    )
    duties.transport.close()
    duties = roles(national.settings, national.runtime)
    assert isinstance(duties.transport, LocalTransport) and duties.ingest_from == "hebei"
    assert duties.frontdb is not None
    duties.frontdb.dispose()

    with province.uow() as session:
        for i in range(3):
            emit(session, "cases.up_pro_result", {"project_no": f"P{i}", "result_type": "0",
                 "result_date": "20241201103000", "is_delivery_results": "0"}, key=f"P{i}")  # fmt: skip
        emit(session, "cases.up_pro_result", {"project_no": "P9", "result_type": "0", "result_date": "bad",
             "is_delivery_results": "0"}, key="P9")  # fmt: skip
    assert run(province.runtime, until_idle=True).relayed.acknowledged == 3
    assert run(national.runtime, until_idle=True).ingested == 3
    with national.uow() as session:
        assert session.scalar(select(func.count()).select_from(ExchangeAggregate)) == 3

    # The national side publishes a downward catalog row; the province's worker takes it in.
    frontdb = FrontDb(url)
    dept = complete_uscc("11100000MB000901" + org_check_digit("MB000901")[0])
    basic = {"task_code": make_task_code(dept, 1, "000110110000"), "catalog_code": "000110110000", "task_name": "演示",
             "task_type": "01", "task_state": "1", "task_version": 1, "use_level": "1", "by_law": "法",
             "dept_code": dept, "dept_name": "演示部", "dept_type": "1", "handle_flow": "流程",
             "link_way": "电话", "supervise_way": "电话", "accept_condition": "无", "app_is_single_login": "0",
             "is_fee": "0", "is_single_login": "0", "limit_scene_num": 0, "project_type": "1",
             "server_type": "1", "special_procedure": "无", "transact_addr": "地址", "transact_time": "工作日",
             "anticipate_day": 20, "anticipate_type": "1", "power_source": "1", "promise_day": 10,
             "promise_type": 1, "row_guid": "d" * 32, "cd_batch": "c" * 32, "cd_operation": "I",
             "cd_time": "20241201103000", "data_source": "000"}  # fmt: skip
    frontdb.append("dn_task_general_basic", [basic])
    frontdb.dispose()
    stats = run(province.runtime, until_idle=True)
    assert stats.ingested == 1
    with province.uow() as session:
        row = session.scalars(select(ExchangeAggregate).where(ExchangeAggregate.sender == "upstream")).one()
        assert row.table_name == "dn_task_general_basic" and row.business_key == basic["task_code"]
        feedback = session.scalars(select(ExchangeFeedback)).one()
        assert feedback.business_key == "P9" and feedback.source == "receipt"
        statuses = dict(session.execute(select(OutboxRecord.key, OutboxRecord.status)).all())
    assert statuses["P9"] == "rejected"


def test_housekeeping_closes_login_sessions_past_their_timeouts(province: Node) -> None:
    from datetime import timedelta

    from zhengwu.identity import service as identity
    from zhengwu.identity.context import of
    from zhengwu.identity.models import AuthEvent, UserSession
    from zhengwu.kernel.clock import utcnow
    from zhengwu.seed.synthetic import nth_citizen_id, nth_phone
    from zhengwu.worker import housekeeping

    with province.uow() as session:
        person = identity.register_natural_person(
            session, name="演示用户九", id_number=nth_citizen_id(9090), phone=nth_phone(9090), password=None
        )
        idle, old, fresh = (identity.start_session(session, person, amr=["pwd"]) for _ in range(3))
        idle.last_seen_at = utcnow() - of(session).idle_timeout - timedelta(minutes=1)
        old.created_at = utcnow() - of(session).absolute_timeout - timedelta(minutes=1)
        ids = {"idle": idle.id, "old": old.id, "fresh": fresh.id}
    assert housekeeping(province.runtime) == 2
    with province.uow() as session:
        rows = {name: session.get(UserSession, sid) for name, sid in ids.items()}
        logouts = session.scalars(
            select(AuthEvent).where(AuthEvent.event_type == "logout", AuthEvent.account_id == person.id)
        ).all()
    assert rows["idle"] is not None and rows["idle"].end_reason == "idle_timeout"
    assert rows["old"] is not None and rows["old"].end_reason == "absolute_timeout"
    assert rows["fresh"] is not None and rows["fresh"].ended_at is None
    assert len(logouts) == 2
    assert housekeeping(province.runtime) == 0


def test_housekeeping_forgets_answered_certificate_challenges_once_expired(province: Node) -> None:
    from datetime import timedelta

    from zhengwu.identity.models import LoginChallengeUse
    from zhengwu.kernel.clock import utcnow
    from zhengwu.worker import housekeeping

    with province.uow() as session:
        session.add(LoginChallengeUse(digest="a" * 64, expires_at=utcnow() - timedelta(minutes=1)))
        session.add(LoginChallengeUse(digest="b" * 64, expires_at=utcnow() + timedelta(minutes=1)))
    housekeeping(province.runtime)
    with province.uow() as session:
        assert set(session.scalars(select(LoginChallengeUse.digest))) == {"b" * 64}


def test_the_national_node_aggregates_its_own_rows(national: Node) -> None:
    from zhengwu.exchange.models import ExchangeInbox
    from zhengwu.kernel.events import OutboxRecord

    with national.uow() as session:
        for i in range(2):
            emit(session, "cases.up_pro_result", {"project_no": f"N{i}", "result_type": "0",
                 "result_date": "20241201103000", "is_delivery_results": "0"}, key=f"N{i}")  # fmt: skip
        emit(session, "cases.up_pro_result", {"project_no": "N9", "result_type": "0", "result_date": "bad",
             "is_delivery_results": "0"}, key="N9")  # fmt: skip
    stats = run(national.runtime, until_idle=True)
    assert stats.relayed.acknowledged == 2 and stats.relayed.rejected == 1
    with national.uow() as session:
        assert session.scalar(select(func.count()).select_from(ExchangeAggregate)) == 2
        senders = set(session.scalars(select(ExchangeInbox.sender)))
        pending = session.scalar(
            select(func.count()).select_from(OutboxRecord).where(OutboxRecord.status == "pending")
        )
    assert senders == {national.runtime.node_id} and pending == 0
    # Nothing is taken twice when the worker runs again.
    assert run(national.runtime, until_idle=True).relayed.rows == 0


def test_housekeeping_forgets_idempotency_keys_after_a_day(province: Node) -> None:
    from datetime import timedelta

    from zhengwu.kernel.clock import utcnow
    from zhengwu.kernel.idempotency import IdempotencyRecord
    from zhengwu.worker import housekeeping

    common = {"scope": "test", "method": "POST", "path": "/x", "fingerprint": "f" * 64, "status_code": 201}
    with province.uow() as session:
        session.add(IdempotencyRecord(key="old", created_at=utcnow() - timedelta(hours=25), **common))
        session.add(IdempotencyRecord(key="new", created_at=utcnow() - timedelta(hours=23), **common))
    housekeeping(province.runtime)
    with province.uow() as session:
        assert set(
            session.scalars(select(IdempotencyRecord.key).where(IdempotencyRecord.scope == "test"))
        ) == {"new"}
