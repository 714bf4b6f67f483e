"""Queries of the licenses' data side: import records, the abnormal data queue, serial reservations."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zhengwu.kernel.events import OutboxRecord
from zhengwu.licenses.datamodels import LicenseAbnormal, LicenseImport
from zhengwu.licenses.models import License, LicenseSerial, LicenseType

_IN: int = 500  # bound parameters per IN list (SQLite's limit is far above; PostgreSQL plans stay small)


class DataRepository:
    """Every query on the import and abnormal tables."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def widen_cache(self) -> None:
        """On SQLite, give this connection a 64 MB page cache for a bulk import.

        The import's indexes have random keys (ids, holder indexes, import keys); with SQLite's 2 MB
        default every chunk re-reads and re-writes most of their pages, and the run slows as they grow.
        """
        if self.session.get_bind().dialect.name == "sqlite":
            self.session.execute(text("PRAGMA cache_size=-65536"))

    def existing_import_keys(self, keys: Collection[str]) -> set[str]:
        """The import keys among ``keys`` already stored."""
        found: set[str] = set()
        items = list(keys)
        for i in range(0, len(items), _IN):
            found.update(
                self.session.scalars(
                    select(LicenseImport.import_key).where(LicenseImport.import_key.in_(items[i : i + _IN]))
                )
            )
        return found

    def holders_of_identifiers(self, identifiers: Collection[str]) -> dict[str, tuple[str, str]]:
        """identifier → (type code, holder index) of the licenses already stored with these identifiers."""
        found: dict[str, tuple[str, str]] = {}
        items = list(identifiers)
        for i in range(0, len(items), _IN):
            rows = self.session.execute(
                select(License.identifier, License.type_code, License.holder_index).where(
                    License.identifier.in_(items[i : i + _IN])
                )
            )
            found.update({ident: (code, index) for ident, code, index in rows})
        return found

    def reserve_serials(self, scope: str, count: int) -> int:
        """Bump the counter of ``scope`` by ``count`` in the caller's transaction; the last value reserved.

        One UPDATE for the whole chunk: the row lock makes concurrent issuers queue, as in issuance.
        """
        bumped = self.session.execute(
            update(LicenseSerial)
            .where(LicenseSerial.scope == scope)
            .values(value=LicenseSerial.value + count)
            .returning(LicenseSerial.value)
        ).scalar_one_or_none()
        if bumped is not None:
            return int(bumped)
        try:
            with self.session.begin_nested():
                self.session.add(LicenseSerial(scope=scope, value=count))
            return count
        except IntegrityError:
            return self.reserve_serials(scope, count)

    def type_names(self, codes: Collection[str]) -> dict[str, str]:
        """code → name of the license types among ``codes``."""
        items = [c.strip().upper() for c in codes][:_IN]
        rows = self.session.execute(
            select(LicenseType.code, LicenseType.name).where(LicenseType.code.in_(items))
        )
        return {code: name for code, name in rows}

    def import_of(self, license_id: str) -> LicenseImport | None:
        """The import record of a license (None: it was issued here)."""
        return self.session.scalars(
            select(LicenseImport).where(LicenseImport.license_id == license_id)
        ).first()

    def entry(self, entry_id: str) -> LicenseAbnormal | None:
        """An abnormal data entry by id."""
        return self.session.get(LicenseAbnormal, entry_id)

    def keys_emitted(self, topic: str, keys: Collection[str]) -> set[str]:
        """Which of ``keys`` this node already queued rows of ``topic`` for (a refusal sent once)."""
        if not keys:
            return set()
        query = select(OutboxRecord.key).where(OutboxRecord.topic == topic, OutboxRecord.key.in_(list(keys)))
        return {k for k in self.session.scalars(query) if k is not None}

    def open_by_origins(self, origins: Collection[str]) -> Sequence[LicenseAbnormal]:
        """Open entries made from the given origins (a few at a time: one refusal resent, or a batch)."""
        items = list(origins)
        found: list[LicenseAbnormal] = []
        for i in range(0, len(items), _IN):
            query = select(LicenseAbnormal).where(
                LicenseAbnormal.origin.in_(items[i : i + _IN]), LicenseAbnormal.status == "open"
            )
            found.extend(self.session.scalars(query))
        return found

    def open_by_row_keys(self, keys: Collection[str]) -> Sequence[LicenseAbnormal]:
        """Open import entries whose row fingerprint is among ``keys``."""
        found: list[LicenseAbnormal] = []
        items = list(keys)
        for i in range(0, len(items), _IN):
            found.extend(
                self.session.scalars(
                    select(LicenseAbnormal).where(
                        LicenseAbnormal.row_key.in_(items[i : i + _IN]), LicenseAbnormal.status == "open"
                    )
                )
            )
        return found

    def entries(
        self,
        *,
        departments: Collection[str] | None,
        status: str | None,
        source: str | None,
        offset: int,
        limit: int,
    ) -> tuple[Sequence[LicenseAbnormal], int]:
        """A page of entries (newest first) within ``departments`` (None: all) and their number."""
        query = select(LicenseAbnormal)
        if departments is not None:
            query = query.where(LicenseAbnormal.department_id.in_(list(departments)))
        if status is not None:
            query = query.where(LicenseAbnormal.status == status)
        if source is not None:
            query = query.where(LicenseAbnormal.source == source)
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = self.session.scalars(
            query.order_by(LicenseAbnormal.received_at.desc(), LicenseAbnormal.id).offset(offset).limit(limit)
        ).all()
        return rows, int(total)
