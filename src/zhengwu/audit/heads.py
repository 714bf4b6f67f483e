"""Signed chain heads (链头签名): what stops a database administrator from rebuilding a chain.

A chain rebuilt consistently after an edit (every later hash recomputed, the head row updated) verifies
on its own. So the node signs each chain's head — sequence number, hash and time — with an SM2 key the
database does not hold in clear (the PKI's key ring unwraps it with the node secret), periodically and on
``zhengwu audit seal``, and puts the signed head on the exchange outbox (topic ``audit.chain_head``) so the
upper node keeps a copy (``audit_reported_head``). ``verify_against_heads`` then compares every signed
head with the record at its sequence number: a rebuilt chain no longer matches the hash signed before.

The signing key is handed in by the composition root (this capability sits below the PKI).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhengwu.audit import chain
from zhengwu.audit.models import AuditReportedHead, AuditSignedHead
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.crypto import DigestSigner
from zhengwu.kernel.db import dialect_insert
from zhengwu.kernel.events import emit

TOPIC: Final = "audit.chain_head"
TABLE: Final = "audit_chain_head"


def signed_bytes(*, node: str, chain_name: str, seq: int, hash_hex: str, at: datetime) -> bytes:
    """The bytes a head signature covers (the node, the chain, its sequence, hash and time)."""
    return chain.canonical_bytes({"node": node, "chain": chain_name, "seq": seq, "hash": hash_hex, "at": at})


@dataclass(frozen=True, slots=True)
class NodeSigner:
    """The node's signing identity: its SM2 signer and the SM3 thumbprint of its certificate."""

    node: str
    signer: DigestSigner
    thumbprint: str


# Verifies a signature over ``data`` made by the certificate with this thumbprint (False if unknown).
SignatureCheck = Callable[[str, bytes, bytes], bool]


def last_signed(session: Session, chain_name: str) -> AuditSignedHead | None:
    """The newest signed head of a chain."""
    query = (
        select(AuditSignedHead)
        .where(AuditSignedHead.chain == chain_name)
        .order_by(AuditSignedHead.seq.desc())
        .limit(1)
    )
    return session.scalars(query).one_or_none()


def seal_heads(
    session: Session, specs: Iterable[chain.ChainSpec], node_signer: NodeSigner, *, report: bool = True
) -> list[AuditSignedHead]:
    """Sign the head of every chain that grew since its last signed head; queue each for the upper node."""
    sealed: list[AuditSignedHead] = []
    for spec in specs:
        previous = last_signed(session, spec.name)
        signed_seq = previous.seq if previous is not None else 0
        # Unchanged chains are skipped without taking their lock (the worker asks every few minutes).
        if chain.head(session, spec.name).seq <= signed_seq:
            continue
        # The chain's lock: no record is appended between reading the head and signing it.
        current = chain.lock(session, spec.name)
        at = utcnow()
        data = signed_bytes(
            node=node_signer.node, chain_name=spec.name, seq=current.seq, hash_hex=current.hash, at=at
        )
        row = AuditSignedHead(
            chain=spec.name,
            seq=current.seq,
            hash=current.hash,
            signed_at=at,
            signer=node_signer.thumbprint,
            signature=node_signer.signer.sign(data).hex(),
        )
        session.add(row)
        if report:
            emit(session, TOPIC, report_payload(node_signer.node, row), key=f"{spec.name}:{current.seq}")
        sealed.append(row)
    session.flush()
    return sealed


def report_payload(node: str, row: AuditSignedHead) -> dict[str, Any]:
    """The outbox row of a signed head (what the upper node stores)."""
    return {
        "node": node,
        "chain": row.chain,
        "seq": row.seq,
        "hash": row.hash,
        "signed_at": row.signed_at.isoformat(timespec="microseconds"),
        "signer": row.signer,
        "signature": row.signature,
        "head_key": f"{row.chain}:{row.seq}",
    }


def signed_heads(
    session: Session, chain_name: str | None = None, *, limit: int = 100
) -> list[AuditSignedHead]:
    """Signed heads, newest first."""
    query = select(AuditSignedHead)
    if chain_name is not None:
        query = query.where(AuditSignedHead.chain == chain_name)
    return list(session.scalars(query.order_by(AuditSignedHead.id.desc()).limit(limit)))


