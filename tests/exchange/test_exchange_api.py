"""Operator API (client credentials with exchange:admin), the national page, the CA/CRL and /_status."""

from __future__ import annotations

import pytest
from exchange_nodes import Node, http_transport, token

from zhengwu.exchange.relay import Relay
from zhengwu.kernel.events import emit

pytestmark = pytest.mark.db


def test_operator_api_feedback_and_resend(joined: tuple[Node, Node]) -> None:
    province, national = joined
    with province.uow() as session:
        emit(session, "e2e.up_pro_result", {"project_no": "P1", "result_type": "0",
             "result_date": "20241201103000", "is_delivery_results": "0"}, key="P1")  # fmt: skip
        emit(session, "e2e.up_pro_result", {"project_no": "P2", "result_date": "20241201103000",
             "is_delivery_results": "0"}, key="P2")  # fmt: skip
    Relay(province.runtime, http_transport(province, national)).run_once()
    assert province.client.get("/api/v1/exchange/status").status_code == 401
    narrow = token(province, scope="verify:person")
    assert (
        province.client.get(
            "/api/v1/exchange/status", headers={"Authorization": f"Bearer {narrow}"}
        ).status_code
        == 403
    )
    admin = {"Authorization": f"Bearer {token(province, scope='exchange:admin')}"}
    status = province.client.get("/api/v1/exchange/status", headers=admin).json()
    (topic,) = status["topics"]
    assert (topic["acknowledged"], topic["rejected"]) == (1, 1) and status["open_feedback"] == 1
    listed = province.client.get("/api/v1/exchange/feedback", headers=admin)
    assert listed.status_code == 200 and listed.headers["X-Total-Count"] == "1"
    (item,) = listed.json()
    assert item["business_key"] == "P2" and "result_type" in item["reason"]
    resent = province.client.post(f"/api/v1/exchange/feedback/{item['id']}/resend", headers=admin)
    assert resent.status_code == 200 and resent.json()["resent"] == 1
    assert province.client.get("/api/v1/exchange/feedback", headers=admin).json() == []
    missing = province.client.post(
        "/api/v1/exchange/feedback/0123456789abcdef0123456789abcdef/resend", headers=admin
    )
    assert missing.status_code == 404

    overview = national.client.get("/api/v1/exchange/overview").json()
    (hebei,) = overview["nodes"]
    assert hebei["node_id"] == "hebei" and hebei["status"] == "approved"
    # P2 broke the national send rule: the province's relay held it back, so only P1 ever arrived.
    assert (hebei["topics"][0]["received"], hebei["topics"][0]["rejected"]) == (1, 0)
    page = national.client.get("/exchange/overview")
    assert (
        page.status_code == 200
        and "河北省政务服务平台（测试）" in page.text
        and "e2e.up_pro_result" in page.text
    )


def test_ca_crl_and_status(joined: tuple[Node, Node]) -> None:
    province, national = joined
    ca = national.client.get("/exchange/v1/ca")
    assert ca.status_code == 200 and "BEGIN CERTIFICATE" in ca.text
    assert (
        ca.headers["X-Certificate-Fingerprint"] == national.runtime.credentials.ca().certificate.fingerprint
    )
    assert "X509 CRL" in national.client.get("/exchange/v1/crl").text
    probe = province.client.get("/_status").json()["dependencies"]["exchange"]
    assert probe["joined"] and probe["ok"] and probe["certificate_days_left"] > 300
    assert national.client.get("/exchange/v1/join/not-an-id").status_code == 404
