"""The node time-stamping authority: RFC 3161 over HTTP, SM2-signed tokens, refusals as replies."""

from __future__ import annotations

from typing import Any

import pytest
from asn1crypto import core, tsp

from clockkit import FakeClock
from seals_kit import Node
from zhengwu.kernel.crypto import sm3
from zhengwu.kernel.pki import (
    EKU_TIME_STAMPING,
    CertProfile,
    PkiError,
    TimestampStatus,
    build_timestamp_request,
    load_timestamp_request,
    load_timestamp_response,
    verify_timestamp_token,
)
from zhengwu.pki import authority, tsa, tstoken

QUERY = {"Content-Type": "application/timestamp-query"}


def test_http_tsa_grants_sm2_tokens_that_verify(client: Any, node: Node, clock: FakeClock) -> None:
    request = build_timestamp_request(b"signature value", nonce=123456789)
    response = client.post("/tsa", content=request.der, headers=QUERY)
    assert response.status_code == 200 and response.headers["content-type"] == "application/timestamp-reply"
    token = load_timestamp_response(response.content)
    root = authority.authority(node.session, node.settings, CertProfile.ROOT_CA).certificate
    crls = [authority.current_crl(node.session, node.settings, "issuing").der]
    result = verify_timestamp_token(token, trust=[root], crls=crls, data=b"signature value", nonce=123456789)
    assert result.status is TimestampStatus.OK, result.reason
    assert result.gen_time == clock.now and result.policy == tsa.TSA_POLICY
    assert result.tsa_certificate is not None
    assert result.tsa_certificate.extended_key_usage == frozenset({EKU_TIME_STAMPING})
    assert result.tsa_certificate.extended_key_usage_critical
    # The token is for that data only, and only under the node's root.
    assert (
        verify_timestamp_token(token, trust=[root], crls=crls, data=b"other").status
        is TimestampStatus.IMPRINT_MISMATCH
    )
    assert (
        verify_timestamp_token(token, trust=[], data=b"signature value").status
        is TimestampStatus.CHAIN_INVALID
    )


def _status(reply: bytes) -> tuple[str, set[str] | None]:
    # asn1crypto's TimeStampResp insists on a token, which RFC 3161 makes optional: read the status alone.
    status = tsp.PKIStatusInfo.load(core.Sequence.load(reply)[0].dump())
    fail = status["fail_info"].native
    return status["status"].native, set(fail) if fail else None


def test_bad_queries_are_refused_with_a_reply(client: Any, node: Node) -> None:
    garbage = client.post("/tsa", content=b"\x30\x03\x02\x01\x01", headers=QUERY)
    assert garbage.status_code == 200 and _status(garbage.content)[0] == "rejection"
    sha256 = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": b"\x01" * 32},
        }
    ).dump()
    refused = client.post("/tsa", content=sha256, headers=QUERY)
    assert _status(refused.content) == ("rejection", {"bad_alg"})
    policy = build_timestamp_request(b"x", policy="1.2.3.4")
    assert _status(client.post("/tsa", content=policy.der, headers=QUERY).content) == (
        "rejection",
        {"unaccepted_policy"},
    )
    try:
        load_timestamp_response(refused.content)
    except PkiError as exc:
        assert "refused" in str(exc)
    else:  # pragma: no cover - the assertion above must raise
        raise AssertionError("a refusal must not yield a token")
    wrong_type = client.post("/tsa", content=b"x", headers={"Content-Type": "application/json"})
    assert wrong_type.status_code == 400 and wrong_type.json()["code"] == "pki.timestamp_query_rejected"
    huge = client.post("/tsa", content=b"\x30" * (tsa.MAX_QUERY_BYTES + 1), headers=QUERY)
    assert huge.status_code == 413


def test_tsa_before_pki_init_answers_system_failure(client: Any, session: Any) -> None:
    response = client.post("/tsa", content=build_timestamp_request(b"x").der, headers=QUERY)
    assert response.status_code == 503
    assert _status(response.content) == ("rejection", {"system_failure"})


def test_in_process_tokens_cover_the_signature_value(node: Node, clock: FakeClock) -> None:
    token = tsa.timestamp_token(node.session, node.settings, b"\x30\x44value")
    root = authority.authority(node.session, node.settings, CertProfile.ROOT_CA).certificate
    crls = [authority.current_crl(node.session, node.settings, "issuing").der]
    result = verify_timestamp_token(token, trust=[root], crls=crls, imprint=sm3(b"\x30\x44value"))
    assert result.ok and result.gen_time == clock.now
    assert result.nonce is not None  # a fresh nonce in every in-process request, as over HTTP


def test_in_process_request_is_the_kernel_request_byte_for_byte() -> None:
    imprint = sm3(b"signature value")
    for nonce in (0, 1, 127, 128, 255, 256, 2**63, 2**64 - 1):
        for cert_req in (True, False):
            direct = tstoken.request_for(imprint, nonce=nonce, cert_req=cert_req)
            built = build_timestamp_request(imprint=imprint, nonce=nonce, cert_req=cert_req)
            assert direct == built
            assert load_timestamp_request(direct.der) == direct
    with pytest.raises(PkiError):
        tstoken.request_for(b"short", nonce=1)
