"""The node's SM2 PKI: its CAs and service identities, certificates, CRLs, trust anchors.

``init_pki`` creates the root CA, the issuing CA (seal signers, ``pki issue-exchange``), the seal maker and
the TSA once (never overwrites). The exchange CA is a root of its own (lower nodes pinned it when they
joined): the exchange creates it on first use with ``create_root`` (or brings an older one in with
``adopt_root``) and issues lower nodes' certificates from it with ``issue_end_entity(issuer=EXCHANGE_CA)``.
Every key is in the node's key ring; every revocation re-issues the CA's CRL, published at
``{public_url}/pki/crl/<ca>.crl``. ``trust_store`` assembles what verification trusts: the node's own root,
the external roots added with ``zhengwu pki trust add``, their CRLs and a fetching CRL cache.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import httpx
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zhengwu.audit.changes import record_change
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.config import Settings
from zhengwu.kernel.crypto import SM2PrivateKey, SM2PublicKey, sm3
from zhengwu.kernel.crypto.signer import DigestSigner
from zhengwu.kernel.logging import get_logger
from zhengwu.kernel.pki import (
    EKU_CLIENT_AUTH,
    EKU_SERVER_AUTH,
    MAX_CRL_BYTES,
    PURPOSES,
    TOLERANT_CONVENTIONS,
    Certificate,
    CertProfile,
    Crl,
    CrlCache,
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
    load_csr,
    verify_crl_signature,
)
from zhengwu.kernel.pki.names import NameInput
from zhengwu.pki.errors import (
    CertificateNotFound,
    CertificateRequestInvalid,
    PkiAlreadyInitialized,
    PkiNotInitialized,
    RevocationRefused,
    TrustAnchorInvalid,
    TrustAnchorNotFound,
)
from zhengwu.pki.keys import SOFTWARE_SCHEME, GeneratedKey, KeyRecord, KeyRing, keyring, short_id
from zhengwu.pki.models import PkiCertificate, PkiCrl, PkiKey, PkiTrustAnchor
from zhengwu.pki.repository import PkiRepository

log = get_logger("zhengwu.pki")

#: The exchange CA (its own root) and the certificate the exchange signs receipts with towards lower nodes.
EXCHANGE_CA: Final = "exchange-ca"
EXCHANGE_DOWNLINK: Final = "exchange-downlink"
#: The node's CAs by the slug of their CRL / certificate URLs.
CA_SLUGS: Final[dict[str, str]] = {
    "root": CertProfile.ROOT_CA,
    "issuing": CertProfile.ISSUING_CA,
    "exchange": EXCHANGE_CA,
}
#: The CAs ``pki init`` creates (the exchange creates its CA on first use), and all it creates.
INIT_SLUGS: Final = ("root", "issuing")
_INIT_PROFILES: Final = tuple(
    p.value for p in (CertProfile.ROOT_CA, CertProfile.ISSUING_CA, CertProfile.SEAL_MAKER, CertProfile.TSA)
)
ROOT_YEARS: Final = 20
ISSUING_YEARS: Final = 10
SERVICE_YEARS: Final = 10  # seal maker and TSA certificates (clipped to the issuing CA)
EXCHANGE_DAYS: Final = 365
CRL_VALIDITY: Final = timedelta(days=7)
#: A CRL is re-issued once it is this old, long before its nextUpdate (RFC 5280 §5.1.2.5 freshness).
CRL_REFRESH: Final = timedelta(days=1)
CLOCK_SKEW: Final = timedelta(hours=1)
#: The purposes ``pki trust add --for`` accepts (kernel.pki PURPOSES).
TRUST_PURPOSES: Final = PURPOSES


def _years(moment: datetime, years: int) -> datetime:
    return moment.replace(year=moment.year + years, day=min(moment.day, 28))


def _now(at: datetime | None) -> datetime:
    return (at or utcnow()).replace(microsecond=0)


def ring(settings: Settings) -> KeyRing:
    """The node's key ring (software keys wrapped under a key derived from the node secret)."""
    return keyring(settings.security.secret_key.get_secret_value())


def crl_url(settings: Settings, slug: str) -> str:
    """Where the CRL of one of this node's CAs is published."""
    return f"{settings.public_url}/pki/crl/{slug}.crl"


@dataclass(frozen=True, slots=True)
class Authority:
    """One of the node's own identities: its certificate row, parsed certificate and signer."""

    row: PkiCertificate
    certificate: Certificate
    signer: DigestSigner


@dataclass(frozen=True, slots=True)
class InitSummary:
    """What ``init_pki`` found or created."""

    created: tuple[str, ...]
    certificates: dict[str, Certificate]


def _record(row: PkiKey) -> KeyRecord:
    return KeyRecord(row.key_ref, row.public_key, row.wrapped)


def new_key(
    session: Session, settings: Settings, *, purpose: str, label: str, scheme: str = SOFTWARE_SCHEME
) -> PkiKey:
    """Generate a key in a backend (software by default, or a registered HSM) and store its reference."""
    return _store_key(session, ring(settings).generate(label, scheme=scheme), purpose, "key_created")


