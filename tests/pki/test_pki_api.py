"""Public PKI endpoints: CRLs and CA certificates of the node, and the ``pki`` entry of ``/_status``."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from clockkit import FakeClock
from seals_kit import Node, assert_envelope


def test_pki_publication_endpoints(client: Any, node: Node) -> None:
    from zhengwu.kernel.pki import load_certificate, load_crl

    crl = client.get("/pki/crl/issuing.crl")
    assert crl.status_code == 200 and crl.headers["content-type"] == "application/pkix-crl"
    parsed = load_crl(crl.content)
    root = load_certificate(client.get("/pki/ca/root.crt").content)
    issuing = load_certificate(client.get("/pki/ca/issuing.crt").content)
    assert parsed.issuer == issuing.subject and parsed.next_update is not None
    assert issuing.issuer == root.subject and root.is_self_issued
    assert load_crl(client.get("/pki/crl/root.crl").content).issuer == root.subject
    assert_envelope(client.get("/pki/crl/other.crl"), 404)
    assert_envelope(client.get("/pki/ca/other.crt"), 404)
    # The exchange CA appears once the exchange first uses it (tests/exchange/test_exchange_pki.py).
    assert_envelope(client.get("/pki/crl/exchange.crl"), 404, "pki.certificate_not_found")
    assert_envelope(client.get("/pki/ca/exchange.crt"), 404)


def test_status_answers_503_before_pki_init(client: Any, session: Session) -> None:
    assert_envelope(client.get("/pki/crl/root.crl"), 503, "pki.not_initialized")


def test_status_page_reports_certificate_expiry_and_crl_freshness(
    client: Any, node: Node, clock: FakeClock
) -> None:
    pki = client.get("/_status").json()["dependencies"]["pki"]
    assert pki["ok"] and pki["initialized"] and pki["crls"]["issuing-ca"]["current"]
    assert pki["certificate_days_left"]["root-ca"] > 3650 and pki["certificate_days_left"]["tsa"] > 300
    clock.advance(days=8)  # past nextUpdate, nobody fetched or used a CRL since
    assert client.get("/_status").json()["dependencies"]["pki"]["ok"] is False


def test_status_page_before_pki_init(client: Any, session: Session) -> None:
    pki = client.get("/_status").json()["dependencies"]["pki"]
    assert pki["ok"] is False and pki["initialized"] is False
