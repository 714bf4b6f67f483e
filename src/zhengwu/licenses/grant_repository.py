"""Every query of the per-client grants (``licenses.grants``)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, func, or_, select, true
from sqlalchemy.orm import Session

from zhengwu.licenses.grant_models import LicenseClientGrant


def _in_force(now: datetime) -> tuple[ColumnElement[bool], ...]:
    return (
        LicenseClientGrant.revoked_at.is_(None),
        LicenseClientGrant.valid_from <= now,
        or_(LicenseClientGrant.valid_until.is_(None), LicenseClientGrant.valid_until > now),
    )


class GrantRepository:
    """Grants by client and type."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def in_force(
        self, client_id: str, type_code: str, department_id: str, now: datetime
    ) -> Sequence[LicenseClientGrant]:
        """The grants of a client for a type, in force at ``now`` and made for its present department."""
        query = select(LicenseClientGrant).where(
            LicenseClientGrant.client_id == client_id,
            LicenseClientGrant.type_code == type_code,
            LicenseClientGrant.department_id == department_id,
            *_in_force(now),
        )
        return list(self.session.scalars(query.order_by(LicenseClientGrant.granted_at)))

    def overlapping(self, client_id: str, type_code: str, now: datetime, end: datetime | None) -> int:
        """How many unrevoked grants of a client for a type are not over at ``now`` and begin before
        ``end`` (None: ever)."""
        query = (
            select(func.count())
            .select_from(LicenseClientGrant)
            .where(
                LicenseClientGrant.client_id == client_id,
                LicenseClientGrant.type_code == type_code,
                LicenseClientGrant.revoked_at.is_(None),
                or_(LicenseClientGrant.valid_until.is_(None), LicenseClientGrant.valid_until > now),
                LicenseClientGrant.valid_from < end if end is not None else true(),
            )
        )
        return int(self.session.scalar(query) or 0)

    def grant(self, grant_id: str) -> LicenseClientGrant | None:
        """A grant by id."""
        return self.session.get(LicenseClientGrant, grant_id)

    def page(
        self,
        *,
        client_id: str | None,
        type_code: str | None,
        in_force_at: datetime | None,
        offset: int,
        limit: int,
    ) -> tuple[Sequence[LicenseClientGrant], int]:
        """A page of grants, newest first, with the total."""
        query = select(LicenseClientGrant)
        if client_id:
            query = query.where(LicenseClientGrant.client_id == client_id)
        if type_code:
            query = query.where(LicenseClientGrant.type_code == type_code)
        if in_force_at is not None:
            query = query.where(*_in_force(in_force_at))
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = self.session.scalars(
            query.order_by(LicenseClientGrant.granted_at.desc(), LicenseClientGrant.id)
            .offset(offset)
            .limit(limit)
        )
        return list(rows), int(total)

    def purposes(self, grant_ids: Collection[str]) -> dict[str, str]:
        """The purpose (授权用途) of each of these grants, by id (one query; none for no ids)."""
        if not grant_ids:
            return {}
        rows = self.session.execute(
            select(LicenseClientGrant.id, LicenseClientGrant.purpose).where(
                LicenseClientGrant.id.in_(list(grant_ids))
            )
        )
        return {grant_id: purpose for grant_id, purpose in rows}

    def add(self, grant: LicenseClientGrant) -> None:
        """Stage a new grant."""
        self.session.add(grant)
        self.session.flush()
