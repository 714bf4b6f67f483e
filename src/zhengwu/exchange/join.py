"""Joining an upper node like an X-Road member.

Lower node: ``exchange join`` creates the exchange key, sends a PKCS#10 request to the upstream and
keeps the upstream CA certificate it gets back (trust on first use: the operator compares the printed
fingerprint); a second call after approval fetches the issued certificate, checks that it certifies
this node's key and chains to that CA, and installs it. Upper node: requests wait as ``pending``
until ``exchange nodes approve``; ``revoke`` puts the certificate on the CRL at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from zhengwu.audit.changes import record_change
from zhengwu.exchange import applying, exlog
from zhengwu.exchange.credentials import PURPOSE, credential_signer, new_uplink_key, revocation_reason
from zhengwu.exchange.errors import (
    InvalidJoinRequest,
    NodeNotFound,
    NodeStateConflict,
    NoUpstream,
    TooManyJoinRequests,
    UpstreamFailed,
)
from zhengwu.exchange.models import ExchangeCredential, ExchangeNode
from zhengwu.exchange.runtime import ExchangeRuntime
from zhengwu.exchange.transports import TransportError
from zhengwu.exchange.transports.http import API, raise_for_answer
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.config import Tier
from zhengwu.kernel.pki import (
    Certificate,
    CertificateRequest,
    PkiError,
    RevocationReason,
    TrustStore,
    build_csr,
    load_certificate,
    load_certificates,
    load_csr,
)
from zhengwu.kernel.session import unit_of_work
from zhengwu.pki.authority import exchange_trust_anchors

NODE_ID_RE: Final = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
REQUEST_ID_RE: Final = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True, slots=True)
class JoinOutcome:
    """Where the join stands after one call."""

    status: str  # requested | pending | joined | refused
    request_id: str | None
    ca_fingerprint: str | None
    certificate_fingerprint: str | None = None
    message: str = ""


# --- lower node ------------------------------------------------------------------------------------


def _latest_uplink(session: Session, status: str) -> ExchangeCredential | None:
    return session.scalars(
        select(ExchangeCredential)
        .where(ExchangeCredential.purpose == "uplink", ExchangeCredential.status == status)
        .order_by(ExchangeCredential.created_at.desc())
        .limit(1)
    ).first()


def join(runtime: ExchangeRuntime, *, client: httpx.Client | None = None, renew: bool = False) -> JoinOutcome:
    """Request (first call) or install (after approval) this node's exchange certificate."""
    settings = runtime.settings
    if not settings.upstream_url:
        raise NoUpstream()
    http = client or httpx.Client(timeout=settings.exchange.request_timeout_seconds)
    try:
        with unit_of_work(runtime.session_factory) as session:
            active = _latest_uplink(session, "active")
            pending = _latest_uplink(session, "pending")
            if (
                active is not None
                and pending is None
                and not renew
                and active.not_after
                and active.not_after > utcnow()
            ):
                return JoinOutcome("joined", active.request_id, None, active.fingerprint, "已接入上级节点")
            if pending is None:
                return _request(runtime, session, http)
            return _collect(runtime, session, http, pending)
    finally:
        if client is None:
            http.close()


def _request(runtime: ExchangeRuntime, session: Session, http: httpx.Client) -> JoinOutcome:
    settings = runtime.settings
    key_id, signer = new_uplink_key(session, settings)
    csr = build_csr(
        subject={"C": "CN", "O": settings.node_name, "OU": settings.division_code, "CN": settings.node_id},
        signer=signer,
    )
    payload = {
        "node_id": settings.node_id,
        "node_name": settings.node_name,
        "division_code": settings.division_code,
        "tier": settings.tier.value,
        "public_url": settings.public_url,
        "csr": csr.to_pem().decode("ascii"),
    }
    try:
        response = http.post(f"{settings.upstream_url}{API}/join", json=payload)
        raise_for_answer(response)
        answer = response.json()
        ca = load_certificate(str(answer["ca_certificate"]).encode())
        request_id = str(answer["request_id"])
    except (httpx.HTTPError, TransportError, KeyError, ValueError, PkiError) as exc:
        raise UpstreamFailed("向上级节点提交接入申请失败", detail_en=f"join request failed: {exc}") from exc
    if not REQUEST_ID_RE.match(request_id) or not ca.is_ca:
        raise UpstreamFailed("上级节点的接入应答无效", detail_en="invalid join answer")
    session.add(
        ExchangeCredential(
            purpose="uplink",
            status="pending",
            key_id=key_id,
            trust_pem=ca.to_pem().decode("ascii"),
            upstream_url=settings.upstream_url,
            request_id=request_id,
        )
    )
    exlog.append(session, direction="out", kind="join.requested", peer=(settings.upstream_url or "")[:63], ref=request_id,
                 digest=ca.fingerprint)  # fmt: skip
    return JoinOutcome("requested", request_id, ca.fingerprint, None, "已提交接入申请，请上级节点管理员审批")


