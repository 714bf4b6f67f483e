"""HTTP API of the seal registry: envelopes, roles, public status and verification, signing, bad uploads."""

from __future__ import annotations

import base64
import io
import secrets
import zipfile
from typing import Any

import pytest
from sqlalchemy.orm import Session

from clockkit import FakeClock
from seals_kit import Node
from seals_kit import assert_envelope as _envelope
from zhengwu.identity import service as identity
from zhengwu.seals import service
from zhengwu.seals.ofd.container import OFDPackage
from zhengwu.seals.ofd.writer import DocumentSpec, Paragraph, write_ofd

SEAL_NAME = "河北省市场监督管理局行政审批专用章"


def _doc() -> bytes:
    return write_ofd(DocumentSpec(title="行政许可决定书", blocks=[Paragraph("经审查，决定准予行政许可。")]))


def _staff(session: Session, department_id: str, roles: list[str]) -> str:
    account = identity.register_staff(
        session,
        name="用印管理员",
        login_name=f"seal{secrets.token_hex(4)}",
        password="Seal-Passw0rd-2026",
        department_id=department_id,
        roles=roles,
    )
    # Password and TOTP: staff actions need the second factor (identity.policy).
    user_session = identity.start_session(session, account, amr=["pwd", "otp"])
    session.flush()
    return str(user_session.token)


def _login(client: Any, token: str) -> None:
    client.cookies.clear()
    client.cookies.set("zw_session", token)


def _other_department(node: Node) -> Any:
    from zhengwu.orgs import service as orgs
    from zhengwu.orgs.schemas import DepartmentCreate
    from zhengwu.seed import government_credit_code

    return orgs.add_department(
        node.session,
        DepartmentCreate(
            credit_code=government_credit_code("130100", 779),
            name="石家庄市行政审批局",
            division_code="130100",
        ),
    )


