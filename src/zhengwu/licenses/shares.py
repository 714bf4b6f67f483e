"""Sharing with consent (共享授权): a holder shows one license to one verifier for a purpose, until a time.

A share is a consent record (conventions §6): versioned per (license, verifier) — a new share with the
same verifier supersedes the previous version — revocable at once, audited (``record_change``) and
announced (``ShareCreated`` / ``ShareRevoked``). The verifier is a department (by credit code: any client
of that department's systems), one client of this node's provider, or anyone holding the link.

The share token is shown once, in the creation answer and its QR code (the token rides in the URL
fragment, so it never reaches a server log); the node keeps only its keyed digest. A redemption shows the
face fields only when the consent grants ``face``, otherwise the minimal answer (valid, status, type,
issuer). Every redemption, refused ones included, is written to the usage log the holder reads.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy.orm import Session

from zhengwu.audit.changes import record_change
from zhengwu.identity.models import Account
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.config import Settings
from zhengwu.kernel.events import EventBus, publish_on
from zhengwu.licenses import lifecycle, render, service, services, tickets
from zhengwu.licenses.errors import (
    LicenseError,
    LicenseStateConflict,
    ShareAudience,
    ShareGone,
    ShareNotFound,
)
from zhengwu.licenses.events import ShareCreated, ShareEvent, ShareRevoked
from zhengwu.licenses.machine import ServiceClient
from zhengwu.licenses.models import License
from zhengwu.licenses.sharing_models import LicenseShare
from zhengwu.licenses.sharing_repository import SharingRepository
from zhengwu.orgs import service as orgs

DEPARTMENT: Final = "department"
CLIENT: Final = "client"
ANYONE: Final = "anyone"
AUDIENCES: Final = (DEPARTMENT, CLIENT, ANYONE)
GRANTS: Final = ("face",)
GRANTED: Final = "granted"
REVOKED: Final = "revoked"
SUPERSEDED: Final = "superseded"
MAX_DAYS: Final = 365
SHARE_KIND: Final = "zls"
STATUS_LABELS: Final = {GRANTED: "有效", REVOKED: "已撤销", SUPERSEDED: "已被新授权取代", "expired": "已过期"}


@dataclass(frozen=True, slots=True)
class NewShare:
    """A share just made: the row, and the token and QR code shown this once."""

    share: LicenseShare
    token: str
    url: str
    qr_png: bytes

    @property
    def qr_data_uri(self) -> str:
        """The QR code as a data: URI (a page shows it as it is)."""
        return "data:image/png;base64," + base64.b64encode(self.qr_png).decode()


def status_of(share: LicenseShare, at: datetime | None = None) -> str:
    """granted / revoked / superseded / expired (a granted share past its end is expired)."""
    if share.status == GRANTED and share.expires_at <= (at or utcnow()):
        return "expired"
    return share.status


def _audience(session: Session, kind: str, audience: str | None) -> tuple[str, str]:
    """The normalised verifier ("" for anyone) and its name (404 for an unknown department or client)."""
    if kind == ANYONE:
        return "", "任何持有共享链接的人"
    text = (audience or "").strip()
    if kind == DEPARTMENT:
        department = orgs.get_by_credit_code(session, text)
        return department.credit_code, department.name
    if kind == CLIENT:
        row = SharingRepository(session).client(text)
        if row is None or row.status != "active":
            raise ShareNotFound("指定的核验方系统不存在或已停用", detail_en="no active client with that id",
                                code="licenses.share_audience_unknown")  # fmt: skip
        return row.client_id, row.name
    raise LicenseError("核验方类别应为 department、client 或 anyone", code="licenses.share_audience_kind")


def verifier_clients(session: Session) -> list[tuple[str, str]]:
    """The systems a holder may name as a share's only verifier (``audience_kind`` ``client``): their client
    id and the name people read — the system's, with its department's when it has one."""
    return [
        (
            row.client_id,
            f"{row.name}（{department}）" if department and department not in row.name else row.name,
        )
        for row, department in SharingRepository(session).verifier_clients()
    ]


def latest_expiry(at: datetime | None = None) -> datetime:
    """The latest end a share made now may have."""
    return (at or utcnow()) + timedelta(days=MAX_DAYS)


def _event(cls: type[ShareEvent], share: LicenseShare, actor: str) -> ShareEvent:
    return cls(share_id=share.id, license_id=share.license_id, audience_kind=share.audience_kind,
               audience=share.audience or None, version=share.version, actor=actor)  # fmt: skip


def share_url(settings: Settings, token: str) -> str:
    """Where a verifier opens a share (the token in the fragment: never sent to a server by a browser)."""
    return f"{settings.public_url.rstrip('/')}/licenses/share#{token}"


def create_share(
    session: Session,
    settings: Settings,
    account: Account,
    license_id: str,
    *,
    audience_kind: str,
    audience: str | None,
    purpose: str,
    expires_at: datetime,
    grants: Sequence[str] = (),
    bus: EventBus | None = None,
    at: datetime | None = None,
) -> NewShare:
    """Share one of the account's licenses (its own, or an enterprise's it acts for) with one verifier."""
    lic = service.holder_license(session, account, license_id)
    now = at or utcnow()
    if service.status_of(lic, now) != lifecycle.VALID:
        raise LicenseStateConflict(
            "证照当前不是有效状态，不能共享", detail_en="only a valid license can be shared"
        )
    if expires_at <= now or expires_at > latest_expiry(now):
        raise LicenseError(f"共享有效期应晚于现在且不超过{MAX_DAYS}天", code="licenses.share_expiry",
                           detail_en=f"expiry must be in the future and within {MAX_DAYS} days")  # fmt: skip
    unknown = sorted(set(grants) - set(GRANTS))
    if unknown:
        raise LicenseError("授权内容只能是 face（照面信息）", code="licenses.share_grants")
    target, name = _audience(session, audience_kind, audience)
    repo = SharingRepository(session)
    previous = repo.granted_shares(lic.id, audience_kind, target)
    version = repo.share_versions(lic.id, audience_kind, target) + 1
    token = tickets.new_token(SHARE_KIND)
    actor = f"account:{account.id}"
    share = LicenseShare(
        license_id=lic.id,
        granted_by=account.id,
        audience_kind=audience_kind,
        audience=target,
        audience_name=name[:200],
        purpose=purpose.strip()[:200],
        grants=sorted(set(grants)),
        version=version,
        token_digest=tickets.digest(settings, token),
        status=GRANTED,
        created_at=now,
        expires_at=expires_at,
        uses=0,
    )
    if not repo.add_version(share):
        raise LicenseStateConflict("同一核验方的共享正在同时创建，请重试", code="licenses.share_conflict",
                                   detail_en="another share with this verifier was created at the same time")  # fmt: skip
    for old in previous:
        old.status = SUPERSEDED
        old.superseded_by = share.id
    record_change(session, actor=actor, action="license_share.create", entity="license_share",
                  entity_id=share.id, department_id=lic.department_id,
                  after={"license": lic.identifier, "audience_kind": audience_kind, "audience_name": name,
                         "purpose": share.purpose, "grants": share.grants, "version": version,
                         "expires_at": expires_at.isoformat()})  # fmt: skip
    publish_on(bus, session, _event(ShareCreated, share, actor))
    url = share_url(settings, token)
    return NewShare(share, token, url, render.qr_png(url))


def holder_shares(session: Session, account: Account, license_id: str) -> Sequence[LicenseShare]:
    """Every share (all versions) of one of the account's licenses, newest first."""
    lic = service.holder_license(session, account, license_id)
    return SharingRepository(session).shares_of(lic.id)


