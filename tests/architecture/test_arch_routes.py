"""Every route of the application is public on purpose or guarded (ADR 0010).

A route is classified by the dependencies FastAPI resolves for it (router-level ones included):

* ``staff`` — an ``identity.policy.StaffGuard``: a staff session with a fresh second factor and a right;
* ``machine`` — an ``identity.policy.MachineGuard``: a client-credentials token carrying a scope;
* ``staff-or-machine`` — ``identity.policy.StaffOrMachine``: a bearer token goes to the machine guard,
  anything else to the staff policy;
* ``self`` — ``identity.deps.require_session`` (through ``RequiredSession`` or ``require_level``): a
  logged-in person acting on their own account (profile, second factor, consents);
* ``person`` — an ``identity.oidc.bearer.PersonGuard``: a person's access token of this node's provider
  carrying the guard's scope (the mobile app's ``mobile``), or without a token the person's session;

or it is listed below, with the reason, as

* ``PUBLIC`` — open to anyone by design;
* ``OWN_CREDENTIALS`` — the endpoint authenticates its caller by a protocol of its own (OIDC client
  authentication, bearer tokens, SM2-signed exchange envelopes);
* ``SESSION_PAGES`` — HTML pages that send a visitor without a session to the login page themselves.

A route added later fails here until it is guarded or listed; a listed route that no longer exists fails
too. Anonymous requests then check the classification: guarded routes answer 401, session pages
redirect to the login page.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from routekit import routes
from zhengwu.kernel.config import Settings

PUBLIC: dict[str, tuple[str, ...]] = {
    "API documentation: describes the API, holds no data": (
        "GET /api/openapi.json",
        "GET /api/docs",
        "GET /api/docs/init.js",
        "GET /api/docs/swagger-ui-bundle.js",
        "GET /api/docs/swagger-ui.css",
    ),
    "monitoring: health and metrics, no personal data (docs/operations.md)": ("GET /_status", "GET /metrics"),
    "public registries: departments, published service guides and their search": (
        "GET /api/v1/orgs/departments",
        "GET /api/v1/orgs/departments/{department_id}",
        "GET /api/v1/catalog/search",
        "GET /api/v1/catalog/items/{task_code}",
    ),
    "anyone relying on a sealed document checks it (rate-limited per address)": (
        "GET /api/v1/seals/{es_id}/status",
        "POST /api/v1/seals/verify",
    ),
    "electronic licenses: the type catalog, minimal verification answers (rate-limited per address) and "
    "the certificate that checks the 2-D codes offline": (
        "GET /api/v1/licenses/types",
        "POST /api/v1/licenses/verify",
        "POST /api/v1/licenses/verify/file",
        "GET /api/v1/licenses/offline-certificate",
    ),
    "anyone scanning a license's 2-D code reads what the code itself shows once its signature holds, and "
    "the registry's minimal answer (QueryCertInfoByQrCode, rate-limited per address)": (
        "POST /api/v1/licenses/qr-lookup",
    ),
    "a verifier presents a holder's share token (rate-limited; a share for a named department or client "
    "also checks that client's bearer token, licenses.shares)": ("POST /api/v1/licenses/shares/redeem",),
    "the share view a holder's QR code leads to: a page and its script without data (the token stays in "
    "the URL fragment)": ("GET /licenses/share", "GET /licenses/static/share.js"),
    "cases: the status of a case for whoever holds its number and query password (rate-limited per "
    "address; the same refusal for a wrong number or password)": ("POST /api/v1/cases/lookup",),
    "PKI publication: CA certificates, CRLs and the RFC 3161 time-stamp service": (
        "GET /pki/crl/{ca}.crl",
        "GET /pki/ca/{ca}.crt",
        "POST /tsa",
    ),
    "becoming a user: registration, login and its second step, logout, password reset": (
        "POST /api/v1/identity/register/natural",
        "POST /api/v1/identity/register/legal",
        "POST /api/v1/identity/login",
        "POST /api/v1/identity/login/mfa",
        "POST /api/v1/identity/logout",
        "POST /api/v1/identity/certificate/challenge",
        "POST /api/v1/identity/login/certificate",
        "POST /api/v1/identity/password/forgot",
        "POST /api/v1/identity/password/reset",
        "GET /api/v1/identity/login-options",
        "GET /identity/login",
        "POST /identity/login",
        "GET /identity/login/certificate",
        "POST /identity/login/certificate",
        "GET /identity/static/certlogin.js",
        "GET /identity/login/mfa",
        "POST /identity/login/mfa",
        "POST /identity/logout",
        "GET /identity/register",
        "POST /identity/register",
        "GET /identity/register/legal",
        "POST /identity/register/legal",
        "GET /identity/password/forgot",
        "POST /identity/password/forgot",
        "GET /identity/password/reset",
        "POST /identity/password/reset",
    ),
    "OIDC discovery and keys: published for every relying party": (
        "GET /.well-known/openid-configuration",
        "GET /.well-known/oauth-authorization-server",
        "GET /oidc/jwks",
    ),
    "OIDC front channel: the browser arrives without a session and is sent to log in": (
        "GET /oidc/authorize",
        "POST /oidc/authorize",
        "POST /oidc/authorize/decision",
        "GET /oidc/logout",
        "POST /oidc/logout",
        "GET /oidc/federation/login",
        "GET /oidc/federation/callback",
    ),
    "a lower node asks to join before it has credentials (rate-limited, bounded queue, approved by hand)": (
        "POST /exchange/v1/join",
        "GET /exchange/v1/join/{request_id}",
        "GET /exchange/v1/ca",
        "GET /exchange/v1/crl",
    ),
    "the portal's public pages: home, search, guides, the stylesheet, the 适老化 switch (a cookie), its "
    "read-aloud script and the forms' upload-progress script": (
        "GET /",
        "GET /search",
        "GET /items/{task_code}",
        "GET /portal/static/portal.css",
        "GET /portal/static/readaloud.js",
        "GET /portal/static/upload.js",
        "GET /care",
    ),
    "the portal as an installable web app: manifest, icons, service worker and its registration script, "
    "the offline page (static, the same for everyone, no data)": (
        "GET /manifest.webmanifest",
        "GET /sw.js",
        "GET /portal/static/pwa.js",
        "GET /portal/static/{name}.png",
        "GET /offline",
    ),
    "the mobile API's public part: the home page's content, the search, the guides and the notices, as "
    "the portal's pages": (
        "GET /api/v1/mobile/home",
        "GET /api/v1/mobile/search",
        "GET /api/v1/mobile/items/{task_code}",
        "GET /api/v1/mobile/notices",
        "GET /api/v1/mobile/notices/{notice_id}",
    ),
    "public license verification in the portal (rate-limited, minimal answer as the licenses API)": (
        "GET /licenses/verify",
        "POST /licenses/verify",
        "POST /licenses/verify/file",
    ),
    "case lookup in the portal by case number and query password (rate-limited, as the cases API)": (
        "GET /cases/lookup",
        "POST /cases/lookup",
    ),
    "the portal's notices (通知公告): published to be read by anyone": (
        "GET /notices",
        "GET /notices/{notice_id}",
        "GET /columns",
        "GET /portal/style/{origin}/logo",
    ),
    "the registered department apps (接入应用): their list, icons and the opening link, which itself sends "
    "a visitor without a session to the login page (it only reads and redirects)": (
        "GET /apps",
        "GET /apps/{app_id}/open",
        "GET /portal/apps/{app_id}/icon",
        "GET /api/v1/mobile/apps",
    ),
    "the national overview of lower nodes and topics: counts only, public by decision (operations.md)": (
        "GET /api/v1/exchange/overview",
        "GET /exchange/overview",
    ),
}

OWN_CREDENTIALS: dict[str, tuple[str, ...]] = {
    "OAuth client authentication (RFC 6749 §2.3) or a bearer token, checked by the endpoint": (
        "POST /oidc/token",
        "GET /oidc/userinfo",
        "POST /oidc/userinfo",
        "POST /oidc/introspect",
        "POST /oidc/revoke",
    ),
    "a one-time download address made for a department system: the unguessable ticket is the credential, "
    "valid once within minutes (licenses.services)": ("GET /api/v1/licenses/downloads/{ticket}",),
    "a one-time launch address made for the person's mobile app: the unguessable code is the credential, "
    "taken once within 60 seconds, bound to one registered app (portal.launch)": ("GET /apps/launch/{code}",),
    "a logout token signed by a trusted provider (OIDC Back-Channel Logout §2.6)": (
        "POST /oidc/federation/backchannel-logout",
    ),
    "an SM2-signed envelope of a joined node, checked against its certificate (exchange.receiving)": (
        "POST /exchange/v1/batches",
        "POST /exchange/v1/verify",
        "POST /exchange/v1/feed",
        "POST /exchange/v1/selftest",
        "POST /exchange/v1/feedback",
    ),
}

SESSION_PAGES: tuple[str, ...] = (
    "GET /identity/",
    "GET /identity/account",
    "POST /identity/real-name-verification",
    "POST /identity/acting-for",
    "GET /identity/step-up",
    "POST /identity/step-up",
    "GET /identity/step-up/certificate",
    "POST /identity/step-up/certificate",
    "GET /identity/mfa/setup",
    "POST /identity/mfa/setup",
    "GET /me/licenses",
    "GET /me/licenses/{license_id}",
    "GET /me/licenses/{license_id}/file",
    "GET /me/licenses/{license_id}/qr",
    "POST /me/licenses/{license_id}/shares",
    "POST /me/licenses/{license_id}/shares/{share_id}/revoke",
    "POST /me/licenses/{license_id}/copies",
    "GET /me/licenses/{license_id}/copies/{copy_id}/file",
    "GET /me/consents",
    "POST /me/consents/{consent_id}/withdraw",
    "GET /me/data-use",
    "GET /me/enterprises",
    "GET /me/enterprises/{entity_id}/agents/new",
    "POST /me/enterprises/{entity_id}/agents",
    "POST /me/enterprises/{entity_id}/agents/{authorization_id}/withdraw",
    "GET /items/{task_code}/apply",
    "POST /items/{task_code}/apply",
    "GET /me/cases",
    "GET /me/cases/{case_no}",
    "POST /me/cases/{case_no}/supplement",
    "POST /me/cases/{case_no}/withdraw",
    "POST /me/cases/{case_no}/evaluation",
    # 工作台 (portal.staffpages): the handler itself asks the staff-rights policy (guard(...).decide, the
    # rights of the cases API, second factor included) and renders its refusal as a page;
    # tests/portal/test_portal_staff.py holds the refusals (citizen, no second factor, other department).
    "GET /staff/cases",
    "GET /staff/cases/{case_no}",
    "GET /staff/joint-steps",
    "GET /staff/cases/{case_no}/materials/{material_id}",
    "POST /staff/cases/{case_no}/reveal",
    "POST /staff/cases/{case_no}/actions",
    # 下级上报的电子证照 (portal.receivedpages): the same policy call with ``exchange.operate`` (platform
    # reach, second factor); tests/portal/test_portal_received.py holds the refusals.
    "GET /staff/licenses/received",
    "GET /staff/licenses/received/{row_id}",
    "POST /staff/licenses/received/{row_id}/refuse",
    # 下发证照状态变更 (portal.receivedpages): the same policy call with ``licenses.push_status`` (platform
    # reach, second factor); tests/portal/test_portal_received.py holds the refusals.
    "GET /staff/licenses/status-push",
    "POST /staff/licenses/status-push",
)

GUARDED = {"staff", "machine", "staff-or-machine", "self", "person"}


def listed() -> dict[str, str]:
    """Every listed route and the list it is on."""
    result: dict[str, str] = {}
    for name, groups in (("public", PUBLIC), ("own-credentials", OWN_CREDENTIALS)):
        for entries in groups.values():
            result.update(dict.fromkeys(entries, name))
    result.update(dict.fromkeys(SESSION_PAGES, "session-page"))
    return result


def _app(tmp_path: Path) -> Any:
    from zhengwu.main import create_app

    return create_app(Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'routes.db'}"))


def test_every_route_is_listed_or_guarded(tmp_path: Path) -> None:
    app = _app(tmp_path)
    found = routes(app)
    assert len(found) > 100, "few routes found: the walk over FastAPI's routers no longer works"
    allowed = listed()
    unclassified = sorted(r for r, kind in found.items() if kind is None and r not in allowed)
    assert unclassified == [], (
        "routes neither guarded nor on a public list (tests/architecture/test_arch_routes.py)"
    )
    both = sorted(r for r, kind in found.items() if kind is not None and r in allowed)
    assert both == [], "guarded routes still on a public list: take them off"
    assert sorted(set(allowed) - set(found)) == [], "listed routes that no longer exist"
    # The staff surfaces named by the policy's ADR are guarded by the policy.
    for prefix in (
        "/api/v1/catalog/directory",
        "/api/v1/seals",
        "/api/v1/identity/clients",
        "/api/v1/identity/staff",
    ):
        assert any(kind == "staff" for r, kind in found.items() if r.split(" ", 1)[1].startswith(prefix)), (
            prefix
        )
    assert found["GET /api/v1/exchange/status"] == "staff-or-machine"
    assert found["GET /api/v1/exchange/progress"] == "staff-or-machine"
    assert found["GET /exchange/progress"] == found["GET /exchange/progress.xlsx"] == "staff"
    assert found["POST /api/v1/identity/counter-verifications"] == "staff"
    mine = [r for r in found if r.split(" ", 1)[1].startswith("/api/v1/mobile/me")]
    assert mine and all(found[r] == "person" for r in mine), "the mobile API's personal routes take a person"


def test_a_new_unguarded_route_would_fail(tmp_path: Path) -> None:
    app = _app(tmp_path)

    @app.get("/api/v1/licenses/admin/export")
    def export() -> dict[str, str]:  # a staff action someone forgot to guard
        return {}

    found = routes(app)
    assert found["GET /api/v1/licenses/admin/export"] is None
    assert "GET /api/v1/licenses/admin/export" not in listed()


def _url(route: str) -> tuple[str, str]:
    method, path = route.split(" ", 1)
    return method, re.sub(r"\{[^}]+\}", "0", path)


def test_anonymous_requests_meet_the_guards(client: Any) -> None:
    found = routes(client.app)
    for route, kind in sorted(found.items()):
        if kind not in GUARDED:
            continue
        method, url = _url(route)
        answer = client.request(method, url, json={})
        assert answer.status_code == 401, (
            f"{route} ({kind}) answered {answer.status_code} without credentials"
        )
    for route in SESSION_PAGES:
        method, url = _url(route)
        answer = client.request(method, url, data={}, follow_redirects=True)
        assert answer.url.path == "/identity/login", f"{route} did not send an anonymous visitor to log in"
