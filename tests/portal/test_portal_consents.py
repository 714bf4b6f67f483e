"""授权管理: the consents a person gave to apps and department systems and the shares of their licenses,
withdrawn after an on-page confirmation; an app's tokens that relied on the consent stop at once."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from license_shares_kit import insurance, login, other_person, person
from licenses_kit import Issuing
from zhengwu.identity.oidc import claims as consents
from zhengwu.identity.oidc import service as oidc_service
from zhengwu.identity.oidc.clients import RegisteredClient
from zhengwu.identity.oidc.models import OidcGrant
from zhengwu.identity.oidc.schemas import ClientCreate
from zhengwu.identity.servicekeys import OIDC
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.node import node_of
from zhengwu.licenses import shares

pytestmark = pytest.mark.db


def _csrf(client: Any, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert match is not None
    return match.group(1)


def consent_to_app(client: Any, session: Session, account: Any, department_id: str | None) -> tuple[Any, Any]:
    """An app of the node the person consented to (profile and phone), and a token grant relying on it."""
    runtime = node_of(client.app).services.provide(OIDC)
    row, _ = oidc_service.create_client(
        session, runtime.node_keys,
        ClientCreate(name="社保查询应用", grant_types=["authorization_code"], redirect_uris=["https://app.example/cb"],
                     scope="openid profile phone", department_id=department_id),
        actor=None,
    )  # fmt: skip
    session.flush()
    consent = consents.grant_consent(
        session, account.id, RegisteredClient.from_row(row, runtime.node_keys), "openid profile phone"
    )
    grant = OidcGrant(
        client_id=row.client_id, account_id=account.id, family_id=secrets.token_hex(8), scope="openid profile phone",
        access_jti=secrets.token_hex(16), auth_time=utcnow(), acr_level=2, consent_id=consent.id,
        access_expires_at=utcnow() + timedelta(minutes=10),
    )  # fmt: skip
    session.add(grant)
    session.flush()
    return consent, grant


def test_consents_and_shares_listed_and_withdrawn(client: Any, issuing: Issuing) -> None:
    holder = person(issuing.session)
    lic = insurance(issuing)
    consent, grant = consent_to_app(client, issuing.session, holder, issuing.department.id)
    made = shares.create_share(
        issuing.session, issuing.settings, holder, lic.id, audience_kind="anyone", audience=None, purpose="租房",
        expires_at=utcnow() + timedelta(days=3),
    )  # fmt: skip
    issuing.session.flush()
    login(client, issuing.session, holder)
    page = client.get("/me/consents")
    assert page.status_code == 200 and "授权管理" in page.text
    text = re.sub(r"<[^>]+>", " ", page.text)
    assert f"{issuing.department.name}·社保查询应用" in text, "the app by its department and name"
    assert "姓名和实名等级、手机号码" in text and "✔ 有效" in text
    assert "社会保险参保证明" in text and "任何持有共享链接的人" in text and "租房" in text
    assert consent.client_id not in text and "granted" not in text and "profile" not in text
    token = _csrf(client, "/me/consents")
    # Withdrawing asks first, then takes effect and revokes the app's tokens.
    forged = client.post(f"/me/consents/{consent.id}/withdraw", data={"confirmed": "yes"})
    assert forged.status_code == 403 and consent.status == "granted"
    ask = client.post(f"/me/consents/{consent.id}/withdraw", data={"csrf_token": token})
    assert ask.status_code == 200 and "确定撤回对" in ask.text and consent.status == "granted"
    done = client.post(f"/me/consents/{consent.id}/withdraw", data={"csrf_token": token, "confirmed": "yes"},
                       follow_redirects=False)  # fmt: skip
    assert done.status_code == 303 and done.headers["location"] == "/me/consents?done=consent"
    issuing.session.refresh(consent)
    issuing.session.refresh(grant)
    assert consent.status == "withdrawn" and grant.revoked_at is not None
    after = client.get(done.headers["location"])
    assert "授权已撤回" in after.text and "✘ 已撤回" in after.text
    again = client.post(f"/me/consents/{consent.id}/withdraw", data={"csrf_token": token, "confirmed": "yes"})
    assert again.status_code == 404, "nothing left to withdraw"
    # A share revoked from 授权管理 comes back here.
    revoke = f"/me/licenses/{lic.id}/shares/{made.share.id}/revoke"
    ask = client.post(revoke, data={"csrf_token": token, "back": "consents"})
    assert 'href="/me/consents"' in ask.text and 'name="back" value="consents"' in ask.text
    gone = client.post(revoke, data={"csrf_token": token, "back": "consents", "confirmed": "yes"},
                       follow_redirects=False)  # fmt: skip
    assert gone.headers["location"] == "/me/consents?done=share"
    issuing.session.refresh(made.share)
    assert shares.status_of(made.share) == shares.REVOKED
    # Somebody else sees nothing of it and cannot withdraw it.
    login(client, issuing.session, other_person(issuing.session))
    theirs = client.get("/me/consents")
    assert "社保查询应用" not in theirs.text and "您还没有向任何应用或部门系统授权" in theirs.text
    assert "您还没有共享过证照" in theirs.text
    other_token = _csrf(client, "/me/consents")
    assert client.post(f"/me/consents/{consent.id}/withdraw",
                       data={"csrf_token": other_token, "confirmed": "yes"}).status_code == 404  # fmt: skip


def test_consents_page_needs_a_login(client: Any) -> None:
    page = client.get("/me/consents", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/identity/login?next=%2Fme%2Fconsents"
    posted = client.post("/me/consents/x/withdraw", data={}, follow_redirects=False)
    assert posted.headers["location"] == "/identity/login?next=%2Fme%2Fconsents"
