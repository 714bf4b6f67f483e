"""This node's exchange keys and certificates (X-Road-like membership), and the trust it places in others.

* ``ca`` — the exchange CA of this node; it issues the certificates of lower nodes at
  ``exchange nodes approve`` and the CRL that lists the revoked ones.
* ``downlink`` — a certificate from its own CA; signs receipts and answers sent to lower nodes.
* ``uplink`` — the certificate its upstream node issued after ``exchange join``; signs batches and
  queries sent upward. Its row also keeps the upstream CA certificate that receipts must chain to.

Private keys are stored as PKCS#8 encrypted with a key derived from the node secret (keys at rest).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from zhengwu.exchange import exlog
from zhengwu.exchange.models import ExchangeCredential, ExchangeCrl, ExchangeNode
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.config import Settings
from zhengwu.kernel.crypto import SM2PrivateKey, hmac_sm3
from zhengwu.kernel.pki import (
    EKU_CLIENT_AUTH,
    Certificate,
    CertificateRequest,
    CertProfile,
    Crl,
    PkiError,
    RevocationReason,
    RevokedCertificate,
    TrustStore,
    build_crl,
    create_root_ca,
    issue_certificate,
    load_certificate,
    load_certificates,
    load_crl,
)
from zhengwu.kernel.session import unit_of_work
from zhengwu.pki.authority import exchange_trust_anchors

PURPOSE: Final = "exchange"
CA_YEARS: Final = 20
DOWNLINK_DAYS: Final = 2 * 365
NODE_CERT_DAYS: Final = 365
CRL_DAYS: Final = 7
_SKEW: Final = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class NodeCredential:
    """A usable key with its certificate and the issuer chain (nearest issuer first)."""

    purpose: str
    key: SM2PrivateKey
    certificate: Certificate
    chain: tuple[Certificate, ...]


def key_password(settings: Settings) -> bytes:
    """The password that wraps exchange private keys, derived from the node secret."""
    secret = settings.security.secret_key.get_secret_value().encode()
    return hmac_sm3(secret, b"zhengwu/exchange/key-wrap/v1").hex().encode()


def _pem(cert: Certificate) -> str:
    return cert.to_pem().decode("ascii")


class CredentialStore:
    """Loads (and on first use creates) this node's credentials; caches them for a minute per process
    (decrypting a key is slow; a revocation is effective at once anyway: the receiver checks the node's
    status in the database on every batch, and this process re-issues its trust on a local revocation)."""

    def __init__(self, settings: Settings, session_factory: sessionmaker[Session], ttl: float = 60.0) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self.ttl = ttl
        self._password = key_password(settings)
        self._lock = threading.RLock()
        self._cache: dict[str, tuple[float, object]] = {}

    def invalidate(self) -> None:
        """Forget everything cached (after a join, approval, revocation)."""
        with self._lock:
            self._cache.clear()

    def _cached(self, name: str) -> object | None:
        entry = self._cache.get(name)
        if entry is not None and time.monotonic() - entry[0] < self.ttl:
            return entry[1]
        return None

    def _remember(self, name: str, value: object) -> None:
        self._cache[name] = (time.monotonic(), value)

    # --- loading -----------------------------------------------------------------------------------

    def _load(self, row: ExchangeCredential) -> NodeCredential:
        key = SM2PrivateKey.from_pem(row.key_pem.encode(), self._password)
        if row.certificate_pem is None:
            raise LookupError("credential has no certificate yet")
        certs = load_certificates(row.certificate_pem.encode())
        return NodeCredential(row.purpose, key, certs[0], tuple(certs[1:]))

    @staticmethod
    def _active(session: Session, purpose: str) -> ExchangeCredential | None:
        return session.scalars(
            select(ExchangeCredential)
            .where(ExchangeCredential.purpose == purpose, ExchangeCredential.status == "active")
            .order_by(ExchangeCredential.created_at.desc())
            .limit(1)
        ).first()

    def ca(self) -> NodeCredential:
        """This node's exchange CA (created on first use)."""
        with self._lock:
            hit = self._cached("ca")
            if isinstance(hit, NodeCredential):
                return hit
            with unit_of_work(self.session_factory) as session:
                row = self._active(session, "ca")
                if row is None:
                    exlog.lock_head(session)  # node-wide mutex: one CA even with several processes
                    row = self._active(session, "ca") or self._create_ca(session)
                cred = self._load(row)
            self._remember("ca", cred)
            return cred

    def downlink(self) -> NodeCredential:
        """The certificate this node signs receipts and answers with (created on first use)."""
        with self._lock:
            hit = self._cached("downlink")
            if isinstance(hit, NodeCredential):
                return hit
            ca = self.ca()
            with unit_of_work(self.session_factory) as session:
                row = self._active(session, "downlink")
                if (
                    row is not None
                    and row.not_after is not None
                    and row.not_after - utcnow() < timedelta(days=30)
                ):
                    row.status = "retired"
                    row = None
                if row is None:
                    exlog.lock_head(session)
                    row = self._active(session, "downlink") or self._create_downlink(session, ca)
                cred = self._load(row)
            self._remember("downlink", cred)
            return cred

    def uplink(self) -> NodeCredential | None:
        """The certificate the upstream node issued to this node, if joined."""
        with self._lock:
            hit = self._cached("uplink")
            if isinstance(hit, NodeCredential):
                return hit
            with unit_of_work(self.session_factory) as session:
                row = self._active(session, "uplink")
                cred = self._load(row) if row is not None else None
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

    def children_trust(self) -> TrustStore:
        """Trust for documents from lower nodes: this node's CA with its current CRL, and the external CA
        roots trusted for exchange (``pki trust add --for exchange``, issue 5) with their stored CRLs.

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
                    continue  # unusable anchors are logged by seals; they must not block the own CA
            self._remember("children_trust", store)
            return store

    # --- creation ----------------------------------------------------------------------------------

    def _store(
        self, session: Session, purpose: str, key: SM2PrivateKey, certs: list[Certificate], **extra: object
    ) -> ExchangeCredential:
        row = ExchangeCredential(
            purpose=purpose,
            status="active",
            key_pem=key.to_pem(self._password).decode("ascii"),
            certificate_pem="".join(_pem(c) for c in certs),
            fingerprint=certs[0].fingerprint,
            not_after=certs[0].not_after,
            **extra,
        )
        session.add(row)
        session.flush()
        return row

    def _create_ca(self, session: Session) -> ExchangeCredential:
        now = utcnow()
        key = SM2PrivateKey.generate()
        cert = create_root_ca(
            subject={"C": "CN", "O": self.settings.node_name, "OU": self.settings.division_code,
                     "CN": f"{self.settings.node_id} exchange CA"},
            signer=key,
            not_before=now - _SKEW,
            not_after=now + timedelta(days=365 * CA_YEARS),
        )  # fmt: skip
        row = self._store(session, "ca", key, [cert])
        exlog.append(session, direction="local", kind="ca.created", ref=row.id, digest=cert.fingerprint)
        return row

    def _create_downlink(self, session: Session, ca: NodeCredential) -> ExchangeCredential:
        now = utcnow()
        key = SM2PrivateKey.generate()
        cert = issue_certificate(
            issuer=ca.certificate,
            issuer_signer=ca.key,
            subject=self._node_subject(
                self.settings.node_id, self.settings.node_name, self.settings.division_code
            ),
            public_key=key.public_key,
            profile=CertProfile.NODE_EXCHANGE,
            not_before=now - _SKEW,
            not_after=min(ca.certificate.not_after, now + timedelta(days=DOWNLINK_DAYS)),
            extended_key_usage=[EKU_CLIENT_AUTH],
        )
        row = self._store(session, "downlink", key, [cert, ca.certificate])
        exlog.append(session, direction="local", kind="downlink.issued", ref=row.id, digest=cert.fingerprint)
        return row

    @staticmethod
    def _node_subject(node_id: str, node_name: str, division_code: str) -> dict[str, str]:
        return {"C": "CN", "O": node_name, "OU": division_code, "CN": node_id}

    def issue_for(self, session: Session, node: ExchangeNode, request: CertificateRequest) -> Certificate:
        """Issue a lower node's exchange certificate from its (verified) request; caller stores it."""
        ca = self.ca()
        now = utcnow()
        return issue_certificate(
            issuer=ca.certificate,
            issuer_signer=ca.key,
            subject=self._node_subject(node.node_id, node.node_name, node.division_code),
            public_key=request.public_key,
            profile=CertProfile.NODE_EXCHANGE,
            not_before=now - _SKEW,
            not_after=min(ca.certificate.not_after, now + timedelta(days=NODE_CERT_DAYS)),
            extended_key_usage=[EKU_CLIENT_AUTH],
        )

    # --- revocation --------------------------------------------------------------------------------

    def current_crl(self) -> Crl:
        """The newest CRL of this node's CA, re-issued when it is about to expire."""
        with unit_of_work(self.session_factory) as session:
            row = session.scalars(select(ExchangeCrl).order_by(ExchangeCrl.number.desc()).limit(1)).first()
            if row is not None and row.next_update - utcnow() > timedelta(days=1):
                return load_crl(row.pem.encode())
            return self._issue_crl(session)

    def reissue_crl(self, session: Session) -> Crl:
        """Issue a new CRL now (after a revocation), in the caller's transaction."""
        crl = self._issue_crl(session)
        with self._lock:
            self._cache.pop("children_trust", None)
        return crl

    def _issue_crl(self, session: Session) -> Crl:
        ca = self.ca()
        exlog.lock_head(session)
        last = session.scalars(
            select(ExchangeCrl.number).order_by(ExchangeCrl.number.desc()).limit(1)
        ).first()
        revoked = [
            RevokedCertificate(int(n.serial, 16), n.revoked_at or utcnow(), _reason(n.revoke_reason))
            for n in session.scalars(
                select(ExchangeNode).where(ExchangeNode.status == "revoked", ExchangeNode.serial.is_not(None))
            )
            if n.serial
        ]
        now = utcnow()
        crl = build_crl(
            issuer=ca.certificate,
            signer=ca.key,
            this_update=now - timedelta(seconds=1),
            next_update=now + timedelta(days=CRL_DAYS),
            crl_number=(last or 0) + 1,
            revoked=revoked,
        )
        session.add(
            ExchangeCrl(
                number=(last or 0) + 1,
                pem=crl.to_pem().decode("ascii"),
                this_update=crl.this_update,
                next_update=crl.next_update or now + timedelta(days=CRL_DAYS),
            )
        )
        session.flush()
        return crl


def _reason(text: str | None) -> RevocationReason | None:
    if text and "compromise" in text.lower():
        return RevocationReason.KEY_COMPROMISE
    return RevocationReason.CESSATION_OF_OPERATION


def parse_certificate_pem(text: str) -> Certificate:
    """A certificate from PEM text."""
    return load_certificate(text.encode())


def not_after_of(cert: Certificate) -> datetime:
    """The certificate's notAfter."""
    return cert.not_after
