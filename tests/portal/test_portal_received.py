"""工作台 · 下级上报的电子证照: upper-node staff with ``exchange.operate`` (second factor) list the license
rows lower nodes reported, refuse one with a reason (a ``dn_lic_data_error`` row queued for the feed, once
per reported version, audited), and the policy's refusals and a reason left out come back as pages."""

from __future__ import annotations

import re
import secrets
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from licenses_kit import BUSINESS_FACE, COMPANY, Issuing
from zhengwu.audit.models import AuditChange
from zhengwu.exchange.models import ExchangeAggregate, ExchangeNode
from zhengwu.identity import service as identity
from zhengwu.kernel.events import OutboxRecord
from zhengwu.licenses import feedback, offline, service, topics

pytestmark = pytest.mark.db
HOME = "/staff/licenses/received"


def _token(page: Any) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert match is not None, page.text[:500]
    return match.group(1)


def reported(env: Issuing, sender: str = "hebei-shijiazhuang") -> ExchangeAggregate:
    """A license row a lower node reported, as the upper node's exchange keeps it."""
    lic = service.issue_license(env.session, env.settings, type_code=env.type_code("营业执照"),
                                department_id=env.department.id, holder_name="石家庄演示科技有限公司",
                                holder_code=COMPANY, face=dict(BUSINESS_FACE), actor="test")  # fmt: skip
    row = ExchangeAggregate(sender=sender, origin=sender, division_code="130100", table_name="up_lic_data",
                            business_key=lic.identifier, row_guid=secrets.token_hex(16), cd_operation="I",
                            source_order=1, payload=topics.row(env.session, lic))  # fmt: skip
    env.session.add(row)
    env.session.flush()
    return row


def staff(session: Session, department_id: str, roles: list[str], *, factor: bool = True) -> str:
    account = identity.register_staff(session, name="数据交换管理员", login_name=f"rcv{secrets.token_hex(4)}",
                                      password="Exchange-Passw0rd-2026", department_id=department_id, roles=roles)  # fmt: skip
    token = str(identity.start_session(session, account, amr=["pwd", "otp"] if factor else ["pwd"]).token)
    session.flush()
    return token


