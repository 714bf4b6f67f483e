"""The licenses' exchange topic: every change of a license travels upward as an ``up_lic_data`` row.

Declared here (``kernel.topics``) and collected by the composition root (``main.exchange_topics``), so
that the exchange, a sibling capability, never imports licenses nor licenses the exchange (ADR 0012). The
exchange declares, for the same national table, its code checks and the licence-registry index fed by
accepted rows (``exchange.wiring.declarations``: table-level ``CodeCheck``/``TableHook``); this module
declares the one topic that carries the rows. The national table has no status column: a license that stops
being valid (suspended, revoked, superseded) is sent with operation ``D`` so that the national
registry stops answering for it, and one that becomes valid again with ``U``.

A license issued on this node for a division below it (a city or county department registered on the
province's platform, e.g. through a provincial vertical system) also goes down, on
``licenses.dn_lic_share`` (our own table: the ``up_lic_data`` columns), routed by
``certificate_area_code``: the exchange serves it only to the lower node whose area holds that division,
and every tier on the way passes it on (``exchange.applying``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from sqlalchemy.orm import Session

from zhengwu.identity.context import of
from zhengwu.identity.protection import decrypt_field
from zhengwu.kernel.codes import divisions
from zhengwu.kernel.config import Settings
from zhengwu.kernel.events import emit_now
from zhengwu.kernel.node import node_in
from zhengwu.kernel.topics import Census, Declaration, TopicDeclaration
from zhengwu.licenses import lifecycle
from zhengwu.licenses.models import License
from zhengwu.licenses.repository import LicenseRepository

TOPIC: Final = "licenses.up_lic_data"
TABLE: Final = "up_lic_data"
KEY_COLUMN: Final = "certificate_source_id"
LABEL: Final = "电子证照目录信息"
HOLDER_PURPOSE: Final = "licenses_license.holder_code"


SHARE_TOPIC: Final = "licenses.dn_lic_share"
SHARE_TABLE: Final = "dn_lic_share"
ROUTE_COLUMN: Final = "certificate_area_code"


def declarations(settings: Settings) -> list[Declaration]:
    """The licenses topic (national table ``up_lic_data`` by naming convention), rebuilt on resend; the
    downward share of licenses issued for a lower division."""
    return [
        TopicDeclaration(TOPIC, key_column=KEY_COLUMN, refresh=refresh, label=LABEL),
        TopicDeclaration(
            SHARE_TOPIC,
            table=SHARE_TABLE,
            key_column=KEY_COLUMN,
            route_column=ROUTE_COLUMN,
            label="电子证照（下发至所在市县）",
        ),
        Census("licenses", valid_licenses),
    ]


def for_lower_node(session: Session, row: Mapping[str, Any]) -> bool:
    """The row concerns a division below this node's (its ``certificate_area_code``): a middle tier that
    does not hold the license passes it on (``exchange.applying``) instead of refusing or keeping it."""
    try:
        own = node_in(session).settings.division_code
    except RuntimeError:  # a session opened outside a node: no lower nodes to think of
        return False
    return divisions.below(str(row.get(ROUTE_COLUMN) or "").strip(), own)


def valid_licenses(session: Session) -> dict[str, int]:
    """Valid licenses per issuing department code (``issue_dept_code``): invalid ones went up as ``D``."""
    from sqlalchemy import func, select

    rows = session.execute(
        select(License.issuer_code, func.count())
        .where(License.status == lifecycle.VALID)
        .group_by(License.issuer_code)
    )
    return {str(code or ""): int(n) for code, n in rows}


def _below(division: str, node_division: str) -> bool:
    """True for a division strictly inside this node's (130100 and 130102 inside 130000)."""
    if division == node_division or len(division) != 6:
        return False
    if node_division == "000000":
        return True
    prefix = node_division[:2] if node_division.endswith("0000") else node_division[:4]
    return node_division.endswith("00") and division.startswith(prefix)


def row(session: Session, lic: License, *, holder_code: str | None = None) -> dict[str, Any]:
    """The national ``up_lic_data`` columns of a license (standards §5.3); ``holder_code``: the holder's
    code in clear where the caller has it (an issuance has just encrypted it), else it is decrypted."""
    return {
        "certificate_source_id": lic.identifier,
        "certificate_name": lic.type_name,
        "certificate_number": lic.number,
        "certificate_type": lic.type_name,
        "certificate_type_code": lic.type_code,
        "certificate_holder": lic.holder_name,
        "certificate_holder_code": holder_code
        or decrypt_field(of(session).keys, lic.holder_code_enc, purpose=HOLDER_PURPOSE),
        "certificate_holder_type": lic.holder_code_type,
        "issue_dept": lic.issuer_name,
        "issue_dept_code": lic.issuer_code,
        "issue_date": lic.issued_at.strftime("%Y%m%d"),
        "certificate_area_code": lic.area_code,
    }


def emit_change(
    session: Session, lic: License, *, created: bool = False, holder_code: str | None = None
) -> None:
    """Queue the row of a license change in the caller's transaction (``holder_code`` as for ``row``)."""
    operation = ("I" if created else "U") if lic.status == lifecycle.VALID else "D"
    payload = row(session, lic, holder_code=holder_code)
    emit_now(session, TOPIC, payload, key=lic.identifier, operation=operation)
    try:
        division = node_in(session).settings.division_code
    except RuntimeError:  # a session opened outside a node (a script's): no lower nodes to think of
        return
    if _below(lic.area_code, division):
        emit_now(session, SHARE_TOPIC, payload, key=lic.identifier, operation=operation)


def refresh(session: Session, identifier: str) -> dict[str, Any] | None:
    """The current row of a license (None when it is no longer valid), for an operator's resend."""
    lic = LicenseRepository(session).by_identifier(identifier)
    if lic is None or lic.status != lifecycle.VALID:
        return None
    return row(session, lic)
