"""Per-client grants (用证授权, standards §5.5: authorisation per account × license type).

A department system — an OIDC client bound to a department — may query, download or verify licenses of a
type only through a grant: client × license type × operations × purpose, valid from / until, made and
revoked by platform staff holding ``licenses.grants`` (a second factor in the session, ADR 0010). The
token's scopes (``licenses.use`` and the type's scope, ``licenses.machine``) say what the system asked
for when it was registered; the grant says what the platform allows it now, and for what. Both are
needed. A grant stops applying when it is revoked, when its end passes, or when the client is bound to
another department than the one it was granted to. Every use names its grant in the usage log.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Final

from sqlalchemy.orm import Session

from zhengwu.audit.changes import record_change
from zhengwu.identity.machine import MachineClient
from zhengwu.kernel.clock import utcnow
from zhengwu.licenses import service
from zhengwu.licenses.errors import LicenseError, ServiceDenied
from zhengwu.licenses.grant_models import LicenseClientGrant
from zhengwu.licenses.grant_repository import GrantRepository
from zhengwu.licenses.models import License, LicenseUsage
from zhengwu.licenses.repository import LicenseRepository
from zhengwu.licenses.sharing_repository import SharingRepository
from zhengwu.orgs import service as orgs

QUERY: Final = "query"
DOWNLOAD: Final = "download"
VERIFY: Final = "verify"
#: The operations a grant names, with what staff and refusals call them.
OPERATIONS: Final = {QUERY: "查询", DOWNLOAD: "下载", VERIFY: "核验"}
#: The usage log's operation of each department service → the grant operation it needs.
OPERATION_OF: Final = {
    "service_query": QUERY, "service_query_holder": QUERY, "service_query_qr": QUERY,
    "download_url": DOWNLOAD, "copy": DOWNLOAD, "service_verify": VERIFY,
}  # fmt: skip
STATUS_LABELS: Final = {"active": "有效", "pending": "未生效", "expired": "已过期", "revoked": "已撤销"}


class GrantRequired(ServiceDenied):
    """The department system holds no grant covering this license type and operation (403)."""

    code = "licenses.grant_required"
    default_detail = "该系统未获得使用此类证照的授权"


class GrantNotFound(LicenseError):
    """No grant with that id."""

    status_code = 404
    code = "licenses.grant_not_found"
    default_detail = "用证授权不存在"


class GrantConflict(LicenseError):
    """A grant overlapping another one, or revoked already."""

    status_code = 409
    code = "licenses.grant_conflict"
    default_detail = "用证授权与已有授权冲突"


class GrantInvalid(LicenseError):
    """A grant that cannot be made as asked (unknown or unbound client, bad window, no operation)."""

    status_code = 422
    code = "licenses.grant_invalid"
    default_detail = "用证授权的内容无效"


def status_of(grant: LicenseClientGrant, now: datetime | None = None) -> str:
    """active / pending / expired / revoked at ``now``."""
    now = now or utcnow()
    if grant.revoked_at is not None:
        return "revoked"
    if grant.valid_from > now:
        return "pending"
    if grant.valid_until is not None and grant.valid_until <= now:
        return "expired"
    return "active"


def find(
    session: Session, client: MachineClient, type_code: str, operation: str, *, now: datetime | None = None
) -> LicenseClientGrant | None:
    """The grant that lets ``client`` do ``operation`` (a grant operation) on licenses of ``type_code``
    now, or None. The client must still be bound to the department it was granted to."""
    if client.department_id is None or not type_code:
        return None
    rows = GrantRepository(session).in_force(
        client.client_id, type_code.strip().upper(), client.department_id, now or utcnow()
    )
    return next((g for g in rows if operation in g.operations), None)


def in_force(session: Session, grant_id: str, now: datetime | None = None) -> bool:
    """True when the grant exists and is in force at ``now`` (a download address made under it)."""
    grant = GrantRepository(session).grant(grant_id)
    return grant is not None and status_of(grant, now) == "active"


def refusal(
    client: MachineClient, type_code: str, operation: str, type_name: str | None = None
) -> GrantRequired:
    """The clear problem a department system gets without a grant: which type, which operation, and what
    to do about it."""
    what = f"“{type_name}”" if type_name else "该类证照"
    label = OPERATIONS.get(operation, operation)
    detail = (
        f"本系统未获得{label}{what}的用证授权，请由平台管理员在用证授权中授予"
        if client.department_id
        else "本系统未绑定部门，不能使用电子证照共享服务"
    )
    return GrantRequired(detail, detail_en=f"no grant for {operation} on license type {type_code}",
                         extra={"type_code": type_code, "operation": operation})  # fmt: skip


def _window(
    valid_from: datetime | None, valid_until: datetime | None, now: datetime
) -> tuple[datetime, datetime | None]:
    # Stored and answered in UTC whatever zone the operator typed (北京时间 on screens).
    start = (valid_from or now).astimezone(UTC)
    valid_until = valid_until.astimezone(UTC) if valid_until is not None else None
    if valid_until is not None and valid_until <= max(start, now):
        raise GrantInvalid("授权截止时间应晚于开始时间和当前时间", detail_en="valid_until must be later")
    return start, valid_until


def add(
    session: Session,
    *,
    client_id: str,
    type_code: str,
    operations: Collection[str],
    purpose: str,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    actor: str,
) -> LicenseClientGrant:
    """Grant a department system the use of one license type (audited). An active or pending grant of the
    same client and type is revoked first: two grants never overlap."""
    ops = sorted({o.strip().lower() for o in operations if o.strip()})
    if not ops or any(o not in OPERATIONS for o in ops):
        raise GrantInvalid("授权操作应为 query（查询）、download（下载）、verify（核验）中的一项或多项",
                           detail_en="operations: query, download, verify")  # fmt: skip
    text = " ".join(purpose.split())
    if not 1 <= len(text) <= 200:
        raise GrantInvalid("请填写授权用途（200字以内）", detail_en="purpose is required (≤ 200 characters)")
    client = SharingRepository(session).client(client_id.strip())
    if client is None or client.status != "active":
        raise GrantInvalid("接入应用不存在或已停用", detail_en="unknown or inactive client")
    if client.department_id is None:
        raise GrantInvalid(
            "该接入应用未绑定部门，不能授予用证权限", detail_en="the client is bound to no department"
        )
    kind = service.get_type(session, type_code.strip().upper())
    now = utcnow()
    start, end = _window(valid_from, valid_until, now)
    if GrantRepository(session).overlapping(client.client_id, kind.code, now, end):
        raise GrantConflict("该系统已有此类证照的授权，请先撤销原授权再重新授予",
                            detail_en="the client already holds a grant for this type")  # fmt: skip
    department = orgs.get_department(session, client.department_id)
    grant = LicenseClientGrant(
        client_id=client.client_id, client_name=f"{department.name}·{client.name}"[:200],
        department_id=department.id, type_code=kind.code, operations=ops, purpose=text, valid_from=start,
        valid_until=end, granted_by=actor[:100], granted_at=now,
    )  # fmt: skip
    GrantRepository(session).add(grant)
    record_change(session, actor=actor, action="license_grant.add", entity="license_grant", entity_id=grant.id,
                  department_id=department.id, before=None,
                  after={"client_id": grant.client_id, "type_code": grant.type_code, "operations": ops,
                         "purpose": text, "valid_from": start.isoformat(),
                         "valid_until": end.isoformat() if end else None})  # fmt: skip
    return grant


def get(session: Session, grant_id: str) -> LicenseClientGrant:
    """One grant, or GrantNotFound."""
    grant = GrantRepository(session).grant(grant_id.strip()) if grant_id.strip() else None
    if grant is None:
        raise GrantNotFound()
    return grant


def revoke(session: Session, grant_id: str, *, reason: str, actor: str) -> LicenseClientGrant:
    """End a grant at once (audited); the row stays, so past uses still name it."""
    grant = get(session, grant_id)
    if grant.revoked_at is not None:
        raise GrantConflict("该授权已撤销", detail_en="already revoked", code="licenses.grant_revoked")
    text = " ".join(reason.split())
    if not 1 <= len(text) <= 300:
        raise GrantInvalid("请填写撤销原因（300字以内）", detail_en="reason is required (≤ 300 characters)")
    before = status_of(grant)
    grant.revoked_at, grant.revoked_by, grant.revoked_reason = utcnow(), actor[:100], text
    session.flush()
    record_change(session, actor=actor, action="license_grant.revoke", entity="license_grant", entity_id=grant.id,
                  department_id=grant.department_id, before={"status": before},
                  after={"status": "revoked", "reason": text})  # fmt: skip
    return grant


def list_grants(
    session: Session,
    *,
    client_id: str | None = None,
    type_code: str | None = None,
    current_only: bool = False,
    offset: int = 0,
    limit: int = 50,
) -> tuple[Sequence[LicenseClientGrant], int]:
    """A page of grants, newest first (``current_only``: those in force now)."""
    return GrantRepository(session).page(
        client_id=(client_id or "").strip() or None,
        type_code=(type_code or "").strip().upper() or None,
        in_force_at=utcnow() if current_only else None,
        offset=offset,
        limit=limit,
    )


def usage(
    session: Session, grant_id: str, *, offset: int = 0, limit: int = 50
) -> tuple[Sequence[tuple[LicenseUsage, License]], int]:
    """A page of the uses made under a grant (NotFound for an unknown grant)."""
    grant = get(session, grant_id)
    return LicenseRepository(session).usage_under_grant(grant.id, offset=offset, limit=limit)
