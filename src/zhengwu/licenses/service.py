"""Electronic licenses: types, issuance as sealed OFD, status changes, renewal, verification, holder access.

Issuance is one transaction: the face is checked against the type, the holder's code by its national
rule, the GB/T 36904 serial is taken from a counter row in the same transaction (a failure rolls it
back, so no identifier is burnt), the OFD is rendered with its 2-D code, sealed by the seals service
with a time-stamp from the node TSA, stored content-addressed, and the ``up_lic_data`` row is queued.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final, cast

from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.orm import Session

from zhengwu.audit.changes import record_change
from zhengwu.identity import context as identity_context
from zhengwu.identity import service as identity
from zhengwu.identity.models import Account, LegalEntity
from zhengwu.identity.protection import encrypt_field
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.codes import make_license_id, validate_license_id, validate_uscc
from zhengwu.kernel.config import Settings
from zhengwu.kernel.crypto import sm3
from zhengwu.kernel.db import new_id
from zhengwu.kernel.events import EventBus, publish_on
from zhengwu.kernel.files import FileStore
from zhengwu.kernel.logging import current_trace_id, get_logger
from zhengwu.kernel.metrics import CounterSpec, count
from zhengwu.kernel.node import ServiceKey
from zhengwu.kernel.pki import CertProfile
from zhengwu.kernel.stamps import StampedCache, bump, remember, watch
from zhengwu.licenses import holders, kinds, lifecycle, offline, render, topics
from zhengwu.licenses.errors import (
    LicenseError,
    LicenseNotFound,
    LicenseTypeInvalid,
    LicenseTypeNotFound,
    SealUnavailable,
)
from zhengwu.licenses.events import LicenseIssued, LicenseStatusChanged
from zhengwu.licenses.face import FaceSchema
from zhengwu.licenses.grant_repository import GrantRepository
from zhengwu.licenses.models import License, LicenseStatusEvent, LicenseType, LicenseUsage
from zhengwu.licenses.repository import LicenseRepository
from zhengwu.licenses.sharing_models import LicenseCopy
from zhengwu.orgs import service as orgs
from zhengwu.orgs.models import Department
from zhengwu.pki import authority
from zhengwu.pki.models import PkiCertificate
from zhengwu.seals import service as seals
from zhengwu.seals.errors import SealError
from zhengwu.seals.models import Seal
from zhengwu.seals.ofd.container import ZipLimits
from zhengwu.seals.verify import Verdict

log = get_logger("zhengwu.licenses")

LEVELS: Final = {1: "national", 2: "province", 3: "city", 4: "county"}
LEVEL_LABELS: Final = {"national": "国家级", "province": "省级", "city": "市级", "county": "县级"}
TRUST_LEVELS: Final = ("A", "B", "C", "D")
MAX_VERSION: Final = 999
#: Uses of licenses by operation (verify_id, verify_qr, verify_file, verify_copy, download …) and result,
#: counted as the usage records (用证记录) commit; verifications are the ``verify_*`` operations.
LICENSE_USES: Final = CounterSpec(
    "zhengwu_license_uses",
    "License uses recorded (verifications, downloads, queries)",
    ("operation", "result"),
)


def _now(at: datetime | None) -> datetime:
    # Whole seconds, as the seal's time-stamp and the registry times are.
    return (at or utcnow()).replace(microsecond=0)


def files(settings: Settings) -> FileStore:
    """The node's content-addressed file store (the same directory the app's file store uses)."""
    return FileStore(settings.data_dir / "files")


# --- types -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TypeSpec:
    """A license type to define."""

    code: str
    name: str
    definer_name: str
    issuing_levels: tuple[str, ...]
    holder_kind: str
    fields: Sequence[dict[str, Any]]
    trust_level: str = "A"
    annotation: str = "此件由{issuer}提供，仅供办理政务服务事项时使用"
    validity_years: int | None = None
    number_field: str | None = None
    holder_code_types: tuple[str, ...] | None = None
    result_kind: str = kinds.LICENSE


def check_type_code(code: str) -> str:
    """A type code: the defining authority's credit code (checked) + 3 digits; LicenseTypeInvalid otherwise."""
    text = code.strip().upper()
    if len(text) != 21 or not text[18:].isdigit():
        raise LicenseTypeInvalid("证照类型代码应为21位：定义机构统一社会信用代码18位+3位数字")
    verdict = validate_uscc(text[:18])
    if not verdict.ok:
        raise LicenseTypeInvalid(f"证照类型代码的定义机构代码无效：{verdict.reason_zh}")
    return text


