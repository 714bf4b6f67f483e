"""Clients and service items demand a real-name level and an authentication age (issue #3).

A client's ``default_max_age`` applies when the request names no ``max_age``; an ``item_code`` (实施编码
or 业务办理项编码) adds what the catalog's published item demands, and the stricter demand wins.
"""

from __future__ import annotations

import html
from datetime import timedelta
from typing import Any

import pytest
from oidc_helpers import (
    RP,
    Citizen,
    authorize,
    make_citizen,
    make_client,
    oidc_fixture,  # noqa: F401 - fixture
    pkce,
    query_of,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog_kit import make_basic, make_department, published_task
from zhengwu.catalog.models import TaskItem
from zhengwu.identity.levels import RealNameLevel
from zhengwu.identity.models import AuthEvent, UserSession
from zhengwu.identity.oidc.runtime import OidcRuntime
from zhengwu.kernel.clock import utcnow

pytestmark = pytest.mark.db


def _age(session: Session, person: Citizen, minutes: int) -> None:
    row = session.get(UserSession, person.session_id)
    assert row is not None
    row.auth_time = utcnow() - timedelta(minutes=minutes)
    session.flush()


def _issued(response: Any) -> bool:
    return response.status_code == 302 and "code" in query_of(response.headers["location"])


def _with_pkce(client: Any, made: Any, person: Citizen, **params: str) -> Any:
    _, challenge = pkce()
    return authorize(
        client, made, cookie=person.token, code_challenge=challenge, code_challenge_method="S256", **params
    )


@pytest.fixture
def item(session: Session) -> TaskItem:
    """A published item demanding level 4 and an authentication at most ten minutes old."""
    make_basic(session)
    dept = make_department(session, "130100", "石家庄市公安局", 1)
    return published_task(session, dept, auth_level=4, auth_max_age=600)


def test_client_default_max_age_applies_unless_the_request_names_one(
    client: Any, session: Session, oidc: OidcRuntime
) -> None:
    made = make_client(session, oidc, consent_required=False, default_max_age=900)
    person = make_citizen(session)
    assert _issued(_with_pkce(client, made, person))
    _age(session, person, 20)
    old = _with_pkce(client, made, person)
    assert old.status_code == 303 and old.headers["location"].startswith("/identity/step-up?next=")
    assert query_of(_with_pkce(client, made, person, prompt="none").headers["location"])["error"] == (
        "login_required"
    )
    # OIDC Registration §2: the request's max_age overrides the registered default.
    assert _issued(_with_pkce(client, made, person, max_age="3600"))


def test_an_item_above_the_account_level_explains_how_to_raise_it(
    client: Any, session: Session, oidc: OidcRuntime, item: TaskItem
) -> None:
    made = make_client(session, oidc, consent_required=False)
    person = make_citizen(session, level=RealNameLevel.REGISTRY_MATCHED)
    page = _with_pkce(client, made, person, item_code=item.task_code)
    assert page.status_code == 403 and "实名等级不足" in page.text
    assert f"办理「{item.task_name}」需要四级（实人认证/窗口核验）及以上" in page.text
    assert "您的账号目前为三级（实名核验）" in page.text
    back = html.unescape(page.text.split('class="button secondary" href="')[1].split('"')[0])
    assert back.startswith(RP) and query_of(back)["error"] == "unmet_authentication_requirements"
    assert query_of(back)["state"] == "st-1"
    silent = _with_pkce(client, made, person, item_code=item.task_code, prompt="none")
    assert query_of(silent.headers["location"])["error"] == "unmet_authentication_requirements"
    events = session.scalars(
        select(AuthEvent).where(
            AuthEvent.event_type == "oidc_acr_unmet", AuthEvent.account_id == person.account.id
        )
    ).all()
    assert [e.detail for e in events] == [{"item": item.task_code, "required": 4, "account_level": 3}] * 2
    assert all(not e.success for e in events)


def test_an_item_asks_for_step_up_and_a_fresh_login(
    client: Any, session: Session, oidc: OidcRuntime, item: TaskItem
) -> None:
    made = make_client(session, oidc, consent_required=False)
    # Account level 4 with a password-only session (level 3): the item needs a second factor.
    weak = make_citizen(session, level=RealNameLevel.REAL_PERSON)
    step = _with_pkce(client, made, weak, item_code=item.task_code)
    assert step.status_code == 303 and step.headers["location"].startswith("/identity/step-up?next=")
    assert query_of(step.headers["location"])["level"] == "4"
    # The step-up page says what reaches level 4 (no TOTP on this account: a UKey, or enable TOTP).
    hint = client.get(step.headers["location"])
    assert hint.status_code == 200 and "该应用或事项要求实名等级四级" in hint.text
    assert "/identity/step-up/certificate?next=" in hint.text
    assert _issued(_with_pkce(client, made, weak))  # the same session is enough without the item
    strong = make_citizen(session, level=RealNameLevel.REAL_PERSON, amr=["pwd", "otp", "mfa"])
    assert _issued(_with_pkce(client, made, strong, item_code=item.task_code))
    issued = session.scalars(
        select(AuthEvent).where(
            AuthEvent.event_type == "oidc_code_issued", AuthEvent.account_id == strong.account.id
        )
    ).all()
    assert [e.detail for e in issued] == [{"acr": 4, "item": item.task_code}]
    # Twenty minutes after login: fine for the client, too old for the item (at most ten minutes).
    _age(session, strong, 20)
    assert _issued(_with_pkce(client, made, strong))
    stale = _with_pkce(client, made, strong, item_code=item.task_code)
    assert stale.headers["location"].startswith("/identity/step-up?next=")
    # The request cannot relax the item's age: the stricter demand wins.
    stale = _with_pkce(client, made, strong, item_code=item.task_code, max_age="86400")
    assert stale.headers["location"].startswith("/identity/step-up?next=")
    # A business handling item (业务办理项编码) carries its implementation item's demand.
    handle = item.handle_items[0].task_handle_item
    assert (
        _with_pkce(client, made, strong, item_code=handle)
        .headers["location"]
        .startswith("/identity/step-up?")
    )


def test_unknown_items_and_repeated_parameters_are_refused(
    client: Any, session: Session, oidc: OidcRuntime, item: TaskItem
) -> None:
    made = make_client(session, oidc, consent_required=False)
    person = make_citizen(session)
    unknown = _with_pkce(client, made, person, item_code="1" * 31)
    assert unknown.status_code == 302
    assert query_of(unknown.headers["location"])["error"] == "invalid_request"
    assert "item_code" in query_of(unknown.headers["location"])["error_description"]
    query = {
        "response_type": "code",
        "client_id": made.client_id,
        "redirect_uri": RP,
        "scope": "openid",
        "state": "st-1",
    }
    client.cookies.set("zw_session", person.token)
    repeated = client.get(
        "/oidc/authorize",
        params=[*query.items(), ("item_code", item.task_code), ("item_code", "2" * 31)],
        follow_redirects=False,
    )
    assert repeated.status_code == 400 and "请求参数重复" in repeated.text