def _store_key(session: Session, key: GeneratedKey, purpose: str, event: str) -> PkiKey:
    row = PkiKey(
        key_ref=key.key_ref,
        backend=key.key_ref.split(":", 1)[0],
        purpose=purpose,
        public_key=key.public_key.to_der(),
        fingerprint=key.public_key.fingerprint,
        wrapped=key.wrapped,
    )
    PkiRepository(session).add(row)
    log.info(event, purpose=purpose, key_ref=short_id(row.key_ref), key=short_id(row.fingerprint))
    return row


def signer_for_key(settings: Settings, row: PkiKey) -> DigestSigner:
    """The signer of a stored key (software or HSM backend, by its reference)."""
    return ring(settings).signer(_record(row))


def _store(
    session: Session,
    cert: Certificate,
    *,
    profile: str,
    issuer_id: str | None,
    key_id: str | None,
    node_id: str | None = None,
) -> PkiCertificate:
    row = PkiCertificate(
        issuer_id=issuer_id,
        profile=profile,
        serial=f"{cert.serial_number:X}",
        subject=str(cert.subject)[:1000],
        der=cert.der,
        fingerprint=cert.fingerprint,
        not_before=cert.not_before,
        not_after=cert.not_after,
        key_id=key_id,
        node_id=node_id,
    )
    PkiRepository(session).add(row)
    log.info("certificate_issued", profile=profile, certificate=short_id(cert.fingerprint))
    return row


def authority(session: Session, settings: Settings, profile: str) -> Authority:
    """The node's current identity for a profile (root, issuing CA, seal maker, TSA, exchange CA, ...)."""
    repo = PkiRepository(session)
    row = repo.current(str(profile))
    if row is None or row.key_id is None:
        raise PkiNotInitialized()
    key = repo.key(row.key_id)
    if key is None:
        raise PkiNotInitialized(detail_en=f"key of the {profile} certificate is missing")
    return Authority(row, load_certificate(row.der), signer_for_key(settings, key))


@dataclass(frozen=True, slots=True)
class SigningIdentity:
    """What signing with one of the node's identities needs: the parsed certificate, the issuer's
    (the chain a time-stamp token carries) and the signer. Kept per process by ``signing_identity``."""

    certificate_id: str
    certificate: Certificate
    issuer: Certificate | None
    signer: DigestSigner


#: Parsed identities by (key ring, certificate id, key id). A certificate row's DER and a key row's
#: reference and wrapped key never change (rotation adds rows, revocation only flips a status), so an
#: entry is never stale; whether it is still the one to use is asked of the database on every use.
_IDENTITIES: dict[tuple[int, str, str], SigningIdentity] = {}
_IDENTITIES_LOCK = threading.Lock()


def signing_identity(session: Session, settings: Settings, profile: str) -> SigningIdentity:
    """The node's current identity for a profile, for signing (the TSA, the license key …).

    One small query a use finds the newest valid certificate of the profile, so a rotation or a
    revocation committed by any process of the node takes effect on the next signature; only the
    parsing of that certificate and its issuer and the unwrapping of its key are cached."""
    repo = PkiRepository(session)
    current = repo.current_ids(str(profile))
    if current is None:
        raise PkiNotInitialized()
    return _identity(repo, settings, str(profile), current)


def signing_identities(
    session: Session, settings: Settings, first: str, second: str
) -> tuple[SigningIdentity | None, SigningIdentity | None]:
    """``signing_identity`` of two profiles with one query (None for a profile with no current
    certificate), for a caller about to sign with both in the same transaction."""
    repo = PkiRepository(session)
    found = repo.current_ids_of_two(str(first), str(second))
    return (
        _identity(repo, settings, str(first), found[0]) if found[0] is not None else None,
        _identity(repo, settings, str(second), found[1]) if found[1] is not None else None,
    )


def _identity(
    repo: PkiRepository, settings: Settings, profile: str, current: tuple[str, str, str | None]
) -> SigningIdentity:
    cert_id, key_id, issuer_id = current
    keys = ring(settings)
    index = (id(keys), cert_id, key_id)
    with _IDENTITIES_LOCK:
        found = _IDENTITIES.get(index)
    if found is not None:
        return found
    row, key = repo.certificate(cert_id), repo.key(key_id)
    if row is None or key is None:
        raise PkiNotInitialized(detail_en=f"key of the {profile} certificate is missing")
    issuer_row = repo.certificate(issuer_id) if issuer_id is not None else None
    made = SigningIdentity(
        cert_id,
        load_certificate(row.der),
        load_certificate(issuer_row.der) if issuer_row is not None else None,
        keys.signer(_record(key)),
    )
    with _IDENTITIES_LOCK:
        if len(_IDENTITIES) > 256:
            _IDENTITIES.clear()
        _IDENTITIES[index] = made
    return made


#: Signers by (key ring, key id): a key row never changes, so its signer can be reused by id.
_SIGNERS: dict[tuple[int, str], DigestSigner] = {}