def define_type(session: Session, spec: TypeSpec) -> LicenseType:
    """Register a license type (its code, holders, face schema, validity and trust level checked)."""
    code = check_type_code(spec.code)
    if spec.holder_kind not in holders.HOLDER_KINDS:
        raise LicenseTypeInvalid("持证主体类别应为 person、enterprise 或 both")
    code_types = spec.holder_code_types or holders.HOLDER_KINDS[spec.holder_kind]
    if not code_types or any(t not in holders.HOLDER_KINDS[spec.holder_kind] for t in code_types):
        raise LicenseTypeInvalid("持证主体代码类型与持证主体类别不符")
    if not spec.issuing_levels or any(level not in LEVEL_LABELS for level in spec.issuing_levels):
        raise LicenseTypeInvalid("颁发层级应为 national、province、city、county 中的一个或多个")
    if spec.result_kind not in kinds.KINDS:
        raise LicenseTypeInvalid("结果类型应为 license、proof、approval、appraisal 之一")
    if spec.trust_level not in TRUST_LEVELS:
        raise LicenseTypeInvalid("可信等级应为 A、B、C、D 之一")
    if spec.validity_years is not None and not 1 <= spec.validity_years <= 100:
        raise LicenseTypeInvalid("有效期年数应为1至100")
    schema = FaceSchema.from_json(spec.fields)
    if spec.number_field is not None and spec.number_field not in schema.names():
        raise LicenseTypeInvalid("证照编号字段不在照面字段中")
    repo = LicenseRepository(session)
    if repo.type_by_code(code) is not None:
        raise LicenseTypeInvalid("证照类型代码已存在", code="licenses.type_exists")
    row = LicenseType(
        code=code,
        name=spec.name.strip()[:200],
        definer_code=code[:18],
        definer_name=spec.definer_name.strip()[:200],
        issuing_levels=list(spec.issuing_levels),
        holder_kind=spec.holder_kind,
        holder_code_types=list(code_types),
        fields=schema.as_json(),
        number_field=spec.number_field,
        validity_years=spec.validity_years,
        trust_level=spec.trust_level,
        annotation=spec.annotation[:500],
        result_kind=spec.result_kind,
    )
    repo.add(row)
    bump(session, TYPES_STAMP)
    return row


def list_types(session: Session) -> Sequence[LicenseType]:
    """Every license type."""
    return LicenseRepository(session).types()


#: Raised with every new license type (kernel.stamps), and by any session's write to the types' table
#: (``watch``): issuance keeps the parsed types per process, the public route its encoded list.
TYPES_STAMP: Final = "licenses.types"
watch(LicenseType.__tablename__, TYPES_STAMP)
_ISSUING_TYPES: Final[ServiceKey[StampedCache[tuple[LicenseType, FaceSchema]]]] = ServiceKey(
    "licenses.issuing_types"
)


def issuing_type(session: Session, code: str) -> tuple[LicenseType, FaceSchema]:
    """A license type and its parsed face schema, for issuing: kept per process until a type is added
    or changed (``TYPES_STAMP``). What is kept is a transient copy of the row, in no
    session, so that no session's rollback or close can expire it under another thread."""
    key = code.strip().upper()

    def compute() -> tuple[LicenseType, FaceSchema]:
        row = get_type(session, key)
        columns = {c.key: copy.deepcopy(getattr(row, c.key)) for c in LicenseType.__table__.columns}
        return LicenseType(**columns), FaceSchema.from_json(row.fields)

    return remember(session, _ISSUING_TYPES, (TYPES_STAMP,), key, compute, max_keys=256)


def get_type(session: Session, code: str) -> LicenseType:
    """A license type by code, or LicenseTypeNotFound."""
    row = LicenseRepository(session).type_by_code(code.strip().upper())
    if row is None:
        raise LicenseTypeNotFound()
    return row


# --- issuance ----------------------------------------------------------------------------------------


def _active_seal(
    session: Session,
    department: Department,
    found: tuple[Seal | None, PkiCertificate | None] | None = None,
) -> tuple[Seal, PkiCertificate | None]:
    """The department's active seal and its certificate row (read together, for sealing; ``found``:
    what ``seals.department_with_seal`` read with the department); SealUnavailable (never a silent
    fallback) otherwise."""
    if found is None:
        active = seals.first_seal_with_certificate(session, department.id, status=seals.ACTIVE)
    else:
        active = (found[0], found[1]) if found[0] is not None else None
    if active is not None:
        return active
    if seals.first_seal(session, department.id) is not None:
        raise SealUnavailable(
            "颁发部门的电子印章已挂起或吊销，不能签发证照",
            detail_en="the department's seal is suspended or revoked",
        )
    raise SealUnavailable(detail_en="the department has no seal")


def _validity(kind: LicenseType, valid_from: date, valid_until: date | None) -> date | None:
    if valid_until is not None:
        if valid_until < valid_from:
            raise LicenseError("有效期截止日期不能早于起始日期", code="licenses.validity")
        return valid_until
    if kind.validity_years is None:
        return None
    try:
        end = valid_from.replace(year=valid_from.year + kind.validity_years)
    except ValueError:  # 29 February
        end = valid_from.replace(year=valid_from.year + kind.validity_years, day=28)
    return end - timedelta(days=1)


