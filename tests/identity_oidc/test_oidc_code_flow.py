"""Authorization code + PKCE, ID tokens, userinfo, refresh rotation and the bad-input cases of the RFCs."""

from __future__ import annotations

from typing import Any

from joserfc import jwt
from joserfc.jwk import KeySet
from oidc_helpers import (
    RP,
    Citizen,
    authorize,
    citizen_fixture,  # noqa: F401 - fixture
    code_for,
    exchange_code,
    make_citizen,
    make_client,
    oidc_fixture,  # noqa: F401 - fixture
    pkce,
    query_of,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhengwu.identity.levels import RealNameLevel
from zhengwu.identity.models import AuthEvent
from zhengwu.identity.oidc.models import OidcAuthorizationCode, OidcGrant, OidcIssuance, OidcRpSession
from zhengwu.identity.oidc.runtime import OidcRuntime


def _claims(client: Any, token: str) -> dict[str, Any]:
    keys = KeySet.import_key_set(client.get("/oidc/jwks").json())
    return dict(jwt.decode(token, keys, algorithms=["ES256"]).claims)


def test_discovery_names_every_endpoint_and_only_s256(client: Any, oidc: OidcRuntime) -> None:
    doc = client.get("/.well-known/openid-configuration").json()
    assert doc["issuer"] == oidc.issuer
    for key in (
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "end_session_endpoint",
    ):
        assert doc[key].startswith(oidc.issuer)
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["subject_types_supported"] == ["pairwise"]
    assert doc["backchannel_logout_supported"] and doc["backchannel_logout_session_supported"]
    assert "urn:zhengwu:loa:4" in doc["acr_values_supported"]
    assert client.get("/.well-known/oauth-authorization-server").json()["issuer"] == oidc.issuer


def test_code_flow_with_pkce_issues_id_token_access_and_refresh_tokens(
    client: Any, session: Session, oidc: OidcRuntime, citizen: Citizen
) -> None:
    made = make_client(session, oidc, scope="openid profile", consent_required=False)
    code, verifier = code_for(client, made, citizen, nonce="n-123", scope="openid profile")
    response = exchange_code(client, made, code, verifier)
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert {"access_token", "id_token", "refresh_token", "expires_in"} <= set(tokens)
    id_claims = _claims(client, tokens["id_token"])
    assert id_claims["aud"] == made.client_id and id_claims["iss"] == oidc.issuer
    assert id_claims["nonce"] == "n-123" and id_claims["acr"] == "urn:zhengwu:loa:3"
    assert id_claims["sid"] and id_claims["at_hash"] and id_claims["amr"] == ["pwd"]
    assert "name" not in id_claims  # personal claims only through userinfo
    # The ID number and account id never appear as the subject.
    assert id_claims["sub"] not in (citizen.account.id, citizen.id_number)
    info = client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 200, info.text
    assert info.json() == {
        "sub": id_claims["sub"],
        "name": "测试公民",
        "real_name_level": 3,
        "account_type": "natural",
    }
    # Bookkeeping: an RP session for single logout and an issuance record for audit.
    assert session.scalar(select(OidcRpSession).where(OidcRpSession.client_id == made.client_id)) is not None
    assert (
        session.scalar(select(OidcIssuance).where(OidcIssuance.client_id == made.client_id)).account_id
        == citizen.account.id
    )


def test_each_client_gets_its_own_sub(
    client: Any, session: Session, oidc: OidcRuntime, citizen: Citizen
) -> None:
    subs = []
    for host in ("127.0.0.1", "localhost"):
        made = make_client(session, oidc, redirect_uris=[f"http://{host}:9/cb"], consent_required=False)
        verifier, challenge = pkce()
        client.cookies.set("zw_session", citizen.token)
        response = client.get(
            "/oidc/authorize",
            params={
                "response_type": "code",
                "client_id": made.client_id,
                "redirect_uri": f"http://{host}:9/cb",
                "scope": "openid",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
            follow_redirects=False,
        )
        code = query_of(response.headers["location"])["code"]
        tokens = client.post(
            "/oidc/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": f"http://{host}:9/cb",
                "code_verifier": verifier,
            },
            auth=(made.client_id, made.secret),
        ).json()
        subs.append(_claims(client, tokens["id_token"])["sub"])
    assert subs[0] != subs[1]


def test_citizen_id_only_for_entitled_clients_and_every_read_is_audited(
    client: Any, session: Session, oidc: OidcRuntime, citizen: Citizen
) -> None:
    entitled = make_client(
        session, oidc, scope="openid profile citizen_id", may_receive_citizen_id=True, consent_required=False
    )
    code, verifier = code_for(client, entitled, citizen, scope="openid citizen_id")
    access = exchange_code(client, entitled, code, verifier).json()["access_token"]
    info = client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {access}"}).json()
    assert info["citizen_id"] == citizen.id_number and info["cert_type"] == "111"
    reads = session.scalars(
        select(AuthEvent).where(
            AuthEvent.event_type == "pii_read", AuthEvent.account_id == citizen.account.id
        )
    ).all()
    assert any(r.detail["reader"] == f"oidc:{entitled.client_id}" for r in reads)
    plain = make_client(session, oidc, scope="openid profile", consent_required=False)
    response = authorize(
        client,
        plain,
        cookie=citizen.token,
        scope="openid citizen_id",
        code_challenge=pkce()[1],
        code_challenge_method="S256",
    )
    assert response.status_code == 302 and query_of(response.headers["location"])["error"] == "invalid_scope"


def test_wrong_redirect_uri_is_never_redirected_to(
    client: Any, session: Session, oidc: OidcRuntime, citizen: Citizen
) -> None:
    made = make_client(session, oidc)
    response = authorize(client, made, cookie=citizen.token, redirect_uri="https://evil.example/cb")
    assert response.status_code == 400 and "location" not in response.headers
    assert "回调地址未在该应用登记" in response.text and "text/html" in response.headers["content-type"]
    unknown = client.get(
        "/oidc/authorize",
        params={"client_id": "nope", "redirect_uri": RP, "response_type": "code"},
        follow_redirects=False,
    )
    assert unknown.status_code == 400 and "未在平台登记" in unknown.text


def test_protocol_errors_are_redirected_with_rfc_codes(
    client: Any, session: Session, oidc: OidcRuntime, citizen: Citizen
) -> None:
    made = make_client(session, oidc)
    response = authorize(client, made, cookie=citizen.token, response_type="token")
    assert query_of(response.headers["location"])["error"] in (
        "unsupported_response_type",
        "unauthorized_client",
    )
    plain = authorize(
        client, made, cookie=citizen.token, code_challenge=pkce()[1], code_challenge_method="plain"
    )
    assert query_of(plain.headers["location"])["error"] == "invalid_request"


def test_public_clients_must_use_pkce_and_a_mismatch_fails(
    client: Any, session: Session, oidc: OidcRuntime, citizen: Citizen
) -> None:
    public = make_client(
        session, oidc, kind="public", token_endpoint_auth_method="none", consent_required=False
    )
    assert public.secret is None
    response = authorize(client, public, cookie=citizen.token)
    assert query_of(response.headers["location"])["error"] == "invalid_request"
    code, verifier = code_for(client, public, citizen)
    wrong = exchange_code(client, public, code, verifier[:-2] + "xx")
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    # The code was consumed by the failed attempt: it cannot be retried.
    assert exchange_code(client, public, code, verifier).json()["error"] == "invalid_grant"
    code2, _ = code_for(client, public, citizen)
    assert exchange_code(client, public, code2, None).json()["error"] == "invalid_request"
    code3, verifier3 = code_for(client, public, citizen)
    tokens = exchange_code(client, public, code3, verifier3)
    assert tokens.status_code == 200
    # Discovery offers "none" at the revocation endpoint (RFC 7009 §2.1): a public client revokes its own.
    revoked = client.post(
        "/oidc/revoke", data={"token": tokens.json()["refresh_token"], "client_id": public.client_id}
    )
    assert revoked.status_code == 200, revoked.text
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens.json()["refresh_token"]}
    again = client.post("/oidc/token", data={**refresh, "client_id": public.client_id})
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_replayed_code_revokes_the_tokens_issued_from_it(
    client: Any, session: Session, oidc: OidcRuntime, citizen: Citizen
) -> None:
    made = make_client(session, oidc, consent_required=False)
    code, verifier = code_for(client, made, citizen)
    tokens = exchange_code(client, made, code, verifier).json()
    replay = exchange_code(client, made, code, verifier)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    info = client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 401 and info.json()["error"] == "invalid_token"
    refresh = client.post(
        "/oidc/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(made.client_id, made.secret),
    )
    assert refresh.json()["error"] == "invalid_grant"


