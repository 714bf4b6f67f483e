"""我的证照 through the mobile API with the app's bearer token, as the pages give it: one license (facts and
the face by labels), its preview picture, its file, its 2-D code for 扫码亮证 and its usage log (用证记录);
and 我的数据使用记录 (who read or used the person's data), the same rows as the page's, paged. Every look
goes into the license's usage log as the page's does; another person's token finds nothing."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from sqlalchemy.orm import Session
from test_portal_mobile_privacy import _app_token
from test_portal_mobile_token import _bearer

from cases_kit import Casework, login
from identity_oidc.oidc_helpers import oidc_fixture  # noqa: F401 - fixture
from seals_kit import assert_envelope
from zhengwu.audit.reads import record_read
from zhengwu.identity.oidc.runtime import OidcRuntime
from zhengwu.licenses import service as licenses
from zhengwu.seed.synthetic import nth_citizen_id

pytestmark = pytest.mark.db
API = "/api/v1/mobile"


def _text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def _department_query(session: Session, casework: Casework, purpose: str) -> None:
    """A department system queries the person's license (in the usage log, named, with its reason)."""
    lic = licenses.holder_license(session, casework.citizen, casework.held_license_id)
    caller = licenses.Caller("client:x", purpose, None, display="石家庄市人社局·社保业务系统", item_code="1")
    licenses.record_usage(session, caller, "service_query", "ok", lic)
    session.flush()


def test_one_license_its_preview_file_code_and_usage_log(
    client: Any, session: Session, oidc: OidcRuntime, casework: Casework
) -> None:
    lic = casework.held_license_id
    _department_query(session, casework, "核对参保")
    token = _app_token(client, session, oidc, casework)
    me = _bearer(token)

    shown = client.get(f"{API}/me/licenses/{lic}", headers=me)
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert body["type_name"] == "社会保险参保证明" and body["valid"] and body["status_label"] == "有效"
    assert body["face"] and all(f["label"] and f["value"] for f in body["face"])
    # The page shows the same facts and the same face, by the same labels, in the same order.
    login(client, casework.citizen_token)
    page = _text(client.get(f"/me/licenses/{lic}").text)
    client.cookies.clear()
    assert " ".join(f"{f['label']} {f['value']}" for f in body["face"]) in page
    assert body["number"] in page and body["issuer_name"] in page

    picture = client.get(body["preview_url"], headers=me)
    assert picture.status_code == 200, picture.text
    assert picture.headers["content-type"] == "image/png" and picture.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert picture.headers["cache-control"] == "private, no-store"
    file = client.get(body["file_url"], headers=me)
    assert file.status_code == 200 and file.content[:2] == b"PK"
    assert file.headers["content-type"].startswith("application/ofd")
    code = client.get(body["code_url"], headers=me)
    assert code.status_code == 200, code.text
    assert code.json()["qr_png"].startswith("data:image/png;base64,") and "*" in code.json()["masked_name"]

    uses = client.get(f"{API}/me/licenses/{lic}/uses", headers=me, params={"limit": 3})
    assert uses.status_code == 200, uses.text
    # Looked at (the page and the API), previewed, downloaded, shown, and the department's query: 6 in all.
    assert uses.headers["x-total-count"] == "6" and len(uses.json()) == 3
    everything = client.get(f"{API}/me/licenses/{lic}/uses", headers=me).json()
    assert everything[:3] == uses.json()
    query = next(u for u in everything if u["who"] != "您本人")
    assert query["who"] == "石家庄市人社局·社保业务系统" and query["purpose"] == "核对参保"
    own = [u for u in everything if u["who"] == "您本人"]
    assert len(own) == 5 and all(u["purpose"] == "" and u["what"] and u["result"] for u in own)
    kept, _ = licenses.holder_license_usage(session, casework.citizen, lic, offset=0, limit=20)
    assert {"holder_view", "holder_download"} <= {u.operation for u in kept}

    # Another person's token (their session here) finds none of it, in the envelope.
    _, other = casework.person(nth_citizen_id(7431))
    login(client, other)
    for path in ("", "/preview", "/file", "/code", "/uses"):
        assert_envelope(client.get(f"{API}/me/licenses/{lic}{path}"), 404)
    client.cookies.clear()
    assert_envelope(client.get(f"{API}/me/licenses/{lic}/uses"), 401)


def test_a_license_not_in_force_has_no_code(
    client: Any, session: Session, oidc: OidcRuntime, casework: Casework
) -> None:
    lic = licenses.holder_license(session, casework.citizen, casework.held_license_id)
    lic.status = "revoked"
    session.flush()
    token = _app_token(client, session, oidc, casework)
    body = client.get(f"{API}/me/licenses/{lic.id}", headers=_bearer(token)).json()
    assert body["valid"] is False and body["code_url"] is None
    refused = client.get(f"{API}/me/licenses/{lic.id}/code", headers=_bearer(token))
    assert_envelope(refused, 409)
    assert "只有有效的证照可以出示二维码" in refused.json()["detail"]


def test_data_use_records_with_the_token_as_the_page_lists_them(
    client: Any, session: Session, oidc: OidcRuntime, casework: Casework
) -> None:
    person = casework.citizen
    record_read(session, person.id, "account:0123456789abcdef", "窗口核验", "account.real_name")
    _department_query(session, casework, "核对参保")
    for n in range(3):
        licenses.record_usage(
            session,
            licenses.Caller("public", f"门户公开核验{n}", None),
            "verify_id",
            "valid",
            licenses.holder_license(session, person, casework.held_license_id),
        )
    session.commit()  # read records are linked into their chain at commit
    token = _app_token(client, session, oidc, casework)
    listed = client.get(f"{API}/me/data-use", headers=_bearer(token))
    assert listed.status_code == 200, listed.text
    rows = listed.json()
    assert listed.headers["x-total-count"] == str(len(rows)) == "5"
    whos = {r["who"] for r in rows}
    assert {"政务服务工作人员", "石家庄市人社局·社保业务系统", "公众核验"} <= whos
    staff = next(r for r in rows if r["who"] == "政务服务工作人员")
    assert staff["what"] == "读取了您的姓名和身份证号码（实名核验）" and staff["why"] == "窗口核验"
    assert "您本人" not in whos, "the person's own looks stay on the license's log"
    assert [r["at"] for r in rows] == sorted((r["at"] for r in rows), reverse=True)
    # The page lists the same entries.
    login(client, casework.citizen_token)
    page = _text(client.get("/me/data-use").text)
    client.cookies.clear()
    for row in rows:
        assert row["what"] in page and row["why"] in page
    # Paged: the second page of two continues the first.
    first = client.get(f"{API}/me/data-use", headers=_bearer(token), params={"limit": 2}).json()
    second = client.get(f"{API}/me/data-use", headers=_bearer(token), params={"offset": 2, "limit": 2}).json()
    assert first + second == rows[:4]
    assert client.get(f"{API}/me/data-use", headers=_bearer(token), params={"offset": 5000}).json() == []
    assert_envelope(client.get(f"{API}/me/data-use", headers=_bearer(token), params={"limit": 0}), 422)