def signer_for_key_id(session: Session, settings: Settings, key_id: str) -> DigestSigner | None:
    """The signer of a stored key by its id (None when no such key), without reading the row again
    once this process has used it."""
    keys = ring(settings)
    index = (id(keys), key_id)
    with _IDENTITIES_LOCK:
        found = _SIGNERS.get(index)
    if found is not None:
        return found
    row = PkiRepository(session).key(key_id)
    if row is None:
        return None
    signer = keys.signer(_record(row))
    with _IDENTITIES_LOCK:
        if len(_SIGNERS) > 4096:
            _SIGNERS.clear()
        _SIGNERS[index] = signer
    return signer


def is_initialized(session: Session) -> bool:
    """Whether ``pki init`` has run (root and issuing CA exist)."""
    repo = PkiRepository(session)
    return (
        repo.current(CertProfile.ROOT_CA.value) is not None
        and repo.current(CertProfile.ISSUING_CA.value) is not None
    )


def _ca_names(settings: Settings) -> dict[CertProfile, NameInput]:
    base = [("C", "CN"), ("O", settings.node_name), ("OU", "电子印章与证书服务")]
    return {
        CertProfile.ROOT_CA: [*base, ("CN", f"{settings.node_name} SM2 根证书")],
        CertProfile.ISSUING_CA: [*base, ("CN", f"{settings.node_name} SM2 签发证书")],
        CertProfile.SEAL_MAKER: [*base, ("CN", f"{settings.node_name} 电子印章制作系统")],
        CertProfile.TSA: [*base, ("CN", f"{settings.node_name} 时间戳服务")],
    }


def init_pki(session: Session, settings: Settings, *, at: datetime | None = None) -> InitSummary:
    """Create whatever of root CA, issuing CA, seal maker and TSA is missing; never replaces one."""
    now = _now(at)
    names = _ca_names(settings)
    repo = PkiRepository(session)
    created: list[str] = []
    root_row = repo.current(CertProfile.ROOT_CA.value)
    if root_row is None:
        if repo.current(CertProfile.ISSUING_CA.value) is not None:
            raise PkiAlreadyInitialized(
                detail_en="an issuing CA exists without its root; refusing to replace"
            )
        create_root(
            session, settings, CertProfile.ROOT_CA, names[CertProfile.ROOT_CA], years=ROOT_YEARS, at=now
        )
        created.append("root-ca")
    root = authority(session, settings, CertProfile.ROOT_CA)
    if repo.current(CertProfile.ISSUING_CA.value) is None:
        _issue_own(
            session,
            settings,
            root,
            CertProfile.ISSUING_CA,
            names[CertProfile.ISSUING_CA],
            not_after=min(_years(now, ISSUING_YEARS), root.certificate.not_after),
            crl="root",
            now=now,
        )
        created.append("issuing-ca")
    issuing = authority(session, settings, CertProfile.ISSUING_CA)
    for profile in (CertProfile.SEAL_MAKER, CertProfile.TSA):
        if repo.current(profile.value) is None:
            _issue_own(
                session,
                settings,
                issuing,
                profile,
                names[profile],
                not_after=min(_years(now, SERVICE_YEARS), issuing.certificate.not_after),
                crl="issuing",
                now=now,
            )
            created.append(profile.value)
    for slug in INIT_SLUGS:
        ca = authority(session, settings, CA_SLUGS[slug])
        if repo.latest_crl(ca.row.id) is None:
            issue_crl(session, settings, ca, at=now)
    if created:
        record_change(session, actor=None, action="pki.init", entity="pki", entity_id=settings.node_id,
                      after={"created": created})  # fmt: skip
    certificates = {
        profile.value: authority(session, settings, profile).certificate
        for profile in (CertProfile.ROOT_CA, CertProfile.ISSUING_CA, CertProfile.SEAL_MAKER, CertProfile.TSA)
    }
    return InitSummary(tuple(created), certificates)


def create_root(
    session: Session,
    settings: Settings,
    profile: str,
    subject: NameInput,
    *,
    years: int,
    at: datetime | None = None,
) -> Authority:
    """A new self-signed CA stored as ``profile``, its key in the key ring, with its first CRL."""
    now = _now(at)
    key = new_key(session, settings, purpose=str(profile), label=str(profile))
    signer = signer_for_key(settings, key)
    cert = create_root_ca(
        subject=subject, signer=signer, not_before=now - CLOCK_SKEW, not_after=_years(now, years)
    )
    ca = Authority(_store(session, cert, profile=str(profile), issuer_id=None, key_id=key.id), cert, signer)
    issue_crl(session, settings, ca, at=now)
    return ca


def import_key(session: Session, settings: Settings, key: SM2PrivateKey, *, purpose: str) -> PkiKey:
    """Bring an existing software key into the key ring (SM4-wrapped from now on) and store its reference."""
    return _store_key(session, ring(settings).software.import_key(key), purpose, "key_imported")