def test_expired_code_and_wrong_client_are_invalid_grant(
    client: Any, session: Session, oidc: OidcRuntime, citizen: Citizen
) -> None:
    made = make_client(session, oidc, consent_required=False)
    other = make_client(session, oidc, consent_required=False)
    code, verifier = code_for(client, made, citizen)
    stolen = client.post(
        "/oidc/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": RP,
            "code_verifier": verifier,
        },
        auth=(other.client_id, other.secret),
    )
    assert stolen.json()["error"] == "invalid_grant"
    code2, verifier2 = code_for(client, made, citizen)
    row = session.scalar(
        select(OidcAuthorizationCode).where(OidcAuthorizationCode.code_digest == oidc.node_keys.digest(code2))
    )
    from datetime import timedelta

    row.expires_at = row.expires_at - timedelta(hours=1)
    session.flush()
    assert exchange_code(client, made, code2, verifier2).json()["error"] == "invalid_grant"


def test_refresh_tokens_rotate_and_reuse_revokes_the_family(
    client: Any, session: Session, oidc: OidcRuntime, citizen: Citizen
) -> None:
    made = make_client(session, oidc, scope="openid profile", consent_required=False)
    code, verifier = code_for(client, made, citizen, nonce="n-refresh", scope="openid profile")
    first = exchange_code(client, made, code, verifier).json()

    def refresh(token: str) -> Any:
        return client.post(
            "/oidc/token",
            data={"grant_type": "refresh_token", "refresh_token": token},
            auth=(made.client_id, made.secret),
        )

    second = refresh(first["refresh_token"])
    assert second.status_code == 200, second.text
    second_tokens = second.json()
    assert second_tokens["refresh_token"] != first["refresh_token"]
    # OIDC Core §12.2: a new ID token about the same login, without the nonce.
    before, after = _claims(client, first["id_token"]), _claims(client, second_tokens["id_token"])
    for claim in ("iss", "sub", "aud", "auth_time", "acr", "sid"):
        assert after[claim] == before[claim], claim
    assert before["nonce"] == "n-refresh" and "nonce" not in after
    # Reusing the rotated token is theft: the whole family dies, including the new token.
    assert refresh(first["refresh_token"]).json()["error"] == "invalid_grant"
    assert refresh(second_tokens["refresh_token"]).json()["error"] == "invalid_grant"
    grants = session.scalars(select(OidcGrant).where(OidcGrant.client_id == made.client_id)).all()
    assert grants and all(g.revoked_at is not None for g in grants)


