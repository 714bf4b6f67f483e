"""Annotated copies (加注件, standards §5.4): a copy of a license made for one purpose and valid until a
time, carrying the type's annotation text (信息加注, e.g. "此件由××提供，仅供办理政务服务事项时使用") with
the purpose and the end of validity above the face, sealed again with the issuing department's seal and a
trusted time. Copies are kept in their own table; a copy verifies as "an annotated copy of license X for
purpose P valid until E" and fails once E has passed or the original is no longer valid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy.orm import Session

from zhengwu.audit.changes import record_change
from zhengwu.identity.models import Account
from zhengwu.kernel.clock import BEIJING, utcnow
from zhengwu.kernel.config import Settings
from zhengwu.licenses import lifecycle, render, service
from zhengwu.licenses.errors import LicenseError, LicenseNotFound, LicenseStateConflict
from zhengwu.licenses.models import License
from zhengwu.licenses.sharing_models import LicenseCopy
from zhengwu.licenses.sharing_repository import SharingRepository

MAX_DAYS: Final = 90


@dataclass(frozen=True, slots=True)
class Copy:
    """A copy just made: its row and its sealed file."""

    row: LicenseCopy
    data: bytes


def annotation_lines(
    lic: License, annotation: str, purpose: str, expires_at: datetime, made_at: datetime
) -> list[str]:
    """The lines a copy carries above the face (Beijing time, as a reader expects)."""
    until = expires_at.astimezone(BEIJING).strftime("%Y年%m月%d日%H时")
    text = annotation.replace("{issuer}", lic.issuer_name).rstrip("。")
    return [
        "【加注件】",
        f"{text}，有效期至{until}",
        f"制作事由：{purpose}",
        f"制作时间：{made_at.astimezone(BEIJING).strftime('%Y年%m月%d日%H时%M分')}",
    ]


def make_copy(
    session: Session,
    settings: Settings,
    lic: License,
    *,
    requested_by: str,
    requester_name: str,
    purpose: str,
    expires_at: datetime,
    at: datetime | None = None,
) -> Copy:
    """Render, seal (the issuer's active seal, trusted time) and store an annotated copy of ``lic``."""
    now = (at or utcnow()).replace(microsecond=0)
    if service.status_of(lic, now) != lifecycle.VALID:
        raise LicenseStateConflict(
            "证照当前不是有效状态，不能制作加注件", detail_en="only a valid license is copied"
        )
    if expires_at <= now or expires_at > now + timedelta(days=MAX_DAYS):
        raise LicenseError(f"加注件有效期应晚于现在且不超过{MAX_DAYS}天", code="licenses.copy_expiry",
                           detail_en=f"expiry must be in the future and within {MAX_DAYS} days")  # fmt: skip
    purpose = " ".join(purpose.split())[:200]
    kind = service.get_type(session, lic.type_code)
    es_id = service.active_seal(session, lic.department_id)
    lines = annotation_lines(lic, kind.annotation, purpose, expires_at, now)
    # The 加注 line also goes diagonally across the face, so no crop of the face loses it.
    unsigned = render.render_license(service.face_of(session, settings, lic, kind, at=now), lines, lines[1])
    signed = service.seal_file(session, settings, es_id, unsigned, actor=requested_by, at=now)
    row = LicenseCopy(
        license_id=lic.id,
        requested_by=requested_by[:100],
        requester_name=requester_name[:200],
        purpose=purpose,
        annotation=lines[1][:500],
        expires_at=expires_at,
        es_id=es_id,
        file_sm3=service.files(settings).put(signed),
        file_size=len(signed),
        created_at=now,
    )
    SharingRepository(session).add(row)
    record_change(session, actor=requested_by, action="license_copy.create", entity="license_copy",
                  entity_id=row.id, department_id=lic.department_id,
                  after={"license": lic.identifier, "purpose": purpose, "expires_at": expires_at.isoformat()})  # fmt: skip
    return Copy(row, signed)


def holder_copies(session: Session, account: Account, license_id: str) -> Sequence[LicenseCopy]:
    """The annotated copies of one of the person's licenses, newest first (whoever requested them)."""
    lic = service.holder_license(session, account, license_id)
    return SharingRepository(session).copies_of(lic.id)


def holder_copy_file(
    session: Session, settings: Settings, account: Account, license_id: str, copy_id: str
) -> tuple[License, LicenseCopy, bytes]:
    """One annotated copy of one of the person's licenses with its sealed file (404 for anybody else's)."""
    lic = service.holder_license(session, account, license_id)
    row = SharingRepository(session).copy(copy_id)
    if row is None or row.license_id != lic.id:
        raise LicenseNotFound("没有找到这份加注件", detail_en="no such copy of this license")
    return lic, row, service.files(settings).get(row.file_sm3)