def _holder_index(session: Session, code_type: str, code: str) -> str:
    return _holder_index_with(identity_context.of(session).keys, code_type, code)


def _holder_index_with(keys: Any, code_type: str, code: str) -> str:
    # identity's keyed indexes (the node's keys), so that a person's or an enterprise's account finds its
    # licenses.
    if code_type == holders.CREDIT_CODE:
        return identity.credit_index(keys, code)
    if code_type == holders.CITIZEN_ID:
        return identity.citizen_index(keys, code)
    return identity.citizen_index(keys, f"{code_type}:{code}")


def holder_index(session: Session, code_type: str, code: str) -> str:
    """The keyed index under which a holder's licenses are found (the code already checked)."""
    return _holder_index(session, code_type, code)


def _masked(code: str) -> str:
    return code[:4] + "*" * (len(code) - 8) + code[-4:] if len(code) > 8 else "*" * len(code)


def _verify_url(settings: Settings, token: str) -> str:
    return f"{settings.public_url.rstrip('/')}/licenses/verify#{token}"


def _offline_claims(lic: License) -> dict[str, Any]:
    return {
        "id": lic.identifier,  # names the type and the issuer by their codes
        "tn": lic.type_name,
        "in": lic.issuer_name,
        "hn": offline.mask_name(lic.holder_name),
        "ia": lic.issued_at.date().isoformat(),
        "vu": lic.valid_until.isoformat() if lic.valid_until else "",
    }


def showing_code(
    session: Session,
    settings: Settings,
    lic: License,
    *,
    at: datetime,
    identity: authority.SigningIdentity | None = None,
) -> str:
    """What a license's 2-D code holds for 扫码亮证: the verification address with a freshly signed
    offline payload (masked name, no holder code) in its fragment, as on the license's file
    (``identity``: the license key's, where the caller read it in this transaction)."""
    token = offline.make_token(session, settings, _offline_claims(lic), at=at, identity=identity)
    return _verify_url(settings, token)


def face_of(
    session: Session,
    settings: Settings,
    lic: License,
    kind: LicenseType,
    *,
    at: datetime,
    schema: FaceSchema | None = None,
    holder_code: str | None = None,
    signing: authority.SigningIdentity | None = None,
) -> render.Face:
    """What the license's file shows, with a freshly signed offline payload in its 2-D code
    (``schema``, ``holder_code``, ``signing``: the type's parsed schema, the holder's code and the
    license key's identity where the caller has them — an issuance has just encrypted the code)."""
    from zhengwu.identity.protection import decrypt_field

    code = holder_code or decrypt_field(
        identity_context.of(session).keys, lic.holder_code_enc, purpose=topics.HOLDER_PURPOSE
    )
    return render.Face(
        identifier=lic.identifier,
        type_name=lic.type_name,
        number=lic.number,
        holder_name=lic.holder_name,
        holder_code_label=holders.label(lic.holder_code_type),
        holder_code_masked=_masked(code),
        fields=(schema or FaceSchema.from_json(kind.fields)).fields,
        values=lic.face,
        issuer_name=lic.issuer_name,
        issued_on=lic.issued_at.date(),
        valid_from=lic.valid_from,
        valid_until=lic.valid_until,
        verify_url=showing_code(session, settings, lic, at=at, identity=signing),
    )


def seal_file(
    session: Session,
    settings: Settings,
    es_id: str | Seal,
    unsigned: bytes,
    *,
    actor: str,
    at: datetime,
    tsa_identity: authority.SigningIdentity | None = None,
    certificate: PkiCertificate | None = None,
) -> bytes:
    """Seal a rendered license file (or an annotated copy) with a seal (or its esID) and a trusted time
    (``tsa_identity``, ``certificate``: the TSA's identity and the seal's certificate row, where the
    caller read them in this transaction)."""
    try:
        return seals.sign_document(
            session,
            settings,
            es_id,
            unsigned,
            placement=seals.Placement(page=1, x=render.SEAL_X_MM, y=render.SEAL_Y_MM),
            actor=actor,
            at=at,
            tsa_identity=tsa_identity,
            certificate=certificate,
        )
    except SealError as exc:
        raise SealUnavailable(f"盖章失败：{exc.detail}", detail_en=exc.detail_en) from exc


