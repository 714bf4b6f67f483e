"""接入应用: a department's H5 app registered by staff (API and CLI, audited), listed on the 应用 page, the
mobile API and its items' guide pages, and opened with single sign-on — the app, played here as a real
relying party would (its own state, nonce and PKCE), gets a code for the person's existing session without
a login page, and redeems it for that person's tokens."""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select
from sqlalchemy.orm import Session

from cases_kit import Casework, login
from identity_oidc.oidc_helpers import make_client, oidc_fixture, pkce  # noqa: F401
from seals_kit import assert_envelope
from zhengwu.audit.models import AuditChange
from zhengwu.identity.oidc import service as oidc_clients
from zhengwu.identity.oidc.runtime import OidcRuntime
from zhengwu.identity.oidc.schemas import ClientStatusChange

pytestmark = pytest.mark.db
API = "/api/v1/portal/apps"
SITE = "https://h5.example.gov.cn"
CALLBACK = f"{SITE}/sso/callback"
ENTRY = f"{SITE}/sso/start?from=portal"
ICON = (Path(__file__).resolve().parents[2] / "src/zhengwu/portal/static/icon-192.png").read_bytes()


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _register(client: Any, admin: str, app_client: str, task_code: str, **fields: Any) -> Any:
    login(client, admin)
    body = {
        "name": "河北人社",
        "description": "社保查询、参保证明打印",
        "entry_url": ENTRY,
        "client_id": app_client,
        "items": [task_code],
        "icon_base64": base64.b64encode(ICON).decode(),
        **fields,
    }
    return client.post(API, json=body)


def _h5_client(session: Session, oidc: OidcRuntime) -> Any:
    return make_client(session, oidc, name="河北人社 H5", redirect_uris=[CALLBACK], scope="openid profile")


def test_an_app_is_registered_listed_and_opened_without_a_second_login(
    client: Any, session: Session, oidc: OidcRuntime, casework: Casework
) -> None:
    h5 = _h5_client(session, oidc)
    admin = casework.staff(["platform_admin"])
    made = _register(client, admin, h5.client_id, casework.task_code)
    assert made.status_code == 201, made.text
    app = made.json()
    assert app["items"] == [casework.task_code] and app["open_url"] == f"/apps/{app['id']}/open"
    change = session.scalar(select(AuditChange).where(AuditChange.entity_id == app["id"]))
    assert change is not None and change.action == "portal.app.register" and change.after is not None
    assert change.after["client_id"] == h5.client_id

    # Listed for everyone: the 应用 page, the mobile API, the guide page and the mobile guide of its item.
    login(client, None)
    page = client.get("/apps")
    assert page.status_code == 200 and "河北人社" in page.text and app["open_url"] in page.text
    listed = client.get("/api/v1/mobile/apps").json()
    assert [a["name"] for a in listed] == ["河北人社"] and listed[0]["open_url"] == app["open_url"]
    assert "client_id" not in listed[0] and "entry_url" not in listed[0]
    guide = client.get(f"/items/{casework.task_code}")
    assert "在应用中办理" in guide.text and app["open_url"] in guide.text
    mobile_guide = client.get(f"/api/v1/mobile/items/{casework.task_code}").json()
    assert [a["id"] for a in mobile_guide["apps"]] == [app["id"]]
    icon = client.get(listed[0]["icon_url"])
    assert icon.status_code == 200 and icon.content == ICON and icon.headers["content-type"] == "image/png"

    # Without a session: to the login page and back to the app afterwards.
    anonymous = client.get(app["open_url"], follow_redirects=False)
    assert anonymous.status_code == 303
    assert _query(anonymous.headers["location"]) == {"next": app["open_url"]}

    # With the person's session: on to the app as a third-party-initiated login (OIDC Core §4).
    login(client, casework.citizen_token)
    opened = client.get(app["open_url"], follow_redirects=False)
    assert opened.status_code == 303, opened.text
    target = opened.headers["location"]
    assert target.startswith(f"{SITE}/sso/start?")
    initiated = _query(target)
    assert initiated["from"] == "portal" and initiated["target_link_uri"] == ENTRY
    issuer = initiated["iss"]
    discovery = client.get("/.well-known/openid-configuration").json()
    assert discovery["issuer"] == issuer

    # The app starts its own authorization request at that issuer; the browser still holds the session.
    state, nonce = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    verifier, challenge = pkce()
    authorize = urlsplit(discovery["authorization_endpoint"]).path
    answer = client.get(
        authorize,
        params={"response_type": "code", "client_id": h5.client_id, "redirect_uri": CALLBACK,
                "scope": "openid", "state": state, "nonce": nonce, "code_challenge": challenge,
                "code_challenge_method": "S256"},
        follow_redirects=False,
    )  # fmt: skip
    assert answer.status_code == 302, answer.text  # no login page, no form: straight back to the app
    back = answer.headers["location"]
    assert back.startswith(CALLBACK) and _query(back)["state"] == state
    tokens = client.post(
        "/oidc/token",
        data={"grant_type": "authorization_code", "code": _query(back)["code"], "redirect_uri": CALLBACK,
              "code_verifier": verifier},
        auth=(h5.client_id, h5.secret),
    )  # fmt: skip
    assert tokens.status_code == 200, tokens.text
    keys = KeySet.import_key_set(client.get("/oidc/jwks").json())
    claims = jwt.decode(tokens.json()["id_token"], keys, algorithms=["ES256"]).claims
    assert claims["aud"] == h5.client_id and claims["nonce"] == nonce and claims["iss"] == issuer
    # The app knows the same person the portal's session is: userinfo with its access token.
    client.cookies.clear()
    info = client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {tokens.json()['access_token']}"})
    assert info.status_code == 200 and info.json()["sub"] == claims["sub"]

    # Without the portal's session the same request would have ended on the login page.
    again = client.get(
        authorize,
        params={"response_type": "code", "client_id": h5.client_id, "redirect_uri": CALLBACK,
                "scope": "openid", "state": "s2", "nonce": "n2", "code_challenge": challenge,
                "code_challenge_method": "S256"},
        follow_redirects=False,
    )  # fmt: skip
    assert again.status_code in (302, 303) and "/identity/login" in again.headers["location"]

    # Identity suspends the app's client: opening says so here instead of failing at the app.
    oidc_clients.change_status(session, h5.client_id, ClientStatusChange(status="suspended", reason="整改"))
    session.flush()
    login(client, casework.citizen_token)
    paused = client.get(app["open_url"], follow_redirects=False)
    assert paused.status_code == 409 and "暂停服务" in paused.text


