"""HTTP API of licenses: issuance by a department's issuer, public verification, holder access and usage."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from licenses_kit import BUSINESS_FACE, COMPANY, INSURANCE_FACE, PERSON, Issuing
from seals_kit import assert_envelope
from zhengwu.identity import service as identity
from zhengwu.licenses.schemas import VerifyAnswer
from zhengwu.seed.synthetic import nth_citizen_id, nth_phone

API = "/api/v1/licenses"


def _staff(session: Session, department_id: str, roles: list[str]) -> str:
    account = identity.register_staff(
        session,
        name="证照签发员",
        login_name=f"lic{secrets.token_hex(4)}",
        password="Licence-Passw0rd-2026",
        department_id=department_id,
        roles=roles,
    )
    user_session = identity.start_session(session, account, amr=["pwd", "otp"])
    session.flush()
    return str(user_session.token)


def _person(session: Session, number: str, name: str = "演示用户") -> Any:
    account = identity.register_natural_person(
        session,
        name=name,
        id_number=number,
        phone=nth_phone(int(number[-5:-1])),
        password=None,
        limit_rate=False,
    )
    session.flush()
    return account


def _citizen(session: Session, account: Any) -> str:
    token = str(identity.start_session(session, account, amr=["pwd"]).token)
    session.flush()
    return token


def _login(client: Any, token: str | None) -> None:
    client.cookies.clear()
    if token is not None:
        client.cookies.set("zw_session", token)


def _issue_body(
    env: Issuing, name: str, holder_code: str, holder_name: str, face: dict[str, Any]
) -> dict[str, Any]:
    return {
        "type_code": env.type_code(name),
        "department_credit_code": env.department.credit_code,
        "holder_code": holder_code,
        "holder_name": holder_name,
        "face": face,
    }


def test_types_are_public(client: Any, issuing: Issuing) -> None:
    listed = client.get(f"{API}/types")
    assert listed.status_code == 200
    names = {t["name"] for t in listed.json()}
    assert {
        "营业执照",
        "食品经营许可证",
        "社会保险参保证明",
        "出生医学证明",
        "建筑施工特种作业人员操作资格证书",
    } <= names
    business = next(t for t in listed.json() if t["name"] == "营业执照")
    assert business["holder_code_types"] == ["001"] and business["fields"][0]["label"] == "名称"


def test_type_list_is_kept_until_a_type_is_added_or_changed(
    client: Any, issuing: Issuing, session_factory: sessionmaker[Session]
) -> None:
    from zhengwu.kernel.session import unit_of_work
    from zhengwu.licenses import service
    from zhengwu.licenses.models import LicenseType

    first = client.get(f"{API}/types")
    assert first.status_code == 200 and first.headers["content-type"] == "application/json"
    assert client.get(f"{API}/types").content == first.content  # kept: the same bytes
    code = issuing.type_code("营业执照")
    with unit_of_work(session_factory) as session:  # an edit through any session, no explicit bump
        row = session.scalars(select(LicenseType).where(LicenseType.code == code)).one()
        row.name = "营业执照（新版）"
    names = {t["code"]: t["name"] for t in client.get(f"{API}/types").json()}
    assert names[code] == "营业执照（新版）"
    with unit_of_work(session_factory) as session:
        added = service.define_type(session, service.TypeSpec(
            code=code[:18] + "986", name="测试许可证", definer_name="测试机关", issuing_levels=("province",),
            holder_kind="enterprise", fields=[{"name": "scope", "label": "许可范围"}],
        )).code  # fmt: skip
    listed = {t["code"]: t for t in client.get(f"{API}/types").json()}
    assert listed[added]["name"] == "测试许可证" and listed[added]["fields"][0]["label"] == "许可范围"


def test_issue_over_http_then_verify(client: Any, issuing: Issuing) -> None:
    from zhengwu.kernel.node import node_of
    from zhengwu.licenses.events import LicenseIssued, LicenseStatusChanged

    heard: list[Any] = []
    bus = node_of(client.app).bus
    bus.subscribe(LicenseIssued, lambda _session, event: heard.append(event))
    bus.subscribe(LicenseStatusChanged, lambda _session, event: heard.append(event))
    body = _issue_body(issuing, "营业执照", COMPANY, "石家庄演示科技有限公司", BUSINESS_FACE)
    assert_envelope(client.post(API, json=body), 401)
    _login(client, _staff(issuing.session, issuing.department.id, ["seal_user"]))
    assert_envelope(client.post(API, json=body), 403, "licenses.forbidden")
    _login(client, _staff(issuing.session, issuing.department.id, ["license_issuer"]))
    bad = client.post(API, json={**body, "face": {**BUSINESS_FACE, "founded": "昨天"}})
    problem = assert_envelope(bad, 422, "licenses.face_invalid")
    assert problem["fields"] == [
        {"field": "founded", "label": "成立日期", "reason": "应为日期，格式 YYYY-MM-DD"}
    ]
    made = client.post(API, json=body, headers={"Idempotency-Key": "issue-1"})
    assert made.status_code == 201, made.text
    lic = made.json()
    assert made.headers["location"] == f"{API}/{lic['id']}" and lic["status"] == "valid"
    assert lic["metadata"]["certificate_identifier"] == lic["identifier"]
    assert COMPANY not in made.text
    again = client.post(API, json=body, headers={"Idempotency-Key": "issue-1"})
    assert again.status_code == 201 and again.json()["id"] == lic["id"]
    _login(client, None)
    ok = client.post(
        f"{API}/verify", json={"identifier": lic["identifier"], "holder_code": COMPANY, "purpose": "招投标"}
    )
    assert ok.status_code == 200 and ok.json()["valid"] is True and ok.json()["type_name"] == "营业执照"
    assert set(ok.json()) == {
        "valid", "status", "status_label", "type_code", "type_name", "issuer_name", "reason", "seal_verdict",
        "annotated_copy",
    }  # fmt: skip
    # The route sends the service's answer as encoded JSON: it must be the documented model, value for value.
    assert VerifyAnswer.model_validate(ok.json()).model_dump() == ok.json()
    assert ok.headers["content-type"] == "application/json"
    assert_envelope(
        client.post(f"{API}/verify", json={"identifier": lic["identifier"]}), 400, "licenses.verify_request"
    )
    assert_envelope(
        client.post(f"{API}/verify", json={"identifier": "1.2.156.3005.2.X", "holder_code": COMPANY}), 422
    )
    from zhengwu.licenses import service

    data = service.license_file(issuing.settings, service.get_license(issuing.session, lic["id"]))
    upload = client.post(f"{API}/verify/file", content=data, headers={"Content-Type": "application/ofd"})
    assert (
        upload.status_code == 200
        and upload.json()["valid"] is True
        and upload.json()["seal_verdict"] == "VALID"
    )
    cert = client.get(f"{API}/offline-certificate")
    assert cert.status_code == 200 and cert.headers["content-type"] == "application/pkix-cert"
    _login(client, _staff(issuing.session, issuing.department.id, ["admin"]))
    revoked = client.post(f"{API}/{lic['id']}/revoke", json={"reason": "依法吊销"})
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert_envelope(client.post(f"{API}/{lic['id']}/suspend", json={"reason": "核查"}), 409, "licenses.state")
    # The node's bus heard the issuance (once: the idempotent replay issues nothing) and the revocation.
    assert [(type(e).__name__, e.status, e.actor.startswith("account:")) for e in heard] == [
        ("LicenseIssued", "valid", True),
        ("LicenseStatusChanged", "revoked", True),
    ]
    _login(client, None)
    after = client.post(f"{API}/verify", json={"identifier": lic["identifier"], "holder_code": COMPANY})
    assert after.json()["valid"] is False and after.json()["status"] == "revoked"


def test_holders_see_their_licenses_and_every_use(client: Any, issuing: Issuing) -> None:
    from zhengwu.licenses import service

    person = _person(issuing.session, PERSON)
    identity.register_legal_person(
        issuing.session,
        credit_code=COMPANY,
        name="石家庄演示科技有限公司",
        legal_rep_name="演示用户",
        password=None,
        agent=person,
    )
    own = service.issue_license(
        issuing.session, issuing.settings, type_code=issuing.type_code("社会保险参保证明"),
        department_id=issuing.department.id, holder_name="演示用户", holder_code=PERSON, face=INSURANCE_FACE, actor="t",
    )  # fmt: skip
    company = service.issue_license(
        issuing.session, issuing.settings, type_code=issuing.type_code("营业执照"),
        department_id=issuing.department.id, holder_name="石家庄演示科技有限公司", holder_code=COMPANY,
        face=BUSINESS_FACE, actor="t",
    )  # fmt: skip
    service.verify_by_identifier(
        issuing.session, own.identifier, PERSON, caller=service.Caller("client:bank", "开户")
    )
    issuing.session.flush()
    _login(client, None)
    assert_envelope(client.get(f"{API}/mine"), 401)
    _login(client, _citizen(issuing.session, person))
    mine = client.get(f"{API}/mine")
    assert mine.status_code == 200 and mine.headers["x-total-count"] == "2"
    assert {m["id"] for m in mine.json()} == {own.id, company.id}
    detail = client.get(f"{API}/{own.id}")
    assert detail.status_code == 200 and detail.json()["face"]["months"] == "120"
    download = client.get(f"{API}/{own.id}/file")
    assert download.status_code == 200 and download.content == service.license_file(issuing.settings, own)
    usage = client.get(f"{API}/usage").json()
    assert [(u["operation"], u["caller"]) for u in sorted(usage, key=lambda u: u["operation"])] == [
        ("holder_download", "持证人本人"),
        ("holder_view", "持证人本人"),
        ("verify_id", "部门业务系统"),
    ]
    assert next(u for u in usage if u["operation"] == "verify_id")["purpose"] == "开户"
    stranger = _person(issuing.session, nth_citizen_id(5151), "另一用户")
    _login(client, _citizen(issuing.session, stranger))
    assert_envelope(client.get(f"{API}/{own.id}"), 404, "licenses.not_found")
    assert_envelope(client.get(f"{API}/{own.id}/file"), 404)
    assert client.get(f"{API}/mine").json() == [] and client.get(f"{API}/usage").json() == []


def test_verification_limit_is_taken_with_the_usage_record(client: Any, issuing: Issuing) -> None:
    """/verify takes the per-address token in its own transaction: a refusal is a 429 and logs no use,
    an answer logs exactly one (the bucket and the record commit together)."""
    from sqlalchemy import func, select

    from zhengwu.kernel.node import node_of
    from zhengwu.kernel.ratelimit import RateBucket
    from zhengwu.licenses import service
    from zhengwu.licenses.models import LicenseUsage

    lic = service.issue_license(
        issuing.session, issuing.settings, type_code=issuing.type_code("营业执照"),
        department_id=issuing.department.id, holder_name="石家庄演示科技有限公司", holder_code=COMPANY,
        face=BUSINESS_FACE, actor="t",
    )  # fmt: skip
    issuing.session.flush()
    settings = node_of(client.app).settings
    settings.security.public_rate_per_minute = 6  # a burst of one
    assert settings.security.rate_limit_store == "database"
    body = {"identifier": lic.identifier, "holder_code": COMPANY}

    def uses() -> int:
        query = select(func.count()).select_from(LicenseUsage).where(LicenseUsage.operation == "verify_id")
        return int(issuing.session.scalar(query) or 0)

    first = client.post(f"{API}/verify", json=body)
    assert first.status_code == 200 and first.json()["valid"] is True
    assert uses() == 1
    refused = client.post(f"{API}/verify", json=body)
    assert_envelope(refused, 429, "rate_limited")
    assert int(refused.headers["retry-after"]) >= 1
    assert uses() == 1
    bucket = issuing.session.scalars(select(RateBucket).where(RateBucket.name == "licenses.verify")).one()
    assert bucket.tokens < 1.0
    # A wrong holder is answered (and logged) like an unknown license: one more use, no holder data.
    settings.security.public_rate_per_minute = 1_000_000
    other = client.post(f"{API}/verify", json={**body, "holder_code": "91130100MA0000000X"})
    assert other.status_code == 200 and other.json()["valid"] is False and uses() == 2
    # The record carries its own request's trace, whichever request's thread commits the batch.
    traced = client.post(f"{API}/verify", json=body, headers={"X-Request-ID": "verify-trace-7"})
    assert traced.status_code == 200 and uses() == 3
    mine = issuing.session.scalars(
        select(LicenseUsage).where(LicenseUsage.trace_id == "verify-trace-7")
    ).all()
    assert [(u.operation, u.result) for u in mine] == [("verify_id", "valid")]
