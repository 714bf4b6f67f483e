"""The default license port of cases: licenses' own service on this node."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from zhengwu.cases.servicekeys import HeldLicense
from zhengwu.identity.models import Account, AccountKind, LegalEntity
from zhengwu.kernel.events import EventBus
from zhengwu.kernel.node import node_in
from zhengwu.licenses import lifecycle
from zhengwu.licenses import service as licenses
from zhengwu.licenses.errors import LicenseNotFound


def _applicant_index(session: Session, account: Account, entity_id: str | None) -> str | None:
    """The holder index of the applicant: the enterprise applied for, else the person (or the
    enterprise of an enterprise's own account)."""
    if entity_id is None and account.kind == AccountKind.LEGAL:
        entity_id = account.legal_entity_id
    if entity_id is None:
        return account.citizen_id_index
    entity = session.get(LegalEntity, entity_id)
    return entity.credit_code_index if entity is not None else None


class LocalLicenses:
    """Held licenses and issuance through ``zhengwu.licenses.service``."""

    def held(
        self, session: Session, account: Account, license_id: str, *, entity_id: str | None = None
    ) -> HeldLicense:
        lic = licenses.holder_license(session, account, license_id)
        if lic.holder_index != _applicant_index(session, account, entity_id):
            # The person may see it (their enterprises'), but it is not the applicant's own.
            raise LicenseNotFound("该电子证照的持证主体不是本次申请的申请人，不能作为申请材料")
        if licenses.status_of(lic) != lifecycle.VALID:
            raise LicenseNotFound("该电子证照当前无效，不能作为申请材料")
        return lic

    def holdings(
        self, session: Session, account: Account, *, entity_id: str | None = None
    ) -> Sequence[HeldLicense]:
        rows, _ = licenses.holder_licenses(session, account, limit=200)
        index = _applicant_index(session, account, entity_id)
        return [
            lic for lic in rows if lic.holder_index == index and licenses.status_of(lic) == lifecycle.VALID
        ]

    def issue(
        self,
        session: Session,
        *,
        type_code: str,
        department_id: str,
        holder_name: str,
        holder_code: str,
        face: dict[str, Any],
        actor: str,
        at: datetime | None,
        bus: EventBus | None,
    ) -> HeldLicense:
        return licenses.issue_license(
            session,
            node_in(session).settings,
            type_code=type_code,
            department_id=department_id,
            holder_name=holder_name,
            holder_code=holder_code,
            face=face,
            actor=actor,
            at=at,
            bus=bus,
        )
