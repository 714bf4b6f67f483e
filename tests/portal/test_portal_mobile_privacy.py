"""授权管理 and 加注件 through the mobile API with the app's bearer token, as the pages do them: the person
lists their consents and withdraws one (the department system's token stops working at once), lists the
shares of all their licenses, makes an annotated copy, lists and downloads it (both in the usage log);
another person's objects are not found, a malformed request is refused with the envelope."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session
from test_portal_mobile_token import _bearer, _token

from cases_kit import Casework, login
from identity_oidc.oidc_helpers import code_for, exchange_code, make_client, oidc_fixture  # noqa: F401
from seals_kit import assert_envelope
from zhengwu.identity.oidc.claims import grant_consent
from zhengwu.identity.oidc.runtime import OidcRuntime
from zhengwu.kernel.clock import utcnow
from zhengwu.licenses import service as licenses
from zhengwu.seed.synthetic import nth_citizen_id

pytestmark = pytest.mark.db
API = "/api/v1/mobile"


def _app_token(client: Any, session: Session, oidc: OidcRuntime, casework: Casework) -> str:
    app = make_client(session, oidc, kind="public", token_endpoint_auth_method="none", consent_required=False,
                      scope="openid mobile")  # fmt: skip
    login(client, casework.citizen_token)
    return _token(client, app, casework, "openid mobile")


def test_consents_listed_and_withdrawn_with_the_token(
    client: Any, session: Session, oidc: OidcRuntime, casework: Casework
) -> None:
    # A department system the person consented to (姓名和实名等级), holding a token that relies on it.
    system = make_client(session, oidc, name="社保查询系统", scope="openid profile")
    registered = oidc.clients.get(session, system.client_id)
    assert registered is not None
    consent = grant_consent(session, casework.citizen.id, registered, "openid profile")
    session.flush()
    login(client, casework.citizen_token)
    system_token = _token(client, system, casework, "openid profile")
    assert client.get("/oidc/userinfo", headers=_bearer(system_token)).status_code == 200

    token = _app_token(client, session, oidc, casework)
    listed = client.get(f"{API}/me/consents", headers=_bearer(token))
    assert listed.status_code == 200, listed.text
    row = next(c for c in listed.json() if c["id"] == consent.id)
    assert row["app"] == "社保查询系统" and row["what"] == "姓名和实名等级"
    assert row["active"] is True and row["status_label"] == "有效"
    assert system.client_id not in listed.text, "the app is named, never by its client id"

    withdrawn = client.post(f"{API}/me/consents/{consent.id}/withdraw", json={"reason": "不再使用"},
                            headers=_bearer(token))  # fmt: skip
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["active"] is False and withdrawn.json()["status_label"] == "已撤回"
    # The system's token relied on the consent: refused on its next use.
    assert client.get("/oidc/userinfo", headers=_bearer(system_token)).status_code == 401
    # Again: nothing new (still withdrawn); another person's: not found, in the envelope.
    again = client.post(f"{API}/me/consents/{consent.id}/withdraw", json={}, headers=_bearer(token))
    assert again.status_code == 200 and again.json()["active"] is False
    _, other = casework.person(nth_citizen_id(7421))
    login(client, other)
    assert_envelope(client.post(f"{API}/me/consents/{consent.id}/withdraw", json={}), 404)
    assert_envelope(client.post(f"{API}/me/consents/{consent.id}/withdraw", json={"reason": ""},
                                headers=_bearer(token)), 422)  # fmt: skip


def test_shares_and_annotated_copies_with_the_token(
    client: Any, session: Session, oidc: OidcRuntime, casework: Casework
) -> None:
    token = _app_token(client, session, oidc, casework)
    lic = casework.held_license_id
    shared = client.post(f"{API}/me/licenses/{lic}/shares", headers=_bearer(token), json={
        "audience_kind": "anyone", "purpose": "租房", "expires_at": (utcnow() + timedelta(days=7)).isoformat()})  # fmt: skip
    assert shared.status_code == 201, shared.text
    everything = client.get(f"{API}/me/shares", headers=_bearer(token))
    assert everything.status_code == 200 and everything.headers["x-total-count"] == "1"
    assert everything.json()[0]["id"] == shared.json()["id"]
    assert everything.json()[0]["license_type"] == "社会保险参保证明"

    until = (utcnow() + timedelta(days=30)).isoformat()
    made = client.post(f"{API}/me/licenses/{lic}/copies", headers=_bearer(token),
                       json={"purpose": "办理入学报名", "expires_at": until})  # fmt: skip
    assert made.status_code == 201, made.text
    copy = made.json()
    assert copy["purpose"] == "办理入学报名" and copy["requested_by"] == "持证人本人" and not copy["expired"]
    assert made.headers["location"] == copy["file_url"]
    listed = client.get(f"{API}/me/licenses/{lic}/copies", headers=_bearer(token)).json()
    assert [c["id"] for c in listed] == [copy["id"]]
    downloaded = client.get(copy["file_url"], headers=_bearer(token))
    assert downloaded.status_code == 200 and downloaded.headers["content-type"].startswith("application/ofd")
    assert downloaded.content[:2] == b"PK" and downloaded.headers["cache-control"] == "no-store"
    uses, _ = licenses.holder_license_usage(session, casework.citizen, lic, offset=0, limit=20)
    assert {"holder_copy", "download_copy"} <= {u.operation for u in uses}

    assert_envelope(client.post(f"{API}/me/licenses/{lic}/copies", headers=_bearer(token),
                                json={"expires_at": until}), 422)  # fmt: skip
    assert_envelope(client.get(f"{API}/me/licenses/{lic}/copies/nope/file", headers=_bearer(token)), 404)
    # Another person's token (their own session here) sees none of it.
    _, other = casework.person(nth_citizen_id(7422))
    login(client, other)
    assert_envelope(client.get(f"{API}/me/licenses/{lic}/copies"), 404)
    assert_envelope(client.get(copy["file_url"]), 404)
    assert client.get(f"{API}/me/shares").json() == []