def test_registration_refuses_what_would_mislead_people(
    client: Any, session: Session, oidc: OidcRuntime, casework: Casework
) -> None:
    h5 = _h5_client(session, oidc)
    admin = casework.staff(["platform_admin"])
    elsewhere = _register(client, admin, h5.client_id, casework.task_code, entry_url="https://evil.example/x")
    assert_envelope(elsewhere, 422)
    assert "同一网站" in elsewhere.json()["detail"]
    assert_envelope(_register(client, admin, "no-such-client", casework.task_code), 422)
    machine = make_client(session, oidc, grant_types=["client_credentials"], scope="verify:person")
    assert "授权码" in _register(client, admin, machine.client_id, casework.task_code).json()["detail"]
    svg = base64.b64encode(b"<svg xmlns='http://www.w3.org/2000/svg'><script/></svg>").decode()
    refused = _register(client, admin, h5.client_id, casework.task_code, icon_base64=svg)
    assert_envelope(refused, 422)
    assert "PNG 或 JPEG" in refused.json()["detail"]
    big = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 66_000).decode()
    assert (
        "64 KB"
        in _register(client, admin, h5.client_id, casework.task_code, icon_base64=big).json()["detail"]
    )
    assert_envelope(_register(client, admin, h5.client_id, casework.task_code, icon_base64="不是base64"), 422)
    wrong_item = _register(client, admin, h5.client_id, "开饭店")
    assert_envelope(wrong_item, 422)
    assert "编码" in wrong_item.json()["detail"]
    assert client.get(API).json() == []  # nothing half-made
    # A citizen may not register apps.
    citizen = _register(client, casework.citizen_token, h5.client_id, casework.task_code)
    assert_envelope(citizen, 403)


def test_a_withdrawn_app_is_gone_from_every_list(
    client: Any, session: Session, oidc: OidcRuntime, casework: Casework
) -> None:
    h5 = _h5_client(session, oidc)
    admin = casework.staff(["identity_admin"])  # identity administrators register apps too
    app = _register(client, admin, h5.client_id, casework.task_code).json()
    changed = client.put(
        f"{API}/{app['id']}",
        json={"name": "冀时办·人社", "entry_url": ENTRY, "client_id": h5.client_id, "items": []},
    )
    assert changed.status_code == 200 and changed.json()["name"] == "冀时办·人社"
    assert changed.json()["icon_url"] is not None  # not sent: kept
    assert client.post(f"{API}/{app['id']}/withdraw").status_code == 200
    assert client.get(API).json()[0]["status"] == "withdrawn"
    login(client, casework.citizen_token)
    assert client.get("/api/v1/mobile/apps").json() == []
    assert "冀时办" not in client.get("/apps").text
    gone = client.get(app["open_url"], follow_redirects=False)
    assert gone.status_code == 404 and "已下架" in gone.text
    assert client.get(f"/portal/apps/{app['id']}/icon").status_code == 404
    actions = session.scalars(select(AuditChange.action).where(AuditChange.entity_id == app["id"])).all()
    assert set(actions) == {"portal.app.register", "portal.app.change", "portal.app.withdraw"}


def test_the_cli_registers_lists_and_takes_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from clikit import cli_node, invoke

    nodes = cli_node(tmp_path, monkeypatch, ZHENGWU_NODE_ID="hebei")
    next(nodes)
    try:
        made = invoke("identity", "clients", "create", "--name", "人社H5", "--grant", "authorization_code",
                      "--redirect-uri", CALLBACK, "--json")  # fmt: skip
        assert made.exit_code == 0, made.output
        client_id = json.loads(made.output.strip().splitlines()[-1])["client_id"]
        icon = tmp_path / "icon.png"
        icon.write_bytes(ICON)
        added = invoke("portal", "apps", "add", "--name", "河北人社", "--entry-url", ENTRY, "--client-id",
                       client_id, "--item", "000132001000", "--icon", str(icon), "--json")  # fmt: skip
        assert added.exit_code == 0, added.output
        app = json.loads(added.output.strip().splitlines()[-1])
        assert app["items"] == ["000132001000"] and app["icon_url"]
        bad = invoke("portal", "apps", "add", "--name", "x", "--entry-url", "https://other.example/",
                     "--client-id", client_id)  # fmt: skip
        assert bad.exit_code == 1 and "同一网站" in bad.output
        assert "河北人社" in invoke("portal", "apps", "list").output
        assert invoke("portal", "apps", "withdraw", app["id"]).exit_code == 0
        listed = json.loads(invoke("portal", "apps", "list", "--withdrawn", "--json").output.splitlines()[-1])
        assert [a["status"] for a in listed] == ["withdrawn"]
    finally:
        nodes.close()
