"""This node's exchange identities, kept by the node PKI (``zhengwu.pki``), and the trust it places in others.

* ``ca`` — the exchange CA, the node PKI's ``exchange-ca`` (a root of its own: lower nodes pinned it when
  they joined); it issues lower nodes' certificates at ``exchange nodes approve``, and its CRL, made by the
  PKI like every other, lists the revoked ones (``/pki/crl/exchange.crl``, ``/exchange/v1/crl``).
* ``downlink`` — the PKI's ``exchange-downlink``, issued by that CA; signs receipts and answers sent to lower
  nodes.
* ``uplink`` — the certificate the upstream node issued after ``exchange join`` (``exchange_credential``);
  its key is in the node's key ring, and the row keeps the upstream CA certificate receipts must chain to.

An exchange CA made before the node PKI held it (``exchange_credential`` ``ca`` row, ``exchange_crl``) is
adopted on first use: the same key and certificate, every certificate it issued with its revocation as
published, and its CRLs, so that lower nodes keep their pinned CA and CRL numbers keep rising. Uplink
credentials from before keep their PKCS#8 key (encrypted under a key derived from the node secret) until
the next ``exchange join --renew``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from zhengwu.exchange import exlog
from zhengwu.exchange.models import ExchangeCredential, ExchangeCrl, ExchangeNode
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.config import Settings
from zhengwu.kernel.crypto import SM2PrivateKey, SM2PublicKey, SoftwareSigner, hmac_sm3
from zhengwu.kernel.crypto.signer import DigestSigner
from zhengwu.kernel.logging import get_logger
from zhengwu.kernel.pki import (
    EKU_CLIENT_AUTH,
    Certificate,
    CertificateRequest,
    CertProfile,
    Crl,
    PkiError,
    RevocationReason,
    TrustStore,
    load_certificate,
    load_certificates,
    load_crl,
)
from zhengwu.kernel.session import unit_of_work
from zhengwu.pki.authority import (
    EXCHANGE_CA,
    EXCHANGE_DOWNLINK,
    adopt_root,
    authority,
    create_root,
    current_crl,
    exchange_trust_anchors,
    issue_crl,
    issue_end_entity,
    new_key,
    record_crl,
    record_issued,
    revoke_certificate,
    signer_for_key,
)
from zhengwu.pki.repository import PkiRepository

log = get_logger("zhengwu.exchange.credentials")

PURPOSE: Final = "exchange"
CA_YEARS: Final = 20
DOWNLINK_DAYS: Final = 2 * 365
NODE_CERT_DAYS: Final = 365
#: A lower node fetches the upstream exchange CA's CRL again after this (or when it is past nextUpdate).
UPSTREAM_CRL_REFRESH: Final = timedelta(hours=1)
#: The downlink certificate is renewed when it has less than this left.
DOWNLINK_RENEWAL: Final = timedelta(days=30)
UPLINK_KEY: Final = "exchange-uplink"
_ACTOR: Final = "exchange"


@dataclass(frozen=True, slots=True)
class NodeCredential:
    """A usable signer with its certificate and the issuer chain (nearest issuer first)."""

    purpose: str
    key: DigestSigner
    certificate: Certificate
    chain: tuple[Certificate, ...]


def key_password(settings: Settings) -> bytes:
    """The password of the PKCS#8 exchange keys made before the node PKI held them (node-secret derived)."""
    secret = settings.security.secret_key.get_secret_value().encode()
    return hmac_sm3(secret, b"zhengwu/exchange/key-wrap/v1").hex().encode()


def node_subject(node_id: str, node_name: str, division_code: str) -> dict[str, str]:
    """The subject of a node's exchange certificate (its CN is the node id)."""
    return {"C": "CN", "O": node_name, "OU": division_code, "CN": node_id}


def credential_signer(session: Session, settings: Settings, row: ExchangeCredential) -> DigestSigner:
    """The signer of an uplink credential: its key in the node's key ring, or an older PKCS#8 key."""
    if row.key_id is not None:
        key = PkiRepository(session).key(row.key_id)
        if key is None:
            raise LookupError("the credential's key is missing from the key ring")
        return signer_for_key(settings, key)
    if row.key_pem is None:
        raise LookupError("credential has no key")
    return SoftwareSigner(SM2PrivateKey.from_pem(row.key_pem.encode(), key_password(settings)))


