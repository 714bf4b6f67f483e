"""Downward rows applied at every tier: national → province → city over signed HTTP (in-process nodes).

The national node pushes basic catalog changes (``dn_task_directory``); the province applies them through
the catalog service, logs them, runs the cross-tier check and passes them on to the city, which applies
them too. A row the province cannot apply is fed back to the national node. Licenses issued at the
province for a city's division reach that city only (routing by division code).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from exchange_nodes import Node, http_transport, issue_business_license, join_nodes, make_node, token
from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from dbkit import migrated_database, rolled_back
from zhengwu.audit.models import AuditChange as Change
from zhengwu.catalog import service as catalog
from zhengwu.catalog.models import BasicItem, History, Status
from zhengwu.exchange import applying, downward, join
from zhengwu.exchange.models import (
    ExchangeAggregate,
    ExchangeApplied,
    ExchangeDownward,
    ExchangeWatermark,
    RegistryLicense,
)
from zhengwu.exchange.relay import Relay
from zhengwu.kernel.codes import make_license_id
from zhengwu.kernel.codes.uscc import complete_uscc, org_check_digit
from zhengwu.kernel.config import Settings, Tier
from zhengwu.kernel.db import make_engine
from zhengwu.kernel.events import OutboxRecord, emit
from zhengwu.licenses import topics as license_topics
from zhengwu.orgs import service as orgs
from zhengwu.orgs.schemas import DepartmentCreate

pytestmark = pytest.mark.db

PASSPORT = "000101001000"
SOCIAL = "002030001000"
CITY_ID = "shijiazhuang"


@pytest.fixture(scope="module")
def city_database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A third migrated database: the city node's."""
    yield from migrated_database(tmp_path_factory, "applying_city")