def adopt_root(
    session: Session, settings: Settings, profile: str, certificate: Certificate, key: SM2PrivateKey
) -> PkiCertificate:
    """Make a CA created outside the node PKI (before it held every key) one of its identities."""
    if not certificate.is_ca or not certificate.is_self_issued:
        raise PkiError("only a self-issued CA certificate can be adopted", "只能纳入自签名的 CA 证书")
    if certificate.public_key.point != key.public_key.point:
        raise PkiError("the key does not belong to the certificate", "私钥与证书不符")
    row = import_key(session, settings, key, purpose=str(profile))
    return _store(session, certificate, profile=str(profile), issuer_id=None, key_id=row.id)


def record_issued(
    session: Session,
    issuer: PkiCertificate,
    certificate: Certificate,
    *,
    profile: str,
    node_id: str | None = None,
    revoked_at: datetime | None = None,
    reason: RevocationReason | None = None,
    actor: str = "",
) -> PkiCertificate:
    """Record a certificate one of the node's CAs issued earlier (its revocation, if any, as it was)."""
    if certificate.issuer != load_certificate(issuer.der).subject:
        raise PkiError("the certificate was not issued by this CA", "证书不是该 CA 签发的")
    row = _store(session, certificate, profile=profile, issuer_id=issuer.id, key_id=None, node_id=node_id)
    if revoked_at is not None:
        row.status = "revoked"
        row.revoked_at = revoked_at
        row.revocation_reason = (reason or RevocationReason.UNSPECIFIED).value
        row.revoked_by = actor[:100]
        session.flush()
    return row


def record_crl(session: Session, issuer: PkiCertificate, crl: Crl) -> PkiCrl:
    """Keep a CRL one of the node's CAs issued earlier (so that CRL numbers keep rising after it)."""
    if (
        crl.issuer != load_certificate(issuer.der).subject
        or crl.crl_number is None
        or crl.next_update is None
    ):
        raise PkiError("not a numbered CRL of this CA", "不是该 CA 的撤销列表")
    row = PkiCrl(
        issuer_id=issuer.id,
        number=crl.crl_number,
        this_update=crl.this_update,
        next_update=crl.next_update,
        der=crl.der,
    )
    PkiRepository(session).add(row)
    return row


def _issue_own(
    session: Session,
    settings: Settings,
    issuer: Authority,
    profile: CertProfile,
    subject: NameInput,
    *,
    not_after: datetime,
    crl: str,
    now: datetime,
) -> PkiCertificate:
    key = new_key(session, settings, purpose=profile.value, label=profile.value)
    cert = issue_certificate(
        issuer=issuer.certificate,
        issuer_signer=issuer.signer,
        subject=subject,
        public_key=SM2PublicKey.from_der(key.public_key),
        profile=profile,
        not_before=max(now - CLOCK_SKEW, issuer.certificate.not_before),
        not_after=not_after,
        crl_urls=[crl_url(settings, crl)],
    )
    return _store(session, cert, profile=profile.value, issuer_id=issuer.row.id, key_id=key.id)


def issue_end_entity(
    session: Session,
    settings: Settings,
    *,
    profile: CertProfile,
    subject: NameInput,
    public_key: SM2PublicKey,
    not_after: datetime,
    key_id: str | None = None,
    node_id: str | None = None,
    extended_key_usage: Sequence[str] = (),
    dns_names: Sequence[str] = (),
    issuer_slug: str = "issuing",
    stored_as: str | None = None,
    at: datetime | None = None,
) -> tuple[PkiCertificate, Certificate]:
    """An end-entity certificate from one of the node's CAs (validity clipped to the CA's), stored as
    ``stored_as`` (by default the profile's name)."""
    if profile in (CertProfile.ROOT_CA, CertProfile.ISSUING_CA):
        raise PkiError("CA certificates come from init_pki", "CA 证书只能由 pki init 创建")
    issuer = authority(session, settings, CA_SLUGS[issuer_slug])
    now = _now(at)
    cert = issue_certificate(
        issuer=issuer.certificate,
        issuer_signer=issuer.signer,
        subject=subject,
        public_key=public_key,
        profile=profile,
        not_before=max(now - CLOCK_SKEW, issuer.certificate.not_before),
        not_after=min(not_after, issuer.certificate.not_after),
        crl_urls=[crl_url(settings, issuer_slug)],
        extended_key_usage=extended_key_usage,
        dns_names=dns_names,
    )
    row = _store(
        session,
        cert,
        profile=stored_as or profile.value,
        issuer_id=issuer.row.id,
        key_id=key_id,
        node_id=node_id,
    )
    return row, cert


def issue_exchange_certificate(
    session: Session,
    settings: Settings,
    csr_der: bytes,
    node_id: str,
    *,
    days: int = EXCHANGE_DAYS,
    at: datetime | None = None,
) -> Certificate:
    """A node-to-node exchange certificate (clientAuth + serverAuth) for a peer node's SM2 CSR."""
    try:
        csr = load_csr(csr_der)
        verified = csr.verify(TOLERANT_CONVENTIONS)
        public_key = csr.public_key
    except PkiError as exc:
        raise CertificateRequestInvalid(exc.message_zh, detail_en=exc.message) from exc
    if verified is None:
        raise CertificateRequestInvalid(
            "证书申请签名验证失败", detail_en="CSR self-signature does not verify"
        )
    if not node_id or len(node_id) > 63:
        raise CertificateRequestInvalid("节点标识无效", detail_en="node id must be 1..63 characters")
    organization = csr.subject.get("O") or node_id
    now = _now(at)
    _row, cert = issue_end_entity(
        session,
        settings,
        profile=CertProfile.NODE_EXCHANGE,
        subject=[("C", "CN"), ("O", organization), ("OU", "数据交换节点"), ("CN", node_id)],
        public_key=public_key,
        not_after=now + timedelta(days=days),
        node_id=node_id,
        extended_key_usage=[EKU_CLIENT_AUTH, EKU_SERVER_AUTH],
        dns_names=csr.dns_names,
        at=now,
    )
    return cert