def new_uplink_key(session: Session, settings: Settings) -> tuple[str, DigestSigner]:
    """A key for a join request, made in the node's key ring: its id and signer."""
    row = new_key(session, settings, purpose=UPLINK_KEY, label="exchange uplink")
    return row.id, signer_for_key(settings, row)


def revocation_reason(text: str | None) -> RevocationReason:
    """The CRL reason of an operator's free-text reason (a CRLReason name, or "…compromise…")."""
    try:
        return RevocationReason((text or "").strip().lower())
    except ValueError:
        pass
    if text and "compromise" in text.lower():
        return RevocationReason.KEY_COMPROMISE
    return RevocationReason.CESSATION_OF_OPERATION


def _published_reason(text: str | None) -> RevocationReason:
    """The reason the exchange CA's own CRLs gave before the node PKI issued them (kept on adoption)."""
    if text and "compromise" in text.lower():
        return RevocationReason.KEY_COMPROMISE
    return RevocationReason.CESSATION_OF_OPERATION


class CredentialStore:
    """Loads (and on first use creates) this node's credentials; caches them for a minute per process
    (building them is not free; a revocation is effective at once anyway: the receiver checks the node's
    status in the database on every batch, and this process drops its trust on a local revocation)."""

    def __init__(self, settings: Settings, session_factory: sessionmaker[Session], ttl: float = 60.0) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self.ttl = ttl
        self._lock = threading.RLock()
        self._cache: dict[str, tuple[float, object]] = {}
        self._upstream_crl: tuple[Crl, datetime] | None = None

    def invalidate(self) -> None:
        """Forget everything cached (after a join, approval, revocation)."""
        with self._lock:
            self._cache.clear()
            self._upstream_crl = None

    def _cached(self, name: str) -> object | None:
        entry = self._cache.get(name)
        if entry is not None and time.monotonic() - entry[0] < self.ttl:
            return entry[1]
        return None

    def _remember(self, name: str, value: object) -> None:
        self._cache[name] = (time.monotonic(), value)

    # --- loading -----------------------------------------------------------------------------------

    @staticmethod
    def _active(session: Session, purpose: str) -> ExchangeCredential | None:
        return session.scalars(
            select(ExchangeCredential)
            .where(ExchangeCredential.purpose == purpose, ExchangeCredential.status == "active")
            .order_by(ExchangeCredential.created_at.desc())
            .limit(1)
        ).first()

    def ca(self) -> NodeCredential:
        """This node's exchange CA (created, or adopted from before the node PKI, on first use)."""
        with self._lock:
            hit = self._cached("ca")
            if isinstance(hit, NodeCredential):
                return hit
            with unit_of_work(self.session_factory) as session:
                if PkiRepository(session).current(EXCHANGE_CA) is None:
                    exlog.lock_head(session)  # node-wide mutex: one CA even with several processes
                    if PkiRepository(session).current(EXCHANGE_CA) is None:
                        self._create_ca(session)
                ca = authority(session, self.settings, EXCHANGE_CA)
            cred = NodeCredential("ca", ca.signer, ca.certificate, ())
            self._remember("ca", cred)
            return cred

    def downlink(self) -> NodeCredential:
        """The certificate this node signs receipts and answers with (issued, or renewed, when needed)."""
        with self._lock:
            hit = self._cached("downlink")
            if isinstance(hit, NodeCredential):
                return hit
            ca = self.ca()
            with unit_of_work(self.session_factory) as session:
                if self._downlink_due(session):
                    exlog.lock_head(session)
                    if self._downlink_due(session):
                        self._issue_downlink(session)
                downlink = authority(session, self.settings, EXCHANGE_DOWNLINK)
            cred = NodeCredential("downlink", downlink.signer, downlink.certificate, (ca.certificate,))
            self._remember("downlink", cred)
            return cred

    @staticmethod
    def _downlink_due(session: Session) -> bool:
        row = PkiRepository(session).current(EXCHANGE_DOWNLINK)
        return row is None or row.not_after - utcnow() < DOWNLINK_RENEWAL

    def uplink(self) -> NodeCredential | None:
        """The certificate the upstream node issued to this node, if joined."""
        with self._lock:
            hit = self._cached("uplink")
            if isinstance(hit, NodeCredential):
                return hit
            with unit_of_work(self.session_factory) as session:
                row = self._active(session, "uplink")
                cred = None
                if row is not None:
                    if row.certificate_pem is None:
                        raise LookupError("credential has no certificate yet")
                    certs = load_certificates(row.certificate_pem.encode())
                    signer = credential_signer(session, self.settings, row)
                    cred = NodeCredential("uplink", signer, certs[0], tuple(certs[1:]))
            if cred is not None:
                self._remember("uplink", cred)
            return cred

    def upstream_trust(self) -> TrustStore:
        """Trust for documents from the upstream node: the upstream CA certificate(s) kept at join."""
        with self._lock:
            hit = self._cached("upstream_trust")
            if isinstance(hit, TrustStore):
                return hit
            store = TrustStore()
            with unit_of_work(self.session_factory) as session:
                row = self._active(session, "uplink")
                if row is not None and row.trust_pem:
                    store.add_anchors(row.trust_pem.encode(), [PURPOSE])
            self._remember("upstream_trust", store)
            return store

    def upstream_receipt_trust(self, fetch: Callable[[], bytes]) -> TrustStore:
        """:meth:`upstream_trust` holding a current CRL of the upstream exchange CA, so that a revoked
        receipt-signing certificate is refused. The CRL comes from ``fetch`` (the upstream's
        ``/exchange/v1/crl``) when this process holds none, its nextUpdate has passed or it was fetched
        more than :data:`UPSTREAM_CRL_REFRESH` ago; it counts only if signed by the upstream CA (checked
        at validation). A failed fetch keeps a CRL that is still current; without one, LookupError."""
        store = self.upstream_trust()
        now = utcnow()
        with self._lock:
            held = self._upstream_crl
        if held is None or now - held[1] > UPSTREAM_CRL_REFRESH or not held[0].is_current_at(now):
            try:
                crl = load_crl(fetch())
            except (PkiError, ValueError, OSError, LookupError) as exc:
                if held is None or not held[0].is_current_at(now):
                    raise LookupError(f"upstream CRL unavailable: {exc}") from exc
                log.warning("exchange_upstream_crl_stale", error=str(exc)[:200])
            else:
                held = (crl, now)
                with self._lock:
                    self._upstream_crl = held
        store.add_crl(held[0])
        return store

    def children_trust(self) -> TrustStore:
        """Trust for documents from lower nodes: this node's exchange CA with its current CRL, and the
        external CA roots trusted for exchange (``pki trust add --for exchange``, issue 5) with their stored
        CRLs.

        A certificate from an external CA only passes the chain check: the receiver still requires an
        approved node record pinning that very certificate (``authenticate_child``), and, as the batch path
        never downloads CRLs, an anchor is only usable with a CRL stored by ``--crl``. Anchor changes made
        by another process take effect when this cache expires (``ttl``)."""
        with self._lock:
            hit = self._cached("children_trust")
            if isinstance(hit, TrustStore):
                return hit
            ca = self.ca()
            store = TrustStore()
            store.add_anchor(ca.certificate, [PURPOSE])
            store.add_crl(self.current_crl())
            with unit_of_work(self.session_factory) as session:
                external = exchange_trust_anchors(session)
            for cert, crl in external:
                try:
                    store.add_anchor(cert, [PURPOSE])
                    if crl is not None:
                        store.add_crl(crl)
                except PkiError:
                    continue  # unusable anchors are logged by the PKI; they must not block the own CA
            self._remember("children_trust", store)
            return store

    # --- creation ----------------------------------------------------------------------------------

    def _create_ca(self, session: Session) -> None:
        legacy = self._active(session, "ca")
        if legacy is not None:
            self._adopt_ca(session, legacy)
            return
        settings = self.settings
        subject = {
            "C": "CN", "O": settings.node_name, "OU": settings.division_code, "CN": f"{settings.node_id} exchange CA"
        }  # fmt: skip
        ca = create_root(session, settings, EXCHANGE_CA, subject, years=CA_YEARS)
        exlog.append(
            session, direction="local", kind="ca.created", ref=ca.row.id, digest=ca.certificate.fingerprint
        )

    def _adopt_ca(self, session: Session, legacy: ExchangeCredential) -> None:
        """The exchange CA of an older release joins the node PKI: same key and certificate, the
        certificates it issued (revocations as published) and its CRLs (numbers keep rising)."""
        if legacy.key_pem is None or legacy.certificate_pem is None:
            raise LookupError("the exchange CA credential is incomplete")
        cert = load_certificates(legacy.certificate_pem.encode())[0]
        key = SM2PrivateKey.from_pem(legacy.key_pem.encode(), key_password(self.settings))
        ca_row = adopt_root(session, self.settings, EXCHANGE_CA, cert, key)
        issued = 0
        for node in session.scalars(select(ExchangeNode).where(ExchangeNode.certificate_pem.is_not(None))):
            assert node.certificate_pem is not None
            revoked = node.status == "revoked"
            try:
                record_issued(
                    session,
                    ca_row,
                    load_certificate(node.certificate_pem.encode()),
                    profile=CertProfile.NODE_EXCHANGE.value,
                    node_id=node.node_id,
                    revoked_at=(node.revoked_at or utcnow()) if revoked else None,
                    reason=_published_reason(node.revoke_reason) if revoked else None,
                    actor=_ACTOR,
                )
            except PkiError as exc:  # not this CA's: nothing of ours to list (the node record stays)
                log.warning("exchange_certificate_not_adopted", node=node.node_id, error=exc.message)
                continue
            issued += 1
        for old in session.scalars(
            select(ExchangeCredential).where(ExchangeCredential.purpose == "downlink")
        ):
            downlinks = load_certificates(old.certificate_pem.encode()) if old.certificate_pem else []
            if downlinks and downlinks[0].issuer == cert.subject:
                record_issued(session, ca_row, downlinks[0], profile=EXCHANGE_DOWNLINK, actor=_ACTOR)
        crls = 0
        for crl in session.scalars(select(ExchangeCrl).order_by(ExchangeCrl.number)):
            try:
                record_crl(session, ca_row, load_crl(crl.pem.encode()))
            except PkiError as exc:
                log.warning("exchange_crl_not_adopted", number=crl.number, error=exc.message)
                continue
            crls += 1
        if crls == 0:
            issue_crl(session, self.settings, authority(session, self.settings, EXCHANGE_CA))
        exlog.append(session, direction="local", kind="ca.adopted", ref=ca_row.id, digest=cert.fingerprint,
                     detail={"certificates": issued, "crls": crls})  # fmt: skip
        log.info("exchange_ca_adopted", certificates=issued, crls=crls)

    def _issue_downlink(self, session: Session) -> None:
        settings = self.settings
        key = new_key(session, settings, purpose=EXCHANGE_DOWNLINK, label="exchange downlink")
        row, cert = issue_end_entity(
            session,
            settings,
            profile=CertProfile.NODE_EXCHANGE,
            subject=node_subject(settings.node_id, settings.node_name, settings.division_code),
            public_key=SM2PublicKey.from_der(key.public_key),
            not_after=utcnow() + timedelta(days=DOWNLINK_DAYS),
            key_id=key.id,
            extended_key_usage=[EKU_CLIENT_AUTH],
            issuer_slug="exchange",
            stored_as=EXCHANGE_DOWNLINK,
        )
        exlog.append(session, direction="local", kind="downlink.issued", ref=row.id, digest=cert.fingerprint)

    def issue_for(self, session: Session, node: ExchangeNode, request: CertificateRequest) -> Certificate:
        """Issue a lower node's exchange certificate from its (verified) request, in the caller's
        transaction (the PKI records it; the caller keeps it on the node record)."""
        _row, cert = issue_end_entity(
            session,
            self.settings,
            profile=CertProfile.NODE_EXCHANGE,
            subject=node_subject(node.node_id, node.node_name, node.division_code),
            public_key=request.public_key,
            not_after=utcnow() + timedelta(days=NODE_CERT_DAYS),
            node_id=node.node_id,
            extended_key_usage=[EKU_CLIENT_AUTH],
            issuer_slug="exchange",
        )
        return cert

    # --- revocation --------------------------------------------------------------------------------

    def current_crl(self) -> Crl:
        """The newest CRL of this node's exchange CA, re-issued by the PKI when it is due."""
        self.ca()
        with unit_of_work(self.session_factory) as session:
            return load_crl(current_crl(session, self.settings, "exchange").der)

    def revoke(self, session: Session, node: ExchangeNode, reason: RevocationReason) -> None:
        """Revoke a node's certificate in the caller's transaction: the PKI lists it on a new CRL."""
        if node.fingerprint is not None:  # a pending request has no certificate yet
            row = PkiRepository(session).by_fingerprint(node.fingerprint)
            if row is None:
                log.warning("exchange_certificate_unknown", node=node.node_id)
            else:
                revoke_certificate(session, self.settings, row, reason=reason, actor=_ACTOR)
        with self._lock:
            self._cache.pop("children_trust", None)