def _seal_and_store(
    session: Session,
    settings: Settings,
    lic: License,
    kind: LicenseType,
    seal: tuple[Seal, PkiCertificate | None],
    *,
    at: datetime,
    schema: FaceSchema,
    holder_code: str,
) -> Future[str]:
    """Render and seal (trusted time) a staged license's file, and start storing it.

    The store's fsync is most of a millisecond to tens of them on a busy disk, and releases the GIL:
    it runs on a thread while the caller writes the license's rows, and the caller waits for it
    before returning — so the file is on disk before the transaction can commit, as before.

    The two signing identities besides the seal's (the license key for the 2-D code's payload, the
    TSA) are asked of the database in one statement; the license key is made here on the node's
    first issuance (``offline.offline_authority``)."""
    license_key, tsa_key = authority.signing_identities(session, settings, offline.PROFILE, CertProfile.TSA)
    face = face_of(
        session, settings, lic, kind, at=at, schema=schema, holder_code=holder_code, signing=license_key
    )
    unsigned = render.render_license(face)
    signed = seal_file(
        session,
        settings,
        seal[0],
        unsigned,
        actor=lic.created_by,
        at=at,
        tsa_identity=tsa_key,
        certificate=seal[1],
    )
    lic.file_sm3 = sm3(signed).hex()
    lic.file_size = len(signed)
    return _STORE_POOL.submit(files(settings).put, signed)


def _stored(pending: Future[str], lic: License) -> None:
    if pending.result() != lic.file_sm3:  # the store names files by the same SM3 digest
        raise RuntimeError("stored license file digest differs from the sealed file's")


#: Threads that store sealed files (see _seal_and_store); two, as a node has few concurrent issuers.
_STORE_POOL: Final = ThreadPoolExecutor(max_workers=2, thread_name_prefix="licenses-store")


def active_seal(session: Session, department_id: str) -> str:
    """The esID of a department's active seal (SealUnavailable otherwise)."""
    return _active_seal(session, orgs.get_department(session, department_id))[0].es_id


def issue_license(
    session: Session,
    settings: Settings,
    *,
    type_code: str,
    department_id: str,
    holder_name: str,
    holder_code: str,
    face: dict[str, Any],
    actor: str,
    holder_code_type: str | None = None,
    valid_from: date | None = None,
    valid_until: date | None = None,
    at: datetime | None = None,
    bus: EventBus | None = None,
) -> License:
    """Issue version 001 of a license: checked, numbered, rendered, sealed, stored and queued upward."""
    kind, schema = issuing_type(session, type_code)
    # The department, its active seal and the seal's certificate in one statement; the seal is checked
    # after the face and the holder, as before.
    found = seals.department_with_seal(session, department_id, status=seals.ACTIVE)
    department = found[0] if found is not None else orgs.get_department(session, department_id)
    level = LEVELS.get(department.level, "county")
    if level not in kind.issuing_levels:
        raise LicenseError(f"{LEVEL_LABELS[level]}部门不能签发“{kind.name}”", code="licenses.issuing_level")
    code_type, code = holders.check_holder(holder_code, kind.holder_code_types, holder_code_type)
    name = " ".join(holder_name.split())
    if not 1 <= len(name) <= 200:
        raise LicenseError("持证主体名称应为1至200个字符", code="licenses.holder_name")
    values = schema.validate(face)
    seal = _active_seal(session, department, found[1:] if found is not None else None)
    now = _now(at)
    repo = LicenseRepository(session)
    serial = f"{now.year}{repo.next_serial(f'{kind.code}.{department.credit_code}.{now.year}'):07d}"
    return _stage(
        session,
        settings,
        kind=kind,
        schema=schema,
        department=department,
        serial=serial,
        version=1,
        holder=(name, code_type, code),
        values=values,
        seal=seal,
        valid_from=valid_from or now.date(),
        valid_until=valid_until,
        actor=actor,
        now=now,
        supersedes=None,
        bus=bus,
    )


def _stage(
    session: Session,
    settings: Settings,
    *,
    kind: LicenseType,
    schema: FaceSchema,
    department: Department,
    serial: str,
    version: int,
    holder: tuple[str, str, str],
    values: dict[str, str],
    seal: tuple[Seal, PkiCertificate | None],
    valid_from: date,
    valid_until: date | None,
    actor: str,
    now: datetime,
    supersedes: License | None,
    bus: EventBus | None,
) -> License:
    name, code_type, code = holder
    identifier = make_license_id(kind.code, department.credit_code, serial, version)
    number = values.get(kind.number_field or "", "") or serial
    lic = License(
        id=new_id(),
        identifier=identifier,
        type_id=kind.id,
        type_code=kind.code,
        type_name=kind.name,
        number=number[:128],
        serial=serial,
        version=version,
        department_id=department.id,
        issuer_name=department.name,
        issuer_code=department.credit_code,
        area_code=department.division_code,
        holder_name=name,
        holder_code_type=code_type,
        holder_code_enc=encrypt_field(identity_context.of(session).keys, code, purpose=topics.HOLDER_PURPOSE),
        holder_index=_holder_index(session, code_type, code),
        face=values,
        issued_at=now,
        valid_from=valid_from,
        valid_until=_validity(kind, valid_from, valid_until),
        trust_level=kind.trust_level,
        es_id=seal[0].es_id,
        file_sm3="",
        file_size=0,
        status=lifecycle.VALID,
        status_changed_at=now,
        status_changed_by=actor[:100],
        supersedes_id=supersedes.id if supersedes is not None else None,
        created_by=actor[:100],
        source="issued",
    )
    # Rendered and sealed before the row is written, so the row goes in once with its file's digest
    # and size (not an INSERT and then an UPDATE); its unique identifier is still checked by the INSERT.
    pending = _seal_and_store(session, settings, lic, kind, seal, at=now, schema=schema, holder_code=code)
    try:
        LicenseRepository(session).insert_license(lic)
        reason = "签发" if supersedes is None else "换发"
        _event(session, lic, lifecycle.VALID, reason, actor, now, seq=1)  # a new license: its first event
        record_change(session, actor=actor, action="license.issue" if supersedes is None else "license.renew",
                      entity="license", entity_id=lic.identifier, department_id=department.id,
                      after={"status": lic.status, "type_code": kind.code, "version": version})  # fmt: skip
        topics.emit_change(session, lic, created=True, holder_code=code)
    except BaseException:
        pending.exception()  # the rows failed: let the store finish (a stored orphan is harmless)
        raise
    _stored(pending, lic)  # a failed store raises here, and the transaction rolls back
    publish_on(bus, session, LicenseIssued.of(lic, reason=reason, actor=actor))
    log.info("license_issued", license_id=lic.id, type_code=kind.code, version=version)
    return lic