# ---- revocation and CRLs ---------------------------------------------------------------------------


def issue_crl(
    session: Session,
    settings: Settings,
    ca: Authority,
    *,
    at: datetime | None = None,
    reuse_concurrent: bool = False,
) -> PkiCrl:
    """Sign and store the next CRL of one of the node's CAs, listing every certificate it revoked.

    Two transactions may issue "the next" CRL at once (a refresh and a revocation): the unique CRL number
    makes one of them fail; it then signs again with the following number (so a revocation is never left
    out), or with ``reuse_concurrent`` (a mere refresh) takes the CRL the other one stored.
    """
    repo = PkiRepository(session)
    now = _now(at)
    for attempt in range(3):
        entries = []
        for revoked in repo.revoked_by_issuer(ca.row.id):
            assert revoked.revoked_at is not None
            reason = RevocationReason(revoked.revocation_reason) if revoked.revocation_reason else None
            entries.append(RevokedCertificate(int(revoked.serial, 16), revoked.revoked_at, reason=reason))
        crl = build_crl(
            issuer=ca.certificate,
            signer=ca.signer,
            this_update=now,
            next_update=now + CRL_VALIDITY,
            crl_number=repo.next_crl_number(ca.row.id),
            revoked=entries,
        )
        assert crl.crl_number is not None and crl.next_update is not None
        row = PkiCrl(
            issuer_id=ca.row.id,
            number=crl.crl_number,
            this_update=crl.this_update,
            next_update=crl.next_update,
            der=crl.der,
        )
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            latest = repo.latest_crl(ca.row.id)
            if reuse_concurrent and latest is not None:
                return latest
            if attempt == 2:
                raise
            continue
        log.info("crl_issued", ca=ca.row.profile, number=crl.crl_number, entries=len(entries))
        return row
    raise AssertionError("unreachable")


def current_crl(session: Session, settings: Settings, slug: str, *, at: datetime | None = None) -> PkiCrl:
    """The CRL to publish for a CA slug, re-issued first when it is older than ``CRL_REFRESH``."""
    profile = CA_SLUGS.get(slug)
    if profile is None or (slug not in INIT_SLUGS and PkiRepository(session).current(profile) is None):
        raise CertificateNotFound("证书撤销列表不存在", detail_en=f"no CA named {slug!r}")
    ca = authority(session, settings, profile)
    now = _now(at)
    latest = PkiRepository(session).latest_crl(ca.row.id)
    if latest is None or latest.this_update + CRL_REFRESH <= now or latest.next_update <= now:
        latest = issue_crl(session, settings, ca, at=now, reuse_concurrent=True)
    return latest


def ca_certificate(session: Session, slug: str) -> PkiCertificate:
    """The certificate of one of the node's CAs by slug (root / issuing / exchange)."""
    profile = CA_SLUGS.get(slug)
    row = PkiRepository(session).current(profile) if profile is not None else None
    if row is None:
        raise CertificateNotFound("CA 证书不存在", detail_en=f"no CA named {slug!r}")
    return row


def revoke_certificate(
    session: Session,
    settings: Settings,
    row: PkiCertificate,
    *,
    reason: RevocationReason = RevocationReason.UNSPECIFIED,
    actor: str,
    at: datetime | None = None,
) -> PkiCrl | None:
    """Revoke one of the node's certificates and re-issue its CA's CRL (None if it was already revoked)."""
    if row.status == "revoked":
        return None
    if row.issuer_id is None:
        # RFC 5280 §6.1: a trust anchor is not checked against a CRL; relying parties drop it instead.
        raise RevocationRefused(
            "根证书不能通过撤销列表撤销；如需停用，请让依赖方移除对它的信任",
            detail_en="a root CA is not revoked through its own CRL; relying parties must stop trusting it",
        )
    now = _now(at)
    row.status = "revoked"
    row.revoked_at = now
    row.revocation_reason = reason.value
    row.revoked_by = actor[:100]
    session.flush()
    record_change(session, actor=actor, action="certificate.revoke", entity="pki.certificate",
                  entity_id=row.fingerprint, before={"status": "valid"},
                  after={"status": "revoked", "reason": reason.value, "profile": row.profile})  # fmt: skip
    log.info("certificate_revoked", certificate=short_id(row.fingerprint), reason=reason.value)
    issuer_row = PkiRepository(session).certificate(row.issuer_id)
    assert issuer_row is not None
    key = PkiRepository(session).key(issuer_row.key_id) if issuer_row.key_id is not None else None
    if key is None:
        raise PkiNotInitialized(detail_en=f"key of the {issuer_row.profile} certificate is missing")
    # The CRL of the CA that issued the certificate, even if a newer CA of that kind exists.
    issuer = Authority(issuer_row, load_certificate(issuer_row.der), signer_for_key(settings, key))
    return issue_crl(session, settings, issuer, at=now)