def _collect(
    runtime: ExchangeRuntime, session: Session, http: httpx.Client, pending: ExchangeCredential
) -> JoinOutcome:
    settings = runtime.settings
    ca = load_certificate((pending.trust_pem or "").encode())
    try:
        response = http.get(f"{pending.upstream_url or settings.upstream_url}{API}/join/{pending.request_id}")
        raise_for_answer(response)
        answer = response.json()
    except (httpx.HTTPError, TransportError, ValueError) as exc:
        raise UpstreamFailed("查询接入申请状态失败", detail_en=f"join status failed: {exc}") from exc
    status = str(answer.get("status"))
    if status == "pending":
        return JoinOutcome("pending", pending.request_id, ca.fingerprint, None, "接入申请等待上级节点审批")
    if status != "approved":
        pending.status = "retired"
        return JoinOutcome(
            "refused", pending.request_id, ca.fingerprint, None, f"接入申请未获批准（{status}）"
        )
    key = credential_signer(session, settings, pending)
    try:
        cert, *issuers = load_certificates(str(answer["certificate"]).encode())
    except (KeyError, ValueError, PkiError) as exc:
        raise UpstreamFailed("上级节点返回的证书无法解析", detail_en="unreadable certificate") from exc
    if cert.public_key.point != key.public_key.point:
        raise UpstreamFailed(
            "上级节点签发的证书与本节点密钥不符", detail_en="certificate does not certify our key"
        )
    trust = TrustStore()
    trust.add_anchor(ca, [PURPOSE])
    result = trust.validate(
        cert, purpose=PURPOSE, at=utcnow(), check_revocation="none", key_usage=["digital_signature"]
    )
    chain = [ca]
    if not result.ok and issuers:
        # Approved with a certificate from an external CA (`exchange nodes approve --certificate`): it must
        # chain to a CA this node trusts for the exchange itself (`pki trust add --for exchange`).
        external = TrustStore()
        for anchor, _crl in exchange_trust_anchors(session):
            external.add_anchor(anchor, [PURPOSE])
        outcome = external.validate(
            cert,
            issuers,
            purpose=PURPOSE,
            at=utcnow(),
            check_revocation="none",
            key_usage=["digital_signature"],
        )
        if outcome.ok:
            result, chain = outcome, issuers
    if not result.ok:
        raise UpstreamFailed(f"证书验证失败：{result.reason_zh}", detail_en=result.reason)
    session.execute(
        update(ExchangeCredential)
        .where(ExchangeCredential.purpose == "uplink", ExchangeCredential.status == "active")
        .values(status="retired")
    )
    pending.status = "active"
    pending.certificate_pem = b"".join(c.to_pem() for c in (cert, *chain)).decode("ascii")
    pending.fingerprint = cert.fingerprint
    pending.not_after = cert.not_after
    exlog.append(session, direction="in", kind="join.installed", peer=(pending.upstream_url or "")[:63],
                 ref=pending.request_id, digest=cert.fingerprint)  # fmt: skip
    runtime.credentials.invalidate()
    return JoinOutcome(
        "joined", pending.request_id, ca.fingerprint, cert.fingerprint, "交换证书已安装，已接入上级节点"
    )


# --- upper node ------------------------------------------------------------------------------------