def _event(
    session: Session,
    lic: License,
    status: str,
    reason: str | None,
    actor: str,
    at: datetime,
    *,
    seq: int | None = None,
) -> None:
    repo = LicenseRepository(session)
    repo.add_event(
        license_id=lic.id,
        seq=seq or repo.next_event_seq(lic.id),
        status=status,
        reason=reason[:500] if reason else None,
        actor=actor[:100],
        at=at,
    )


def get_license(session: Session, license_id: str) -> License:
    """A license by row id, or LicenseNotFound."""
    lic = LicenseRepository(session).license(license_id)
    if lic is None:
        raise LicenseNotFound()
    return lic


def change_status(
    session: Session,
    license_id: str,
    action: str,
    *,
    reason: str,
    actor: str,
    at: datetime | None = None,
    bus: EventBus | None = None,
) -> License:
    """Suspend, resume or revoke a license (with reason and actor); the change is queued upward."""
    if action not in ("suspend", "resume", "revoke"):
        raise ValueError(f"unknown action {action}")
    lic = get_license(session, license_id)
    now = _now(at)
    before = lic.status
    lic.status = lifecycle.transition(action, lic.status, lic.valid_until, now.date())
    _set_status(session, lic, reason=reason, actor=actor, now=now, bus=bus, action=action, before=before)
    return lic


def _set_status(
    session: Session,
    lic: License,
    *,
    reason: str,
    actor: str,
    now: datetime,
    bus: EventBus | None,
    action: str,
    before: str,
) -> None:
    lic.status_reason = reason[:500]
    lic.status_changed_at = now
    lic.status_changed_by = actor[:100]
    session.flush()
    _event(session, lic, lic.status, reason, actor, now)
    record_change(session, actor=actor, action=f"license.{action}", entity="license", entity_id=lic.identifier,
                  department_id=lic.department_id, before={"status": before},
                  after={"status": lic.status, "reason": reason})  # fmt: skip
    topics.emit_change(session, lic)
    publish_on(bus, session, LicenseStatusChanged.of(lic, reason=reason, actor=actor))
    log.info("license_status_changed", license_id=lic.id, status=lic.status)


def renew_license(
    session: Session,
    settings: Settings,
    license_id: str,
    *,
    reason: str,
    actor: str,
    face: dict[str, Any] | None = None,
    valid_until: date | None = None,
    at: datetime | None = None,
    bus: EventBus | None = None,
) -> License:
    """Issue the next version of a license (same serial) and mark the old one superseded."""
    old = get_license(session, license_id)
    now = _now(at)
    before = old.status
    old.status = lifecycle.transition("supersede", old.status, old.valid_until, now.date())
    if old.version >= MAX_VERSION:
        raise LicenseError("证照版本号已用尽", code="licenses.version")
    kind, schema = issuing_type(session, old.type_code)
    department = orgs.get_department(session, old.department_id)
    values = schema.validate(face if face is not None else old.face)
    seal = _active_seal(session, department)
    _set_status(session, old, reason=reason, actor=actor, now=now, bus=bus, action="supersede", before=before)
    from zhengwu.identity.protection import decrypt_field

    code = decrypt_field(
        identity_context.of(session).keys, old.holder_code_enc, purpose=topics.HOLDER_PURPOSE
    )
    return _stage(
        session,
        settings,
        kind=kind,
        schema=schema,
        department=department,
        serial=old.serial,
        version=old.version + 1,
        holder=(old.holder_name, old.holder_code_type, code),
        values=values,
        seal=seal,
        valid_from=now.date(),
        valid_until=valid_until,
        actor=actor,
        now=now,
        supersedes=old,
        bus=bus,
    )


