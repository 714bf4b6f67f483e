"""National security notices travel down: the national node issues one, the province pulls the feed,
and its security administrator assigns, acknowledges and closes it over the API, each step audited."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from exchange_nodes import Node, http_transport
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhengwu.exchange import downward
from zhengwu.exchange.relay import Relay
from zhengwu.identity import service as identity
from zhengwu.identity.deps import COOKIE
from zhengwu.kernel.events import OutboxRecord, emit
from zhengwu.orgs.models import Department
from zhengwu.security import notices
from zhengwu.security.errors import UnknownNode
from zhengwu.security.severity import Severity

pytestmark = pytest.mark.db


def _staff(session: Session, login: str, roles: list[str]) -> str:
    office = session.scalar(select(Department).where(Department.credit_code == "11130000MB0000001X"))
    if office is None:
        office = Department(
            credit_code="11130000MB0000001X", name="河北省网络安全中心", division_code="130000", level=2
        )
        session.add(office)
        session.flush()
    account = identity.register_staff(
        session,
        name="工作人员",
        login_name=login,
        password="Sec-Passw0rd-2026",
        department_id=office.id,
        roles=roles,
    )
    token = identity.start_session(session, account, amr=["pwd", "otp"]).token
    session.flush()
    return str(token)


def _issue(national: Node, to_node: str, title: str) -> str:
    with national.uow() as session:
        notice = notices.issue(
            session, national.settings, to_node=to_node, title=title, body="请立即排查 Apache Struts 远程代码执行漏洞。",
            severity=Severity.CRITICAL, actor="cli",
        )  # fmt: skip
        return notice.id


def test_a_notice_comes_down_and_is_handled_to_closure_with_its_trail(joined: tuple[Node, Node]) -> None:
    province, national = joined
    _issue(national, "hebei", "关于排查 Struts 漏洞的通报")
    _issue(national, notices.EVERY_NODE, "全国安全通报：加强口令管理")
    _issue(national, "hebei", "第二份")  # addressed here too; a sibling's notice is tested below
    assert downward.publish(national.runtime) == 3
    assert downward.pull(province.runtime, national.client).rows == 3
    assert downward.pull(province.runtime, national.client).rows == 0
    with province.uow() as session:
        received = notices.list_notices(session)
        token = _staff(session, "secadmin", ["security_admin"])
        _staff(session, "duty", ["case_officer"])
    assert {n.title for n in received} == {
        "关于排查 Struts 漏洞的通报",
        "全国安全通报：加强口令管理",
        "第二份",
    }
    assert {(n.direction, n.status, n.issuer) for n in received} == {("received", "open", "national")}
    target = next(n for n in received if n.title == "关于排查 Struts 漏洞的通报")

    client = province.client
    client.cookies.set(COOKIE, token)
    base = f"/api/v1/security/notices/{target.id}"
    listed = client.get("/api/v1/security/notices?status=open")
    assert listed.status_code == 200 and len(listed.json()) == 3
    # Out of order: acknowledged before it was assigned.
    early = client.post(f"{base}/ack")
    assert early.status_code == 409 and early.json()["code"] == "security.notice_state"
    unknown = client.post(f"{base}/assign", json={"assignee": "nobody"})
    assert unknown.status_code == 422 and unknown.json()["code"] == "security.unknown_assignee"
    assert client.post(f"{base}/assign", json={"assignee": "duty"}).json()["status"] == "assigned"
    assert client.post(f"{base}/ack").json()["status_label"] == "已确认"
    assert client.post(f"{base}/close", json={"note": ""}).status_code == 422
    closed = client.post(f"{base}/close", json={"note": "已升级 Struts 至 6.3.0.2 并复测"})
    assert closed.status_code == 200, closed.text
    shown: dict[str, Any] = client.get(base).json()
    assert shown["status"] == "closed" and shown["assignee"] == "duty" and shown["note"].startswith("已升级")
    steps = [step["action"] for step in shown["trail"]]
    assert steps == [
        "security.notice.receive",
        "security.notice.assign",
        "security.notice.ack",
        "security.notice.close",
    ]
    assert shown["trail"][-1]["before"]["status"] == "acknowledged"
    assert client.post(f"{base}/close", json={"note": "again"}).status_code == 409


def test_a_notice_for_an_unknown_node_is_refused(joined: tuple[Node, Node]) -> None:
    _province, national = joined
    with pytest.raises(UnknownNode) as refused, national.uow() as session:
        notices.issue(
            session,
            national.settings,
            to_node="shanxi",
            title="t",
            body="b",
            severity=Severity.LOW,
            actor="cli",
        )
    assert "shanxi" in str(refused.value.detail) and "未接入" in str(refused.value.detail)


def test_a_notice_for_a_sibling_is_not_taken(joined: tuple[Node, Node]) -> None:
    province, national = joined
    # The feed is one for every lower node: a row addressed to a sibling reaches Hebei too.
    with national.uow() as session:
        emit(session, notices.TOPIC, {"notice_key": "national:x1", "issuer": "national", "to_node": "shanxi",
             "title": "给山西", "body": "正文", "severity": "low", "issued_at": "2026-12-05T10:00:00+00:00"},
             key="national:x1")  # fmt: skip
    downward.publish(national.runtime)
    assert downward.pull(province.runtime, national.client).rows == 1
    with province.uow() as session:
        assert notices.list_notices(session) == []


def _relay(province: Node, national: Node) -> Any:
    worker = Relay(province.runtime, http_transport(province, national))
    try:
        return worker.run_once()
    finally:
        worker.release()
        worker.close()


def test_the_handling_of_a_notice_goes_back_up_as_receipts(
    joined: tuple[Node, Node], monkeypatch: pytest.MonkeyPatch
) -> None:
    province, national = joined
    to_hebei = _issue(national, "hebei", "关于排查 Struts 漏洞的通报")
    to_all = _issue(national, notices.EVERY_NODE, "全国安全通报：加强口令管理")
    downward.publish(national.runtime)
    downward.pull(province.runtime, national.client)
    with province.uow() as session:
        token = _staff(session, "secadmin", ["security_admin"])
        _staff(session, "duty", ["case_officer"])
        received = {n.title: n.id for n in notices.list_notices(session)}
    client = province.client
    client.cookies.set(COOKIE, token)
    first = f"/api/v1/security/notices/{received['关于排查 Struts 漏洞的通报']}"
    second = f"/api/v1/security/notices/{received['全国安全通报：加强口令管理']}"
    for base in (first, second):
        assert client.post(f"{base}/assign", json={"assignee": "duty"}).status_code == 200
        assert client.post(f"{base}/ack").status_code == 200
    assert client.post(f"{first}/close", json={"note": "已升级 Struts 并复测"}).status_code == 200
    with province.uow() as session:
        queued = session.scalars(
            select(OutboxRecord.payload).where(OutboxRecord.topic == notices.RECEIPT_TOPIC)
        ).all()
    assert sorted(p["status"] for p in queued) == ["acknowledged", "acknowledged", "closed"]

    stats = _relay(province, national)
    assert stats.rejected == 0, stats

    # On the national node: per notice, which nodes acknowledged or closed it, and when.
    with national.uow() as session:
        token = _staff(session, "natsec", ["security_admin"])
    national.client.cookies.set(COOKIE, token)
    listed = {n["id"]: n for n in national.client.get("/api/v1/security/notices").json()}
    closed = listed[to_hebei]["receipts"]
    assert [(r["node_id"], r["status"], r["status_label"]) for r in closed] == [("hebei", "closed", "已关闭")]
    assert (
        closed[0]["note"] == "已升级 Struts 并复测"
        and closed[0]["acknowledged_at"]
        and closed[0]["closed_at"]
    )
    acked = listed[to_all]["receipts"]
    assert [(r["node_id"], r["status"]) for r in acked] == [("hebei", "acknowledged")]
    assert acked[0]["closed_at"] is None and acked[0]["note"] is None
    one = national.client.get(f"/api/v1/security/notices/{to_hebei}").json()
    assert one["receipts"][0]["status"] == "closed"

    # ...and on the command line of the national node.
    from contextlib import contextmanager

    from clikit import invoke
    from zhengwu.commands import security as security_commands

    @contextmanager
    def national_unit(_config: Any) -> Any:
        with national.uow() as session:
            yield None, session

    monkeypatch.setattr(security_commands, "node_unit", national_unit)
    shown = invoke("security", "notices", "list", "--json")
    assert shown.exit_code == 0, shown.output
    by_id = {n["id"]: n for n in json.loads(shown.output)["notices"]}
    assert by_id[to_hebei]["receipts"][0]["node_id"] == "hebei"
    monkeypatch.setattr(security_commands.console, "width", 200)  # one line per notice
    table = invoke("security", "notices", "list")
    assert table.exit_code == 0 and "hebei 已关闭" in table.output and "hebei 已确认" in table.output

    # A late acknowledgement never undoes the closing; a receipt of a notice not issued here is refused.
    with national.uow() as session:
        refused = notices.apply_receipts(
            session,
            [
                _Inbound("r1", {"notice_key": f"national:{to_hebei}", "status": "acknowledged",
                                "acknowledged_at": "2026-12-06T01:00:00+00:00"}),
                _Inbound("r2", {"notice_key": "national:nope", "status": "closed",
                                "closed_at": "2026-12-06T01:00:00+00:00"}),
                _Inbound("r3", {"notice_key": f"national:{to_hebei}", "status": "closed"}),
            ],
        )  # fmt: skip
        assert {k: v.code for k, v in refused.items()} == {
            "r2": "security_receipt_unknown_notice",
            "r3": "security_receipt_incomplete",
        }
        kept = notices.receipts(session, [f"national:{to_hebei}"])[f"national:{to_hebei}"]
        assert [r.status for r in kept] == ["closed"]


@dataclass
class _Inbound:
    row_guid: str
    row: dict[str, Any]
    sender: str = "hebei"
    origin: str = "hebei"
    route: str = "hebei"
    business_key: str = ""
    operation: str = "I"
    order: int = 0