def find_certificate(session: Session, ident: str) -> PkiCertificate:
    """A node certificate by hex serial number or SM3 fingerprint."""
    repo = PkiRepository(session)
    text = ident.strip()
    if len(text) == 64:
        row = repo.by_fingerprint(text)
        if row is not None:
            return row
    matches = repo.by_serial(text.removeprefix("0x").removeprefix("0X"))
    if len(matches) != 1:
        raise CertificateNotFound(detail_en=f"{len(matches)} certificates match")
    return matches[0]


# ---- trust anchors ---------------------------------------------------------------------------------


def _check_purposes(purposes: Iterable[str]) -> list[str]:
    wanted = sorted(set(purposes))
    if not wanted or not set(wanted) <= TRUST_PURPOSES:
        raise TrustAnchorInvalid(
            f"信任用途无效，可选：{'、'.join(sorted(TRUST_PURPOSES))}",
            detail_en=f"purposes must be among {sorted(TRUST_PURPOSES)}",
        )
    return wanted


def _check_crl_url(url: str) -> str:
    cleaned = url.strip()
    if (
        not cleaned.startswith(("http://", "https://"))
        or len(cleaned) > 1000
        or any(c.isspace() for c in cleaned)
    ):
        raise TrustAnchorInvalid("CRL 地址必须是 http(s) 地址", detail_en="CRL URL must be http(s)")
    return cleaned


def _check_crl_for(crl_data: bytes, anchor: Certificate) -> Crl:
    try:
        crl = load_crl(crl_data)
    except PkiError as exc:
        raise TrustAnchorInvalid(f"证书撤销列表无效：{exc.message_zh}", detail_en=exc.message) from exc
    if crl.issuer != anchor.subject:
        raise TrustAnchorInvalid("证书撤销列表不是该根证书签发的", detail_en="CRL issuer is not this anchor")
    if verify_crl_signature(crl, anchor, TOLERANT_CONVENTIONS) is None:
        raise TrustAnchorInvalid("证书撤销列表签名验证失败", detail_en="CRL signature does not verify")
    return crl


def add_trust_anchors(
    session: Session,
    data: bytes,
    *,
    purposes: Iterable[str],
    actor: str,
    crl: bytes | None = None,
    crl_url: str | None = None,
) -> list[PkiTrustAnchor]:
    """Trust one CA certificate (or each of a PEM bundle) for the purposes; re-adding merges purposes."""
    wanted = _check_purposes(purposes)
    try:
        certs = load_certificates(data)
    except PkiError as exc:
        raise TrustAnchorInvalid(f"证书无法解析：{exc.message_zh}", detail_en=exc.message) from exc
    if not certs:
        raise TrustAnchorInvalid("文件中没有证书", detail_en="no certificate in the data")
    if (crl is not None or crl_url is not None) and len(certs) != 1:
        raise TrustAnchorInvalid(
            "指定撤销列表时只能添加一个根证书", detail_en="--crl needs exactly one certificate"
        )
    url = _check_crl_url(crl_url) if crl_url is not None else None
    repo = PkiRepository(session)
    now = utcnow()
    result = []
    for cert in certs:
        if not cert.is_ca and not cert.is_self_issued:
            raise TrustAnchorInvalid(
                "只能信任 CA 证书", detail_en="only CA certificates can be trust anchors"
            )
        try:
            TrustStore().add_anchor(cert, wanted)  # checks SM2 key and (for roots) the self-signature
        except PkiError as exc:
            raise TrustAnchorInvalid(exc.message_zh, detail_en=exc.message) from exc
        crl_der = _check_crl_for(crl, cert).der if crl is not None else None
        row = repo.anchor(cert.fingerprint)
        if row is None:
            row = PkiTrustAnchor(
                fingerprint=cert.fingerprint,
                subject=str(cert.subject)[:1000],
                der=cert.der,
                purposes=wanted,
                crl_der=crl_der,
                crl_sm3=sm3(crl_der).hex() if crl_der is not None else None,
                crl_url=url,
                not_after=cert.not_after,
                added_by=actor[:100],
                added_at=now,
                updated_at=now,
            )
            repo.add(row)
        else:
            row.purposes = sorted({*row.purposes, *wanted})
            if crl_der is not None:
                row.crl_der = crl_der
                row.crl_sm3 = sm3(crl_der).hex()
            if url is not None:
                row.crl_url = url
            row.updated_at = now
            session.flush()
        record_change(session, actor=actor, action="trust_anchor.add", entity="pki.trust_anchor",
                      entity_id=cert.fingerprint, after={"subject": row.subject, "purposes": list(row.purposes),
                                                         "crl_url": row.crl_url})  # fmt: skip
        log.info("trust_anchor_added", certificate=short_id(cert.fingerprint), purposes=wanted)
        result.append(row)
    return result