def verify_against_heads(
    session: Session, spec: chain.ChainSpec, verdict: chain.Verdict, check: SignatureCheck, node: str
) -> chain.Verdict:
    """Compare every signed head of the chain with the record at its sequence number.

    A record whose hash differs from the hash signed for it means the chain was rebuilt after it was
    signed; a signed head beyond the chain's end means records were removed; a signature that does not
    verify means the signed head itself was forged or altered.
    """
    name = spec.name
    for signed in session.scalars(
        select(AuditSignedHead).where(AuditSignedHead.chain == name).order_by(AuditSignedHead.seq)
    ):
        verdict.signed_seq = signed.seq
        data = signed_bytes(
            node=node, chain_name=name, seq=signed.seq, hash_hex=signed.hash, at=signed.signed_at
        )
        if not check(signed.signer, bytes.fromhex(signed.signature), data):
            verdict.broken = chain.Break(
                name,
                signed.seq,
                "unsigned",
                f"{name}: the signed head at record {signed.seq} does not verify (forged or altered)",
                f"{name}：第 {signed.seq} 条处的链头签名验证失败（伪造或被改动）",
            )
            return verdict
        stored = chain.hash_at(session, spec, signed.seq)
        if stored is None:
            verdict.broken = chain.Break(
                name,
                signed.seq,
                "truncated",
                f"{name}: record {signed.seq} was signed on {signed.signed_at:%Y-%m-%d %H:%M} but no longer exists",
                f"{name}：第 {signed.seq} 条记录已签名（{signed.signed_at:%Y-%m-%d %H:%M}），但现已不存在",
            )
            return verdict
        if stored != signed.hash:
            verdict.broken = chain.Break(
                name,
                signed.seq,
                "rebuilt",
                f"{name}: record {signed.seq} differs from the head signed on {signed.signed_at:%Y-%m-%d %H:%M}: "
                "the chain was rebuilt after it was signed",
                f"{name}：第 {signed.seq} 条记录与 {signed.signed_at:%Y-%m-%d %H:%M} 签名的链头不符：链在签名后被重建",
            )
            return verdict
    return verdict


def verify_all(
    session: Session,
    specs: Sequence[chain.ChainSpec],
    check: SignatureCheck | None,
    node: str,
) -> list[chain.Verdict]:
    """Walk every chain, then (when a signature check is given) compare with its signed heads."""
    verdicts: list[chain.Verdict] = []
    for spec in specs:
        verdict = chain.verify(session, spec)
        if verdict.ok and check is not None:
            verdict = verify_against_heads(session, spec, verdict, check, node)
        verdicts.append(verdict)
    return verdicts


class InboundHead(Protocol):
    """What the exchange hands to an apply function (its ``InboundRow``)."""

    @property
    def sender(self) -> str: ...

    @property
    def origin(self) -> str: ...

    @property
    def row(self) -> dict[str, Any]: ...


def apply_reported_heads(session: Session, rows: Sequence[InboundHead]) -> Mapping[str, Any]:
    """The upper node keeps each signed head a node below reports (idempotent; nothing is refused),
    under the node that signed it: a middle node passes its lower nodes' heads on (audit.topics)."""
    for inbound in rows:
        data = inbound.row
        values = {
            "sender": (inbound.origin or inbound.sender)[:63],
            "chain": str(data.get("chain", ""))[:64],
            "seq": int(data.get("seq", 0)),
            "hash": str(data.get("hash", ""))[:64],
            "signed_at": datetime.fromisoformat(str(data.get("signed_at"))),
            "signer": str(data.get("signer", ""))[:64],
            "signature": str(data.get("signature", ""))[:200],
            "received_at": utcnow(),
        }
        insert = dialect_insert(session, AuditReportedHead).values(**values)
        session.execute(insert.on_conflict_do_nothing(index_elements=["sender", "chain", "seq"]))
    return {}


def reported_heads(
    session: Session, sender: str | None = None, *, limit: int = 100
) -> list[AuditReportedHead]:
    """Heads reported by lower nodes, newest first."""
    query = select(AuditReportedHead)
    if sender is not None:
        query = query.where(AuditReportedHead.sender == sender)
    return list(session.scalars(query.order_by(AuditReportedHead.id.desc()).limit(limit)))


def due(session: Session, minutes: int) -> bool:
    """Whether the last seal is older than ``minutes`` (or there is none)."""
    newest = session.scalar(select(func.max(AuditSignedHead.signed_at)))
    return newest is None or (utcnow() - newest).total_seconds() >= minutes * 60
