"""The abnormal data queue and the upper node's pushes, on a real database: ``dn_lic_data_error`` rows
become entries with their reasons, staff correct and resubmit (a new ``up_lic_data`` row) or dismiss
them, status pushes (``dn_lic_status``) are applied, and the HTTP API guards every step."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from licenses_kit import BUSINESS_FACE, COMPANY, Issuing
from seals_kit import assert_envelope
from zhengwu.identity import service as identity
from zhengwu.kernel.config import Settings
from zhengwu.kernel.events import OutboxRecord
from zhengwu.licenses import abnormal, feedback, service, topics
from zhengwu.licenses.datamodels import LicenseAbnormal
from zhengwu.licenses.errors import HolderInvalid, LicenseError
from zhengwu.licenses.models import License

API = "/api/v1/licenses/abnormal"


@dataclass
class Inbound:
    """A received row as the exchange hands it to a table hook."""

    row: dict[str, Any]
    row_guid: str = field(default_factory=lambda: secrets.token_hex(8))
    sender: str = "upstream"
    business_key: str = ""
    operation: str = "I"
    order: int = 0


def _issue(env: Issuing) -> License:
    return service.issue_license(env.session, env.settings, type_code=env.type_code("营业执照"),
                                 department_id=env.department.id, holder_name="石家庄演示科技有限公司",
                                 holder_code=COMPANY, face=dict(BUSINESS_FACE), actor="test")  # fmt: skip


def _refusal(env: Issuing, lic: License, remark: str = "证照类型代码未在国家证照目录中登记") -> Inbound:
    return Inbound({**topics.row(env.session, lic), "error_remark": remark})


def _rows(session: Session, key: str) -> list[OutboxRecord]:
    query = select(OutboxRecord).where(OutboxRecord.topic == topics.TOPIC, OutboxRecord.key == key)
    return list(session.scalars(query.order_by(OutboxRecord.seq)))


def test_the_downward_topics_are_declared_with_their_hooks(settings: Settings) -> None:
    from zhengwu.main import exchange_topics

    registry = exchange_topics(settings)
    errors = registry.get(feedback.ERROR_TOPIC)
    status = registry.get(feedback.STATUS_TOPIC)
    assert errors is not None and errors.table == "dn_lic_data_error" and errors.spec is not None
    assert abnormal.record_upper_errors in errors.apply
    assert status is not None and status.table == "dn_lic_status" and feedback.apply_status in status.apply
    assert status.key_column == "certificate_source_id"


def test_an_upper_refusal_is_queued_corrected_and_reported_again(issuing: Issuing) -> None:
    lic = _issue(issuing)
    inbound = _refusal(issuing, lic)
    assert abnormal.record_upper_errors(issuing.session, [inbound, inbound]) == {}
    [entry] = issuing.session.scalars(select(LicenseAbnormal)).all()
    assert (entry.source, entry.status, entry.license_id) == ("upper", "open", lic.id)
    assert entry.department_id == issuing.department.id and "国家证照目录" in entry.reason
    assert "certificate_holder_code" not in entry.summary and COMPANY.encode() not in entry.row_enc
    shown = abnormal.detail(issuing.session, entry)
    assert shown["certificate_holder_code"] != COMPANY and shown["certificate_holder_code"].startswith(
        COMPANY[:4]
    )
    done = abnormal.resubmit(issuing.session, issuing.settings, entry,
                             abnormal.Correction(face={"scope": "软件开发；技术服务"}), actor="test")  # fmt: skip
    assert done.status == "resubmitted" and done.resubmitted_license_id != lic.id
    renewed = service.get_license(issuing.session, str(done.resubmitted_license_id))
    assert renewed.version == 2 and renewed.face["scope"] == "软件开发；技术服务"
    assert [r.operation for r in _rows(issuing.session, renewed.identifier)] == ["I"]
    with pytest.raises(abnormal.AbnormalHandledAlready):
        abnormal.dismiss(issuing.session, entry, reason="已处理", actor="test")


def test_a_refused_imported_license_is_corrected_in_place(issuing: Issuing, tmp_path: Path) -> None:
    from zhengwu.licenses import importer

    header = ["holder_code", "holder_name", "issue_date", *BUSINESS_FACE]
    p = importer.plan(issuing.session, type_code=issuing.type_code("营业执照"), department_id=issuing.department.id,
                      header=header, actor="test")  # fmt: skip
    cells = [COMPANY, "石家庄演示科技有限公司", "2018-01-01", *BUSINESS_FACE.values()]
    outcome = importer.import_rows(issuing.session, issuing.settings, p, [(2, cells)])
    lic = service.get_license(issuing.session, outcome.license_ids[0])
    abnormal.record_upper_errors(issuing.session, [_refusal(issuing, lic, "持证主体名称与登记不符")])
    [entry] = abnormal.list_entries(issuing.session, departments=None)[0]
    with pytest.raises(HolderInvalid):
        abnormal.resubmit(issuing.session, issuing.settings, entry,
                          abnormal.Correction(holder_code="91130100XXXXXXXX0A"), actor="test")  # fmt: skip
    fixed = abnormal.resubmit(issuing.session, issuing.settings, entry,
                              abnormal.Correction(holder_name="石家庄演示科技股份有限公司"), actor="test")  # fmt: skip
    assert fixed.resubmitted_license_id == lic.id and lic.holder_name == "石家庄演示科技股份有限公司"
    assert [r.operation for r in _rows(issuing.session, lic.identifier)] == ["I", "U"]
    assert (
        _rows(issuing.session, lic.identifier)[-1].payload["certificate_holder"]
        == "石家庄演示科技股份有限公司"
    )


def test_status_pushes_are_applied(issuing: Issuing) -> None:
    lic = _issue(issuing)
    push = Inbound(
        {"certificate_source_id": lic.identifier, "certificate_status": "注销", "reason": "国家系统注销"}
    )
    unknown = Inbound({"certificate_source_id": "1.2.156.3005.2.X", "certificate_status": "revoked"})
    odd = Inbound({"certificate_identifier": lic.identifier, "status": "作废"})
    refused = feedback.apply_status(issuing.session, [push, unknown, odd])
    assert set(refused) == {unknown.row_guid, odd.row_guid}
    assert (
        refused[unknown.row_guid].code == "unknown_license" and refused[odd.row_guid].code == "unknown_status"
    )
    assert lic.status == "revoked" and lic.status_reason == "上级系统：国家系统注销"
    assert [r.operation for r in _rows(issuing.session, lic.identifier)] == ["I", "D"]
    assert feedback.apply_status(issuing.session, [push]) == {}  # a repeated push changes nothing
    resume = Inbound({"certificate_source_id": lic.identifier, "certificate_status": "valid"})
    assert set(feedback.apply_status(issuing.session, [resume])) == {resume.row_guid}  # revoked is final


def test_the_status_push_mapping_is_configurable_and_unknown_values_are_warned(
    issuing: Issuing, monkeypatch: pytest.MonkeyPatch
) -> None:
    from zhengwu.kernel.config import LicensesSettings, StatusPushMapping
    from zhengwu.kernel.node import node_in

    lic = _issue(issuing)
    upper_words = Inbound({"zzbs": lic.identifier, "zt": "GS", "yy": "年报未报"})
    not_yet = feedback.apply_status(issuing.session, [upper_words])  # columns not mapped yet
    assert set(not_yet) == {upper_words.row_guid}
    assert lic.status == "valid"
    node_in(issuing.session).settings.licenses = LicensesSettings(
        status_push=StatusPushMapping(
            identifier_columns=["zzbs"],
            status_columns=["zt"],
            reason_columns=["yy"],
            status_values={"gs": "suspended", "ZX": "revoked"},
        )
    )
    odd = Inbound({"zzbs": lic.identifier, "zt": "作废"})
    warned: list[tuple[str, dict[str, Any]]] = []

    class Recorder:
        def warning(self, event: str, **fields: Any) -> None:
            warned.append((event, fields))

    monkeypatch.setattr(feedback, "log", Recorder())
    refused = feedback.apply_status(issuing.session, [upper_words, odd])
    assert set(refused) == {odd.row_guid} and "作废" in refused[odd.row_guid].reason
    assert warned == [("licenses_status_push_unknown_value", {"value": "作废", "row_guid": odd.row_guid,
                                                               "columns": ["zt", "zzbs"]})]  # fmt: skip
    assert lic.status == "suspended" and lic.status_reason == "上级系统：年报未报"
    builtin = Inbound({"certificate_source_id": lic.identifier, "certificate_status": "zx"})
    assert feedback.apply_status(issuing.session, [builtin]) == {} and lic.status == "revoked"


def test_push_status_and_report_error_queue_downward_rows(issuing: Issuing) -> None:
    lic = _issue(issuing)
    feedback.push_status(issuing.session, lic.identifier, "revoked", "国家系统注销", actor="test")
    feedback.report_error(
        issuing.session, {**topics.row(issuing.session, lic), "cd_batch": "x"}, "类型未登记"
    )
    issuing.session.flush()
    rows = {r.topic: r for r in issuing.session.scalars(select(OutboxRecord))}
    assert rows[feedback.STATUS_TOPIC].payload["certificate_status"] == "revoked"
    assert rows[feedback.ERROR_TOPIC].payload["error_remark"] == "类型未登记"
    assert "cd_batch" not in rows[feedback.ERROR_TOPIC].payload
    with pytest.raises(LicenseError):
        feedback.push_status(issuing.session, lic.identifier, "lost", "原因", actor="test")
    with pytest.raises(LicenseError):  # a reason the lower node can keep
        feedback.push_status(issuing.session, lic.identifier, "revoked", " ", actor="test")


def _staff(session: Session, department_id: str, roles: list[str]) -> str:
    account = identity.register_staff(session, name="证照管理员", login_name=f"abn{secrets.token_hex(4)}",
                                      password="Licence-Passw0rd-2026", department_id=department_id, roles=roles)  # fmt: skip
    token = str(identity.start_session(session, account, amr=["pwd", "otp"]).token)
    session.flush()
    return token


def test_the_queue_over_http(client: Any, issuing: Issuing) -> None:
    lic = _issue(issuing)
    abnormal.record_upper_errors(
        issuing.session, [_refusal(issuing, lic), _refusal(issuing, lic, "其他原因")]
    )
    issuing.session.flush()
    assert_envelope(client.get(API), 401)
    client.cookies.set("zw_session", _staff(issuing.session, issuing.department.id, ["seal_user"]))
    assert_envelope(client.get(API), 403)
    client.cookies.set("zw_session", _staff(issuing.session, issuing.department.id, ["license_issuer"]))
    listed = client.get(API)
    assert listed.status_code == 200 and listed.headers["X-Total-Count"] == "2"
    first, second = listed.json()
    assert first["source_label"] == "上级系统反馈" and first["status_label"] == "待处理"
    assert COMPANY not in listed.text
    shown = client.get(f"{API}/{first['id']}")
    assert (
        shown.status_code == 200 and COMPANY not in shown.text and shown.json()["values"]["certificate_name"]
    )
    assert_envelope(client.get(f"{API}/{'0' * 32}"), 404, "licenses.abnormal_not_found")
    bad = client.post(f"{API}/{first['id']}/resubmit", json={"face": {"kind": "无限公司"}})
    assert_envelope(bad, 422, "licenses.face_invalid")
    again = client.post(f"{API}/{first['id']}/resubmit", json={})
    assert again.status_code == 200 and again.json()["status"] == "resubmitted"
    assert_envelope(client.post(f"{API}/{first['id']}/dismiss", json={"reason": "已处理"}), 409)
    assert_envelope(client.post(f"{API}/{second['id']}/dismiss", json={}), 422)
    dismissed = client.post(f"{API}/{second['id']}/dismiss", json={"reason": "与前一条重复"})
    assert dismissed.status_code == 200 and dismissed.json()["note"] == "与前一条重复"
    assert client.get(API).headers["X-Total-Count"] == "0"
    assert client.get(f"{API}?status=dismissed").headers["X-Total-Count"] == "1"


def test_status_pushes_over_http(client: Any, issuing: Issuing) -> None:
    from zhengwu.audit.models import AuditChange
    from zhengwu.exchange.models import ExchangeAggregate

    pushes = "/api/v1/licenses/status-pushes"
    lic = _issue(issuing)
    body = {"identifier": lic.identifier, "status": "suspended", "reason": "年报未报"}
    assert_envelope(client.post(pushes, json=body), 401)
    # A department's administrator holds licenses.manage there, not the platform's push.
    client.cookies.set("zw_session", _staff(issuing.session, issuing.department.id, ["admin"]))
    assert_envelope(client.post(pushes, json=body), 403)
    client.cookies.set("zw_session", _staff(issuing.session, issuing.department.id, ["platform_admin"]))
    assert_envelope(client.post(pushes, json={**body, "status": "lost"}), 422)
    assert_envelope(client.post(pushes, json={**body, "area_code": "13010"}), 422)
    done = client.post(pushes, json=body, headers={"Idempotency-Key": "push-1"})
    assert done.status_code == 202, done.text
    # Held here: it goes to the lower node of the license's own area.
    assert done.json() == {"identifier": lic.identifier, "status": "suspended", "reason": "年报未报",
                           "area_code": lic.area_code, "queued": True}  # fmt: skip
    again = client.post(pushes, json=body, headers={"Idempotency-Key": "push-1"})
    assert again.status_code == 202 and again.json() == done.json()
    # Reported from below only: the area it was reported with (the exchange's aggregate, through the bridge).
    below = "1.2.156.3005.2.11100000MB0009021X001.11130100MB00001355.20260000007.001.X"
    issuing.session.add(ExchangeAggregate(sender="hebei-sjz", division_code="130100", table_name="up_lic_data",
                                          business_key=below, row_guid="r-1", cd_operation="I", source_order=1,
                                          payload={"certificate_source_id": below, "certificate_area_code": "130100"},
                                          origin="hebei-sjz"))  # fmt: skip
    issuing.session.flush()
    reported = client.post(pushes, json={"identifier": below, "status": "revoked", "reason": "国家系统注销"})
    assert reported.status_code == 202 and reported.json()["area_code"] == "130100", reported.text
    rows = issuing.session.scalars(
        select(OutboxRecord)
        .where(OutboxRecord.topic == feedback.STATUS_TOPIC)
        .order_by(OutboxRecord.created_at)
    ).all()
    assert [(r.key, r.payload["certificate_status"], r.payload[topics.ROUTE_COLUMN]) for r in rows] == [
        (lic.identifier, "suspended", lic.area_code),
        (below, "revoked", "130100"),
    ]  # one row despite the retry
    audited = issuing.session.scalars(
        select(AuditChange).where(AuditChange.action == "license.push_status")
    ).all()
    assert {a.entity_id for a in audited} == {lic.identifier, below}
    assert all(a.actor.startswith("account:") for a in audited)
