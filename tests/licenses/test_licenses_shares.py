"""Shares with consent over HTTP: a holder shares, verifiers redeem what the consent grants, revocation and
expiry stop it at once, versions supersede, and every use is in the holder's usage log."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from clockkit import FakeClock
from license_shares_kit import API, insurance, login, machine, other_person, person
from licenses_kit import INSURANCE_FACE, PERSON, Issuing
from seals_kit import assert_envelope
from zhengwu.audit.models import AuditChange
from zhengwu.kernel.clock import utcnow


def _share(client: Any, license_id: str, **body: Any) -> Any:
    data = {
        "audience_kind": "anyone",
        "purpose": "租房",
        "expires_at": (utcnow() + timedelta(days=7)).isoformat(),
    }
    return client.post(f"{API}/{license_id}/shares", json={**data, **body})


def test_share_with_anyone_redeem_revoke(client: Any, issuing: Issuing) -> None:
    from zhengwu.kernel.node import node_of
    from zhengwu.licenses.events import ShareCreated, ShareRevoked

    heard: list[Any] = []
    bus = node_of(client.app).bus
    for kind in (ShareCreated, ShareRevoked):
        bus.subscribe(kind, lambda _session, event: heard.append(event))
    holder = person(issuing.session)
    lic = insurance(issuing)
    login(client, issuing.session, None)
    assert_envelope(_share(client, lic.id), 401)
    login(client, issuing.session, holder)
    made = _share(client, lic.id, grants=["face"])
    assert made.status_code == 201, made.text
    share = made.json()
    assert share["token"].startswith("zls_") and share["url"].endswith(f"#{share['token']}")
    assert share["qr_png"].startswith("data:image/png;base64,") and share["status"] == "granted"
    assert share["version"] == 1 and share["audience_name"] == "任何持有共享链接的人"
    login(client, issuing.session, None)
    seen = client.post(f"{API}/shares/redeem", json={"token": share["token"], "purpose": "核对参保"})
    assert seen.status_code == 200, seen.text
    body = seen.json()
    assert body["valid"] is True and body["license"]["face"]["months"] == str(INSURANCE_FACE["months"])
    assert body["share"]["purpose"] == "租房" and PERSON not in seen.text
    login(client, issuing.session, holder)
    listed = client.get(f"{API}/{lic.id}/shares").json()
    assert [(s["id"], s["uses"], "token" in s) for s in listed] == [(share["id"], 1, False)]
    revoked = client.request("DELETE", f"{API}/{lic.id}/shares/{share['id']}", json={"reason": "不再需要"})
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    login(client, issuing.session, None)
    gone = assert_envelope(client.post(f"{API}/shares/redeem", json={"token": share["token"]}), 410,
                           "licenses.share_gone")  # fmt: skip
    assert gone["detail"] == "持证人已撤销该共享" and gone["detail_en"]
    assert_envelope(client.post(f"{API}/shares/redeem", json={"token": "zls_nothing-like-this"}), 404)
    assert [(type(e).__name__, e.share_id) for e in heard] == [
        ("ShareCreated", share["id"]),
        ("ShareRevoked", share["id"]),
    ]
    actions = issuing.session.scalars(
        select(AuditChange.action).where(AuditChange.entity_id == share["id"]).order_by(AuditChange.at)
    ).all()
    assert sorted(actions) == ["license_share.create", "license_share.revoke"]
    # The holder sees both the good and the refused redemption (the refusal was kept though the request failed).
    login(client, issuing.session, holder)
    usage = client.get(f"{API}/usage").json()
    redeemed = sorted((u["result"], u["caller"]) for u in usage if u["operation"] == "share_redeem")
    assert redeemed == [("share_revoked", "共享链接持有人"), ("valid", "共享链接持有人")]


def test_a_share_for_a_department_needs_its_client_and_shows_only_what_is_granted(
    client: Any, issuing: Issuing
) -> None:
    holder = person(issuing.session)
    lic = insurance(issuing)
    login(client, issuing.session, holder)
    made = _share(client, lic.id, audience_kind="department", audience=issuing.department.credit_code)
    assert made.status_code == 201 and made.json()["audience_name"] == "河北省市场监督管理局"
    token = made.json()["token"]
    login(client, issuing.session, None)
    refused = assert_envelope(client.post(f"{API}/shares/redeem", json={"token": token}), 403,
                              "licenses.share_audience")  # fmt: skip
    assert "河北省市场监督管理局" in refused["detail"]
    _, outsider = machine(client, issuing.session, department_id=None, scope="licenses.use")
    assert_envelope(client.post(f"{API}/shares/redeem", json={"token": token},
                                headers={"Authorization": f"Bearer {outsider}"}), 403)  # fmt: skip
    _, own = machine(client, issuing.session, department_id=issuing.department.id, scope="licenses.use",
                     name="登记业务系统")  # fmt: skip
    seen = client.post(
        f"{API}/shares/redeem", json={"token": token}, headers={"Authorization": f"Bearer {own}"}
    )
    assert seen.status_code == 200, seen.text
    assert seen.json()["valid"] is True and seen.json()["license"] is None  # no face without consent to it
    assert_envelope(client.post(f"{API}/shares/redeem", json={"token": token},
                                headers={"Authorization": "Bearer not-a-token"}), 401)  # fmt: skip
    # A second share with the same department is the consent's next version; the first stops.
    login(client, issuing.session, holder)
    again = _share(client, lic.id, audience_kind="department", audience=issuing.department.credit_code)
    assert again.json()["version"] == 2
    login(client, issuing.session, None)
    old = assert_envelope(client.post(f"{API}/shares/redeem", json={"token": token},
                                      headers={"Authorization": f"Bearer {own}"}), 410)  # fmt: skip
    assert "新的授权" in old["detail"]
    login(client, issuing.session, holder)
    usage = client.get(f"{API}/usage").json()
    assert "河北省市场监督管理局·登记业务系统" in {u["caller"] for u in usage}


def test_a_share_for_one_client(client: Any, issuing: Issuing) -> None:
    holder = person(issuing.session)
    lic = insurance(issuing)
    bank, bank_token = machine(
        client, issuing.session, department_id=None, scope="licenses.use", name="某银行"
    )
    _, other_token = machine(client, issuing.session, department_id=None, scope="licenses.use")
    login(client, issuing.session, holder)
    token = _share(client, lic.id, audience_kind="client", audience=bank, grants=["face"]).json()["token"]
    login(client, issuing.session, None)
    assert client.post(f"{API}/shares/redeem", json={"token": token},
                       headers={"Authorization": f"Bearer {other_token}"}).status_code == 403  # fmt: skip
    seen = client.post(
        f"{API}/shares/redeem", json={"token": token}, headers={"Authorization": f"Bearer {bank_token}"}
    )
    assert seen.status_code == 200 and seen.json()["license"]["identifier"] == lic.identifier


def test_expired_shares_are_gone(client: Any, issuing: Issuing, clock: FakeClock) -> None:
    holder = person(issuing.session)
    lic = insurance(issuing)
    login(client, issuing.session, holder)
    token = _share(client, lic.id, expires_at=(utcnow() + timedelta(hours=1)).isoformat()).json()["token"]
    clock.advance(hours=2)
    login(client, issuing.session, None)
    gone = assert_envelope(client.post(f"{API}/shares/redeem", json={"token": token}), 410)
    assert gone["detail"] == "该共享已过期"
    login(client, issuing.session, holder)
    assert client.get(f"{API}/{lic.id}/shares").json()[0]["status"] == "expired"


def test_bad_shares_are_refused(client: Any, issuing: Issuing, session: Session) -> None:
    from zhengwu.licenses import service

    holder = person(issuing.session)
    lic = insurance(issuing)
    login(client, issuing.session, holder)
    past = (utcnow() - timedelta(minutes=1)).isoformat()
    assert_envelope(_share(client, lic.id, expires_at=past), 400, "licenses.share_expiry")
    assert_envelope(_share(client, lic.id, expires_at=(utcnow() + timedelta(days=400)).isoformat()), 400)
    assert_envelope(_share(client, lic.id, audience_kind="department", audience="91130100MA0000000X"), 404)
    assert_envelope(_share(client, lic.id, audience_kind="client", audience="zwnobody"), 404,
                    "licenses.share_audience_unknown")  # fmt: skip
    assert_envelope(_share(client, lic.id, audience_kind="department"), 422)  # names no department
    assert_envelope(_share(client, lic.id, expires_at="2030-01-01T00:00:00"), 422)  # no time zone
    assert_envelope(_share(client, lic.id, grants=["holder_code"]), 422)
    share_id = _share(client, lic.id).json()["id"]
    login(client, issuing.session, other_person(issuing.session))
    assert_envelope(_share(client, lic.id), 404, "licenses.not_found")
    assert_envelope(client.get(f"{API}/{lic.id}/shares"), 404)
    assert_envelope(client.request("DELETE", f"{API}/{lic.id}/shares/{share_id}"), 404)
    service.change_status(issuing.session, lic.id, "revoke", reason="依法注销", actor="test")
    issuing.session.flush()
    login(client, issuing.session, holder)
    assert_envelope(_share(client, lic.id), 409, "licenses.state")


def test_an_agent_shares_the_enterprises_license(client: Any, issuing: Issuing) -> None:
    from licenses_kit import BUSINESS_FACE, COMPANY
    from zhengwu.identity import service as identity
    from zhengwu.licenses import service

    agent = person(issuing.session)
    identity.register_legal_person(issuing.session, credit_code=COMPANY, name="石家庄演示科技有限公司",
                                   legal_rep_name="演示用户", password=None, agent=agent)  # fmt: skip
    lic = service.issue_license(
        issuing.session, issuing.settings, type_code=issuing.type_code("营业执照"),
        department_id=issuing.department.id, holder_name="石家庄演示科技有限公司", holder_code=COMPANY,
        face=BUSINESS_FACE, actor="test",
    )  # fmt: skip
    issuing.session.flush()
    login(client, issuing.session, agent)
    made = _share(client, lic.id, purpose="招投标资格审查", grants=["face"])
    assert made.status_code == 201, made.text
    login(client, issuing.session, None)
    seen = client.post(f"{API}/shares/redeem", json={"token": made.json()["token"]})
    assert seen.json()["license"]["holder_name"] == "石家庄演示科技有限公司" and COMPANY not in seen.text
    login(client, issuing.session, other_person(issuing.session))
    assert_envelope(_share(client, lic.id), 404)


def test_the_share_view_is_a_page_without_data(client: Any) -> None:
    shown = client.get("/licenses/share")
    assert shown.status_code == 200 and shown.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in shown.headers["content-security-policy"]
    assert '<script src="/licenses/static/share.js">' in shown.text
    script = client.get("/licenses/static/share.js")
    assert script.status_code == 200 and "/api/v1/licenses/shares/redeem" in script.text
    assert "innerHTML" not in script.text  # answers are shown as text only


def test_a_share_of_a_license_revoked_since_shows_only_that(client: Any, issuing: Issuing) -> None:
    from zhengwu.licenses import service

    holder = person(issuing.session)
    lic = insurance(issuing)
    login(client, issuing.session, holder)
    token = _share(client, lic.id, grants=["face"]).json()["token"]
    service.change_status(issuing.session, lic.id, "revoke", reason="依法注销", actor="test")
    issuing.session.flush()
    login(client, issuing.session, None)
    seen = client.post(f"{API}/shares/redeem", json={"token": token}).json()
    assert seen["valid"] is False and seen["status"] == "revoked" and seen["license"] is None


def test_a_consent_version_is_taken_once(issuing: Issuing) -> None:
    from zhengwu.licenses import shares
    from zhengwu.licenses.sharing_models import LicenseShare
    from zhengwu.licenses.sharing_repository import SharingRepository

    holder = person(issuing.session)
    lic = insurance(issuing)
    made = shares.create_share(issuing.session, issuing.settings, holder, lic.id, audience_kind="anyone",
                               audience=None, purpose="租房", expires_at=utcnow() + timedelta(days=1))  # fmt: skip
    # What a concurrent transaction that counted the same versions would insert:
    twin = LicenseShare(license_id=lic.id, granted_by=holder.id, audience_kind="anyone", audience="",
                        audience_name="x", purpose="x", grants=[], version=made.share.version,
                        token_digest="0" * 64, status="granted", expires_at=made.share.expires_at, uses=0)  # fmt: skip
    repo = SharingRepository(issuing.session)
    assert repo.add_version(twin) is False
    assert [s.id for s in repo.shares_of(lic.id)] == [made.share.id]  # the session goes on
