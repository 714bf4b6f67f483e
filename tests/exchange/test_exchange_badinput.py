"""Bad input on the receiving side: forged or corrupted signatures, unknown senders, expired or revoked
certificates, replays, malformed rows, oversized batches — refused with reasons, logged, nothing applied."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from exchange_nodes import Node
from sqlalchemy import func, select, update

from zhengwu.exchange import join
from zhengwu.exchange.credentials import NodeCredential
from zhengwu.exchange.models import ExchangeAggregate, ExchangeInbox, ExchangeLog, ExchangeNode
from zhengwu.exchange.signing import seal
from zhengwu.exchange.transports import OutboundBatch, OutboundRecord
from zhengwu.exchange.transports.http import batch_document
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.crypto import SM2PrivateKey
from zhengwu.kernel.db import new_id
from zhengwu.kernel.pki import EKU_CLIENT_AUTH, CertProfile, create_root_ca, issue_certificate

pytestmark = pytest.mark.db


def row(i: int, **over: Any) -> dict[str, Any]:
    values = {"project_no": f"P{i:06d}", "result_type": "0", "result_date": "20241201103000",
              "is_delivery_results": "0", "row_guid": new_id(), "cd_batch": "b" * 32, "cd_operation": "I",
              "cd_time": "20241201103000", "data_source": "111"}  # fmt: skip
    values.update(over)
    return values


def document(
    province: Node, rows: list[dict[str, Any]], batch_id: str | None = None, ids: list[str] | None = None
) -> dict[str, Any]:
    ids = ids or [new_id() for _ in rows]
    records = tuple(OutboundRecord(i + 1, ids[i], None, None, r) for i, r in enumerate(rows))
    batch = OutboundBatch(batch_id or new_id(), "tests.up_pro_result", "up_pro_result", records, None)
    return batch_document(province.settings, batch)


def post(national: Node, envelope: Any) -> Any:
    body = envelope if isinstance(envelope, bytes) else json.dumps(envelope, ensure_ascii=False).encode()
    return national.client.post(
        "/exchange/v1/batches", content=body, headers={"Content-Type": "application/json"}
    )


def uplink(province: Node) -> NodeCredential:
    cred = province.runtime.credentials.uplink()
    assert cred is not None
    return cred


def nothing_applied(national: Node) -> None:
    with national.uow() as session:
        assert session.scalar(select(func.count()).select_from(ExchangeInbox)) == 0
        assert session.scalar(select(func.count()).select_from(ExchangeAggregate)) == 0


def refusals(national: Node) -> list[str]:
    with national.uow() as session:
        return [
            e.detail.get("code")
            for e in session.scalars(select(ExchangeLog).where(ExchangeLog.kind == "document.refused"))
        ]


def test_valid_batch_is_accepted(joined: tuple[Node, Node]) -> None:
    province, national = joined
    answer = post(national, seal(document(province, [row(1), row(2)]), uplink(province)))
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["document"]["accepted"]) == 2


def test_forged_signature(joined: tuple[Node, Node]) -> None:
    province, national = joined
    envelope = seal(document(province, [row(1)]), uplink(province))
    other = SM2PrivateKey.generate()
    from zhengwu.exchange.canonical import b64encode, canonical_bytes

    envelope["signature"]["value"] = b64encode(other.sign(canonical_bytes(envelope["document"])))
    answer = post(national, envelope)
    assert answer.status_code == 401 and answer.json()["code"] == "exchange.signature_invalid"
    nothing_applied(national)
    assert refusals(national) == ["exchange.signature_invalid"]


def test_corrupted_document(joined: tuple[Node, Node]) -> None:
    province, national = joined
    envelope = seal(document(province, [row(1)]), uplink(province))
    envelope["document"]["records"][0]["row"]["result_type"] = "9"  # changed after signing
    answer = post(national, envelope)
    assert answer.status_code == 401 and "摘要" in answer.json()["detail"]
    nothing_applied(national)


def test_unknown_sender_with_foreign_ca(joined: tuple[Node, Node]) -> None:
    province, national = joined
    now = utcnow()
    rogue_key = SM2PrivateKey.generate()
    rogue_ca = create_root_ca(subject={"CN": "rogue CA"}, signer=rogue_key, not_before=now - timedelta(hours=1),
                              not_after=now + timedelta(days=30))  # fmt: skip
    key = SM2PrivateKey.generate()
    cert = issue_certificate(issuer=rogue_ca, issuer_signer=rogue_key, subject={"CN": "hebei"},
                             public_key=key.public_key, profile=CertProfile.NODE_EXCHANGE,
                             not_before=now - timedelta(hours=1), not_after=now + timedelta(days=1),
                             extended_key_usage=[EKU_CLIENT_AUTH])  # fmt: skip
    envelope = seal(document(province, [row(1)]), NodeCredential("uplink", key, cert, (rogue_ca,)))
    answer = post(national, envelope)
    assert answer.status_code == 403 and answer.json()["code"] == "exchange.unknown_sender"
    nothing_applied(national)


def test_sender_name_must_match_certificate(joined: tuple[Node, Node]) -> None:
    province, national = joined
    doc = document(province, [row(1)])
    doc["sender"] = "shanxi"
    answer = post(national, seal(doc, uplink(province)))
    assert answer.status_code == 403 and answer.json()["code"] == "exchange.unknown_sender"
    nothing_applied(national)


def test_expired_certificate(joined: tuple[Node, Node]) -> None:
    province, national = joined
    ca = national.runtime.credentials.ca()
    now = utcnow()
    key = SM2PrivateKey.generate()
    cert = issue_certificate(issuer=ca.certificate, issuer_signer=ca.key, subject={"CN": "hebei"},
                             public_key=key.public_key, profile=CertProfile.NODE_EXCHANGE,
                             not_before=ca.certificate.not_before,
                             not_after=ca.certificate.not_before + timedelta(minutes=1),
                             extended_key_usage=[EKU_CLIENT_AUTH])  # fmt: skip
    assert cert.not_after < now
    with national.uow() as session:
        session.add(ExchangeNode(node_id="hebei", node_name="x", division_code="130000", tier="province",
                                 status="approved", csr_pem="-", key_fingerprint=key.public_key.fingerprint,
                                 certificate_pem=cert.to_pem().decode(), serial=f"{cert.serial_number:x}",
                                 fingerprint=cert.fingerprint, not_after=cert.not_after))  # fmt: skip
    envelope = seal(document(province, [row(1)]), NodeCredential("uplink", key, cert, (ca.certificate,)))
    answer = post(national, envelope)
    assert answer.status_code == 403 and answer.json()["code"] == "exchange.certificate_rejected"
    assert "过期" in answer.json()["detail"] or "expired" in answer.json().get("detail_en", "")
    nothing_applied(national)


def test_revoked_certificate(joined: tuple[Node, Node]) -> None:
    province, national = joined
    with national.uow() as session:
        join.revoke(session, national.runtime, "hebei", reason="key_compromise")
    answer = post(national, seal(document(province, [row(1)]), uplink(province)))
    assert answer.status_code == 403 and answer.json()["code"] == "exchange.certificate_rejected"
    nothing_applied(national)
    crl = national.client.get("/exchange/v1/crl")
    assert crl.status_code == 200 and "X509 CRL" in crl.text


def test_replayed_and_stale_batches(joined: tuple[Node, Node]) -> None:
    province, national = joined
    envelope = seal(document(province, [row(1)]), uplink(province))
    assert post(national, envelope).status_code == 200
    again = post(national, envelope)  # byte-identical replay
    assert again.status_code == 409 and again.json()["code"] == "exchange.replayed"
    stale = document(province, [row(2)])
    stale["sent_at"] = (utcnow() - timedelta(minutes=30)).isoformat()
    old = post(national, seal(stale, uplink(province)))
    assert old.status_code == 409 and old.json()["code"] == "exchange.replayed"
    with national.uow() as session:
        assert session.scalar(select(func.count()).select_from(ExchangeInbox)) == 1


def test_resent_batch_gets_the_same_verdicts(joined: tuple[Node, Node]) -> None:
    province, national = joined
    rows = [row(1), row(2, result_type=None)]
    batch_id, ids = new_id(), [new_id(), new_id()]
    first = post(national, seal(document(province, rows, batch_id, ids), uplink(province))).json()["document"]
    second = post(national, seal(document(province, rows, batch_id, ids), uplink(province))).json()[
        "document"
    ]
    assert second["duplicate"] and first["accepted"] == second["accepted"]
    assert [r["row_guid"] for r in first["rejected"]] == [r["row_guid"] for r in second["rejected"]]
    conflict = post(national, seal(document(province, [row(3)], batch_id), uplink(province)))
    assert conflict.status_code == 409 and conflict.json()["code"] == "exchange.batch_conflict"


def test_malformed_rows_are_refused_with_reasons(joined: tuple[Node, Node]) -> None:
    province, national = joined
    rows = [row(1), row(2, result_type=None), row(3, result_date="soon"), row(4, cd_operation="X"),
            row(5, project_no="P" * 51), row(6, row_guid=None)]  # fmt: skip
    answer = post(national, seal(document(province, rows), uplink(province)))
    assert answer.status_code == 200
    receipt = answer.json()["document"]
    assert len(receipt["accepted"]) == 1
    codes = sorted(r["code"] for r in receipt["rejected"])
    assert codes == ["bad_operation", "bad_time", "required", "required", "too_long"]
    with national.uow() as session:
        assert session.scalar(select(func.count()).select_from(ExchangeAggregate)) == 1


@pytest.mark.parametrize("kind", ["rows", "bytes", "json"])
def test_oversized_and_malformed_batches(joined: tuple[Node, Node], kind: str) -> None:
    province, national = joined
    national.runtime.settings.exchange.max_batch_rows = 3
    national.runtime.settings.exchange.max_batch_bytes = 4096
    if kind == "rows":
        answer = post(national, seal(document(province, [row(i) for i in range(4)]), uplink(province)))
        assert answer.status_code == 413 and answer.json()["code"] == "exchange.batch_too_large"
    elif kind == "bytes":
        big = [row(1, remark="备注" * 1500)]
        answer = post(national, seal(document(province, big), uplink(province)))
        assert answer.status_code == 413
    else:
        answer = post(national, b"{not json")
        assert answer.status_code == 422 and answer.json()["code"] == "exchange.malformed"
    nothing_applied(national)
    assert refusals(national)


def test_join_requests_are_bounded_per_source_and_strangers_cannot_block_a_named_node(national: Node) -> None:
    from datetime import timedelta

    from zhengwu.exchange.errors import NodeStateConflict, TooManyJoinRequests
    from zhengwu.exchange.models import ExchangeNode
    from zhengwu.kernel.clock import utcnow
    from zhengwu.kernel.crypto import SM2PrivateKey
    from zhengwu.kernel.pki import build_csr

    def ask(node_id: str, source: str) -> dict[str, Any]:
        csr = build_csr(subject={"CN": node_id}, signer=SM2PrivateKey.generate())  # a new key every time
        with national.uow() as session:
            return join.accept_request(session, national.runtime, {
                "node_id": node_id, "node_name": "演示", "division_code": "130000", "tier": "province",
                "csr": csr.to_pem().decode()}, source=source)  # fmt: skip

    def pending(node_id: str) -> list[ExchangeNode]:
        with national.uow() as session:
            query = select(ExchangeNode).where(
                ExchangeNode.node_id == node_id, ExchangeNode.status == "pending"
            )
            return list(session.scalars(query))

    limits = national.settings.exchange
    limits.max_pending_joins_per_address = 3
    # A sender retrying its join (a new key each time) keeps one request, not one per try.
    for _ in range(5):
        ask("hebei", "192.0.2.10")
    assert len(pending("hebei")) == 1
    # A stranger's address is bounded whatever names it uses ...
    for name in ("hebei", "shanxi", "henan"):
        ask(name, "198.51.100.7")
    with pytest.raises(TooManyJoinRequests) as refused:
        ask("shandong", "198.51.100.7")
    assert refused.value.status_code == 429
    # ... and many strangers asking for the name do not keep the real node from asking.
    for stranger in range(6):
        ask("hebei", f"203.0.113.{stranger}")
    real = ask("hebei", "192.0.2.10")
    assert real["status"] == "pending" and len(pending("hebei")) == 8
    # The operator approves one request by its id; by the bare name it is ambiguous.
    with national.uow() as session, pytest.raises(NodeStateConflict) as ambiguous:
        join.approve(session, national.runtime, "hebei")
    assert real["request_id"] in ambiguous.value.extra["request_ids"]
    with national.uow() as session:
        approved = join.approve(session, national.runtime, str(real["request_id"]))
        assert approved.status == "approved"
    # Later requests under the name wait; they do not displace the approved node.
    ask("hebei", "203.0.113.99")
    with national.uow() as session:
        assert session.get(ExchangeNode, real["request_id"]).status == "approved"  # type: ignore[union-attr]
    # Unanswered requests expire and free their places.
    with national.uow() as session:
        session.execute(
            update(ExchangeNode)
            .where(ExchangeNode.source_address == "198.51.100.7")
            .values(requested_at=utcnow() - timedelta(days=limits.join_request_days, minutes=1))
        )
    assert ask("shandong", "198.51.100.7")["status"] == "pending"
    assert all(
        n.source_address != "198.51.100.7" or n.node_id == "shandong"
        for n in pending("henan") + pending("shandong")
    )
    # And everything waiting together stays bounded.
    limits.max_pending_joins = len(pending("hebei")) + len(pending("shandong"))
    with pytest.raises(TooManyJoinRequests):
        ask("tianjin", "192.0.2.77")


def test_join_requests_are_rate_limited_per_address(national: Node) -> None:
    national.settings.security.public_rate_per_minute = 18  # bursts of 3 (a tenth of a minute)
    answers = [national.client.post("/exchange/v1/join", json={"node_id": "x"}) for _ in range(4)]
    assert [a.status_code for a in answers[:3]] == [400] * 3  # refused as incomplete, still counted
    assert answers[3].status_code == 429 and int(answers[3].headers["Retry-After"]) >= 1
