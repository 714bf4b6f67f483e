"""Queries of the seal registry (services only flush; the edge commits)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, func, insert, select
from sqlalchemy.orm import Session

from zhengwu.kernel.db import new_id
from zhengwu.orgs.models import Department
from zhengwu.pki.models import PkiCertificate
from zhengwu.seals.models import Seal, SealStatusEvent, SealUsage

# Built once, values as parameters: every sealing writes one.
_INSERT_USAGE = insert(cast(Table, SealUsage.__table__))
# Built once: an issuance asks for its department's active seal every time.
_FIRST_OF = select(Seal).where(Seal.department_id == bindparam("department_id")).order_by(Seal.es_id).limit(1)
_FIRST_WITH_STATUS = (
    select(Seal)
    .where(Seal.department_id == bindparam("department_id"), Seal.status == bindparam("status"))
    .order_by(Seal.es_id)
    .limit(1)
)

# The same with the seal's signer certificate row (an issuance reads both, then signs): one statement.
_FIRST_WITH_STATUS_AND_CERTIFICATE = (
    select(Seal, PkiCertificate)
    .outerjoin(PkiCertificate, PkiCertificate.id == Seal.certificate_id)
    .where(Seal.department_id == bindparam("department_id"), Seal.status == bindparam("status"))
    .order_by(Seal.es_id)
    .limit(1)
)

# A department with its first seal of a status and that seal's certificate (None where there is none):
# an issuance reads the three before it signs.
_DEPARTMENT_WITH_SEAL = (
    select(Department, Seal, PkiCertificate)
    .outerjoin(Seal, (Seal.department_id == Department.id) & (Seal.status == bindparam("status")))
    .outerjoin(PkiCertificate, PkiCertificate.id == Seal.certificate_id)
    .where(Department.id == bindparam("department_id"))
    .order_by(Seal.es_id)
    .limit(1)
)


class SealRepository:
    """Seals and their status history."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: Seal | SealStatusEvent) -> None:
        """Add a row and flush it."""
        self.session.add(row)
        self.session.flush()

    def add_usage(self, **values: object) -> None:
        """Record one use of a seal: a Core INSERT (nothing reads the row back in the transaction)."""
        self.session.execute(_INSERT_USAGE, {"id": new_id(), **values})

    def by_es_id(self, es_id: str) -> Seal | None:
        """A seal by its esID."""
        return self.session.scalars(select(Seal).where(Seal.es_id == es_id)).first()

    def top_es_id(self, prefix: str) -> str | None:
        """The highest esID with a given prefix (for the next serial)."""
        return self.session.scalar(select(func.max(Seal.es_id)).where(Seal.es_id.startswith(prefix)))

    def list(
        self,
        *,
        department_ids: Sequence[str] | None = None,
        status: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[Sequence[Seal], int]:
        """A page of seals (by esID) and the total count."""
        query = select(Seal)
        if department_ids is not None:
            query = query.where(Seal.department_id.in_(list(department_ids)))
        if status is not None:
            query = query.where(Seal.status == status)
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = self.session.scalars(query.order_by(Seal.es_id).offset(offset).limit(limit)).all()
        return rows, int(total)

    def first_of(self, department_id: str, status: str | None = None) -> Seal | None:
        """A department's first seal by esID (with that status), in one query."""
        if status is None:
            return self.session.scalars(_FIRST_OF, {"department_id": department_id}).first()
        return self.session.scalars(
            _FIRST_WITH_STATUS, {"department_id": department_id, "status": status}
        ).first()

    def first_with_certificate(
        self, department_id: str, status: str
    ) -> tuple[Seal, PkiCertificate | None] | None:
        """``first_of`` with a status, and the seal's certificate row (None if missing), in one query."""
        row = self.session.execute(
            _FIRST_WITH_STATUS_AND_CERTIFICATE, {"department_id": department_id, "status": status}
        ).first()
        return None if row is None else (row[0], row[1])

    def department_with_seal(
        self, department_id: str, status: str
    ) -> tuple[Department, Seal | None, PkiCertificate | None] | None:
        """A department, its first seal with that status and the seal's certificate, in one query
        (None when there is no such department)."""
        row = self.session.execute(
            _DEPARTMENT_WITH_SEAL, {"department_id": department_id, "status": status}
        ).first()
        return None if row is None else (row[0], row[1], row[2])

    def events(self, seal_id: str) -> Sequence[SealStatusEvent]:
        """A seal's status history, oldest first."""
        return self.session.scalars(
            select(SealStatusEvent).where(SealStatusEvent.seal_id == seal_id).order_by(SealStatusEvent.seq)
        ).all()

    def status_at(self, seal_id: str, moment: datetime) -> str | None:
        """The status in force at ``moment`` (None before the first event)."""
        return self.session.scalar(
            select(SealStatusEvent.status)
            .where(SealStatusEvent.seal_id == seal_id, SealStatusEvent.at <= moment)
            .order_by(SealStatusEvent.at.desc(), SealStatusEvent.seq.desc())
            .limit(1)
        )

    def next_event_seq(self, seal_id: str) -> int:
        """The sequence number of the seal's next status event."""
        top = self.session.scalar(
            select(func.max(SealStatusEvent.seq)).where(SealStatusEvent.seal_id == seal_id)
        )
        return 1 if top is None else int(top) + 1
