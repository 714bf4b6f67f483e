"""National security notices travel down: the national node issues one, the province pulls the feed,
and its security administrator assigns, acknowledges and closes it over the API, each step audited."""

from __future__ import annotations

from typing import Any

import pytest
from exchange_nodes import Node
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhengwu.exchange import downward
from zhengwu.identity import service as identity
from zhengwu.identity.deps import COOKIE
from zhengwu.kernel.events import emit
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