def _text(payload: dict[str, Any], name: str, limit: int) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise InvalidJoinRequest(f"接入申请字段无效：{name}", detail_en=f"invalid field {name}")
    return value.strip()


def expire_pending(session: Session, runtime: ExchangeRuntime) -> None:
    """Pending requests nobody decided within ``join_request_days`` expire (they no longer count)."""
    now = utcnow()
    session.execute(
        update(ExchangeNode)
        .where(
            ExchangeNode.status == "pending",
            ExchangeNode.requested_at < now - timedelta(days=runtime.settings.exchange.join_request_days),
        )
        .values(status="expired", decided_at=now)
        .execution_options(synchronize_session=False)
    )


def _check_waiting(session: Session, runtime: ExchangeRuntime, source: str | None) -> None:
    """Anyone can ask to join: bound the requests waiting for the operator, per source address and in all.

    Requests are bounded per address rather than per node id, so that strangers cannot use up a named
    node's places; pending requests never displace an approved node (only the operator's approval of
    one request does), and they expire (revoke clears one earlier).
    """
    limits = runtime.settings.exchange
    pending = select(func.count()).select_from(ExchangeNode).where(ExchangeNode.status == "pending")
    if (
        source is not None
        and (session.scalar(pending.where(ExchangeNode.source_address == source)) or 0)
        >= limits.max_pending_joins_per_address
    ):
        raise TooManyJoinRequests(
            "来自该地址的待审批接入申请过多，请等待上级平台管理员处理",
            detail_en="too many pending join requests from this address",
        )
    if (session.scalar(pending) or 0) >= limits.max_pending_joins:
        raise TooManyJoinRequests(detail_en="the pending join request limit is reached")


def accept_request(
    session: Session, runtime: ExchangeRuntime, payload: dict[str, Any], *, source: str | None = None
) -> dict[str, Any]:
    """Record a join request (pending) from client address ``source`` and answer with this node's CA."""
    ca = runtime.credentials.ca().certificate  # before any write of ours (creating it locks the log)
    node_id = _text(payload, "node_id", 63)
    if not NODE_ID_RE.match(node_id):
        raise InvalidJoinRequest("节点标识格式无效", detail_en="invalid node_id")
    division = _text(payload, "division_code", 6)
    if not re.fullmatch(r"\d{6}", division):
        raise InvalidJoinRequest("行政区划代码无效", detail_en="invalid division_code")
    tier = _text(payload, "tier", 16)
    if tier not in {t.value for t in Tier} or tier == Tier.NATIONAL.value:
        raise InvalidJoinRequest("层级无效", detail_en="invalid tier")
    public_url = payload.get("public_url")
    try:
        csr = load_csr(_text(payload, "csr", 16_384).encode())
        possession = csr.verify()
    except PkiError as exc:
        raise InvalidJoinRequest("证书请求无法解析", detail_en=f"unreadable CSR: {exc.message}") from exc
    if possession is None:
        raise InvalidJoinRequest("证书请求签名无效", detail_en="CSR signature does not verify")
    if csr.subject.common_name != node_id:
        raise InvalidJoinRequest("证书请求主体与节点标识不符", detail_en="CSR subject CN must be the node id")
    key_fp = csr.public_key.fingerprint
    node = session.scalars(
        select(ExchangeNode).where(
            ExchangeNode.node_id == node_id,
            ExchangeNode.key_fingerprint == key_fp,
            ExchangeNode.status == "pending",
        )
    ).first()
    if node is None:
        expire_pending(session, runtime)
        if source is not None:
            # The same sender asking again for the node (a retried join, a new key) replaces its request.
            session.execute(
                update(ExchangeNode)
                .where(
                    ExchangeNode.status == "pending",
                    ExchangeNode.node_id == node_id,
                    ExchangeNode.source_address == source,
                )
                .values(status="superseded", decided_at=utcnow())
                .execution_options(synchronize_session=False)
            )
        _check_waiting(session, runtime, source)
        node = ExchangeNode(
            node_id=node_id,
            node_name=_text(payload, "node_name", 200),
            division_code=division,
            tier=tier,
            public_url=public_url[:512] if isinstance(public_url, str) else None,
            status="pending",
            csr_pem=csr.to_pem().decode("ascii"),
            key_fingerprint=key_fp,
            source_address=source[:45] if source else None,
        )
        session.add(node)
        session.flush()
        exlog.append(session, direction="in", kind="join.received", peer=node_id, ref=node.id, digest=key_fp)
    return {
        "request_id": node.id,
        "status": node.status,
        "ca_certificate": ca.to_pem().decode("ascii"),
        "ca_fingerprint": ca.fingerprint,
    }