def test_no_session_sends_the_browser_to_login_and_prompt_none_answers_login_required(
    client: Any, session: Session, oidc: OidcRuntime
) -> None:
    made = make_client(session, oidc)
    response = authorize(client, made, cookie=None)
    assert response.status_code == 303 and response.headers["location"].startswith("/identity/login?next=")
    silent = authorize(client, made, cookie=None, prompt="none")
    assert query_of(silent.headers["location"])["error"] == "login_required"


def test_prompt_login_and_max_age_ask_for_a_fresh_authentication_once(
    client: Any, session: Session, oidc: OidcRuntime, citizen: Citizen
) -> None:
    made = make_client(session, oidc, consent_required=False)
    response = authorize(client, made, cookie=citizen.token, prompt="login")
    location = response.headers["location"]
    assert response.status_code == 303 and location.startswith("/identity/step-up?next=")
    old = authorize(client, made, cookie=citizen.token, max_age="0")
    assert old.headers["location"].startswith("/identity/step-up?next=")
    silent = authorize(client, made, cookie=citizen.token, max_age="0", prompt="none")
    assert query_of(silent.headers["location"])["error"] == "login_required"


def test_client_minimum_level_and_step_up(client: Any, session: Session, oidc: OidcRuntime) -> None:
    strict = make_client(session, oidc, min_acr_level=4, consent_required=False)
    low = make_citizen(session, level=RealNameLevel.REGISTRY_MATCHED)
    denied = authorize(client, strict, cookie=low.token)
    assert query_of(denied.headers["location"])["error"] == "access_denied"
    verified = make_citizen(session, level=RealNameLevel.REAL_PERSON)  # account level 4, password session: 3
    step = authorize(client, strict, cookie=verified.token)
    assert step.headers["location"].startswith("/identity/step-up?")
    strong = make_citizen(session, level=RealNameLevel.REAL_PERSON, amr=["pwd", "otp", "mfa"])
    code, verifier = code_for(client, strict, strong)
    id_claims = _claims(client, exchange_code(client, strict, code, verifier).json()["id_token"])
    assert id_claims["acr"] == "urn:zhengwu:loa:4"
    # acr_values from the request are honoured as well (step-up when the account can reach it).
    normal = make_client(session, oidc, consent_required=False)
    asked = authorize(client, normal, cookie=verified.token, acr_values="urn:zhengwu:loa:4")
    assert asked.headers["location"].startswith("/identity/step-up?")


