"""The seal registry: create seals for departments, suspend/resume/revoke them, sign and verify OFD files.

Every seal is a GB/T 38540 v4 ``SESeal`` made by the node's seal-maker key over DER(SES_SealInfo), listing
one seal-signer certificate issued by the node CA for a key of its own. Signing embeds a time-stamp token
from the node TSA, so that revoking the seal or its certificate later does not invalidate signatures made
before (conventions §17); verification consults this registry for the seal's status at the signing time.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy.orm import Session

from zhengwu.audit.changes import record_change
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.config import Settings
from zhengwu.kernel.crypto import SM2PublicKey, sm3
from zhengwu.kernel.events import EventBus, publish_on
from zhengwu.kernel.logging import get_logger
from zhengwu.kernel.pki import (
    CertProfile,
    PkiError,
    RevocationReason,
    TrustStore,
    load_certificate,
    load_certificates,
)
from zhengwu.orgs import service as orgs
from zhengwu.orgs.models import Department
from zhengwu.pki import authority, tsa
from zhengwu.pki.errors import CertificateNotFound, TrustAnchorInvalid
from zhengwu.pki.keys import SOFTWARE_SCHEME, short_id
from zhengwu.pki.models import PkiCertificate
from zhengwu.pki.repository import PkiRepository
from zhengwu.seals.errors import SealInvalid, SealNotFound, SealStateConflict
from zhengwu.seals.events import SealCreated, SealStatusChanged
from zhengwu.seals.models import Seal, SealStatusEvent
from zhengwu.seals.ofd.container import DEFAULT_LIMITS, ZipLimits
from zhengwu.seals.ofd.signer import sign_ofd
from zhengwu.seals.ofd.verifier import verify_ofd
from zhengwu.seals.ofd.xml import parse_xml
from zhengwu.seals.picture import draw_seal
from zhengwu.seals.repository import SealRepository
from zhengwu.seals.ses import SealSpec, make_seal
from zhengwu.seals.trust import PkiChainValidator, PkiTimestampVerifier, SealState
from zhengwu.seals.verify import VerificationReport

log = get_logger("zhengwu.seals")

ACTIVE: Final = "active"
SUSPENDED: Final = "suspended"
REVOKED: Final = "revoked"
STATUSES: Final = (ACTIVE, SUSPENDED, REVOKED)
SEAL_TYPE_ORGANIZATION: Final = 1  # GM/T 0031-2014: 1 单位印章, 2 个人印章
DEFAULT_VALID_YEARS: Final = 5
MAX_PICTURE_BYTES: Final = 1024 * 1024
#: esID = GB/T 2260 division code of the department + 8-digit serial (14 digits, like the seals in the wild).
ES_ID_SERIAL_DIGITS: Final = 8
_NAME_RE = re.compile(r"^[\w（）()·\-\u3000-\u303f\u4e00-\u9fff ]{2,100}$")
_PNG_MAGIC: Final = b"\x89PNG\r\n\x1a\n"


def _now(at: datetime | None) -> datetime:
    # Whole seconds: time-stamp genTime and CRL dates are whole seconds, so registry times must be too.
    return (at or utcnow()).replace(microsecond=0)


# ---- creating seals --------------------------------------------------------------------------------


def picture_type_of(data: bytes) -> str:
    """PNG or SVG (the picture types the registry accepts), checked by content; SealInvalid otherwise."""
    if not data or len(data) > MAX_PICTURE_BYTES:
        raise SealInvalid("印章图片为空或超过 1 MiB", detail_en="picture empty or over 1 MiB")
    if data.startswith(_PNG_MAGIC):
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(io.BytesIO(data)) as image:
                image.verify()
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            raise SealInvalid("印章图片不是有效的 PNG", detail_en=f"invalid PNG: {exc}") from exc
        return "PNG"
    head = data[:512].lstrip()
    if head.startswith((b"<?xml", b"<svg", b"<!--")):
        try:
            root = parse_xml(data, name="picture.svg")
        except Exception as exc:  # the hardened parser raises OFDFormatError and lxml errors
            raise SealInvalid("印章图片不是有效的 SVG", detail_en=f"invalid SVG: {exc}") from exc
        if not isinstance(root.tag, str) or not root.tag.endswith("svg"):
            raise SealInvalid("印章图片不是有效的 SVG", detail_en="root element is not svg")
        return "SVG"
    raise SealInvalid("印章图片只支持 PNG 或 SVG", detail_en="picture must be PNG or SVG")


def default_picture(department: Department, name: str) -> bytes:
    """A round red seal: the department along the arc, the rest of the seal name under the star."""
    center = name.removeprefix(department.name).strip() if name != department.name else ""
    drawn = draw_seal(department.name, center_text=center, size_px=400)
    # A red seal needs few colours: a 32-colour palette (alpha kept) is a quarter of the size, and the
    # seal travels twice in every sealed document (Seal.esl and inside SignedValue.dat). Quantised as
    # drawn, not through a first PNG: the same pixels, half the CPU (the demo seed draws 59 seals).
    from PIL import Image

    out = io.BytesIO()
    drawn.quantize(colors=32, method=Image.Quantize.FASTOCTREE).save(out, "PNG", optimize=True)
    return out.getvalue()


def next_es_id(session: Session, division_code: str) -> str:
    """The next free esID of a division (division code + 8-digit serial)."""
    top = SealRepository(session).top_es_id(division_code)
    serial = int(top[len(division_code) :]) + 1 if top and top[len(division_code) :].isdigit() else 1
    if serial >= 10**ES_ID_SERIAL_DIGITS:
        raise SealInvalid("该行政区划的印章编号已用尽", detail_en="esID serials exhausted for the division")
    return f"{division_code}{serial:0{ES_ID_SERIAL_DIGITS}d}"


def _check_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not _NAME_RE.fullmatch(cleaned):
        raise SealInvalid(
            "印章名称应为2至100个汉字、字母或数字", detail_en="seal name: 2..100 plain characters"
        )
    return cleaned


def create_seal(
    session: Session,
    settings: Settings,
    *,
    department_credit_code: str,
    name: str,
    actor: str,
    picture: bytes | None = None,
    seal_type: int = SEAL_TYPE_ORGANIZATION,
    valid_years: int = DEFAULT_VALID_YEARS,
    key_scheme: str = SOFTWARE_SCHEME,
    at: datetime | None = None,
    bus: EventBus | None = None,
) -> Seal:
    """Make and register a v4 seal for a department, with its own signer key (software or HSM) and
    certificate; publishes ``SealCreated``."""
    department = orgs.get_by_credit_code(session, department_credit_code)
    seal_name = _check_name(name)
    if not 1 <= seal_type <= 99:
        raise SealInvalid("印章类型无效", detail_en="seal type must be 1..99")
    if not 1 <= valid_years <= 20:
        raise SealInvalid("印章有效期应为1至20年", detail_en="validity must be 1..20 years")
    picture_bytes = picture if picture is not None else default_picture(department, seal_name)
    picture_type = picture_type_of(picture_bytes)
    now = _now(at)
    maker = authority.authority(session, settings, CertProfile.SEAL_MAKER)
    es_id = next_es_id(session, department.division_code)
    key = authority.new_key(
        session, settings, purpose=CertProfile.SEAL_SIGNER.value, label=es_id, scheme=key_scheme
    )
    cert_row, cert = authority.issue_end_entity(
        session,
        settings,
        profile=CertProfile.SEAL_SIGNER,
        subject=[
            ("C", "CN"),
            ("O", department.name),
            ("OU", "电子印章"),
            ("SERIALNUMBER", es_id),
            ("CN", seal_name),
        ],
        public_key=SM2PublicKey.from_der(key.public_key),
        not_after=now.replace(year=now.year + valid_years, day=min(now.day, 28)),
        key_id=key.id,
        at=now,
    )
    valid_end = min(cert.not_after, maker.certificate.not_after)
    der = make_seal(
        SealSpec(
            es_id=es_id,
            name=seal_name,
            seal_type=seal_type,
            certs=[cert.der],
            valid_start=now,
            valid_end=valid_end,
            picture=picture_bytes,
            picture_type=picture_type,
            create_date=now,
        ),
        maker=maker.signer,
        maker_cert=maker.certificate.der,
    )
    seal = Seal(
        es_id=es_id,
        department_id=department.id,
        name=seal_name,
        seal_type=seal_type,
        certificate_id=cert_row.id,
        der=der,
        picture_type=picture_type,
        valid_start=now,
        valid_end=valid_end,
        status=ACTIVE,
        status_changed_at=now,
        status_changed_by=actor[:100],
        created_by=actor[:100],
        created_at=now,
    )
    repo = SealRepository(session)
    repo.add(seal)
    _event(session, seal, ACTIVE, "印章制作", actor, now, None)
    log.info("seal_created", es_id=es_id, certificate=short_id(cert.fingerprint))
    publish_on(bus, session, SealCreated.of(seal, actor=actor))
    return seal


_ACTIONS = {ACTIVE: "seal.resume", SUSPENDED: "seal.suspend", REVOKED: "seal.revoke"}


def _event(
    session: Session,
    seal: Seal,
    status: str,
    reason: str | None,
    actor: str,
    at: datetime,
    before: str | None,
) -> None:
    record_change(session, actor=actor, action=_ACTIONS.get(status, status) if before else "seal.create",
                  entity="seal", entity_id=seal.es_id, department_id=seal.department_id,
                  before={"status": before} if before else None,
                  after={"status": status, "name": seal.name, "reason": reason})  # fmt: skip
    repo = SealRepository(session)
    repo.add(
        SealStatusEvent(
            seal_id=seal.id,
            seq=repo.next_event_seq(seal.id),
            status=status,
            reason=reason[:500] if reason else None,
            actor=actor[:100],
            at=at,
        )
    )


# ---- status changes --------------------------------------------------------------------------------


def get_seal(session: Session, es_id: str) -> Seal:
    """A seal by esID, or SealNotFound."""
    seal = SealRepository(session).by_es_id(es_id.strip())
    if seal is None:
        raise SealNotFound()
    return seal


def _change(
    session: Session,
    seal: Seal,
    status: str,
    *,
    reason: str | None,
    actor: str,
    at: datetime | None,
    bus: EventBus | None,
) -> Seal:
    now = _now(at)
    previous = seal.status
    seal.status = status
    seal.status_reason = reason[:500] if reason else None
    seal.status_changed_at = now
    seal.status_changed_by = actor[:100]
    session.flush()
    _event(session, seal, status, reason, actor, now, previous)
    log.info("seal_status_changed", es_id=seal.es_id, status=status)
    publish_on(bus, session, SealStatusChanged.of(seal, actor=actor))
    return seal


def suspend_seal(
    session: Session,
    es_id: str,
    *,
    reason: str | None,
    actor: str,
    at: datetime | None = None,
    bus: EventBus | None = None,
) -> Seal:
    """Suspend an active seal (reversible with ``resume_seal``); signatures made meanwhile are invalid."""
    seal = get_seal(session, es_id)
    if seal.status != ACTIVE:
        raise SealStateConflict(
            f"只有启用中的印章可以挂起（当前：{seal.status}）", detail_en="seal is not active"
        )
    return _change(session, seal, SUSPENDED, reason=reason, actor=actor, at=at, bus=bus)


def resume_seal(
    session: Session,
    es_id: str,
    *,
    reason: str | None,
    actor: str,
    at: datetime | None = None,
    bus: EventBus | None = None,
) -> Seal:
    """Put a suspended seal back into use."""
    seal = get_seal(session, es_id)
    if seal.status != SUSPENDED:
        raise SealStateConflict(
            f"只有挂起的印章可以恢复（当前：{seal.status}）", detail_en="seal is not suspended"
        )
    return _change(session, seal, ACTIVE, reason=reason, actor=actor, at=at, bus=bus)


def revoke_seal(
    session: Session,
    settings: Settings,
    es_id: str,
    *,
    reason: str | None,
    actor: str,
    crl_reason: RevocationReason = RevocationReason.CESSATION_OF_OPERATION,
    at: datetime | None = None,
    bus: EventBus | None = None,
) -> Seal:
    """Revoke a seal for good and its signer certificate (the CA's CRL is re-issued)."""
    seal = get_seal(session, es_id)
    if seal.status == REVOKED:
        raise SealStateConflict("印章已吊销", detail_en="seal already revoked")
    now = _now(at)
    cert = PkiRepository(session).certificate(seal.certificate_id)
    if cert is not None:
        authority.revoke_certificate(session, settings, cert, reason=crl_reason, actor=actor, at=now)
    # Subscribers hear of the revocation once the certificate is revoked too.
    return _change(session, seal, REVOKED, reason=reason, actor=actor, at=now, bus=bus)


def first_seal(session: Session, department_id: str, *, status: str | None = None) -> Seal | None:
    """A department's first seal by esID, optionally only with that status (one query, no count)."""
    return SealRepository(session).first_of(department_id, status)


def first_seal_with_certificate(
    session: Session, department_id: str, *, status: str
) -> tuple[Seal, PkiCertificate | None] | None:
    """``first_seal`` with a status, and the seal's signer certificate row, in one query: for a caller
    that signs with the seal next (``sign_document``'s ``certificate``)."""
    return SealRepository(session).first_with_certificate(department_id, status)


def department_with_seal(
    session: Session, department_id: str, *, status: str
) -> tuple[Department, Seal | None, PkiCertificate | None] | None:
    """A department (None if there is none), its first seal with that status by esID and the seal's
    signer certificate row, in one query: for a caller that checks the department, then signs."""
    return SealRepository(session).department_with_seal(department_id, status)


def list_seals(
    session: Session,
    *,
    department_ids: Sequence[str] | None = None,
    status: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[Sequence[Seal], int]:
    """A page of seals."""
    return SealRepository(session).list(
        department_ids=department_ids, status=status, offset=offset, limit=limit
    )


def seal_certificate(session: Session, seal: Seal) -> PkiCertificate:
    """The signer certificate row of a seal."""
    cert = PkiRepository(session).certificate(seal.certificate_id)
    if cert is None:
        raise CertificateNotFound(detail_en=f"certificate of seal {seal.es_id} missing")
    return cert


def status_history(session: Session, seal: Seal) -> Sequence[SealStatusEvent]:
    """A seal's status changes, oldest first."""
    return SealRepository(session).events(seal.id)


class RegistryStatusLookup:
    """``SealStatusLookup`` for the verifier: a seal's status in this registry at a given moment.

    ``matches`` lets the verifier tell a registered seal from a foreign one that reuses its esID.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self._seals: dict[str, Seal | None] = {}

    def _seal(self, es_id: str) -> Seal | None:
        if es_id not in self._seals:
            self._seals[es_id] = SealRepository(self.session).by_es_id(es_id)
        return self._seals[es_id]

    def matches(self, es_id: str, seal_der: bytes) -> bool | None:
        """None when the esID is not registered here, else whether the seal is the registered one."""
        seal = self._seal(es_id)
        return None if seal is None else seal.der == seal_der

    def __call__(self, es_id: str, moment: datetime) -> SealState:
        """The seal's state at ``moment`` (UNKNOWN when not registered here)."""
        seal = self._seal(es_id)
        if seal is None:
            return SealState.UNKNOWN
        status = SealRepository(self.session).status_at(seal.id, moment)
        # Before the seal existed it was not yet in use; its validity period reports that case.
        return SealState(status or ACTIVE)


# ---- signing ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Placement:
    """Where to put the stamp: page and top-left corner in mm, or centred on a keyword."""

    page: int | None = None
    x: float = 0.0
    y: float = 0.0
    keyword: str | None = None


def sign_document(
    session: Session,
    settings: Settings,
    es_id: str | Seal,
    data: bytes,
    *,
    placement: Placement,
    actor: str,
    at: datetime | None = None,
    tsa_identity: authority.SigningIdentity | None = None,
    certificate: PkiCertificate | None = None,
) -> bytes:
    """Seal an OFD with a registered, active seal (its esID, or its row already loaded in this session);
    the signature carries a token of the node TSA (``tsa_identity``: its current identity where the
    caller read it in this transaction; ``certificate``: the seal's certificate row, where the caller
    read it with the seal — its status is checked here all the same)."""
    seal = es_id if isinstance(es_id, Seal) else get_seal(session, es_id)
    now = _now(at)
    if seal.status != ACTIVE:
        raise SealStateConflict(
            f"印章状态为{_STATUS_ZH[seal.status]}，不能用印", detail_en=f"seal is {seal.status}"
        )
    cert_row = (
        certificate
        if certificate is not None and certificate.id == seal.certificate_id
        else seal_certificate(session, seal)
    )
    if cert_row.status != "valid":
        raise SealStateConflict("印章证书已撤销，不能用印", detail_en="seal certificate revoked")
    if cert_row.key_id is None:
        raise CertificateNotFound(detail_en="seal certificate has no key")
    signer = authority.signer_for_key_id(session, settings, cert_row.key_id)
    if signer is None:
        raise CertificateNotFound(detail_en="seal key missing")
    signed = sign_ofd(
        data,
        seal=seal.der,
        signer=signer,
        cert_der=cert_row.der,
        page=placement.page,
        x=placement.x,
        y=placement.y,
        keyword=placement.keyword,
        timestamp_provider=lambda value: tsa.timestamp_token(
            session, settings, value, at=now, identity=tsa_identity
        ),
        signed_at=now,
    )
    SealRepository(session).add_usage(
        seal_id=seal.id,
        actor=actor[:100],
        signed_at=now,
        document_sm3=sm3(data).hex(),
        signed_sm3=sm3(signed).hex(),
        detail={"page": placement.page, "keyword": bool(placement.keyword)},
    )
    log.info("document_sealed", es_id=seal.es_id, size=len(data))
    return signed


_STATUS_ZH: Final = {ACTIVE: "启用", SUSPENDED: "挂起", REVOKED: "吊销"}


def status_label(status: str) -> str:
    """The Chinese word for a seal status."""
    return _STATUS_ZH.get(status, status)


# ---- verification ----------------------------------------------------------------------------------


def _with_extra_anchors(store: TrustStore, anchors: Sequence[bytes]) -> TrustStore:
    copy = TrustStore()
    for anchor in store.anchors():
        copy.add_anchor(anchor.certificate, anchor.purposes)
    for cert in store.intermediates:
        copy.add_intermediates(cert)
    for crl in store.crls:
        copy.add_crl(crl)
    for data in anchors:
        try:
            for cert in load_certificates(data):
                copy.add_anchor(cert, ["seals", "timestamping"])
        except PkiError as exc:
            raise TrustAnchorInvalid(f"信任的证书无效：{exc.message_zh}", detail_en=exc.message) from exc
    return copy


def verify_document(
    session: Session,
    settings: Settings,
    data: bytes,
    *,
    extra_anchors: Sequence[bytes] = (),
    extra_certs: Sequence[bytes] = (),
    at: datetime | None = None,
    limits: ZipLimits = DEFAULT_LIMITS,
) -> VerificationReport:
    """Verify every signature: the node's trust store and CRLs, time-stamps, and this registry's status."""
    at = at or utcnow()
    trust = authority.trust_store(session, settings, at=at)
    store = _with_extra_anchors(trust.store, extra_anchors) if extra_anchors else trust.store
    return verify_ofd(
        data,
        trust=PkiChainValidator(store, crl_source=trust.crl_source),
        extra_certs=[_der(c) for c in extra_certs],
        at=at,
        seal_status=RegistryStatusLookup(session),
        timestamps=PkiTimestampVerifier(store, crl_source=trust.crl_source),
        limits=limits,
    )


def verify_offline(
    data: bytes,
    *,
    anchors: Sequence[bytes] = (),
    extra_certs: Sequence[bytes] = (),
    at: datetime | None = None,
) -> VerificationReport:
    """Verify without a node database: only the given anchors are trusted, no seal registry.

    CRLs are fetched from the certificates' distribution points (timeouts and size caps apply).
    """
    store = _with_extra_anchors(TrustStore(), anchors)
    crl_source = authority.external_crl_source()
    return verify_ofd(
        data,
        trust=PkiChainValidator(store, crl_source=crl_source),
        extra_certs=[_der(c) for c in extra_certs],
        at=at,
        timestamps=PkiTimestampVerifier(store, crl_source=crl_source),
    )


def _der(data: bytes) -> bytes:
    """A certificate given as PEM or DER, as DER (what SES structures compare byte for byte)."""
    try:
        return load_certificate(data).der
    except PkiError as exc:
        raise TrustAnchorInvalid(f"证书无效：{exc.message_zh}", detail_en=exc.message) from exc