def test_upper_staff_refuse_a_reported_row(client: Any, issuing: Issuing) -> None:
    row = reported(issuing)
    other = reported(issuing, "hebei-tangshan")
    # The node that joined as 石家庄: its name on the pages, not its id.
    issuing.session.add(ExchangeNode(node_id="hebei-shijiazhuang", node_name="石家庄市政务服务平台",
                                     division_code="130100", tier="city", status="approved", csr_pem="-",
                                     key_fingerprint="0" * 64))  # fmt: skip
    issuing.session.flush()
    anonymous = client.get(HOME, follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/identity/login")
    client.cookies.set("zw_session", staff(issuing.session, issuing.department.id, ["admin"]))
    refused_page = client.get(HOME)
    assert refused_page.status_code == 403 and "没有权限" in refused_page.text
    client.cookies.set("zw_session", staff(issuing.session, issuing.department.id, ["platform_admin"]))
    listed = client.get(HOME)
    assert listed.status_code == 200 and "共 2 条" in listed.text
    assert "营业执照" in listed.text and offline.mask_name("石家庄演示科技有限公司") in listed.text
    assert COMPANY not in listed.text and "hebei-tangshan" in listed.text  # a node that never joined here
    assert "石家庄市政务服务平台" in listed.text and "hebei-shijiazhuang" not in listed.text
    found = client.get(HOME, params={"identifier": row.business_key})
    assert "共 1 条" in found.text and other.business_key not in found.text
    form = client.get(f"{HOME}/{row.id}")
    assert form.status_code == 200 and COMPANY not in form.text and "年" in form.text
    assert client.get(f"{HOME}/999999").status_code == 404
    assert client.get(f"{HOME}/not-a-number").status_code == 404
    forged = client.post(f"{HOME}/{row.id}/refuse", data={"csrf_token": "0" * 32, "reason": "类型未登记"})
    assert forged.status_code == 403 and "类型未登记" in forged.text  # what was typed is kept
    empty = client.post(f"{HOME}/{row.id}/refuse", data={"csrf_token": _token(form), "reason": " "})
    assert empty.status_code == 422 and "请填写退回原因" in empty.text
    done = client.post(f"{HOME}/{row.id}/refuse",
                       data={"csrf_token": _token(form), "reason": "证照类型代码未在国家证照目录中登记"})  # fmt: skip
    assert done.status_code == 200 and "已退回" in done.text and "石家庄市政务服务平台" in done.text
    queued = list(
        issuing.session.scalars(select(OutboxRecord).where(OutboxRecord.topic == feedback.ERROR_TOPIC))
    )
    assert len(queued) == 1 and queued[0].payload["error_remark"] == "证照类型代码未在国家证照目录中登记"
    assert (
        queued[0].payload["certificate_source_id"] == row.business_key and "row_guid" not in queued[0].payload
    )
    # A second click refuses nothing twice; the list marks the row.
    again = client.post(f"{HOME}/{row.id}/refuse", data={"csrf_token": _token(form), "reason": "再退一次"})
    assert again.status_code == 409 and "已经退回过" in again.text
    assert (
        len(
            list(
                issuing.session.scalars(
                    select(OutboxRecord).where(OutboxRecord.topic == feedback.ERROR_TOPIC)
                )
            )
        )
        == 1
    )
    assert "已退回" in client.get(HOME).text
    assert "已经退回过" in client.get(f"{HOME}/{row.id}").text
    actions = list(
        issuing.session.scalars(select(AuditChange).where(AuditChange.action == "license.refuse_reported"))
    )
    assert len(actions) == 1 and actions[0].actor.startswith("account:")


def test_without_a_second_factor_the_page_asks_for_it(client: Any, issuing: Issuing) -> None:
    client.cookies.set(
        "zw_session", staff(issuing.session, issuing.department.id, ["platform_admin"], factor=False)
    )
    page = client.get(HOME, follow_redirects=False)
    assert page.status_code in (303, 403)
    if page.status_code == 303:
        assert page.headers["location"].startswith("/identity/step-up")
    else:
        assert "动态验证码" in page.text


PUSH = "/staff/licenses/status-push"


def test_upper_staff_push_a_status_change_down(client: Any, issuing: Issuing) -> None:
    row = reported(issuing)
    key = row.business_key
    client.cookies.set("zw_session", staff(issuing.session, issuing.department.id, ["admin"]))
    refused_page = client.get(PUSH)
    assert refused_page.status_code == 403 and "没有权限" in refused_page.text
    client.cookies.set("zw_session", staff(issuing.session, issuing.department.id, ["platform_admin"]))
    assert f'href="{PUSH}?identifier=' in client.get(f"{HOME}/{row.id}").text  # reached from the row
    form = client.get(PUSH, params={"identifier": key})
    assert form.status_code == 200 and f'value="{key}"' in form.text
    token = _token(form)

    def pushes() -> list[OutboxRecord]:
        return list(
            issuing.session.scalars(select(OutboxRecord).where(OutboxRecord.topic == feedback.STATUS_TOPIC))
        )

    forged = client.post(PUSH, data={"csrf_token": "0" * 32, "identifier": key, "status": "suspended",
                                     "reason": "经营场所不实"})  # fmt: skip
    assert forged.status_code == 403 and "经营场所不实" in forged.text and pushes() == []
    # Every mistake named at once, and what was typed is kept.
    wrong = client.post(PUSH, data={"csrf_token": token, "identifier": key, "status": "gone", "reason": "x",
                                    "area_code": "13010"})  # fmt: skip
    assert wrong.status_code == 422 and pushes() == []
    assert "请选择要下发的状态" in wrong.text and "请填写原因" in wrong.text and "应为6位数字" in wrong.text
    assert f'value="{key}"' in wrong.text and 'value="13010"' in wrong.text and ">x</textarea>" in wrong.text
    blank = client.post(
        PUSH, data={"csrf_token": token, "identifier": " ", "status": "revoked", "reason": "核查"}
    )
    assert blank.status_code == 422 and "请填写电子证照标识" in blank.text
    assert 'id="status-revoked" name="status" value="revoked" checked' in blank.text
    done = client.post(PUSH, data={"csrf_token": token, "identifier": key, "status": "suspended",
                                   "reason": "经营场所  不实", "area_code": "130100"})  # fmt: skip
    assert done.status_code == 200 and "已下发" in done.text and "挂起" in done.text
    assert "石家庄市（130100）" in done.text and "北京时间" in done.text and "年" in done.text
    queued = pushes()
    assert len(queued) == 1
    assert queued[0].payload["certificate_source_id"] == key
    assert (
        queued[0].payload["certificate_status"] == "suspended"
        and queued[0].payload["reason"] == "经营场所 不实"
    )
    assert queued[0].payload[topics.ROUTE_COLUMN] == "130100"
    actions = list(
        issuing.session.scalars(select(AuditChange).where(AuditChange.action == "license.push_status"))
    )
    assert len(actions) == 1 and actions[0].actor.startswith("account:")


def test_the_workbench_header_links_the_sections_its_staff_may_open(client: Any, issuing: Issuing) -> None:
    sections = ('href="/staff/licenses/received"', 'href="/staff/licenses/status-push"')
    # A department administrator works the case queue; the upper node's license sections are not theirs.
    client.cookies.set("zw_session", staff(issuing.session, issuing.department.id, ["admin"]))
    queue = client.get("/staff/cases")
    assert queue.status_code == 200 and "办件队列" in queue.text
    assert not any(link in queue.text for link in sections)
    assert 'href="/staff/joint-steps"' in queue.text.split("</header>", 1)[0], "the 联办 list is theirs"
    client.cookies.set("zw_session", staff(issuing.session, issuing.department.id, ["platform_admin"]))
    listed = client.get(HOME)
    assert listed.status_code == 200
    header = listed.text.split("</header>", 1)[0]
    assert (
        all(link in header for link in sections) and "下级上报证照" in header and "下发证照状态变更" in header
    )
