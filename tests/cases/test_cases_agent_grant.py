"""经办人授权: the enterprise's legal-person account or its administrator authorises a registered
real-name person (name and identity number in the body, both must match) from the API and from the
经办人管理 page; the person can act and apply for the enterprise at once. Withdrawing the authorisation
also ends what apps obtained while the agent acted for the enterprise (tokens, unused codes, the consents
that released the enterprise's data), and nothing of the agent's own."""

from __future__ import annotations

import re
import secrets
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from cases_kit import Enterprise, legal_token, login
from seals_kit import assert_envelope
from zhengwu.identity.models import AgentAuthorization, AuthEvent
from zhengwu.identity.oidc.models import OidcAuthorizationCode, OidcConsent, OidcGrant, OidcRevokedToken
from zhengwu.kernel.clock import utcnow
from zhengwu.seed.synthetic import nth_citizen_id

pytestmark = pytest.mark.db

API = "/api/v1/cases"
AGENTS = "/api/v1/identity/enterprises"


def test_the_enterprise_grants_an_agent_over_the_api(client: Any, enterprise: Enterprise) -> None:
    work, session = enterprise.work, enterprise.work.session
    newcomer, newcomer_token = work.person(nth_citizen_id(731), "新同事")
    helper, helper_token = work.person(nth_citizen_id(852), "助理")
    legal = legal_token(enterprise)
    grant_url = f"{AGENTS}/{enterprise.entity_id}/agents"
    login(client, legal)
    # Name and number must both match a registered person: one answer for either mistake.
    for body in (
        {"name": "别人", "id_number": nth_citizen_id(731)},
        {"name": "新同事", "id_number": nth_citizen_id(799)},
    ):
        assert_envelope(client.post(grant_url, json=body), 404, "identity.agent_person_not_found")
    assert client.post(grant_url, json={"name": "新同事", "id_number": "123"}).status_code == 422
    assert client.post(grant_url, json={"name": "新同事", "id_number": nth_citizen_id(731), "role": "legal_rep"}).status_code == 422  # fmt: skip
    past = {
        "name": "新同事",
        "id_number": nth_citizen_id(731),
        "valid_until": str(date.today() - timedelta(days=1)),
    }
    assert (
        "晚于今天"
        in assert_envelope(client.post(grant_url, json=past), 422, "identity.agent_grant_invalid")["detail"]
    )

    made = client.post(grant_url, json={"name": "新同事", "id_number": nth_citizen_id(731), "role": "admin"})
    assert made.status_code == 201, made.text
    assert (made.json()["name"], made.json()["role_label"], made.json()["account_id"]) == (
        "新同事",
        "管理员",
        newcomer.id,
    )
    assert (
        session.scalar(
            select(AuthEvent).where(
                AuthEvent.event_type == "agent_granted", AuthEvent.account_id == newcomer.id
            )
        )
        is not None
    )

    # At once the newcomer acts and applies for the enterprise, and as 管理员 grants a plain agent …
    login(client, newcomer_token)
    assert (
        client.post("/api/v1/identity/acting-for", json={"legal_entity_id": enterprise.entity_id}).status_code
        == 200
    )
    assert client.post(API, json=enterprise.body()).status_code == 201
    limited = client.post(grant_url, json={"name": "助理", "id_number": nth_citizen_id(852),
                                           "valid_until": str(date.today() + timedelta(days=30))})  # fmt: skip
    assert (
        limited.status_code == 201
        and limited.json()["role_label"] == "经办人"
        and limited.json()["valid_until"]
    )
    # … who, being one, grants nobody.
    login(client, helper_token)
    assert_envelope(client.post(grant_url, json={"name": "新同事", "id_number": nth_citizen_id(731)}), 403,
                    "identity.agents_not_managed")  # fmt: skip
    assert helper.id != newcomer.id


def _oidc_rows(
    session: Any, account_id: str, acting_for: str | None, scopes: list[str]
) -> tuple[OidcGrant, OidcConsent]:
    now = utcnow()
    consent = OidcConsent(account_id=account_id, client_id=f"app{secrets.token_hex(4)}", version=1, scopes=scopes,
                          purpose="办事", status="granted", granted_at=now)  # fmt: skip
    session.add(consent)
    session.flush()
    grant = OidcGrant(client_id=consent.client_id, account_id=account_id, acting_for=acting_for,
                      family_id=secrets.token_hex(8), scope=" ".join(["openid", *scopes]),
                      access_jti=secrets.token_hex(16), refresh_digest=secrets.token_hex(16), auth_time=now,
                      acr_level=3, amr=["pwd"], consent_id=consent.id, issued_at=now,
                      access_expires_at=now + timedelta(minutes=10), refresh_expires_at=now + timedelta(days=1))  # fmt: skip
    session.add(grant)
    session.flush()
    return grant, consent


