"""Department machine services (standards §5.5): query by identifier or by holder, a one-time download
address, verification and annotated copies, for department systems holding client credentials.

Every call names its 用证事由 (purpose) and the item (实施编码) or case (办件编号) it serves, and is
written to the usage log with the client's department and name, the operation and the result — the
holder reads exactly that at ``GET /api/v1/licenses/usage``. A client uses only the license types its
token carries (``licenses.machine``) and, of those, only the types and operations a grant in force
allows it (``licenses.grants``); anything else is refused (403) and the refusal is logged too. Each use
names the grant it went through.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy.orm import Session

from zhengwu.audit.apart import write_apart
from zhengwu.audit.reads import record_read
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.config import Settings
from zhengwu.licenses import copies, grants, holders, service, tickets
from zhengwu.licenses.errors import LicenseError, LicenseNotFound, ShareNotFound, TicketGone
from zhengwu.licenses.machine import ServiceClient
from zhengwu.licenses.models import License
from zhengwu.licenses.repository import LicenseRepository
from zhengwu.licenses.sharing_models import LicenseDownloadTicket
from zhengwu.licenses.sharing_repository import SharingRepository

TICKET_MINUTES: Final = 5
TICKET_KIND: Final = "zld"
MAX_HOLDER_RESULTS: Final = 50


@dataclass(frozen=True, slots=True)
class Use:
    """Why a department system asks: 用证事由 and the item or case it serves."""

    purpose: str
    item_code: str | None = None
    case_number: str | None = None

    def __post_init__(self) -> None:
        if not self.purpose.strip():
            raise LicenseError(
                "请填写用证事由", code="licenses.purpose_required", detail_en="purpose is required"
            )
        if not (self.item_code or self.case_number):
            raise LicenseError("请填写关联事项编码或办件编号", code="licenses.item_required",
                               detail_en="item_code or case_number is required")  # fmt: skip


def audit_read(session: Session, lic: License, reader: str, purpose: str) -> None:
    """A person's license read by a machine is also in the person's read log (``/identity/me/reads``,
    conventions §3) when the holder is a person with an account here; enterprises read the usage log."""
    if lic.holder_code_type != holders.CITIZEN_ID:
        return
    account_id = SharingRepository(session).person_account_id(lic.holder_index)
    if account_id is not None:
        record_read(session, account_id, reader, purpose, f"license:{lic.type_code}")


def caller_of(client: ServiceClient, use: Use, client_ip: str | None) -> service.Caller:
    """The usage log's who and why for a department system's call."""
    return service.Caller(client.actor, use.purpose, client_ip, display=client.display,
                          item_code=use.item_code, case_number=use.case_number)  # fmt: skip


def refused(session: Session, caller: service.Caller, operation: str, result: str, lic: License | None,
             error: LicenseError) -> LicenseError:  # fmt: skip
    """Log a refused call in a transaction of its own (the request's rolls back) and hand back the error.

    The id is read first: ``write_apart`` rolls the request's session back, which expires ``lic``."""
    license_id = lic.id if lic is not None else None
    write_apart(session, lambda apart: service.record_usage(
        apart, caller, operation, result, apart.get(License, license_id) if license_id else None))  # fmt: skip
    return error


def _granted(session: Session, client: ServiceClient, caller: service.Caller, operation: str, type_code: str,
             lic: License | None) -> service.Caller:  # fmt: skip
    """The caller with the grant that allows ``operation`` on ``type_code``; else the refusal, logged."""
    if not client.may_use(type_code):
        raise refused(session, caller, operation, "denied", lic, client.denial(type_code))
    need = grants.OPERATION_OF[operation]
    grant = grants.find(session, client, type_code, need)
    if grant is None:
        name = lic.type_name if lic is not None else None
        raise refused(
            session, caller, operation, "no_grant", lic, grants.refusal(client, type_code, need, name)
        )
    return dataclasses.replace(caller, grant_id=grant.id)


def _license(session: Session, client: ServiceClient, caller: service.Caller, identifier: str,
             operation: str) -> tuple[License, service.Caller]:  # fmt: skip
    lic = LicenseRepository(session).by_identifier(identifier.strip())
    if lic is None:
        raise refused(
            session, caller, operation, "not_found", None, LicenseNotFound(detail_en="no such license")
        )
    return lic, _granted(session, client, caller, operation, lic.type_code, lic)


def query(
    session: Session, client: ServiceClient, identifier: str, use: Use, *, client_ip: str | None = None
) -> License:
    """QueryCertInfo: one license by identifier, for a client that may use its type."""
    lic, caller = _license(session, client, caller_of(client, use, client_ip), identifier, "service_query")
    service.record_usage(session, caller, "service_query", service.status_of(lic), lic)
    audit_read(session, lic, client.actor, use.purpose)
    return lic


def query_by_qr(
    session: Session, settings: Settings, client: ServiceClient, content: str, use: Use, *,
    client_ip: str | None = None,
) -> License:  # fmt: skip
    """QueryCertInfoByQrCode: the license a genuine 2-D code names (its signature checked first), under
    the client's grant for ``query``; a code that does not verify is refused and logged."""
    from zhengwu.licenses import qrlookup as qr

    caller = caller_of(client, use, client_ip)
    try:
        identifier = qr.identifier_of(session, settings, content)
    except qr.NotALicenseCode as exc:
        raise refused(session, caller, "service_query_qr", "bad_code", None, exc) from None
    lic, caller = _license(session, client, caller, identifier, "service_query_qr")
    service.record_usage(session, caller, "service_query_qr", service.status_of(lic), lic)
    audit_read(session, lic, client.actor, use.purpose)
    return lic


def query_by_holder(
    session: Session,
    client: ServiceClient,
    *,
    holder_code: str,
    type_code: str,
    use: Use,
    holder_code_type: str | None = None,
    client_ip: str | None = None,
) -> Sequence[License]:
    """QueryCertInfoByHolderCode: a holder's licenses of one type (the type's scope is required)."""
    caller = caller_of(client, use, client_ip)
    kind = service.get_type(session, type_code)
    caller = _granted(session, client, caller, "service_query_holder", kind.code, None)
    code_type, code = holders.check_holder(holder_code, kind.holder_code_types, holder_code_type)
    found = LicenseRepository(session).of_holder_and_type(
        service.holder_index(session, code_type, code), kind.code, limit=MAX_HOLDER_RESULTS
    )
    for lic in found:
        service.record_usage(session, caller, "service_query_holder", service.status_of(lic), lic)
        audit_read(session, lic, client.actor, use.purpose)
    return found


def verify(
    session: Session,
    client: ServiceClient,
    identifier: str,
    holder_code: str,
    use: Use,
    *,
    client_ip: str | None = None,
) -> service.Answer:
    """VerifyCertInfo: identifier + holder, minimal answer (the type's scope is required)."""
    caller = caller_of(client, use, client_ip)
    parts = identifier.strip().split(".")
    type_code = (
        parts[5] if len(parts) == 10 else ""
    )  # 1.2.156.3005.2.<type>.<issuer>.<serial>.<version>.<check>
    caller = _granted(session, client, caller, "service_verify", type_code, None)
    return service.verify_by_identifier(session, identifier, holder_code, caller=caller)


@dataclass(frozen=True, slots=True)
class Ticket:
    """A one-time download address just made (the token appears only here)."""

    url: str
    expires_at: datetime


def _ticket(
    session: Session,
    settings: Settings,
    client: ServiceClient,
    lic: License,
    use: Use,
    copy_id: str | None,
    now: datetime,
    grant_id: str | None,
) -> Ticket:
    token = tickets.new_token(TICKET_KIND)
    row = LicenseDownloadTicket(
        token_digest=tickets.digest(settings, token),
        license_id=lic.id,
        copy_id=copy_id,
        client_id=client.client_id,
        client_name=client.display[:200],
        purpose=use.purpose[:200],
        item_code=use.item_code,
        case_number=use.case_number,
        grant_id=grant_id,
        created_at=now,
        expires_at=now + timedelta(minutes=TICKET_MINUTES),
    )
    SharingRepository(session).add(row)
    return Ticket(f"{settings.public_url.rstrip('/')}/api/v1/licenses/downloads/{token}", row.expires_at)


def download_url(
    session: Session,
    settings: Settings,
    client: ServiceClient,
    identifier: str,
    use: Use,
    *,
    client_ip: str | None = None,
) -> Ticket:
    """DownLoadUrl: an address that delivers the sealed OFD once, within a few minutes."""
    lic, caller = _license(session, client, caller_of(client, use, client_ip), identifier, "download_url")
    service.record_usage(session, caller, "download_url", service.status_of(lic), lic)
    return _ticket(session, settings, client, lic, use, None, utcnow(), caller.grant_id)


def request_copy(
    session: Session,
    settings: Settings,
    client: ServiceClient,
    identifier: str,
    use: Use,
    *,
    expires_at: datetime,
    client_ip: str | None = None,
) -> tuple[copies.Copy, Ticket]:
    """CertRemark / DownloadFile with a copy cause: an annotated copy for the purpose, fetched once."""
    lic, caller = _license(session, client, caller_of(client, use, client_ip), identifier, "copy")
    try:
        made = copies.make_copy(session, settings, lic, requested_by=client.actor, requester_name=client.display,
                                purpose=use.purpose, expires_at=expires_at)  # fmt: skip
    except LicenseError as exc:  # not valid, a bad expiry, no usable seal: refused, and logged as such
        raise refused(session, caller, "copy", "refused", lic, exc) from None
    service.record_usage(session, caller, "copy", "made", lic)
    return made, _ticket(session, settings, client, lic, use, made.row.id, utcnow(), caller.grant_id)


@dataclass(frozen=True, slots=True)
class Download:
    """What a redeemed ticket delivers."""

    data: bytes
    filename: str


def redeem_ticket(
    session: Session, settings: Settings, token: str, *, client_ip: str | None = None
) -> Download:
    """Deliver the file of a ticket once: a second use or a late one is refused (410) and logged."""
    row = None
    if token and len(token) <= tickets.MAX_TOKEN_CHARS:
        row = SharingRepository(session).ticket_by_token(tickets.digest(settings, token))
    if row is None:
        raise ShareNotFound(
            "下载地址无效", detail_en="no download with that address", code="licenses.ticket_not_found"
        )
    caller = service.Caller(f"client:{row.client_id}", row.purpose, client_ip, display=row.client_name,
                            item_code=row.item_code, case_number=row.case_number, grant_id=row.grant_id)  # fmt: skip
    lic = service.get_license(session, row.license_id)
    now = utcnow()
    if row.used_at is not None or row.expires_at <= now:
        result = "ticket_used" if row.used_at is not None else "ticket_expired"
        raise refused(session, caller, "download", result, lic, TicketGone(detail_en="used or expired"))
    if row.grant_id is not None and not grants.in_force(session, row.grant_id, now):
        # Revoked (or ended) in the minutes since the address was made: the file is not delivered.
        raise refused(session, caller, "download", "no_grant", lic, TicketGone("用证授权已撤销或过期，下载地址作废",
                                                                            detail_en="the grant has ended"))  # fmt: skip
    if not SharingRepository(session).take_ticket(row.id, now):
        raise refused(session, caller, "download", "ticket_used", lic, TicketGone(detail_en="already used"))
    if row.copy_id is not None:
        copy = SharingRepository(session).copy(row.copy_id)
        if copy is None:  # pragma: no cover - a foreign key keeps it
            raise TicketGone()
        service.record_usage(session, caller, "download_copy", "ok", lic)
        audit_read(session, lic, caller.name, row.purpose)
        return Download(service.files(settings).get(copy.file_sm3), f"license-copy-{copy.id}.ofd")
    service.record_usage(session, caller, "download", "ok", lic)
    audit_read(session, lic, caller.name, row.purpose)
    return Download(service.license_file(settings, lic), f"license-{lic.id}.ofd")