def test_consent_is_asked_recorded_versioned_and_withdrawal_is_refused_next_time(
    client: Any, session: Session, oidc: OidcRuntime, citizen: Citizen
) -> None:
    made = make_client(session, oidc, scope="openid profile phone")
    verifier, challenge = pkce()
    page = authorize(
        client,
        made,
        cookie=citizen.token,
        scope="openid profile",
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    assert page.status_code == 200 and "授权确认" in page.text and "姓名和实名等级" in page.text
    import re

    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    params = re.search(r'name="request_params" value="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    denied = client.post(
        "/oidc/authorize/decision",
        data={"csrf_token": csrf, "decision": "deny", "request_params": params},
        follow_redirects=False,
    )
    assert query_of(denied.headers["location"])["error"] == "access_denied"
    forged = client.post(
        "/oidc/authorize/decision",
        data={"csrf_token": "x" * 40, "decision": "approve", "request_params": params},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    approved = client.post(
        "/oidc/authorize/decision",
        data={"csrf_token": csrf, "decision": "approve", "request_params": params},
        follow_redirects=False,
    )
    assert approved.status_code == 302, approved.text
    code = query_of(approved.headers["location"])["code"]
    access = exchange_code(client, made, code, verifier).json()["access_token"]
    assert client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {access}"}).status_code == 200
    # The next login does not ask again; a wider scope asks again and makes version 2.
    again = authorize(
        client,
        made,
        cookie=citizen.token,
        scope="openid profile",
        code_challenge=pkce()[1],
        code_challenge_method="S256",
    )
    assert again.status_code == 302
    wider = authorize(client, made, cookie=citizen.token, scope="openid profile phone")
    assert wider.status_code == 200 and "手机号码" in wider.text
    consents = client.get("/api/v1/identity/consents").json()
    assert [c["version"] for c in consents] == [1] and consents[0]["scopes"] == ["profile"]
    assert consents[0]["client_name"] == "测试部门系统"
    withdrawn = client.post(
        f"/api/v1/identity/consents/{consents[0]['id']}/withdraw", json={"reason": "不再使用"}
    )
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    refused = client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {access}"})
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_token"
    releases = client.get("/api/v1/identity/data-releases").json()
    assert (
        releases
        and releases[0]["client_id"] == made.client_id
        and releases[0]["claims"] == ["account_type", "name", "real_name_level"]
    )


def test_an_agent_acting_for_an_enterprise_gets_the_enterprise_claims(
    client: Any, session: Session, oidc: OidcRuntime, citizen: Citizen
) -> None:
    from zhengwu.identity import service as core
    from zhengwu.identity.models import UserSession
    from zhengwu.seed.synthetic import enterprise_credit_code

    code = enterprise_credit_code("130102", 4242)
    core.register_legal_person(
        session,
        credit_code=code,
        name="石家庄测试科技有限公司",
        legal_rep_name="测试法人",
        password=None,
        agent=citizen.account,
    )
    entity = core.find_legal_entity(session, code)
    assert entity is not None
    core.set_acting_for(session, session.get(UserSession, citizen.session_id), entity.id)
    session.flush()
    made = make_client(session, oidc, scope="openid profile enterprise", consent_required=False)
    code_value, verifier = code_for(client, made, citizen, scope="openid profile enterprise")
    access = exchange_code(client, made, code_value, verifier).json()["access_token"]
    info = client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {access}"}).json()
    assert info["name"] == "测试公民" and info["account_type"] == "natural"
    assert info["acting_for"]["name"] == "石家庄测试科技有限公司"
    assert info["acting_for"]["credit_code"] == code and info["acting_for"]["role"] == "admin"
    assert "id" not in info["acting_for"]


def test_status_reports_the_provider(client: Any, oidc: OidcRuntime) -> None:
    client.get("/oidc/jwks")
    status = client.get("/_status").json()
    section = status["dependencies"]["oidc"]
    assert section is not None and section["ok"] is True and section["signing_kid"]
