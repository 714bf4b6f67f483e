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
    yield from migrated_database(tmp_path_factory, "city")


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

    def row_of(_session: Session, lic: Any) -> dict[str, Any]:
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
        assert outcomes == {("dn_task_punish_basic", "applied"), ("dn_task_general_material", "stored")}
        with node.uow() as session:  # the national body's guide row is held at every tier
            kept = session.scalars(
                select(ExchangeAggregate).where(ExchangeAggregate.table_name == "dn_task_general_material")
            ).one()
            assert kept.payload["material_name"] == "居民身份证"
