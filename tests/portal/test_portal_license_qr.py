"""扫码亮证: the holder's page of a license's 2-D code — the signed offline payload a verifier checks without
the node, a masked name and no holder code; the holder only (another person 404, no session: login);
a license no longer valid is not shown this way; the view goes into the usage log."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cases_kit import Casework, login
from clockkit import FakeClock
from zhengwu.identity import service as identity
from zhengwu.identity.models import UserSession
from zhengwu.kernel.clock import BEIJING, utcnow
from zhengwu.kernel.node import node_of
from zhengwu.licenses import offline
from zhengwu.licenses import service as licenses
from zhengwu.licenses.models import License
from zhengwu.seed.synthetic import nth_citizen_id

pytestmark = pytest.mark.db


def test_the_holder_shows_the_code_a_verifier_checks_offline(
    client: Any, session: Session, casework: Casework
) -> None:
    url = f"/me/licenses/{casework.held_license_id}/qr"
    login(client, None)
    anonymous = client.get(url, follow_redirects=False)
    assert anonymous.status_code == 303 and "/identity/login" in anonymous.headers["location"]
    login(client, casework.citizen_token)
    page = client.get(url)
    assert page.status_code == 200 and page.headers["cache-control"] == "private, no-store"
    main = page.text.split('<main id="main"', 1)[1]
    lic = session.get(License, casework.held_license_id)
    assert lic is not None
    assert "亮证：社会保险参保证明" in main and offline.mask_name(lic.holder_name) in main
    assert lic.holder_name not in main, "the page shows the masked name only"
    assert re.search(r'src="data:image/png;base64,[A-Za-z0-9+/=]{200,}"', main)
    assert "北京时间" in main
    # What the code holds: the verification address with a payload that checks against the node's
    # license certificate alone (no database, no network).
    content = licenses.showing_code(session, node_of(client.app).settings, lic, at=utcnow())
    assert content.startswith(node_of(client.app).settings.public_url.rstrip("/") + "/licenses/verify#")
    checked = offline.check_token(
        content, licenses.offline_certificate(session, node_of(client.app).settings)
    )
    assert (
        checked.valid and checked.claims["id"] == lic.identifier and "holder_code" not in str(checked.claims)
    )
    uses, _ = licenses.holder_license_usage(session, casework.citizen, lic.id, offset=0, limit=10)
    assert any(u.purpose == "持证人亮证" for u in uses)
    # The license page links it.
    assert url in client.get(f"/me/licenses/{casework.held_license_id}").text

    # Another person: not found, as for the license page.
    _, other = casework.person(nth_citizen_id(7310))
    login(client, other)
    assert client.get(url).status_code == 404

    # A suspended license is not shown as a code.
    licenses.change_status(session, lic.id, "suspend", reason="核查", actor="test")
    session.flush()
    login(client, casework.citizen_token)
    refused = client.get(url)
    assert refused.status_code == 409 and "不能亮证" in refused.text and "data:image/png" not in refused.text
    assert url not in client.get(f"/me/licenses/{casework.held_license_id}").text


def test_the_offline_copy_is_bound_to_the_session(
    client: Any, session: Session, casework: Casework, clock: FakeClock
) -> None:
    """The page tells the service worker how long it may keep it: until the session would end unused (its
    idle limit from now, 30 minutes by default) or its absolute end, whichever comes first; no HTTP cache
    keeps it at all, and the page says until when it is kept (北京时间)."""
    url = f"/me/licenses/{casework.held_license_id}/qr"
    login(client, casework.citizen_token)
    clock.advance(minutes=10)  # the session was used 10 minutes ago: this use moves its idle end
    page = client.get(url)
    assert page.status_code == 200 and page.headers["cache-control"] == "private, no-store"
    assert page.headers["x-offline-max-age"] == str(30 * 60)
    until = (clock.now + timedelta(minutes=30)).astimezone(BEIJING)
    assert f"{until.month}月{until.day}日 {until:%H:%M}" in page.text.split('id="kept-until"', 1)[1][:80]

    # Near its absolute end (12 hours by default) the session has less than its idle limit left.
    held = session.scalars(select(UserSession).where(UserSession.account_id == casework.citizen.id,
                                                     UserSession.ended_at.is_(None))).all()  # fmt: skip
    for row in held:
        row.created_at = clock.now - timedelta(hours=11, minutes=50)
    session.commit()
    assert client.get(url).headers["x-offline-max-age"] == str(10 * 60)
    # Once it has ended the page is not given (the worker then drops its copy): the login page instead.
    clock.advance(minutes=11)
    assert client.get(url, follow_redirects=False).status_code == 303


def test_every_page_says_whether_the_session_goes_on(
    client: Any, session: Session, casework: Casework, clock: FakeClock
) -> None:
    """Not only the code page: every portal page shown in a session tells the worker the session's time
    left and which session it is (a digest, not the session's identifier), so the kept codes are renewed
    while the holder uses the portal online; a page shown without a session says 0 (drop them), and
    another session — even the same person's — carries another mark (it does not renew the old copies)."""
    code = client.get(f"/me/licenses/{casework.held_license_id}/qr", follow_redirects=False)
    assert code.status_code == 303 and "x-offline-session" not in code.headers
    login(client, casework.citizen_token)
    mark = client.get(f"/me/licenses/{casework.held_license_id}/qr").headers["x-offline-session"]
    assert re.fullmatch(r"[0-9a-f]{32}", mark)
    held = session.scalars(select(UserSession).where(UserSession.account_id == casework.citizen.id,
                                                     UserSession.ended_at.is_(None))).all()  # fmt: skip
    assert all(row.id not in mark and row.token_hash not in mark for row in held)
    clock.advance(minutes=20)
    for path in ("/", "/me/cases", "/me/licenses", "/notices", f"/items/{casework.task_code}"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert page.headers["x-offline-max-age"] == str(30 * 60), path
        assert page.headers["x-offline-session"] == mark, path
        assert "no-store" in page.headers["cache-control"], path

    # The same person in another browser: another session, another mark.
    other = str(identity.start_session(session, casework.citizen, amr=["pwd"]).token)
    session.commit()
    login(client, other)
    assert client.get("/me/licenses").headers["x-offline-session"] not in ("", mark)

    # Without a session (never had one, or it has ended): 0, and no mark — on the kept public pages too.
    login(client, None)
    for _ in range(2):  # the second answer comes from the kept bytes (kernel.pagecache)
        home = client.get("/")
        assert home.headers["x-offline-max-age"] == "0" and "x-offline-session" not in home.headers
    login(client, casework.citizen_token)
    clock.advance(minutes=31)
    ended = client.get("/")
    assert ended.status_code == 200 and ended.headers["x-offline-max-age"] == "0"
    assert "x-offline-session" not in ended.headers