def update_anchor_crl(session: Session, fingerprint: str, crl: bytes) -> PkiTrustAnchor:
    """Replace the stored CRL of a trust anchor (e.g. a newer one downloaded by an operator)."""
    row = remove_or_find(session, fingerprint, remove=False)
    checked = _check_crl_for(crl, load_certificate(row.der))
    row.crl_der = checked.der
    row.crl_sm3 = sm3(checked.der).hex()
    row.updated_at = utcnow()
    session.flush()
    return row


def remove_or_find(
    session: Session, fingerprint: str, *, remove: bool, actor: str | None = None
) -> PkiTrustAnchor:
    """The anchor whose fingerprint starts with ``fingerprint`` (≥ 8 hex digits); deleted when asked."""
    prefix = fingerprint.strip().lower()
    if len(prefix) < 8 or any(c not in "0123456789abcdef" for c in prefix):
        raise TrustAnchorNotFound("请给出至少 8 位十六进制指纹", detail_en="give at least 8 hex digits")
    matches = PkiRepository(session).anchors_with_prefix(prefix)
    if len(matches) != 1:
        raise TrustAnchorNotFound(detail_en=f"{len(matches)} anchors match {prefix!r}")
    row = matches[0]
    if remove:
        session.delete(row)
        session.flush()
        record_change(session, actor=actor, action="trust_anchor.remove", entity="pki.trust_anchor",
                      entity_id=row.fingerprint, before={"subject": row.subject, "purposes": list(row.purposes)})  # fmt: skip
        log.info("trust_anchor_removed", certificate=short_id(row.fingerprint))
    return row


def list_trust_anchors(session: Session) -> Sequence[PkiTrustAnchor]:
    """Every configured external trust anchor."""
    return PkiRepository(session).anchors()


def exchange_trust_anchors(session: Session) -> list[tuple[Certificate, Crl | None]]:
    """External CA roots trusted for node-to-node exchange (``pki trust add --for exchange``), with CRLs."""
    result: list[tuple[Certificate, Crl | None]] = []
    for anchor in PkiRepository(session).anchors():
        if "exchange" not in anchor.purposes:
            continue
        try:
            cert = load_certificate(anchor.der)
            crl = load_crl(anchor.crl_der) if anchor.crl_der is not None else None
        except PkiError as exc:
            log.warning("trust_anchor_unusable", certificate=short_id(anchor.fingerprint), error=exc.message)
            continue
        result.append((cert, crl))
    return result


# ---- the verification trust store ------------------------------------------------------------------


def fetch_crl(
    url: str,
    *,
    timeout: float = 5.0,
    max_bytes: int = MAX_CRL_BYTES,
    transport: httpx.BaseTransport | None = None,
) -> bytes:
    """Download a CRL over http(s) with a timeout and a size cap (no redirects to other schemes)."""
    if not url.startswith(("http://", "https://")):
        raise PkiError(f"unsupported CRL URL scheme: {url}", "不支持的 CRL 地址")
    with (
        httpx.Client(timeout=timeout, follow_redirects=False, transport=transport) as client,
        client.stream("GET", url, headers={"Accept": "application/pkix-crl"}) as response,
    ):
        if response.status_code != 200:
            raise PkiError(f"CRL download failed: HTTP {response.status_code}", "下载撤销列表失败")
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            raise PkiError("CRL larger than the size cap", "撤销列表超过大小限制")
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > max_bytes:
                raise PkiError("CRL larger than the size cap", "撤销列表超过大小限制")
    return bytes(body)


class _Fetcher:
    """Indirection so that tests can swap the HTTP fetcher of the process-wide CRL cache."""

    def __init__(self) -> None:
        self.fetch: Callable[[str], bytes] = fetch_crl

    def __call__(self, url: str) -> bytes:
        return self.fetch(url)


_FETCHER = _Fetcher()
_CRL_CACHE = CrlCache(_FETCHER, conventions=TOLERANT_CONVENTIONS)


def reset_crl_cache(fetch: Callable[[str], bytes] | None = None) -> None:
    """Forget fetched CRLs; optionally replace the fetcher (``fetch(url) -> bytes``)."""
    global _CRL_CACHE
    _FETCHER.fetch = fetch or fetch_crl
    _CRL_CACHE = CrlCache(_FETCHER, conventions=TOLERANT_CONVENTIONS)


class ExternalCrlSource:
    """CRLs of foreign issuers: configured ``--crl-url`` first, then the certificate's distribution points.

    Issuers whose CRL the store already holds (the node's own CAs, anchors with a current ``--crl`` file)
    are never fetched: the node must not download its own CRL over HTTP while answering a request.
    """

    def __init__(self, cache: CrlCache, urls: dict[str, str], local: frozenset[str]) -> None:
        self.cache = cache
        self.urls = urls
        self.local = local

    def crls_for(self, certificate: Certificate, issuer: Certificate) -> Sequence[Crl]:
        """A fresh CRL of ``issuer`` (cached, fetched when needed); never raises."""
        if issuer.subject.key in self.local:
            return []
        fresh = self.cache.get(issuer)
        if fresh is not None:
            return [fresh]
        urls = [u for u in (self.urls.get(issuer.subject.key), *certificate.crl_urls) if u]
        fetched = self.cache.refresh(issuer, list(dict.fromkeys(urls)))
        return [fetched] if fetched is not None else []