def test_create_list_and_public_status(client: Any, node: Node) -> None:
    payload = {"department_credit_code": node.credit_code, "name": SEAL_NAME}
    _envelope(client.post("/api/v1/seals", json=payload), 401)
    _login(client, _staff(node.session, node.department.id, ["seal_user"]))
    _envelope(client.post("/api/v1/seals", json=payload), 403, "seals.forbidden")
    _login(client, _staff(node.session, node.department.id, ["seal_admin"]))
    created = client.post("/api/v1/seals", json=payload, headers={"Idempotency-Key": "create-1"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["es_id"] == "13000000000001" and body["status"] == "active" and body["status_label"] == "启用"
    assert created.headers["location"] == "/api/v1/seals/13000000000001"
    replay = client.post("/api/v1/seals", json=payload, headers={"Idempotency-Key": "create-1"})
    assert replay.status_code == 201 and replay.json()["es_id"] == body["es_id"]
    listed = client.get("/api/v1/seals")
    assert listed.status_code == 200 and [s["es_id"] for s in listed.json()] == ["13000000000001"]
    assert listed.headers["x-total-count"] == "1" and 'rel="first"' in listed.headers["link"]
    client.cookies.clear()
    status = client.get("/api/v1/seals/13000000000001/status")
    assert status.status_code == 200
    public = status.json()
    assert public["status"] == "active" and public["department_name"] == "河北省市场监督管理局"
    assert "department_credit_code" not in public and public["certificate_status"] == "valid"
    _envelope(client.get("/api/v1/seals/13999999999999/status"), 404, "seals.seal_not_found")


def test_department_admins_manage_only_their_own_seals(client: Any, node: Node) -> None:
    other = _other_department(node)
    _login(client, _staff(node.session, other.id, ["seal_admin"]))
    payload = {"department_credit_code": node.credit_code, "name": SEAL_NAME}
    _envelope(client.post("/api/v1/seals", json=payload), 403)
    seal = service.create_seal(
        node.session, node.settings, department_credit_code=node.credit_code, name=SEAL_NAME, actor="t"
    )
    _envelope(client.post(f"/api/v1/seals/{seal.es_id}/suspend", json={"reason": "x"}), 403)
    _envelope(client.get(f"/api/v1/seals/{seal.es_id}"), 403)
    assert client.get("/api/v1/seals").json() == []
    _envelope(client.get("/api/v1/seals", params={"department_id": node.department.id}), 403)
    _login(client, _staff(node.session, other.id, ["platform_admin"]))
    assert [s["es_id"] for s in client.get("/api/v1/seals").json()] == [seal.es_id]


def test_bad_create_requests_are_422_envelopes(client: Any, node: Node) -> None:
    _login(client, _staff(node.session, node.department.id, ["seal_admin"]))
    base = {"department_credit_code": node.credit_code, "name": SEAL_NAME}
    _envelope(client.post("/api/v1/seals", json={**base, "picture_base64": "%%%"}), 422, "seals.seal_invalid")
    gif = base64.b64encode(b"GIF89a-not-allowed").decode()
    _envelope(client.post("/api/v1/seals", json={**base, "picture_base64": gif}), 422, "seals.seal_invalid")
    _envelope(client.post("/api/v1/seals", json={**base, "unknown": 1}), 422)
    _envelope(client.post("/api/v1/seals", json={**base, "department_credit_code": "short"}), 422)


def test_suspend_resume_revoke_over_http(client: Any, node: Node, clock: FakeClock) -> None:
    seal = service.create_seal(
        node.session, node.settings, department_credit_code=node.credit_code, name=SEAL_NAME, actor="t"
    )
    _login(client, _staff(node.session, node.department.id, ["seal_admin"]))
    url = f"/api/v1/seals/{seal.es_id}"
    _envelope(client.post(f"{url}/suspend", json={}), 422)
    suspended = client.post(f"{url}/suspend", json={"reason": "核查"})
    assert suspended.status_code == 200 and suspended.json()["status"] == "suspended"
    _envelope(client.post(f"{url}/suspend", json={"reason": "again"}), 409, "seals.seal_state")
    clock.advance(seconds=5)
    assert client.post(f"{url}/resume", json={"reason": "核查完毕"}).json()["status"] == "active"
    clock.advance(seconds=5)
    revoked = client.post(f"{url}/revoke", json={"reason": "机构撤销"}).json()
    assert revoked["status"] == "revoked" and revoked["certificate_status"] == "revoked"
    assert revoked["status_reason"] == "机构撤销"
    assert client.get(f"{url}/status").json()["status_label"] == "吊销"


def test_sign_over_http_and_verify_upload(client: Any, node: Node) -> None:
    seal = service.create_seal(
        node.session, node.settings, department_credit_code=node.credit_code, name=SEAL_NAME, actor="t"
    )
    doc = _doc()
    sign_url = f"/api/v1/seals/{seal.es_id}/sign"
    _envelope(client.post(sign_url, content=doc, headers={"Content-Type": "application/ofd"}), 401)
    _login(client, _staff(node.session, node.department.id, ["seal_user"]))
    response = client.post(
        sign_url, params={"keyword": "准予"}, content=doc, headers={"Content-Type": "application/ofd"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/ofd"
    signed = response.content
    client.cookies.clear()
    raw = client.post("/api/v1/seals/verify", content=signed, headers={"Content-Type": "application/ofd"})
    assert raw.status_code == 200
    report = raw.json()
    assert report["verdict"] == "VALID" and report["signatures"][0]["es_id"] == seal.es_id
    assert set(report["signatures"][0]) >= {
        "id", "verdict", "crypto_valid", "reasons", "signer", "seal_name", "es_id", "algorithm", "signed_at",
    }  # fmt: skip
    form = client.post("/api/v1/seals/verify", files={"file": ("signed.ofd", signed, "application/ofd")})
    assert form.status_code == 200 and form.json() == report
    # sign with a page position; unknown keyword and bad page are 400 envelopes
    placed = client.post(
        sign_url,
        params={"page": 1, "x": 20, "y": 30},
        content=doc,
        headers={"Content-Type": "application/ofd"},
    )
    assert placed.status_code == 401  # the cookie was cleared
    _login(client, _staff(node.session, node.department.id, ["seal_user"]))
    placed = client.post(
        sign_url,
        params={"page": 1, "x": 20, "y": 30},
        content=doc,
        headers={"Content-Type": "application/ofd"},
    )
    assert placed.status_code == 200
    _envelope(
        client.post(
            sign_url, params={"keyword": "没有"}, content=doc, headers={"Content-Type": "application/ofd"}
        ),
        400,
        "seals.signing",
    )
    _envelope(
        client.post(sign_url, params={"page": 9}, content=doc, headers={"Content-Type": "application/ofd"}),
        400,
        "seals.signing",
    )
    _envelope(client.post(sign_url, content=b"not an ofd", headers={"Content-Type": "application/ofd"}), 422)


def _zip(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return out.getvalue()


@pytest.fixture(scope="module")
def bomb() -> bytes:
    entries = dict(OFDPackage.from_bytes(_doc()).files)
    entries["Doc_0/Res/bomb.bin"] = b"\x00" * (150 * 1024 * 1024)
    return _zip(entries)


def test_bad_uploads_get_a_clear_verdict_or_4xx_never_500(client: Any, node: Node, bomb: bytes) -> None:
    def verify(content: bytes, content_type: str = "application/ofd") -> Any:
        return client.post("/api/v1/seals/verify", content=content, headers={"Content-Type": content_type})

    bombed = verify(bomb)
    assert bombed.status_code == 200 and bombed.json()["verdict"] == "ERROR"
    assert bombed.json()["reasons"][0]["code"] == "seals.ofd_limit"
    for junk in (b"%PDF-1.7 not an ofd", _doc()[:200], b"PK\x03\x04" + b"\x00" * 100):
        answer = verify(junk)
        assert answer.status_code == 200 and answer.json()["verdict"] == "ERROR", junk[:10]
    unsigned = verify(_doc())
    assert unsigned.status_code == 200 and unsigned.json()["verdict"] == "INVALID"
    traversal = verify(_zip({"../evil.xml": b"<x/>", "OFD.xml": b"<x/>"}))
    assert traversal.json()["verdict"] == "ERROR"
    _envelope(verify(b""), 400, "seals.document_rejected")
    _envelope(verify(b"abc", "text/plain"), 400, "seals.document_rejected")
    _envelope(verify(b"x" * (32 * 1024 * 1024 + 1)), 413, "seals.document_too_large")
    _envelope(client.post("/api/v1/seals/verify", files={"other": ("a", b"")}, data={"x": "1"}), 400)
    _envelope(
        client.post(
            "/api/v1/seals/verify",
            content=b"--b\r\nbroken",
            headers={"Content-Type": "multipart/form-data; boundary=b"},
        ),
        400,
    )