def holder_all_shares(
    session: Session, account: Account, *, offset: int = 0, limit: int = 50
) -> tuple[Sequence[tuple[LicenseShare, License]], int]:
    """A page of the shares of every license the person holds or acts for (授权管理), newest first."""
    indexes = service.holder_indexes(session, account)
    if not indexes:
        return [], 0
    return SharingRepository(session).shares_of_holders(indexes, offset=offset, limit=limit)


def revoke_share(
    session: Session,
    account: Account,
    license_id: str,
    share_id: str,
    *,
    reason: str | None = None,
    bus: EventBus | None = None,
) -> LicenseShare:
    """End a share at once (a second revocation answers the same: nothing left to stop)."""
    lic = service.holder_license(session, account, license_id)
    share = SharingRepository(session).share(share_id)
    if share is None or share.license_id != lic.id:
        raise ShareNotFound()
    if share.status == REVOKED:
        return share
    before = status_of(share)
    share.status = REVOKED
    share.revoked_at = utcnow()
    share.revoked_reason = (reason or "持证人撤销")[:300]
    actor = f"account:{account.id}"
    record_change(session, actor=actor, action="license_share.revoke", entity="license_share",
                  entity_id=share.id, department_id=lic.department_id, before={"status": before},
                  after={"status": REVOKED, "reason": share.revoked_reason})  # fmt: skip
    publish_on(bus, session, _event(ShareRevoked, share, actor))
    return share