def test_withdrawing_an_agent_ends_the_app_grants_made_while_acting_for_the_enterprise(
    client: Any, enterprise: Enterprise
) -> None:
    work, session = enterprise.work, enterprise.work.session
    agent, _ = work.person(nth_citizen_id(1074), "经办甲")
    legal = legal_token(enterprise)
    login(client, legal)
    made = client.post(
        f"{AGENTS}/{enterprise.entity_id}/agents", json={"name": "经办甲", "id_number": nth_citizen_id(1074)}
    )
    assert made.status_code == 201, made.text
    for_enterprise, enterprise_consent = _oidc_rows(
        session, agent.id, enterprise.entity_id, ["profile", "enterprise"]
    )
    own, own_consent = _oidc_rows(session, agent.id, None, ["profile"])
    code = OidcAuthorizationCode(code_digest=secrets.token_hex(16), client_id=for_enterprise.client_id,
                                 account_id=agent.id, acting_for=enterprise.entity_id, redirect_uri="https://a.example/cb",
                                 scope="openid enterprise", auth_time=utcnow(), acr_level=3, amr=["pwd"],
                                 expires_at=utcnow() + timedelta(minutes=5))  # fmt: skip
    session.add(code)
    session.flush()

    done = client.post(
        f"{AGENTS}/{enterprise.entity_id}/agents/{made.json()['authorization_id']}/withdraw", json={}
    )
    assert done.status_code == 200, done.text
    for row in (for_enterprise, enterprise_consent, own, own_consent, code):
        session.refresh(row)
    assert for_enterprise.revoked_at is not None and for_enterprise.revoked_reason == "agent_withdrawn"
    assert session.get(OidcRevokedToken, for_enterprise.access_jti) is not None
    assert enterprise_consent.status == "withdrawn" and code.used_at is not None
    # The agent's own sign-ins elsewhere are theirs: untouched.
    assert own.revoked_at is None and own_consent.status == "granted"
    assert session.get(OidcRevokedToken, own.access_jti) is None
    event = session.scalar(
        select(AuthEvent).where(AuthEvent.event_type == "agent_withdrawn", AuthEvent.account_id == agent.id)
    )
    assert event is not None and event.detail["cleared"] == {"tokens": 1, "codes": 1, "consents": 1}


def test_the_enterprise_grants_an_agent_on_the_page(client: Any, enterprise: Enterprise) -> None:
    work, session = enterprise.work, enterprise.work.session
    person, _ = work.person(nth_citizen_id(1185), "页面经办")
    login(client, legal_token(enterprise))
    listing = client.get("/me/enterprises")
    form_url = f"/me/enterprises/{enterprise.entity_id}/agents/new"
    assert form_url in listing.text
    form = client.get(form_url)
    assert form.status_code == 200 and "授权经办人" in form.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert csrf is not None
    post = f"/me/enterprises/{enterprise.entity_id}/agents"
    wrong = client.post(
        post,
        data={"csrf_token": csrf.group(1), "name": "页面经办", "id_number": "1301", "valid_until": "明年"},
    )
    assert wrong.status_code == 422
    assert (
        "正确的18位居民身份证号码" in wrong.text
        and "年-月-日" in wrong.text
        and 'value="页面经办"' in wrong.text
    )
    mismatch = client.post(
        post, data={"csrf_token": csrf.group(1), "name": "别人", "id_number": nth_citizen_id(1185)}
    )
    assert mismatch.status_code == 422 and "未找到姓名与身份证号码相符的实名用户" in mismatch.text
    good = client.post(post, data={"csrf_token": csrf.group(1), "name": "页面经办", "id_number": nth_citizen_id(1185),
                                   "role": "agent"}, follow_redirects=False)  # fmt: skip
    assert good.status_code == 303 and good.headers["location"] == "/me/enterprises?granted=1"
    assert "页面经办" in client.get("/me/enterprises").text
    assert (
        session.scalar(select(AgentAuthorization).where(AgentAuthorization.account_id == person.id))
        is not None
    )
    # Someone who manages no enterprise is refused the form.
    login(client, work.person(nth_citizen_id(963), "路人")[1])
    assert client.get(form_url).status_code == 403