def request_status(session: Session, request_id: str) -> dict[str, Any]:
    """The state of a join request; once approved, the issued certificate."""
    if not REQUEST_ID_RE.match(request_id):
        raise NodeNotFound()
    node = session.get(ExchangeNode, request_id)
    if node is None:
        raise NodeNotFound()
    answer: dict[str, Any] = {"request_id": node.id, "node_id": node.node_id, "status": node.status}
    if node.status == "approved" and node.certificate_pem:
        answer["certificate"] = node.certificate_pem
    return answer


def find_node(session: Session, ref: str, *, status: str | None = None) -> ExchangeNode:
    """A node record by request id, or the latest record of a node id (optionally in ``status``)."""
    node = session.get(ExchangeNode, ref) if REQUEST_ID_RE.match(ref) else None
    if node is None:
        query = select(ExchangeNode).where(ExchangeNode.node_id == ref)
        if status is not None:
            query = query.where(ExchangeNode.status == status)
        node = session.scalars(query.order_by(ExchangeNode.requested_at.desc()).limit(1)).first()
    if node is None:
        raise NodeNotFound(f"未找到接入节点 {ref}", detail_en=f"no node {ref}")
    return node


def approve(
    session: Session,
    runtime: ExchangeRuntime,
    ref: str,
    *,
    actor: str | None = None,
    certificate_pem: bytes | None = None,
) -> ExchangeNode:
    """Issue the exchange certificate of a pending node; an older certificate of the node is revoked.

    With ``certificate_pem`` (a certificate, then its issuers, from an external CA) nothing is issued:
    the certificate must certify the key of the node's request, name the node and chain to a CA this
    node trusts for the exchange (``pki trust add --for exchange --crl``), and is pinned instead."""
    runtime.credentials.ca()  # before the lock: creating the CA takes it in a transaction of its own
    exlog.lock_head(session)
    expire_pending(session, runtime)
    if not REQUEST_ID_RE.match(ref):
        waiting = list(
            session.scalars(
                select(ExchangeNode).where(ExchangeNode.node_id == ref, ExchangeNode.status == "pending")
            )
        )
        if len(waiting) > 1:
            # Anyone may ask to join under any name: the operator picks the request whose key they checked.
            choices = "；".join(
                f"{n.id}（来源 {n.source_address or '—'}，密钥 {n.key_fingerprint[:16]}）" for n in waiting
            )
            raise NodeStateConflict(
                f"节点 {ref} 有 {len(waiting)} 份待审批的接入申请，请按申请编号批准：{choices}",
                detail_en=f"{len(waiting)} pending requests for {ref}: approve one by its request id",
                extra={"request_ids": [n.id for n in waiting]},
            )
    node = find_node(session, ref, status="pending")
    if node.status != "pending":
        raise NodeStateConflict(f"节点状态为 {node.status}，不能批准", detail_en=f"node is {node.status}")
    csr = load_csr(node.csr_pem.encode())
    if certificate_pem is None:
        cert = runtime.credentials.issue_for(session, node, csr)
        pinned = cert.to_pem().decode("ascii")
    else:
        cert, pinned = _external_certificate(runtime, node, csr, certificate_pem)
    now = utcnow()
    superseded = list(
        session.scalars(
            select(ExchangeNode).where(
                ExchangeNode.node_id == node.node_id, ExchangeNode.status == "approved"
            )
        )
    )
    for old in superseded:
        old.status = "revoked"
        old.revoked_at = now
        old.revoke_reason = "superseded"
        runtime.credentials.revoke(session, old, RevocationReason.SUPERSEDED)
    node.status = "approved"
    node.decided_at = now
    node.certificate_pem = pinned
    node.serial = f"{cert.serial_number:x}"
    node.fingerprint = cert.fingerprint
    node.not_after = cert.not_after
    session.flush()
    # The new node reads our feed from its start: what we took from above before it joined goes in too.
    applying.replay_backlog(session, runtime)
    issuer = None if certificate_pem is None else str(cert.issuer)
    exlog.append(
        session,
        direction="local",
        kind="node.approved",
        peer=node.node_id,
        ref=node.id,
        digest=cert.fingerprint,
        detail={"external_issuer": issuer} if issuer else None,
    )
    record_change(session, actor=actor, action="node.approve", entity="exchange.node", entity_id=node.id,
                  before={"status": "pending", "superseded": [old.id for old in superseded]},
                  after={"status": "approved", "node_id": node.node_id, "fingerprint": cert.fingerprint,
                         "external_issuer": issuer})  # fmt: skip
    return node