def external_crl_source(urls: dict[str, str] | None = None) -> ExternalCrlSource:
    """A CRL source over the process-wide cache that fetches from distribution points."""
    return ExternalCrlSource(_CRL_CACHE, dict(urls or {}), frozenset())


@dataclass(frozen=True, slots=True)
class VerificationTrust:
    """A built trust store with its CRL source, shared by requests until anchors or CRLs change."""

    store: TrustStore
    crl_source: ExternalCrlSource


_TRUST_CACHE: dict[tuple[object, ...], VerificationTrust] = {}
_TRUST_LOCK = threading.Lock()


def refresh_own_crls(session: Session, settings: Settings, *, at: datetime | None = None) -> None:
    """Re-issue the node CAs' CRLs that are due (a no-op when ``pki init`` has not run)."""
    if is_initialized(session):
        for slug in INIT_SLUGS:
            current_crl(session, settings, slug, at=at)


def trust_store(session: Session, settings: Settings, *, at: datetime | None = None) -> VerificationTrust:
    """What verification trusts now: own root (+ issuing CA, CRLs) and external anchors (+ CRLs)."""
    refresh_own_crls(session, settings, at=at)
    repo = PkiRepository(session)
    generation = (settings.public_url, *repo.trust_generation())
    with _TRUST_LOCK:
        cached = _TRUST_CACHE.get(generation)
    if cached is not None and cached.crl_source.cache is _CRL_CACHE:
        return cached
    store = TrustStore()
    local: set[str] = set()
    urls: dict[str, str] = {}
    root_row = repo.current(CertProfile.ROOT_CA.value)
    if root_row is not None:
        store.add_anchor(root_row.der, ["seals", "exchange", "timestamping"])
        for profile in (CertProfile.ROOT_CA, CertProfile.ISSUING_CA):
            row = repo.current(profile.value)
            if row is None:
                continue
            cert = load_certificate(row.der)
            local.add(cert.subject.key)
            if profile is CertProfile.ISSUING_CA:
                store.add_intermediates(cert)
            crl_row = repo.latest_crl(row.id)
            if crl_row is not None:
                store.add_crl(crl_row.der)
    for anchor in repo.anchors():
        try:
            added = store.add_anchor(anchor.der, anchor.purposes)
        except PkiError as exc:
            log.warning("trust_anchor_unusable", certificate=short_id(anchor.fingerprint), error=exc.message)
            continue
        key = added.certificate.subject.key
        if anchor.crl_url:
            urls[key] = anchor.crl_url
        if anchor.crl_der is not None:
            try:
                store.add_crl(anchor.crl_der)
            except PkiError as exc:
                log.warning(
                    "trust_anchor_crl_unusable", certificate=short_id(anchor.fingerprint), error=exc.message
                )
                continue
            if not anchor.crl_url:
                local.add(key)  # an operator-supplied CRL and nowhere to fetch a newer one
    built = VerificationTrust(store, ExternalCrlSource(_CRL_CACHE, urls, frozenset(local)))
    with _TRUST_LOCK:
        if len(_TRUST_CACHE) > 32:
            _TRUST_CACHE.clear()
        _TRUST_CACHE[generation] = built
    return built


def health(session: Session, *, at: datetime | None = None) -> dict[str, object]:
    """``/_status`` facts (conventions §18): CA, maker, TSA and exchange CA certificate expiry, CRL
    freshness, anchors."""
    now = at or utcnow()
    repo = PkiRepository(session)
    certificates: dict[str, int] = {}
    crls: dict[str, dict[str, object]] = {}
    cas = {CertProfile.ROOT_CA.value, CertProfile.ISSUING_CA.value, EXCHANGE_CA}
    for profile in (*_INIT_PROFILES, EXCHANGE_CA):
        row = repo.current(profile)
        if row is None:
            continue
        certificates[profile] = (row.not_after - now).days
        if profile in cas:
            crl = repo.latest_crl(row.id)
            crls[profile] = {
                "number": crl.number if crl is not None else None,
                "next_update": crl.next_update.isoformat() if crl is not None else None,
                "current": crl is not None and crl.next_update > now,
            }
    anchors = repo.anchors()
    initialized = all(profile in certificates for profile in _INIT_PROFILES)
    return {
        "ok": initialized
        and all(days > 0 for days in certificates.values())
        and all(bool(c["current"]) for c in crls.values()),
        "initialized": initialized,
        "certificate_days_left": certificates,
        "crls": crls,
        "trust_anchors": len(anchors),
        "trust_anchors_expiring_30d": sum(1 for a in anchors if a.not_after - now < timedelta(days=30)),
    }
