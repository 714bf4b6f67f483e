"""扫码亮证: the holder's page of a license's 2-D code — the signed offline payload a verifier checks without
the node, a masked name and no holder code; the holder only (another person 404, no session: login);
a license no longer valid is not shown this way; the view goes into the usage log."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy.orm import Session

from cases_kit import Casework, login
from zhengwu.kernel.clock import utcnow
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
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
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