def history(session: Session, lic: License) -> Sequence[LicenseStatusEvent]:
    """A license's status changes, oldest first."""
    return LicenseRepository(session).events(lic.id)


def status_of(lic: License, at: datetime | None = None) -> str:
    """The effective status now (a valid license past its end is expired)."""
    return lifecycle.effective_status(lic.status, lic.valid_until, (at or utcnow()).date())


def license_file(settings: Settings, lic: License) -> bytes:
    """The sealed OFD of a license (LicenseNotFound for an imported one that came without a file)."""
    if not lic.file_sm3:
        raise LicenseNotFound("该证照是导入的历史数据，没有电子文件", detail_en="imported without a file")
    return files(settings).get(lic.file_sm3)


def metadata(lic: License, kind: LicenseType | None = None) -> dict[str, Any]:
    """The GB/T 36903 metadata elements of a license (holder code left out: it is personal data)."""
    return {
        "certificate_identifier": lic.identifier,
        "certificate_name": lic.type_name,
        "certificate_type_name": lic.type_name,
        "certificate_type_code": lic.type_code,
        "certificate_number": lic.number,
        "certificate_version": f"{lic.version:03d}",
        "issue_dept_name": lic.issuer_name,
        "issue_dept_code": lic.issuer_code,
        "issue_date": lic.issued_at.date().isoformat(),
        "define_authority_name": kind.definer_name if kind is not None else None,
        "define_authority_code": lic.type_code[:18],
        "holder": lic.holder_name,
        "holder_code_type": lic.holder_code_type,
        "holder_code_type_name": holders.label(lic.holder_code_type),
        "validity_start": lic.valid_from.isoformat(),
        "validity_end": lic.valid_until.isoformat() if lic.valid_until else None,
        "area_code": lic.area_code,
        "extend_info": dict(lic.face),
        "trust_level": lic.trust_level,
        "status": status_of(lic),
        "result_kind": kind.result_kind if kind is not None else None,
        "source": lic.source,  # issued here, or imported historical data
    }


# --- usage log and verification ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asks, and why (the usage log's who/why)."""

    name: str
    purpose: str | None = None
    client_ip: str | None = None
    display: str | None = None  # the name the holder reads (a department system's), never an id
    item_code: str | None = None
    case_number: str | None = None
    grant_id: str | None = None  # the 用证授权 a department system's use went through (licenses.grants)


def record_usage(
    session: Session,
    caller: Caller,
    operation: str,
    result: str,
    lic: License | None = None,
    *,
    license_ref: tuple[str, str] | None = None,
    trace_id: str | None = None,
) -> None:
    """Append one usage record (用证记录) in the caller's transaction (``trace_id``: the request's, where
    another thread writes the record).

    One Core INSERT (no ORM instance, no flush of the whole session): it is on every verification's
    path. ``license_ref`` (license id, type code) stands for ``lic`` where only those were read."""
    count(session, LICENSE_USES, operation=operation, result=result)
    if lic is not None:
        license_ref = (lic.id, lic.type_code)
    # The table's INSERT with the values as parameters: no statement is built per record.
    session.execute(USAGE_INSERT, usage_values(caller, operation, result, license_ref, trace_id))


def usage_values(
    caller: Caller, operation: str, result: str, license_ref: tuple[str, str] | None, trace_id: str | None
) -> dict[str, Any]:
    """The columns of one usage record (:data:`USAGE_INSERT`'s parameters)."""
    return {
        "id": new_id(),
        "at": utcnow(),
        "caller": caller.name[:100],
        "caller_name": caller.display[:200] if caller.display else None,
        "item_code": caller.item_code[:64] if caller.item_code else None,
        "case_number": caller.case_number[:64] if caller.case_number else None,
        "purpose": caller.purpose[:200] if caller.purpose else None,
        "operation": operation,
        "result": result,
        "license_id": license_ref[0] if license_ref is not None else None,
        "type_code": license_ref[1] if license_ref is not None else None,
        "client_ip": caller.client_ip[:64] if caller.client_ip else None,
        "trace_id": trace_id or current_trace_id(),
        "grant_id": caller.grant_id,
    }


USAGE_INSERT: Final = insert(cast(Table, LicenseUsage.__table__))


@dataclass(frozen=True, slots=True)
class Answer:
    """A minimal verification answer: valid or not, status, type and issuer — never the holder."""

    valid: bool
    status: str | None = None
    type_code: str | None = None
    type_name: str | None = None
    issuer_name: str | None = None
    reason: str = ""
    seal_verdict: str | None = None
    annotated_copy: dict[str, Any] | None = (
        None  # an annotated copy (加注件): of which license, for what, until when
    )

    def as_json(self) -> dict[str, Any]:
        """The public JSON shape."""
        return {
            "valid": self.valid,
            "status": self.status,
            "status_label": lifecycle.label(self.status) if self.status else None,
            "type_code": self.type_code,
            "type_name": self.type_name,
            "issuer_name": self.issuer_name,
            "reason": self.reason,
            "seal_verdict": self.seal_verdict,
            "annotated_copy": self.annotated_copy,
        }