# --- redemption by the verifier ----------------------------------------------------------------------


def _verifier_caller(
    verifier: ServiceClient | None, purpose: str | None, client_ip: str | None
) -> service.Caller:
    if verifier is None:
        return service.Caller("share:public", purpose, client_ip, display="共享链接持有人")
    return service.Caller(verifier.actor, purpose, client_ip, display=verifier.display)


def _covers(share: LicenseShare, verifier: ServiceClient | None) -> bool:
    if share.audience_kind == ANYONE:
        return True
    if verifier is None:
        return False
    if share.audience_kind == CLIENT:
        return verifier.client_id == share.audience
    return verifier.department_credit_code is not None and verifier.department_credit_code == share.audience


def redeem(
    session: Session,
    settings: Settings,
    token: str,
    *,
    verifier: ServiceClient | None,
    purpose: str | None = None,
    client_ip: str | None = None,
) -> dict[str, Any]:
    """What the consent behind ``token`` lets this verifier see; refused (404/410/403) otherwise."""
    caller = _verifier_caller(verifier, purpose, client_ip)
    text = token.strip()
    share = None
    if text and len(text) <= tickets.MAX_TOKEN_CHARS:
        share = SharingRepository(session).share_by_token(tickets.digest(settings, text))
    if share is None:
        raise services.refused(
            session,
            caller,
            "share_redeem",
            "share_not_found",
            None,
            ShareNotFound(detail_en="no share with that token"),
        )
    lic = service.get_license(session, share.license_id)
    state = status_of(share)
    if state != GRANTED:
        detail = {
            REVOKED: ("持证人已撤销该共享", "the holder revoked this share"),
            SUPERSEDED: ("持证人已用新的授权取代该共享", "the holder replaced this share by a newer one"),
            "expired": ("该共享已过期", "this share has expired"),
        }[state]
        raise services.refused(
            session, caller, "share_redeem", f"share_{state}", lic, ShareGone(detail[0], detail_en=detail[1])
        )
    if not _covers(share, verifier):
        refusal = ShareAudience(
            f"该共享仅限“{share.audience_name}”使用",
            detail_en="this share is for a named verifier; present its client credentials",
        )
        raise services.refused(session, caller, "share_redeem", "share_audience", lic, refusal)
    share.uses += 1
    answer = service.answer_of(lic, "证照有效，共享授权有效")
    service.record_usage(session, caller, "share_redeem", "valid" if answer.valid else answer.status or "invalid",
                         lic)  # fmt: skip
    result: dict[str, Any] = answer.as_json()
    result["share"] = {
        "purpose": share.purpose,
        "expires_at": share.expires_at,
        "audience_name": share.audience_name,
        "grants": list(share.grants),
    }
    result["license"] = None
    if "face" in share.grants and answer.valid:
        services.audit_read(session, lic, caller.name, f"共享：{share.purpose}")
        result["license"] = {
            "identifier": lic.identifier,
            "number": lic.number,
            "holder_name": lic.holder_name,
            "face": dict(lic.face),
            "valid_from": lic.valid_from,
            "valid_until": lic.valid_until,
            "issued_at": lic.issued_at,
        }
    return result