@pytest.fixture(scope="module")
def city_engine(city_database_url: str) -> Iterator[Engine]:
    eng = make_engine(city_database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def city_connection(city_engine: Engine) -> Iterator[Connection]:
    yield from rolled_back(city_engine)


@pytest.fixture
def city(tmp_path: Path, city_database_url: str, city_connection: Connection) -> Iterator[Node]:
    """The Shijiazhuang city node below the Hebei province node."""
    factory = sessionmaker(
        bind=city_connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    settings = Settings(
        data_dir=tmp_path / "city",
        database_url=city_database_url,
        tier=Tier.CITY,
        division_code="130100",
        node_id=CITY_ID,
        node_name="石家庄市政务服务平台（测试）",
        public_url="http://shijiazhuang.test",
        upstream_url="http://hebei.test",
        log_level="DEBUG",
        exchange={"retry_base_seconds": 0.01, "retry_max_seconds": 0.05, "frontdb_settle_seconds": 0.0},
    )
    node = make_node(settings, factory)
    yield node
    node.client.close()


@pytest.fixture
def tiers(province: Node, national: Node, city: Node) -> tuple[Node, Node, Node]:
    """National, province and city nodes, the province joined to the national node and the city to the
    province — the same join at both tiers."""
    join_nodes(province, national)
    assert join.join(city.runtime, client=province.client).status == "requested"
    with province.uow() as session:
        join.approve(session, province.runtime, CITY_ID)
    assert join.join(city.runtime, client=province.client).status == "joined"
    return national, province, city


def directory(code: str = PASSPORT, name: str = "普通护照签发", **extra: Any) -> dict[str, Any]:
    return {"catalog_code": code, "task_name": name, "task_type": "01", "use_level": "2^3^4",
            "by_law": "《中华人民共和国护照法》第五条", "task_state": "1", "task_version": 1, **extra}  # fmt: skip


def push(national: Node, rows: list[tuple[dict[str, Any], str]]) -> None:
    with national.uow() as session:
        for row, operation in rows:
            emit(session, "catalog.dn_task_directory", row, key=row["catalog_code"], operation=operation)
    assert downward.publish(national.runtime) == len(rows)


def down(national: Node, province: Node, city: Node) -> tuple[Any, Any]:
    """One pull at the province from the national node, then one at the city from the province."""
    return downward.pull(province.runtime, national.client), downward.pull(city.runtime, province.client)


def entry(node: Node, code: str = PASSPORT) -> BasicItem | None:
    with node.uow() as session:
        return session.scalar(select(BasicItem).where(BasicItem.catalog_code == code))


def applied(node: Node) -> list[ExchangeApplied]:
    with node.uow() as session:
        return list(session.scalars(select(ExchangeApplied).order_by(ExchangeApplied.seq)))


def test_national_catalog_push_changes_province_and_reaches_city(tiers: tuple[Node, Node, Node]) -> None:
    national, province, city = tiers
    push(national, [(directory(), "I"), (directory(SOCIAL, "社会保险登记", use_level="3^4"), "I")])
    at_province, at_city = down(national, province, city)
    assert (at_province.applied, at_city.applied) == (2, 2)
    for node in (province, city):
        item = entry(node)
        assert item is not None and (item.status, item.task_version, item.task_name) == (
            Status.PUBLISHED, 1, "普通护照签发",
        )  # fmt: skip
    # Through the catalog service (history), but not echoed back up as the province's own up_task_directory.
    with province.uow() as session:
        actions = [h.action for h in session.scalars(select(History).where(History.code == PASSPORT))]
        assert actions == ["create", "publish"]
    assert reported_upward(province) == reported_upward(city) == 0
    log = applied(province)
    assert [(e.outcome, e.forwarded, e.peer) for e in log] == [("applied", True, "upstream")] * 2
    assert any("跨层级一致性检查" in n for n in log[0].notes or [])
    # The city has no lower node yet, but keeps them in its feed for a county joining later.
    assert [(e.outcome, e.forwarded) for e in applied(city)] == [("applied", True)] * 2

    push(national, [(directory(name="普通护照签发（含换发）", task_version=2), "U")])
    down(national, province, city)
    for node in (province, city):
        item = entry(node)
        assert item is not None and (item.task_name, item.task_version) == ("普通护照签发（含换发）", 2)

    push(
        national,
        [(directory(task_state="2"), "U"), (directory(SOCIAL, "社会保险登记", use_level="3^4"), "D")],
    )
    down(national, province, city)
    for node in (province, city):
        assert entry(node).status == Status.SUSPENDED  # type: ignore[union-attr]
        assert entry(node, SOCIAL).status == Status.CANCELLED  # type: ignore[union-attr]
    # No loop: neither tier reported the pushed changes upward, so nothing came back to the national node.
    assert reported_upward(province) == reported_upward(city) == 0
    Relay(city.runtime, http_transport(city, province)).run_once()
    Relay(province.runtime, http_transport(province, national)).run_once()
    with national.uow() as session:
        assert session.scalar(select(func.count()).select_from(ExchangeAggregate)) == 0
    # A local change of the same entry afterwards is the province's own and is reported as usual.
    with province.uow() as session:
        catalog.change_directory_state(session, PASSPORT, "cancel", actor="province-staff")
    assert reported_upward(province) == 1


def reported_upward(node: Node) -> int:
    with node.uow() as session:
        return session.scalar(
            select(func.count()).select_from(OutboxRecord).where(OutboxRecord.topic == "catalog.up_task_directory")
        ) or 0  # fmt: skip


def test_the_national_basic_catalog_goes_down_when_it_is_published(tiers: tuple[Node, Node, Node]) -> None:
    national, province, city = tiers
    with national.uow() as session:  # national staff edit their catalog with the ordinary service
        catalog.create_directory(session, directory(), actor="national-staff")
        catalog.publish_directory(session, PASSPORT, actor="national-staff")
    assert downward.publish(national.runtime) == 1
    down(national, province, city)
    with national.uow() as session:
        catalog.change_directory_state(session, PASSPORT, "suspend", actor="national-staff")
    downward.publish(national.runtime)
    down(national, province, city)
    for node in (province, city):
        item = entry(node)
        assert item is not None and (item.task_name, item.status) == ("普通护照签发", Status.SUSPENDED)


def test_push_twice_is_applied_once(tiers: tuple[Node, Node, Node]) -> None:
    national, province, city = tiers
    # The same row published twice (two messages), then the whole feed read again after a lost watermark.
    push(national, [(directory(), "I"), (directory(), "I")])
    down(national, province, city)
    with province.uow() as session:
        session.execute(ExchangeWatermark.__table__.delete())
    again = downward.pull(province.runtime, national.client)
    assert again.rows == 2 and again.applied == 2  # the inbox's earlier verdicts
    for node in (province, city):
        item = entry(node)
        assert item is not None and item.task_version == 1
        with node.uow() as session:
            publications = session.scalar(
                select(func.count()).select_from(History).where(History.code == PASSPORT, History.action == "publish")
            )  # fmt: skip
            assert publications == 1
        assert len(applied(node)) == 2  # one entry per message, none for the re-read
    with province.uow() as session:
        assert session.scalar(select(func.count()).select_from(ExchangeDownward)) == 2  # passed on once each


def test_bad_push_row_is_fed_back_and_not_passed_on(tiers: tuple[Node, Node, Node]) -> None:
    national, province, city = tiers
    push(national, [(directory(), "I"), (directory(SOCIAL, "社会保险登记", task_type="99"), "I")])
    at_province, at_city = down(national, province, city)
    assert (at_province.applied, at_province.rejected) == (1, 1)
    assert (at_city.rows, at_city.applied) == (1, 1)  # only the good row came down to the city
    assert entry(province, SOCIAL) is None and entry(city, SOCIAL) is None
    refused = [e for e in applied(province) if e.outcome == "refused"]
    assert len(refused) == 1 and refused[0].fed_back and not refused[0].forwarded
    assert refused[0].business_key == SOCIAL and "事项类型" in (refused[0].reason or "")

    # The refusal travels up to the national node, which keeps it in its own apply log.
    Relay(province.runtime, http_transport(province, national)).run_once()
    back = [e for e in applied(national) if e.outcome == "refused_below"]
    assert [(e.peer, e.business_key, e.row_guid) for e in back] == [("hebei", SOCIAL, refused[0].row_guid)]
    assert "事项类型" in (back[0].reason or "")

    # Operators read the apply log over the API (exchange:admin, or staff through the rights policy).
    assert province.client.get("/api/v1/exchange/applied").status_code == 401
    admin = {"Authorization": f"Bearer {token(province, scope='exchange:admin')}"}
    listed = province.client.get("/api/v1/exchange/applied", params={"outcome": "refused"}, headers=admin)
    assert listed.status_code == 200 and listed.headers["X-Total-Count"] == "1"
    (item,) = listed.json()
    assert (item["business_key"], item["table"], item["fed_back"]) == (SOCIAL, "dn_task_directory", True)
    assert (
        province.client.get("/api/v1/exchange/applied", params={"outcome": "x"}, headers=admin).status_code
        == 422
    )


def test_a_city_refusal_travels_back_to_the_national_node(tiers: tuple[Node, Node, Node]) -> None:
    national, province, city = tiers
    with city.uow() as session:  # the city had a local entry with this code and cancelled it
        catalog.create_directory(session, directory(SOCIAL, "社会保险登记", use_level="3^4"), actor="test")
        catalog.change_directory_state(session, SOCIAL, "cancel", actor="test")
    push(national, [(directory(SOCIAL, "社会保险登记", use_level="3^4"), "I")])
    at_province, at_city = down(national, province, city)
    assert (at_province.applied, at_city.rejected) == (1, 1)
    (refused,) = applied(city)
    assert refused.outcome == "refused" and refused.fed_back

    Relay(city.runtime, http_transport(city, province)).run_once()
    below = [e for e in applied(province) if e.outcome == "refused_below"]
    assert [(e.peer, e.row_guid, e.fed_back) for e in below] == [(CITY_ID, refused.row_guid, True)]
    Relay(province.runtime, http_transport(province, national)).run_once()
    (back,) = [e for e in applied(national) if e.outcome == "refused_below"]
    assert (back.peer, back.row_guid, back.business_key) == (CITY_ID, refused.row_guid, SOCIAL)
    with national.uow() as session:  # named by the national feed's own message id
        published = session.scalar(
            select(ExchangeDownward.message_id).where(ExchangeDownward.business_key == SOCIAL)
        )
    assert back.message_id == published and "状态" in (back.reason or "")


def test_divergence_check_runs_after_a_push(tiers: tuple[Node, Node, Node]) -> None:
    national, province, city = tiers
    push(national, [(directory(), "I")])
    down(national, province, city)
    with province.uow() as session:
        body = "MT000001"
        code = complete_uscc(f"11130000{body}{org_check_digit(body)}")
        dept = orgs.add_department(
            session, DepartmentCreate(credit_code=code, name="河北省公安厅", short_name="公安厅", division_code="130000")
        )  # fmt: skip
        task = catalog.create_task(session, guide(dept.credit_code), actor="test")
        catalog.publish_task(session, task.task_code, actor="test")
    push(national, [(directory(name="普通护照签发（新名称）", task_version=2), "U")])
    down(national, province, city)
    last = applied(province)[-1]
    assert last.outcome == "applied"
    assert any("不一致 1 处" in n for n in last.notes or []), last.notes
    assert any("事项名称与基本目录不一致" in n for n in last.notes or []), last.notes


def test_licenses_for_a_city_are_routed_to_it(
    tiers: tuple[Node, Node, Node], monkeypatch: pytest.MonkeyPatch
) -> None:
    national, province, city = tiers
    issuer = complete_uscc("11130100MB000001" + org_check_digit("MB000001"))

    def row_of(_session: Session, lic: Any, **_known: Any) -> dict[str, Any]:  # row's keywords (holder_code)
        return {"certificate_source_id": lic.identifier, "certificate_name": "营业执照", "certificate_number": lic.identifier[-12:],
                "certificate_type": "营业执照", "certificate_type_code": "11100000000013338W011",
                "certificate_holder": "石家庄演示科技有限公司", "certificate_holder_code": "91130100MA0000000X",
                "certificate_holder_type": "10", "issue_dept": "演示局", "issue_dept_code": issuer,
                "issue_date": "20261201", "certificate_area_code": lic.area_code}  # fmt: skip

    monkeypatch.setattr(license_topics, "row", row_of)
    ids = {area: make_license_id("11100000000013338W011", issuer, f"{n:09d}", 1)
           for n, area in enumerate(("130102", "130203", "130000"), start=1)}  # fmt: skip
    with province.uow() as session:
        for area, identifier in ids.items():
            lic = SimpleNamespace(identifier=identifier, area_code=area, status="valid")
            license_topics.emit_change(session, lic, created=True)  # type: ignore[arg-type]
        shares = session.scalar(
            select(func.count()).select_from(OutboxRecord).where(OutboxRecord.topic == license_topics.SHARE_TOPIC)
        )  # fmt: skip
        assert shares == 2  # the province's own division is not shared down
    # The national node shares one for the same city too (passed on by the province) and one for another province.
    with national.uow() as session:
        for n, area in ((7, "130104"), (8, "440300")):
            identifier = make_license_id("11100000000013338W011", issuer, f"{n:09d}", 1)
            emit(session, license_topics.SHARE_TOPIC, row_of(session, SimpleNamespace(identifier=identifier, area_code=area)),
                 key=identifier)  # fmt: skip
    downward.publish(national.runtime)
    downward.publish(province.runtime)
    at_province = downward.pull(province.runtime, national.client)
    assert at_province.rows == 1  # 440300 is not Hebei's
    downward.pull(city.runtime, province.client)
    with city.uow() as session:
        got = {a.payload["certificate_area_code"] for a in session.scalars(select(ExchangeAggregate))}
        assert got == {"130102", "130104"}  # not Tangshan's (130203)
        assert session.scalar(select(func.count()).select_from(RegistryLicense)) == 2
    assert sorted((e.division_code, e.outcome) for e in applied(city)) == [
        ("130102", "applied"),
        ("130104", "applied"),
    ]
    assert [(e.division_code, e.forwarded) for e in applied(province)] == [("130104", True)]


def test_area_of_a_division() -> None:
    assert [applying.area(d) for d in ("000000", "130000", "130100", "130102")] == [
        "",
        "13",
        "1301",
        "130102",
    ]
    assert applying.within("130102", "130100") and not applying.within("130203", "130100")
    assert applying.within("440300", "000000")


def guide(dept_code: str) -> dict[str, Any]:
    """A complete guide of an implementation item of the passport entry."""
    return {
        "dept_code": dept_code, "catalog_code": PASSPORT, "use_level": "2", "dept_type": "1", "power_source": "1",
        "accept_condition": "具有中华人民共和国国籍的中国公民", "anticipate_day": 15, "anticipate_type": "1",
        "promise_day": 7, "promise_type": "1", "handle_flow": "申请、受理、审查、决定、送达", "handle_type": "1",
        "transact_addr": "政务服务中心", "transact_time": "法定工作日", "is_fee": "0", "server_type": "1",
        "project_type": "2", "limit_scene_num": 1, "link_way": "12345", "supervise_way": "12345",
        "special_procedure": "无", "is_single_login": "1", "app_is_single_login": "1", "is_entry_center": "1",
        "is_express": "1", "is_online": "0", "is_pay_online": "0", "result_type": "10",
        "online_handle_depth": "1", "user_topic_type": "出入境",
        "materials": [{"material_name": "居民身份证", "source_type": "20"}],
    }  # fmt: skip


def test_pushes_made_before_a_lower_node_joined_reach_it_when_it_joins(
    province: Node, national: Node, city: Node
) -> None:
    join_nodes(province, national)
    push(national, [(directory(), "I"), (directory(SOCIAL, "社会保险登记", use_level="3^4"), "I")])
    downward.pull(province.runtime, national.client)
    push(national, [(directory(task_state="2"), "U")])
    downward.pull(province.runtime, national.client)
    # A province that took these before it kept a feed for lower nodes (an older version, or a county
    # before anyone asked to join it): nothing was passed on.
    with province.uow() as session:
        session.execute(ExchangeDownward.__table__.delete())
        session.execute(ExchangeApplied.__table__.update().values(forwarded=False))
    assert join.join(city.runtime, client=province.client).status == "requested"
    with province.uow() as session:
        join.approve(session, province.runtime, CITY_ID)
        # The entries' current rows, once each (the suspension superseded the first passport row).
        assert session.scalar(select(func.count()).select_from(ExchangeDownward)) == 2
        assert applying.replay_backlog(session, province.runtime) == 0  # idempotent
    assert join.join(city.runtime, client=province.client).status == "joined"
    at_city = downward.pull(city.runtime, province.client)
    assert (at_city.rows, at_city.applied) == (2, 2)
    assert entry(city).status == Status.SUSPENDED  # type: ignore[union-attr]
    assert entry(city, SOCIAL).status == Status.PUBLISHED  # type: ignore[union-attr]
    # Pushes after the join go on as usual, and nothing arrives twice.
    push(national, [(directory(task_state="1"), "U")])
    down(national, province, city)
    assert downward.pull(city.runtime, province.client).rows == 0
    assert entry(city).status == Status.PUBLISHED  # type: ignore[union-attr]
    assert len(applied(city)) == 3


def test_a_city_passes_pushes_on_to_a_county_that_joins_later(tiers: tuple[Node, Node, Node]) -> None:
    national, province, city = tiers
    push(national, [(directory(), "I")])
    down(national, province, city)
    with city.uow() as session:  # kept in the city's feed with no county below it yet
        (kept,) = session.scalars(select(ExchangeDownward))
        assert (kept.table_name, kept.business_key) == ("dn_task_directory", PASSPORT)


def test_license_status_and_data_errors_go_down_to_the_node_of_the_area(
    tiers: tuple[Node, Node, Node],
) -> None:
    from zhengwu.licenses import abnormal, feedback
    from zhengwu.licenses.models import License

    national, province, city = tiers
    identifier = issue_business_license(city, division="130100", department_name="石家庄市市场监督管理局")
    with city.uow() as session:
        area = session.scalar(select(License.area_code).where(License.identifier == identifier))
    assert area is not None and area.startswith("1301")
    with national.uow() as session:  # the national system revokes it, and refuses a row of it
        feedback.push_status(session, identifier, "revoked", "吊销营业执照", area_code=area, actor="test")
        feedback.report_error(
            session,
            {"certificate_source_id": identifier, "certificate_area_code": area, "certificate_name": "营业执照",
             "certificate_number": identifier[-12:], "certificate_type": "营业执照",
             "certificate_holder": "石家庄演示科技有限公司", "certificate_holder_code": "91130100MA0000000X",
             "certificate_type_code": "11100000000013338W011", "issue_date": "20261201", "issue_dept": "演示局",
             "issue_dept_code": "11130100MB0000019C"},
            "持证主体代码与登记信息不符",
        )  # fmt: skip
        # And one for a license the province itself should hold but does not: refused there, not passed on.
        feedback.push_status(
            session, "NO-SUCH-LICENSE", "revoked", "测试原因", area_code="130000", actor="test"
        )
    downward.publish(national.runtime)
    at_province, at_city = down(national, province, city)
    assert (at_province.applied, at_province.rejected) == (2, 1)
    assert (at_city.rows, at_city.applied) == (2, 2)
    with city.uow() as session:
        assert session.scalar(select(License.status).where(License.identifier == identifier)) == "revoked"
        entries, total = abnormal.list_entries(session, departments=None, status="open")
        assert total == 1 and entries[0].identifier == identifier
        assert "持证主体代码" in entries[0].reason
    with province.uow() as session:  # passed on, not kept in the province's own queue
        assert abnormal.list_entries(session, departments=None, status="open")[1] == 0
    assert sorted((e.table_name, e.outcome, e.forwarded) for e in applied(province)) == [
        ("dn_lic_data_error", "applied", True),
        ("dn_lic_status", "applied", True),
        ("dn_lic_status", "refused", False),
    ]


def test_a_status_change_of_a_license_the_province_issued_for_a_city_is_not_refused_there(
    tiers: tuple[Node, Node, Node],
) -> None:
    """The province issued a license for the city's area (the city holds only the shared copy): the
    national revocation is applied at the province and not passed on as such; the city's copy changes
    through the province's own change, and nobody refuses anything — also for a county joining later."""
    from zhengwu.exchange.verification import index, registry_key
    from zhengwu.licenses import feedback
    from zhengwu.licenses.models import License

    national, province, city = tiers
    identifier = issue_business_license(
        province, division="130100", department_name="石家庄市行政审批局（省平台）"
    )
    downward.publish(province.runtime)
    downward.pull(city.runtime, province.client)  # the city's shared copy

    def copy_at_city() -> list[str]:
        with city.uow() as session:
            idx = index(registry_key(city.settings), identifier)
            return list(
                session.scalars(select(RegistryLicense.status).where(RegistryLicense.identifier_index == idx))
            )

    assert copy_at_city() == ["有效"]
    with national.uow() as session:
        feedback.push_status(session, identifier, "revoked", "吊销营业执照", area_code="130100", actor="test")
    downward.publish(national.runtime)
    at_province = downward.pull(province.runtime, national.client)
    assert (at_province.applied, at_province.rejected) == (1, 0)
    with province.uow() as session:
        assert session.scalar(select(License.status).where(License.identifier == identifier)) == "revoked"
    (status_row,) = [e for e in applied(province) if e.table_name == "dn_lic_status"]
    assert not status_row.forwarded and applying.SETTLED_NOTE in (status_row.notes or [])
    downward.publish(province.runtime)
    at_city = downward.pull(city.runtime, province.client)
    assert at_city.rejected == 0
    assert [e.outcome for e in applied(city) if e.outcome != "applied"] == []
    assert copy_at_city() == []  # the copy went with the province's own change (a D row of the share)
    with province.uow() as session:  # a lower node joining later is not sent it either
        assert applying.replay_backlog(session, province.runtime) == 0


def test_a_notice_to_all_goes_down_every_tier_and_one_to_the_province_stops_there(
    tiers: tuple[Node, Node, Node],
) -> None:
    from zhengwu.security import notices
    from zhengwu.security.severity import Severity

    national, province, city = tiers
    with national.uow() as session:
        for to_node, title in (
            (notices.EVERY_NODE, "全国安全通报：加强口令管理"),
            ("hebei", "河北省专项通报"),
        ):
            notices.issue(session, national.settings, to_node=to_node, title=title, body="正文",
                          severity=Severity.HIGH, actor="national-staff")  # fmt: skip
    downward.publish(national.runtime)
    down(national, province, city)
    with province.uow() as session:
        assert sorted(n.title for n in notices.list_notices(session)) == [
            "全国安全通报：加强口令管理",
            "河北省专项通报",
        ]
    with city.uow() as session:
        assert [(n.title, n.issuer) for n in notices.list_notices(session)] == [
            ("全国安全通报：加强口令管理", "national")
        ]


def test_a_city_acknowledgement_of_a_national_notice_reaches_the_national_node(
    tiers: tuple[Node, Node, Node],
) -> None:
    """National → province → city notice; the city's receipt goes through the province (relayed with its
    origin) to the issuer; the receipt of a notice the province issued itself ends at the province."""
    from zhengwu.exchange.models import ExchangeInbox
    from zhengwu.security import notices
    from zhengwu.security.severity import Severity

    national, province, city = tiers
    with national.uow() as session:
        issued = notices.issue(session, national.settings, to_node=notices.EVERY_NODE, title="全国安全通报：加强口令管理",
                               body="正文", severity=Severity.HIGH, actor="national-staff")  # fmt: skip
        national_key = issued.notice_key
    with province.uow() as session:
        own = notices.issue(session, province.settings, to_node=CITY_ID, title="河北省专项通报", body="正文",
                            severity=Severity.MEDIUM, actor="province-staff")  # fmt: skip
        province_key = own.notice_key
    downward.publish(national.runtime)
    downward.publish(province.runtime)
    down(national, province, city)

    def handle(node: Node, keys: set[str]) -> None:
        """Assign to a duty officer of the node, then acknowledge."""
        from zhengwu.identity import service as identity
        from zhengwu.orgs.models import Department

        with node.uow() as session:
            office = Department(credit_code=complete_uscc("11130000MB000011" + org_check_digit("MB000011")),
                                name="网络安全中心", division_code=node.settings.division_code, level=2)  # fmt: skip
            session.add(office)
            session.flush()
            identity.register_staff(session, name="值班员", login_name="duty", password="Sec-Passw0rd-2026",
                                    department_id=office.id, roles=["case_officer"])  # fmt: skip
            for notice in notices.list_notices(session):
                if notice.notice_key in keys:
                    notices.assign(session, notice.id, assignee="duty", actor="secadmin")
                    notices.acknowledge(session, notice.id, actor="secadmin")

    with city.uow() as session:
        assert {n.notice_key for n in notices.list_notices(session)} == {national_key, province_key}
    handle(city, {national_key, province_key})
    handle(province, {national_key})  # the province acknowledges the national notice too
    assert Relay(city.runtime, http_transport(city, province)).run_once().rejected == 0
    assert Relay(province.runtime, http_transport(province, national)).run_once().rejected == 0
    with province.uow() as session:  # its own notice's receipt is kept here, and goes no further
        (kept,) = notices.receipts(session, [province_key])[province_key]
        assert (kept.node_id, kept.status, kept.route) == (CITY_ID, "acknowledged", CITY_ID)
    with national.uow() as session:
        receipts = notices.receipts(session, [national_key])[national_key]
        assert sorted((r.node_id, r.status, r.route) for r in receipts) == [
            ("hebei", "acknowledged", "hebei"),
            (CITY_ID, "acknowledged", f"{CITY_ID}/hebei"),
        ]
        arrived = session.scalars(select(ExchangeInbox.business_key).where(
            ExchangeInbox.table_name == notices.RECEIPT_TABLE)).all()  # fmt: skip
        assert sorted(arrived) == sorted([f"{national_key}:acknowledged"] * 2)


def _filled(table: str, **values: Any) -> dict[str, Any]:
    """A row of a national dn_* table with every required column filled, then ``values``."""
    from zhengwu.exchange import national

    row: dict[str, Any] = {}
    for column in national.DN_TABLES[table].columns:
        kind, length, required = column.send_rule
        if not required:
            continue
        if kind == "int":
            row[column.name] = 1
        elif kind == "datetime":
            row[column.name] = "20261201000000"
        else:
            row[column.name] = "1"[: length or 1]
    return {**row, **values}


def test_a_national_punish_item_and_its_guide_rows_go_down_every_tier(tiers: tuple[Node, Node, Node]) -> None:
    from zhengwu.kernel.codes.task_code import make_task_code

    national, province, city = tiers
    punish_code = "000102001000"
    ministry = complete_uscc("11100000MB000002" + org_check_digit("MB000002"))  # a national body
    task_code = make_task_code(ministry, 1, punish_code)
    basic = _filled("dn_task_punish_basic", catalog_code=punish_code, task_code=task_code, task_name="违反护照管理规定的处罚",
                    task_type="02", by_law="《中华人民共和国护照法》第二十条", use_level="1", task_state="1")  # fmt: skip
    material = _filled("dn_task_general_material", task_code=task_code, material_name="居民身份证")
    with national.uow() as session:
        emit(session, "catalog.dn_task_punish_basic", basic, key=task_code)
        emit(session, "catalog.dn_task_general_material", material, key=task_code)
    assert downward.publish(national.runtime) == 2
    at_province, at_city = down(national, province, city)
    assert (at_province.applied, at_province.rejected) == (2, 0), [
        (e.table_name, e.reason) for e in applied(province)
    ]
    assert (at_city.rows, at_city.applied) == (2, 2)
    for node in (province, city):
        item = entry(node, punish_code)
        assert item is not None and (item.task_name, item.task_type, item.status) == (
            "违反护照管理规定的处罚", "02", Status.PUBLISHED,
        )  # fmt: skip
        outcomes = {(e.table_name, e.outcome) for e in applied(node)}
        assert outcomes == {("dn_task_punish_basic", "applied"), ("dn_task_general_material", "applied")}
        with node.uow() as session:  # the national body's guide is kept at every tier, by its 基本编码
            (kept,) = catalog.national_guide(session, punish_code)
            assert kept["task_code"] == task_code and kept["basic"]["task_name"] == "违反护照管理规定的处罚"
            assert [m["material_name"] for m in kept["materials"]] == ["居民身份证"]


def test_a_national_guide_is_kept_idempotently_and_local_items_inherit_it(
    tiers: tuple[Node, Node, Node],
) -> None:
    """Guide child rows of a national body's item: kept once however often they come, changed in place,
    removed by ``D``, shown with the local items of the same 基本编码; a bad row refused and fed back."""
    from zhengwu.kernel.codes.task_code import make_task_code

    national, province, city = tiers
    push(national, [(directory(), "I")])
    down(national, province, city)
    ministry = complete_uscc("11100000MB000003" + org_check_digit("MB000003"))
    task_code = make_task_code(ministry, 1, PASSPORT)
    with province.uow() as session:  # a local item of the passport entry, published by its department
        body = "MT000002"
        dept = orgs.add_department(session, DepartmentCreate(
            credit_code=complete_uscc(f"11130000{body}{org_check_digit(body)}"), name="河北省公安厅",
            short_name="公安厅", division_code="130000"))  # fmt: skip
        local = catalog.create_task(session, guide(dept.credit_code), actor="test")
        catalog.publish_task(session, local.task_code, actor="test")
        local_code = local.task_code

    def emit_rows(rows: list[tuple[str, dict[str, Any], str]]) -> None:
        with national.uow() as session:
            for table, row, operation in rows:
                emit(session, f"catalog.{table}", row, key=str(row["task_code"]), operation=operation)
        assert downward.publish(national.runtime) == len(rows)

    passport = _filled(
        "dn_task_general_material", task_code=task_code, material_name="护照申请表", order_num=1
    )
    photo = _filled(
        "dn_task_general_material", task_code=task_code, material_name="近期免冠照片", order_num=2
    )
    fee = _filled(
        "dn_task_general_fee_project", task_code=task_code, fee_name="护照工本费", fee_stand="120元"
    )
    question = _filled(
        "dn_task_general_questions", task_code=task_code, question="多久能拿到？", answer="7个工作日"
    )
    emit_rows([("dn_task_general_material", passport, "I"), ("dn_task_general_material", photo, "I"),
               ("dn_task_general_fee_project", fee, "I"), ("dn_task_general_questions", question, "I")])  # fmt: skip
    at_province, at_city = down(national, province, city)
    assert (at_province.applied, at_province.rejected, at_city.applied) == (4, 0, 4)
    # The same rows again (new messages: a resend at the national node) change nothing.
    emit_rows([("dn_task_general_material", passport, "I"), ("dn_task_general_fee_project", fee, "I")])
    down(national, province, city)
    # A changed fee, a withdrawn material, a row for an invalid 实施编码.
    emit_rows([("dn_task_general_fee_project", {**fee, "fee_stand": "100元"}, "U"),
               ("dn_task_general_material", photo, "D"),
               ("dn_task_general_questions", {**question, "task_code": "not-a-code"}, "I")])  # fmt: skip
    at_province, _ = down(national, province, city)
    assert (at_province.applied, at_province.rejected) == (2, 1)
    for node in (province, city):
        with node.uow() as session:
            (kept,) = catalog.national_guide(session, PASSPORT)
            assert [m["material_name"] for m in kept["materials"]] == ["护照申请表"]
            assert [(f["fee_name"], f["fee_stand"]) for f in kept["fee_projects"]] == [
                ("护照工本费", "100元")
            ]
            assert [q["answer"] for q in kept["questions"]] == ["7个工作日"]
            changes = session.scalar(select(func.count()).select_from(Change).where(
                Change.entity == "catalog.national_guide"))  # fmt: skip
            assert changes == 6  # four first rows, the fee change, the removal: the repeats wrote nothing
    with province.uow() as session:  # the local item of the passport entry shows the national guide
        shown = catalog.get_public_item(session, local_code)
        assert shown["national_guide"][0]["task_code"] == task_code
    public = province.client.get(f"/api/v1/catalog/items/{local_code}").json()
    assert [m["material_name"] for m in public["national_guide"][0]["materials"]] == ["护照申请表"]
    (refused,) = [e for e in applied(province) if e.outcome == "refused"]
    assert refused.table_name == "dn_task_general_questions" and refused.fed_back and not refused.forwarded
    Relay(province.runtime, http_transport(province, national)).run_once()
    assert [e.table_name for e in applied(national) if e.outcome == "refused_below"] == [
        "dn_task_general_questions"
    ]

    # A push about an item this node holds changes that item's working copy; its department publishes.
    emit_rows([("dn_task_general_material",
                _filled("dn_task_general_material", task_code=local_code, material_name="居民户口簿", order_num=2), "I")])  # fmt: skip
    at_province, _ = down(national, province, city)
    assert (at_province.applied, at_province.rejected) == (1, 0)
    with province.uow() as session:
        item = catalog.get_task(session, local_code)
        assert [m.material_name for m in item.materials] == ["居民身份证", "居民户口簿"] and item.dirty
        assert item.status == Status.PUBLISHED and item.task_version == 1


def test_verification_is_answered_by_the_nearest_tier_holding_the_record_with_a_cache_at_every_hop(
    tiers: tuple[Node, Node, Node],
) -> None:
    """City → province → national verification: each hop audits and caches; a license the province holds
    (reported by the city) is answered there; a revoked signer of the upstream refuses its answers and
    its feed pages (the CRL)."""
    from exchange_nodes import token

    from zhengwu.exchange.errors import UpstreamFailed
    from zhengwu.exchange.models import VerificationAudit, VerificationCache
    from zhengwu.kernel.clock import utcnow
    from zhengwu.kernel.pki import RevocationReason
    from zhengwu.pki.authority import EXCHANGE_DOWNLINK, revoke_certificate
    from zhengwu.pki.repository import PkiRepository
    from zhengwu.seed import registries as registry_seed

    national, province, city = tiers
    with national.uow() as session:
        registry_seed.seed_registries(session, national.settings, people_count=20, companies_count=2)
    city.runtime.extras["verify_client"] = province.client
    province.runtime.extras["verify_client"] = national.client
    bearer = {"Authorization": f"Bearer {token(city)}"}
    person = registry_seed.people(20)[3]

    def ask(kind: str, body: dict[str, Any]) -> Any:
        return city.client.post(f"/api/v1/verify/{kind}", json=body, headers=bearer)

    def hops() -> list[list[tuple[str | None, str]]]:
        seen = []
        for node in (city, province, national):
            with node.uow() as session:
                rows = session.scalars(select(VerificationAudit).order_by(VerificationAudit.at))
                seen.append([(a.caller_node, a.answered_by) for a in rows])
        return seen

    def expire(node: Node) -> None:
        with node.uow() as session:
            session.execute(VerificationCache.__table__.update().values(expires_at=utcnow()))

    body = {"name": person.name, "id_number": person.id_number}
    assert ask("person", body).json()["match"] is True
    assert hops() == [[(None, "upstream")], [(CITY_ID, "upstream")], [("hebei", "registry")]]
    assert ask("person", body).json()["match"] is True  # the city's cache
    expire(city)
    assert ask("person", body).json()["match"] is True  # the province's cache
    assert hops() == [
        [(None, "upstream"), (None, "cache"), (None, "upstream")],
        [(CITY_ID, "upstream"), (CITY_ID, "cache")],
        [("hebei", "registry")],
    ]

    # A license the city reported is held by the province: answered there, the national node not asked.
    companies = registry_seed.companies(2)
    lic = registry_seed.licenses(companies)[0]
    row = {"certificate_source_id": lic.identifier, "certificate_name": "演示营业执照", "certificate_number": "1",
           "certificate_type": lic.license_type, "certificate_type_code": registry_seed.license_type_code(),
           "certificate_holder": lic.holder, "certificate_holder_code": lic.holder_code, "issue_dept": "演示局",
           "issue_dept_code": lic.identifier.split(".")[6], "issue_date": "20240101",
           "certificate_area_code": "130100"}  # fmt: skip
    with city.uow() as session:
        emit(session, "licenses.up_lic_data", row, key=lic.identifier)
    assert Relay(city.runtime, http_transport(city, province)).run_once().acknowledged == 1
    answer = ask("license", {"identifier": lic.identifier, "holder": lic.holder}).json()
    assert answer["match"] is True and answer["license_type"] == lic.license_type
    assert [h[-1] for h in hops()] == [(None, "upstream"), (CITY_ID, "registry"), ("hebei", "registry")]

    # The national node's signing certificate is revoked: its answers and feed pages prove nothing now.
    with national.uow() as session:
        current = PkiRepository(session).current(EXCHANGE_DOWNLINK)
        assert current is not None
        revoke_certificate(
            session, national.settings, current, reason=RevocationReason.KEY_COMPROMISE, actor="test"
        )
    province.runtime.credentials.invalidate()
    for node in (city, province):
        expire(node)
    refused = ask("person", body)
    assert refused.status_code == 503 and person.name not in refused.text
    push(national, [(directory(), "I")])
    with pytest.raises(UpstreamFailed):
        downward.pull(province.runtime, national.client)
    assert entry(province) is None