def answer_of(lic: License, reason_ok: str, **extra: Any) -> Answer:
    status = status_of(lic)
    valid = (
        status == lifecycle.VALID and extra.get("seal_verdict", Verdict.VALID.value) == Verdict.VALID.value
    )
    reason = reason_ok if valid else extra.pop("reason", None) or f"证照状态为“{lifecycle.label(status)}”"
    extra.pop("reason", None)
    return Answer(valid, status, lic.type_code, lic.type_name, lic.issuer_name, reason, **extra)


_NO_MATCH: Final = Answer(False, reason="没有与标识和持证主体相符的电子证照")


_LICENSE: Final = License.__table__
#: What verification by identifier reads of a license: one indexed row, no ORM instance.
_VERIFY_COLUMNS: Final = (
    _LICENSE.c.id,
    _LICENSE.c.type_code,
    _LICENSE.c.type_name,
    _LICENSE.c.issuer_name,
    _LICENSE.c.holder_code_type,
    _LICENSE.c.holder_index,
    _LICENSE.c.status,
    _LICENSE.c.valid_until,
)
# Built once (Core columns, the identifier a bound parameter): the public verification's only read.
VERIFY_SELECT: Final = select(*_VERIFY_COLUMNS).where(_LICENSE.c.identifier == bindparam("identifier"))


def verify_by_identifier(session: Session, identifier: str, holder_code: str, *, caller: Caller) -> Answer:
    """Check that a license with this identifier belongs to this holder and is valid (minimal answer),
    and record the use in the same transaction."""
    answer, result, license_ref = answer_identifier(session, identifier, holder_code)
    record_usage(session, caller, "verify_id", result, license_ref=license_ref)
    return answer


def answer_identifier(
    session: Session, identifier: str, holder_code: str
) -> tuple[Answer, str, tuple[str, str] | None]:
    """The reading half of ``verify_by_identifier``: the answer, the usage record's result and the
    license it names (id, type code) — one Core SELECT of the columns the answer needs, no writes.

    The public route records the use through the group commit (``licenses.batch``)."""
    row = session.execute(VERIFY_SELECT, {"identifier": identifier.strip()}).first()
    return answer_row(row, identity_context.of(session).keys, holder_code, utcnow().date())


def answer_row(
    row: Any, keys: Any, holder_code: str, today: date
) -> tuple[Answer, str, tuple[str, str] | None]:
    """:func:`answer_identifier` from the row :data:`VERIFY_SELECT` read (None: no such license)."""
    if row is None or not _holder_code_matches(keys, row.holder_code_type, row.holder_index, holder_code):
        # The same answer for "no such license" and "another holder's": nothing to learn by probing.
        return _NO_MATCH, "no_match", None
    status = lifecycle.effective_status(row.status, row.valid_until, today)
    valid = status == lifecycle.VALID
    reason = "证照有效，持证主体相符" if valid else f"证照状态为“{lifecycle.label(status)}”"
    answer = Answer(valid, status, row.type_code, row.type_name, row.issuer_name, reason)
    return answer, "valid" if valid else status or "invalid", (row.id, row.type_code)


def _holder_code_matches(keys: Any, code_type: str, index: str, holder_code: str) -> bool:
    text = holder_code.strip().upper()
    try:
        checked_type, code = holders.check_holder(text, [code_type], code_type)
    except LicenseError:
        return False
    return _holder_index_with(keys, checked_type, code) == index


def lookup_identifier(session: Session, identifier: str, *, caller: Caller) -> Answer:
    """Operator check by identifier alone (CLI): status, type and issuer."""
    if not validate_license_id(identifier).ok:
        return Answer(False, reason="电子证照标识格式或校验位错误")
    lic = LicenseRepository(session).by_identifier(identifier.strip())
    if lic is None:
        record_usage(session, caller, "verify_id", "not_found")
        return Answer(False, reason="本节点没有这个电子证照")
    answer = answer_of(lic, "证照有效")
    record_usage(session, caller, "verify_id", "valid" if answer.valid else answer.status or "invalid", lic)
    return answer


def verify_file(
    session: Session, settings: Settings, data: bytes, *, caller: Caller, limits: ZipLimits | None = None
) -> Answer:
    """Check an uploaded OFD: its seals (seals' verifier, trusted time, registry status) and the license registry."""
    report = (
        seals.verify_document(session, settings, data, limits=limits)
        if limits is not None
        else seals.verify_document(session, settings, data)
    )
    verdict = report.verdict.value
    digest = sm3(data).hex()
    lic = LicenseRepository(session).by_file(digest)
    copy = LicenseRepository(session).copy_by_file(digest) if lic is None else None
    if copy is not None:
        return _verify_copy(session, copy, verdict, caller)
    if lic is None:
        record_usage(session, caller, "verify_file", "not_registered")
        reason = "文件签章无效或被篡改" if verdict != Verdict.VALID.value else "文件不是本节点登记的电子证照"
        return Answer(False, reason=reason, seal_verdict=verdict)
    answer = answer_of(lic, "证照有效，签章有效", seal_verdict=verdict, reason="签章验证未通过")
    record_usage(session, caller, "verify_file", "valid" if answer.valid else "invalid", lic)
    return answer


