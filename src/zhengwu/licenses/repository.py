"""Queries of the licenses capability (types, licenses, history, serial counters, usage)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import cast

from sqlalchemy import ColumnElement, Table, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, make_transient_to_detached

from zhengwu.kernel.db import new_id
from zhengwu.licenses.models import License, LicenseSerial, LicenseStatusEvent, LicenseType, LicenseUsage
from zhengwu.licenses.sharing_models import LicenseCopy

_SERIAL: Table = cast(Table, LicenseSerial.__table__)
# Built once, on the table (no ORM session sync: no serial row is ever loaded as an object).
_BUMP_SERIAL = (
    update(_SERIAL)
    .where(_SERIAL.c.scope == bindparam("counter"))
    .values(value=_SERIAL.c.value + 1)
    .returning(_SERIAL.c.value)
)


_LICENSE: Table = cast(Table, License.__table__)
# An issuance's row through the ORM's unit of work cost about as much as its SQL: built once instead.
_INSERT_LICENSE = insert(_LICENSE)
_INSERT_EVENT = insert(cast(Table, LicenseStatusEvent.__table__))


class LicenseRepository:
    """Every query on the licenses tables."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: LicenseType | License | LicenseStatusEvent | LicenseUsage) -> None:
        """Stage a new row and flush it (ids and constraints are checked at once)."""
        self.session.add(row)
        self.session.flush()

    def insert_license(self, lic: License) -> None:
        """Write a new license's row with one prebuilt Core INSERT and attach ``lic`` to the session as
        the persistent object of that row (later changes to it are UPDATEs as usual).

        Every column must be set on ``lic``: nothing is read back, so a default the database would
        fill in is not seen by the object. The unique identifier is still checked by the INSERT."""
        values = {column.key: getattr(lic, column.key) for column in _LICENSE.columns}
        missing = [key for key, value in values.items() if value is None and not _LICENSE.c[key].nullable]
        if missing:
            raise ValueError(f"license row without {', '.join(missing)}")
        self.session.execute(_INSERT_LICENSE, values)
        make_transient_to_detached(lic)
        self.session.add(lic)

    def add_event(self, **values: object) -> None:
        """Append a status event: a Core INSERT (events are read only through queries, never held)."""
        self.session.execute(_INSERT_EVENT, {"id": new_id(), **values})

    def type_by_code(self, code: str) -> LicenseType | None:
        """A license type by its 21-character code."""
        return self.session.scalars(select(LicenseType).where(LicenseType.code == code)).first()

    def types(self) -> Sequence[LicenseType]:
        """Every license type, by code."""
        return self.session.scalars(select(LicenseType).order_by(LicenseType.code)).all()

    def license(self, license_id: str) -> License | None:
        """A license by its row id."""
        return self.session.get(License, license_id)

    def by_identifier(self, identifier: str) -> License | None:
        """A license by its GB/T 36904 identifier."""
        return self.session.scalars(select(License).where(License.identifier == identifier)).first()

    def by_file(self, file_sm3: str) -> License | None:
        """The license whose sealed file has this SM3 digest."""
        return self.session.scalars(select(License).where(License.file_sm3 == file_sm3)).first()

    def copy_by_file(self, file_sm3: str) -> LicenseCopy | None:
        """The annotated copy whose sealed file has this SM3 digest."""
        return self.session.scalars(select(LicenseCopy).where(LicenseCopy.file_sm3 == file_sm3)).first()

    def of_holders(
        self, holder_indexes: Collection[str], *, offset: int, limit: int
    ) -> tuple[Sequence[License], int]:
        """A page of the licenses of these holders (newest first) and their number."""
        where = License.holder_index.in_(list(holder_indexes))
        total = self.session.scalar(select(func.count()).select_from(License).where(where)) or 0
        rows = self.session.scalars(
            select(License)
            .where(where)
            .order_by(License.issued_at.desc(), License.id)
            .offset(offset)
            .limit(limit)
        ).all()
        return rows, int(total)

    def of_holder_and_type(self, holder_index: str, type_code: str, *, limit: int) -> Sequence[License]:
        """The licenses of one holder of one type, newest first."""
        return self.session.scalars(
            select(License)
            .where(License.holder_index == holder_index, License.type_code == type_code)
            .order_by(License.issued_at.desc(), License.id)
            .limit(limit)
        ).all()

    def events(self, license_id: str) -> Sequence[LicenseStatusEvent]:
        """A license's status history, oldest first."""
        return self.session.scalars(
            select(LicenseStatusEvent)
            .where(LicenseStatusEvent.license_id == license_id)
            .order_by(LicenseStatusEvent.seq)
        ).all()

    def next_event_seq(self, license_id: str) -> int:
        """The sequence number of a license's next status event."""
        top = self.session.scalar(
            select(func.max(LicenseStatusEvent.seq)).where(LicenseStatusEvent.license_id == license_id)
        )
        return int(top or 0) + 1

    def next_serial(self, scope: str) -> int:
        """Bump the counter of ``scope`` in the caller's transaction and return the new value.

        The UPDATE takes the row lock, so concurrent issuers of the same scope queue behind each other
        and none gets a value twice; a rolled-back issuance rolls its bump back, burning no serial.
        """
        bumped = self.session.execute(_BUMP_SERIAL, {"counter": scope}).scalar_one_or_none()
        if bumped is not None:
            return int(bumped)
        try:
            with self.session.begin_nested():
                self.session.add(LicenseSerial(scope=scope, value=1))
            return 1
        except IntegrityError:
            # Another transaction created the counter first; take the next value from it.
            return self.next_serial(scope)

    def usage_of_holders(
        self, holder_indexes: Collection[str], *, offset: int, limit: int, others_only: bool = False
    ) -> tuple[Sequence[tuple[LicenseUsage, License]], int]:
        """A page of usage records of these holders' licenses (newest first) and their number
        (``others_only``: leaving out the records of holders acting on their own licenses)."""
        where: list[ColumnElement[bool]] = [License.holder_index.in_(list(holder_indexes))]
        if others_only:
            where.append(~LicenseUsage.caller.startswith("holder:"))
        return self._usage_page(where, offset=offset, limit=limit)

    def usage_under_grant(
        self, grant_id: str, *, offset: int, limit: int
    ) -> tuple[Sequence[tuple[LicenseUsage, License]], int]:
        """A page of the uses made under one grant (用证授权), newest first, and their number."""
        return self._usage_page([LicenseUsage.grant_id == grant_id], offset=offset, limit=limit)

    def _usage_page(
        self, where: Sequence[ColumnElement[bool]], *, offset: int, limit: int
    ) -> tuple[Sequence[tuple[LicenseUsage, License]], int]:
        base = (
            select(LicenseUsage, License).join(License, License.id == LicenseUsage.license_id).where(*where)
        )
        total = self.session.scalar(select(func.count()).select_from(base.subquery())) or 0
        rows = self.session.execute(
            base.order_by(LicenseUsage.at.desc(), LicenseUsage.id).offset(offset).limit(limit)
        ).all()
        return [(u, lic) for u, lic in rows], int(total)

    def usage_of_license(
        self, license_id: str, *, offset: int, limit: int
    ) -> tuple[Sequence[LicenseUsage], int]:
        """A page of one license's usage records (newest first) and their number."""
        where = LicenseUsage.license_id == license_id
        total = self.session.scalar(select(func.count()).select_from(LicenseUsage).where(where)) or 0
        rows = self.session.scalars(
            select(LicenseUsage).where(where).order_by(LicenseUsage.at.desc(), LicenseUsage.id)
            .offset(offset).limit(limit)
        ).all()  # fmt: skip
        return rows, int(total)
