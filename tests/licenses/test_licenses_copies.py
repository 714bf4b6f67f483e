"""Annotated copies (加注件): the holder asks for one, it carries the type's annotation with purpose and
expiry, is sealed again, verifies as a copy of the license, and fails after its expiry or the original's
revocation."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta
from typing import Any

from clockkit import FakeClock
from license_shares_kit import API, insurance, login, other_person, person
from licenses_kit import Issuing
from seals_kit import assert_envelope
from zhengwu.kernel.clock import utcnow


def _text(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return "".join(z.read(n).decode("utf-8", "replace") for n in z.namelist() if n.endswith(".xml"))


def test_the_holder_gets_an_annotated_copy(client: Any, issuing: Issuing, clock: FakeClock) -> None:
    from zhengwu.licenses import service

    holder = person(issuing.session)
    lic = insurance(issuing)
    login(client, issuing.session, holder)
    until = utcnow() + timedelta(days=2)
    made = client.post(
        f"{API}/{lic.id}/copies", json={"purpose": "申请公租房", "expires_at": until.isoformat()}
    )
    assert made.status_code == 201, made.text
    assert made.headers["content-type"].startswith("application/ofd") and made.headers["x-copy-id"]
    text = _text(made.content)
    assert "加注件" in text and "申请公租房" in text and "仅供办理政务服务事项时使用" in text
    assert made.content != service.license_file(issuing.settings, lic)
    login(client, issuing.session, None)
    checked = client.post(
        f"{API}/verify/file", content=made.content, headers={"Content-Type": "application/ofd"}
    )
    answer = checked.json()
    assert answer["valid"] is True and answer["annotated_copy"]["purpose"] == "申请公租房"
    assert answer["seal_verdict"] == "VALID"
    clock.advance(days=3)
    late = client.post(
        f"{API}/verify/file", content=made.content, headers={"Content-Type": "application/ofd"}
    )
    assert late.json()["valid"] is False and late.json()["reason"] == "加注件已超过有效期"
    login(client, issuing.session, holder)
    assert any(u["operation"] == "holder_copy" for u in client.get(f"{API}/usage").json())


def test_a_copy_of_a_revoked_license_fails(client: Any, issuing: Issuing) -> None:
    from zhengwu.licenses import copies, service

    lic = insurance(issuing)
    made = copies.make_copy(issuing.session, issuing.settings, lic, requested_by="test", requester_name="测试",
                            purpose="核对", expires_at=utcnow() + timedelta(days=1))  # fmt: skip
    service.change_status(issuing.session, lic.id, "revoke", reason="依法注销", actor="test")
    issuing.session.flush()
    answer = service.verify_file(issuing.session, issuing.settings, made.data, caller=service.Caller("test"))
    assert answer.valid is False and answer.status == "revoked" and answer.annotated_copy is not None


def test_bad_copy_requests(client: Any, issuing: Issuing) -> None:
    holder = person(issuing.session)
    lic = insurance(issuing)
    login(client, issuing.session, holder)
    soon = (utcnow() + timedelta(days=1)).isoformat()
    assert_envelope(client.post(f"{API}/{lic.id}/copies", json={"purpose": "x",
                    "expires_at": (utcnow() - timedelta(hours=1)).isoformat()}), 400, "licenses.copy_expiry")  # fmt: skip
    assert_envelope(client.post(f"{API}/{lic.id}/copies", json={"purpose": "x",
                    "expires_at": (utcnow() + timedelta(days=91)).isoformat()}), 400)  # fmt: skip
    assert_envelope(client.post(f"{API}/{lic.id}/copies", json={"expires_at": soon}), 422)
    login(client, issuing.session, other_person(issuing.session))
    assert_envelope(client.post(f"{API}/{lic.id}/copies", json={"purpose": "x", "expires_at": soon}), 404)