def _verify_copy(session: Session, copy: LicenseCopy, verdict: str, caller: Caller) -> Answer:
    """An annotated copy: its seals, its own end of validity and the original's status."""
    lic = get_license(session, copy.license_id)
    about = {
        "license_identifier": lic.identifier,
        "purpose": copy.purpose,
        "expires_at": copy.expires_at.isoformat(),
        "made_at": copy.created_at.isoformat(),
    }
    if copy.expires_at <= utcnow():
        answer = Answer(False, status_of(lic), lic.type_code, lic.type_name, lic.issuer_name,
                        "加注件已超过有效期", seal_verdict=verdict, annotated_copy=about)  # fmt: skip
    else:
        answer = dataclasses.replace(
            answer_of(lic, "加注件有效，原证照有效", seal_verdict=verdict, reason="签章验证未通过"),
            annotated_copy=about,
        )
    record_usage(session, caller, "verify_copy", "valid" if answer.valid else "invalid", lic)
    return answer


def verify_token(session: Session, settings: Settings, token: str, *, caller: Caller) -> Answer:
    """Check a 2-D code's offline payload with the node's certificate, then the registry status."""
    signer = offline.offline_authority(session, settings, at=_now(None))
    check = offline.check_token(token, signer.certificate.der)
    if not check.valid:
        record_usage(session, caller, "verify_qr", "bad_signature")
        return Answer(False, reason=check.reason)
    lic = LicenseRepository(session).by_identifier(str(check.claims.get("id", "")))
    if lic is None:
        record_usage(session, caller, "verify_qr", "not_found")
        return Answer(False, reason="本节点没有这个电子证照")
    answer = answer_of(lic, "二维码有效，证照有效")
    record_usage(session, caller, "verify_qr", "valid" if answer.valid else answer.status or "invalid", lic)
    return answer


def offline_certificate(session: Session, settings: Settings) -> bytes:
    """The DER certificate that signs the offline payloads (public)."""
    return offline.offline_authority(session, settings, at=_now(None)).certificate.der


# --- holder access -----------------------------------------------------------------------------------


def holder_indexes(session: Session, account: Account) -> list[str]:
    """The holder indexes of a person: their ID number, their own enterprise, the enterprises they act for."""
    indexes: list[str] = []
    if account.citizen_id_index:
        indexes.append(account.citizen_id_index)
    entities = {entity.id: entity for _, entity in identity.agent_authorizations(session, account.id)}
    if account.legal_entity_id and account.legal_entity_id not in entities:
        own = session.get(LegalEntity, account.legal_entity_id)
        if own is not None:
            entities[own.id] = own
    indexes.extend(entity.credit_code_index for entity in entities.values())
    return indexes


def holder_licenses(
    session: Session, account: Account, *, offset: int = 0, limit: int = 50
) -> tuple[Sequence[License], int]:
    """A page of the licenses a person holds or may see for their enterprises."""
    indexes = holder_indexes(session, account)
    if not indexes:
        return [], 0
    return LicenseRepository(session).of_holders(indexes, offset=offset, limit=limit)


def holder_license(session: Session, account: Account, license_id: str) -> License:
    """One of the person's licenses (LicenseNotFound for anybody else's)."""
    lic = LicenseRepository(session).license(license_id)
    if lic is None or lic.holder_index not in holder_indexes(session, account):
        raise LicenseNotFound()
    return lic


def holder_usage(
    session: Session, account: Account, *, offset: int = 0, limit: int = 50, others_only: bool = False
) -> tuple[Sequence[tuple[LicenseUsage, License]], int]:
    """A page of the usage records of the person's licenses (``others_only``: without the holders' own
    views, downloads and copies)."""
    indexes = holder_indexes(session, account)
    if not indexes:
        return [], 0
    return LicenseRepository(session).usage_of_holders(
        indexes, offset=offset, limit=limit, others_only=others_only
    )


def grant_purposes(session: Session, rows: Sequence[LicenseUsage]) -> dict[str, str]:
    """The purpose of each grant these usage records went through, by grant id."""
    return GrantRepository(session).purposes({r.grant_id for r in rows if r.grant_id})


def holder_license_usage(
    session: Session, account: Account, license_id: str, *, offset: int = 0, limit: int = 50
) -> tuple[Sequence[LicenseUsage], int]:
    """A page of the usage records of one of the person's licenses (LicenseNotFound for anybody else's)."""
    lic = holder_license(session, account, license_id)
    return LicenseRepository(session).usage_of_license(lic.id, offset=offset, limit=limit)