def _external_certificate(
    runtime: ExchangeRuntime, node: ExchangeNode, csr: CertificateRequest, pem: bytes
) -> tuple[Certificate, str]:
    """The external certificate of a pending node, checked; and the PEM to pin (leaf and issuers)."""
    try:
        certs = load_certificates(pem)
    except PkiError as exc:
        raise InvalidJoinRequest("证书文件无法解析", detail_en=f"unreadable certificate: {exc}") from exc
    if not certs:
        raise InvalidJoinRequest("证书文件中没有证书", detail_en="no certificate in the file")
    cert, chain = certs[0], certs[1:]
    if cert.public_key.point != csr.public_key.point:
        raise InvalidJoinRequest(
            "证书与该节点接入申请中的密钥不符",
            detail_en="certificate does not certify the key of the request",
        )
    if cert.subject.common_name != node.node_id:
        raise InvalidJoinRequest(
            f"证书主体（CN）应为节点标识 {node.node_id}",
            detail_en="certificate subject does not name the node",
        )
    runtime.credentials.invalidate()  # anchors just added by `pki trust add` count at once
    result = runtime.credentials.children_trust().validate(
        cert, chain, purpose=PURPOSE, at=utcnow(), check_revocation="leaf", key_usage=["digital_signature"]
    )
    if not result.ok:
        raise InvalidJoinRequest(
            f"证书未通过验证：{result.reason_zh}（外部 CA 须先以 pki trust add --for exchange --crl 信任）",
            detail_en=f"certificate not valid for the exchange: {result.reason}",
        )
    return cert, "".join(c.to_pem().decode("ascii") for c in certs)


def revoke(
    session: Session,
    runtime: ExchangeRuntime,
    ref: str,
    *,
    reason: str = "cessation_of_operation",
    actor: str | None = None,
) -> ExchangeNode:
    """Revoke a node's exchange certificate (CRL re-issued now); its batches are refused from then on."""
    runtime.credentials.ca()
    exlog.lock_head(session)
    node = find_node(session, ref, status="approved")
    if node.status not in ("approved", "pending"):
        raise NodeStateConflict(f"节点状态为 {node.status}，不能撤销", detail_en=f"node is {node.status}")
    before = node.status
    node.status = "revoked"
    node.revoked_at = utcnow()
    node.revoke_reason = reason[:200]
    session.flush()
    record_change(session, actor=actor, action="node.revoke", entity="exchange.node", entity_id=node.id,
                  before={"status": before}, after={"status": "revoked", "node_id": node.node_id, "reason": reason})  # fmt: skip
    runtime.credentials.revoke(session, node, revocation_reason(reason))
    exlog.append(session, direction="local", kind="node.revoked", peer=node.node_id, ref=node.id,
                 digest=node.fingerprint, detail={"reason": reason[:200]})  # fmt: skip
    return node


def list_nodes(session: Session) -> list[ExchangeNode]:
    """All join requests and nodes, newest first."""
    return list(session.scalars(select(ExchangeNode).order_by(ExchangeNode.requested_at.desc())))


def load_chain_pem(text: str) -> list[Any]:
    """Certificates of a PEM bundle."""
    return load_certificates(text.encode())
