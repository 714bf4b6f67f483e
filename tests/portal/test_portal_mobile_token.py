"""The mobile API with a person's bearer token: the app (a public client with PKCE registered for the
``mobile`` scope) gets a token by the authorization-code flow and reads the person's cases and licenses;
a token of another client, a client-credentials token, a forged or a revoked token is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Annotated, Any

import pytest
from fastapi import Depends
from sqlalchemy import select
from sqlalchemy.orm import Session

from cases_kit import Casework, login
from identity_oidc.oidc_helpers import code_for, exchange_code, make_client, oidc_fixture  # noqa: F401
from seals_kit import assert_envelope
from zhengwu.identity.models import AuthEvent
from zhengwu.identity.oidc.bearer import Person, person
from zhengwu.identity.oidc.claims import grant_consent, withdraw_consent
from zhengwu.identity.oidc.errors import InvalidClientConfig
from zhengwu.identity.oidc.runtime import OidcRuntime
from zhengwu.identity.oidc.schemas import ClientCreate
from zhengwu.identity.oidc.service import create_client
from zhengwu.seed.synthetic import nth_citizen_id

pytestmark = pytest.mark.db
API = "/api/v1/mobile"


def _token(client: Any, made: Any, casework: Casework, scope: str) -> str:
    person = SimpleNamespace(token=casework.citizen_token)
    code, verifier = code_for(client, made, person, scope=scope)
    answer = exchange_code(client, made, code, verifier)
    assert answer.status_code == 200, answer.text
    client.cookies.clear()  # from here on only the token speaks for the person
    return str(answer.json()["access_token"])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def mobile_app(session: Session, oidc: OidcRuntime) -> Any:
    """The app: a public client with PKCE for the ``mobile`` scope, asking no consent."""
    return make_client(session, oidc, kind="public", token_endpoint_auth_method="none", consent_required=False,
                       scope="openid mobile")  # fmt: skip


def test_the_app_reads_the_persons_cases_with_its_token(
    client: Any, mobile_app: Any, casework: Casework
) -> None:
    login(client, casework.citizen_token)
    made = client.post("/api/v1/cases", json=casework.body())
    assert made.status_code == 201, made.text
    token = _token(client, mobile_app, casework, "openid mobile")
    mine = client.get(f"{API}/me/cases", headers=_bearer(token))
    assert mine.status_code == 200, mine.text
    assert [c["case_no"] for c in mine.json()] == [made.json()["case_no"]]
    held = client.get(f"{API}/me/licenses", headers=_bearer(token))
    assert held.status_code == 200 and held.json()[0]["id"] == casework.held_license_id
    # The app revokes its token (logout in the app): the next call is refused.
    revoked = client.post("/oidc/revoke", data={"token": token, "client_id": mobile_app.client_id})
    assert revoked.status_code == 200, revoked.text
    assert_envelope(client.get(f"{API}/me/cases", headers=_bearer(token)), 401)


def test_tokens_not_for_the_mobile_api_are_refused(
    client: Any, session: Session, oidc: OidcRuntime, casework: Casework
) -> None:
    # A department's app logs the same person in: its token cannot read their cases.
    department = make_client(session, oidc, consent_required=False, scope="openid profile")
    other = _token(client, department, casework, "openid")
    assert_envelope(client.get(f"{API}/me/cases", headers=_bearer(other)), 403)
    # The mobile app's client, asked without the scope, gets a token without it.
    app = make_client(session, oidc, kind="public", token_endpoint_auth_method="none", scope="openid mobile")
    narrow = _token(client, app, casework, "openid")
    assert_envelope(client.get(f"{API}/me/licenses", headers=_bearer(narrow)), 403)
    # A client-credentials token speaks for no person.
    machine = make_client(session, oidc, grant_types=["client_credentials"], scope="api")
    issued = client.post(
        "/oidc/token", data={"grant_type": "client_credentials"}, auth=(machine.client_id, machine.secret)
    )
    assert issued.status_code == 200, issued.text
    assert_envelope(client.get(f"{API}/me/cases", headers=_bearer(issued.json()["access_token"])), 401)
    assert_envelope(client.get(f"{API}/me/cases", headers=_bearer("not-a-token")), 401)
    assert_envelope(client.get(f"{API}/me/cases", headers={"Authorization": "Basic eDp5"}), 401)


def test_only_login_clients_hold_the_mobile_scope(session: Session, oidc: OidcRuntime) -> None:
    data = ClientCreate(name="机器", grant_types=["client_credentials"], scope="mobile")
    with pytest.raises(InvalidClientConfig):
        create_client(session, oidc.node_keys, data, actor=None, allow_http=True)


def test_one_case_with_its_timeline_and_a_guide(client: Any, mobile_app: Any, casework: Casework) -> None:
    login(client, casework.citizen_token)
    made = client.post("/api/v1/cases", json=casework.body())
    case_no = made.json()["case_no"]
    token = _token(client, mobile_app, casework, "openid mobile")
    one = client.get(f"{API}/me/cases/{case_no}", headers=_bearer(token))
    assert one.status_code == 200, one.text
    body = one.json()
    assert body["case_no"] == case_no and body["status_label"] == "已申报，待受理"
    assert body["timeline"] and body["timeline"][-1]["status"] == body["status"]
    assert body["supplement_opinion"] is None
    # Another person's case and a case that does not exist answer the same.
    _, other_token = casework.person(nth_citizen_id(6262))
    login(client, other_token)
    assert_envelope(client.get(f"{API}/me/cases/{case_no}"), 404)
    assert_envelope(client.get(f"{API}/me/cases/NOSUCHCASE"), 404)
    client.cookies.clear()
    guide = client.get(f"{API}/items/{casework.task_code}")
    assert guide.status_code == 200, guide.text
    assert guide.json()["task_code"] == casework.task_code and guide.json()["materials"]
    assert_envelope(client.get(f"{API}/items/not-a-code"), 404)


def test_a_route_asking_a_level_refuses_a_weaker_token(
    app: Any, client: Any, mobile_app: Any, casework: Casework
) -> None:
    @app.get("/test-only/strong")
    def strong(who: Annotated[Person, Depends(person(level=4))]) -> dict[str, str]:
        return {"id": who.account.id}

    token = _token(client, mobile_app, casework, "openid mobile")
    assert client.get(f"{API}/me/cases", headers=_bearer(token)).status_code == 200
    # The citizen's account is below level 4 (no certificate): a level-4 route refuses it.
    refused = client.get("/test-only/strong", headers=_bearer(token))
    assert_envelope(refused, 403)
    assert refused.json()["code"] == "identity.insufficient_level"


def test_a_withdrawn_consent_refuses_the_token_and_is_audited(
    client: Any, session: Session, oidc: OidcRuntime, casework: Casework
) -> None:
    app = make_client(
        session, oidc, kind="public", token_endpoint_auth_method="none", scope="openid profile mobile"
    )
    registered = oidc.clients.get(session, app.client_id)
    assert registered is not None and registered.consent_required
    # Consented beforehand (as on the consent page): the authorization does not ask again.
    consent = grant_consent(session, casework.citizen.id, registered, "openid profile mobile")
    session.flush()
    token = _token(client, app, casework, "openid profile mobile")
    assert client.get(f"{API}/me/cases", headers=_bearer(token)).status_code == 200
    withdraw_consent(session, casework.citizen.id, consent.id, reason="不再使用")
    session.flush()
    assert_envelope(client.get(f"{API}/me/cases", headers=_bearer(token)), 401)
    refused = session.scalars(
        select(AuthEvent).where(
            AuthEvent.event_type == "oidc_consent_refused", AuthEvent.client_id == app.client_id
        )
    ).all()
    assert len(refused) == 1 and refused[0].success is False


def test_the_whole_journey_through_the_app_with_its_token(
    client: Any, mobile_app: Any, casework: Casework
) -> None:
    token = _token(client, mobile_app, casework, "openid mobile")
    me = _bearer(token)
    # The form of the apply page: the held license is offered for its material.
    form = client.get(f"{API}/items/{casework.task_code}/form", headers=me)
    assert form.status_code == 200, form.text
    offered = {m["material_id"]: m["held_licenses"] for m in form.json()["materials"]}
    assert casework.held_license_id in {h["id"] for h in offered[casework.license_material]}
    # An upload, checked against its bytes.
    assert_envelope(client.post(f"{API}/me/uploads", content=b"MZ not a pdf", headers={**me, "Content-Type": "application/pdf"}), 422)  # fmt: skip
    stored = client.post(f"{API}/me/uploads", content=b"%PDF-1.7 form", headers={**me, "Content-Type": "application/pdf"})  # fmt: skip
    assert stored.status_code == 201, stored.text
    body = casework.body()
    body["materials"][1]["file_sm3"] = stored.json()["file_sm3"]
    made = client.post(f"{API}/me/cases", json=body, headers={**me, "Idempotency-Key": "app-apply-1"})
    assert made.status_code == 201, made.text
    case_no = made.json()["case_no"]
    again = client.post(f"{API}/me/cases", json=body, headers={**me, "Idempotency-Key": "app-apply-1"})
    assert again.json()["case_no"] == case_no and again.headers["idempotent-replayed"] == "true"
    assert made.headers["Location"] == f"{API}/me/cases/{case_no}"

    # The department asks for a supplement; the app answers it.
    login(client, casework.handler_token)
    for action in ({"action": "accept", "opinion": "受理"},
                   {"action": "request_supplement", "opinion": "申请表签名不清晰", "materials": [casework.upload_material]}):  # fmt: skip
        assert client.post(f"/api/v1/cases/{case_no}/actions", json=action).status_code == 200
    client.cookies.clear()
    asked = client.get(f"{API}/me/cases/{case_no}", headers=me).json()
    assert asked["supplement_opinion"] == "申请表签名不清晰"
    again_file = client.post(f"{API}/me/uploads", content=b"%PDF-1.7 signed", headers={**me, "Content-Type": "application/pdf"}).json()  # fmt: skip
    answered = client.post(f"{API}/me/cases/{case_no}/supplement", headers=me,
                           json={"materials": [{"material_id": casework.upload_material, "file_sm3": again_file["file_sm3"]}]})  # fmt: skip
    assert answered.status_code == 200, answered.text
    assert answered.json()["status"] == "accepted" and answered.json()["supplement_opinion"] is None

    # Concluded: the app evaluates once.
    login(client, casework.handler_token)
    done = client.post(f"/api/v1/cases/{case_no}/actions", json={"action": "conclude", "outcome": "refused", "opinion": "不符合条件"})  # fmt: skip
    assert done.status_code == 200, done.text
    client.cookies.clear()
    rated = client.post(
        f"{API}/me/cases/{case_no}/evaluation", headers=me, json={"channel": "2", "satisfaction": 4}
    )
    assert rated.status_code == 201, rated.text
    assert_envelope(client.post(f"{API}/me/cases/{case_no}/evaluation", headers=me, json={"channel": "2", "satisfaction": 1}), 409)  # fmt: skip

    # A second application, withdrawn from the app.
    second = client.post(f"{API}/me/cases", json=casework.body(), headers=me).json()["case_no"]
    gone = client.post(f"{API}/me/cases/{second}/withdraw", headers=me, json={"reason": "不需要了"})
    assert gone.status_code == 200 and gone.json()["status"] == "withdrawn"

    # The license shared by link, used, revoked: the next use is refused.
    SOON = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    lic = casework.held_license_id
    shared = client.post(f"{API}/me/licenses/{lic}/shares", headers=me, json={
        "audience_kind": "anyone", "purpose": "租房", "expires_at": SOON})  # fmt: skip
    assert shared.status_code == 201, shared.text
    share = shared.json()
    assert share["token"] and share["qr_png"].startswith("data:image/png;base64,")
    assert client.post("/api/v1/licenses/shares/redeem", json={"token": share["token"]}).status_code == 200
    listed = client.get(f"{API}/me/licenses/{lic}/shares", headers=me).json()
    assert [s["id"] for s in listed] == [share["id"]] and "token" not in listed[0]
    revoked = client.post(f"{API}/me/licenses/{lic}/shares/{share['id']}/revoke", headers=me)
    assert revoked.status_code == 200, revoked.text
    assert_envelope(client.post("/api/v1/licenses/shares/redeem", json={"token": share["token"]}), 410)
    # Not the person's: the same 404 as a license that does not exist.
    assert_envelope(client.post(f"{API}/me/licenses/NOSUCH/shares", headers=me, json={
        "audience_kind": "anyone", "purpose": "租房", "expires_at": SOON}), 404)  # fmt: skip
