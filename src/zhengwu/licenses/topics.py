"""The licenses' exchange topic: every change of a license travels upward as an ``up_lic_data`` row.

Declared here (``kernel.topics``) and collected by the composition root (``main.exchange_topics``), so
that the exchange, a sibling capability, never imports licenses nor licenses the exchange (ADR 0012). The
exchange declares, for the same national table, its code checks and the licence-registry index fed by
accepted rows (``exchange.wiring.declarations``: table-level ``CodeCheck``/``TableHook``); this module
declares the one topic that carries the rows. The national table has no status column: a license that stops
being valid (suspended, revoked, superseded) is sent with operation ``D`` so that the national
registry stops answering for it, and one that becomes valid again with ``U``.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy.orm import Session

from zhengwu.identity.context import of
from zhengwu.identity.protection import decrypt_field
from zhengwu.kernel.config import Settings
from zhengwu.kernel.events import emit
from zhengwu.kernel.topics import Census, Declaration, TopicDeclaration
from zhengwu.licenses import lifecycle
from zhengwu.licenses.models import License
from zhengwu.licenses.repository import LicenseRepository

TOPIC: Final = "licenses.up_lic_data"
KEY_COLUMN: Final = "certificate_source_id"
LABEL: Final = "电子证照目录信息"
HOLDER_PURPOSE: Final = "licenses_license.holder_code"


def declarations(settings: Settings) -> list[Declaration]:
    """The licenses topic (national table ``up_lic_data`` by naming convention), rebuilt on resend."""
    return [
        TopicDeclaration(TOPIC, key_column=KEY_COLUMN, refresh=refresh, label=LABEL),
        Census("licenses", valid_licenses),
    ]


def valid_licenses(session: Session) -> dict[str, int]:
    """Valid licenses per issuing department code (``issue_dept_code``): invalid ones went up as ``D``."""
    from sqlalchemy import func, select

    rows = session.execute(
        select(License.issuer_code, func.count())
        .where(License.status == lifecycle.VALID)
        .group_by(License.issuer_code)
    )
    return {str(code or ""): int(n) for code, n in rows}


def row(session: Session, lic: License) -> dict[str, Any]:
    """The national ``up_lic_data`` columns of a license (standards §5.3)."""
    return {
        "certificate_source_id": lic.identifier,
        "certificate_name": lic.type_name,
        "certificate_number": lic.number,
        "certificate_type": lic.type_name,
        "certificate_type_code": lic.type_code,
        "certificate_holder": lic.holder_name,
        "certificate_holder_code": decrypt_field(
            of(session).keys, lic.holder_code_enc, purpose=HOLDER_PURPOSE
        ),
        "certificate_holder_type": lic.holder_code_type,
        "issue_dept": lic.issuer_name,
        "issue_dept_code": lic.issuer_code,
        "issue_date": lic.issued_at.strftime("%Y%m%d"),
        "certificate_area_code": lic.area_code,
    }


def emit_change(session: Session, lic: License, *, created: bool = False) -> None:
    """Queue the row of a license change in the caller's transaction."""
    operation = ("I" if created else "U") if lic.status == lifecycle.VALID else "D"
    emit(session, TOPIC, row(session, lic), key=lic.identifier, operation=operation)


def refresh(session: Session, identifier: str) -> dict[str, Any] | None:
    """The current row of a license (None when it is no longer valid), for an operator's resend."""
    lic = LicenseRepository(session).by_identifier(identifier)
    if lic is None or lic.status != lifecycle.VALID:
        return None
    return row(session, lic)
