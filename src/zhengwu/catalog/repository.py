"""Every query of the item catalog (search queries live in ``search``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from functools import cache
from typing import Any

from sqlalchemy import Select, and_, bindparam, func, select
from sqlalchemy.orm import Session, lazyload

from zhengwu.catalog.models import BasicItem, History, Material, NationalGuidePart, Synonym, TaskItem, Version
from zhengwu.catalog.rules import BasicInfo
from zhengwu.catalog.search.backend import like_pattern
from zhengwu.catalog.search.engine import division_range


class CatalogRepository:
    """Queries on catalog entries, versions, history and synonyms."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # basic catalog -----------------------------------------------------------------------------
    def basic(self, catalog_code: str) -> BasicItem | None:
        """A basic catalog entry by 基本编码."""
        return self.session.scalar(select(BasicItem).where(BasicItem.catalog_code == catalog_code))

    def basic_by_id(self, basic_id: str) -> BasicItem | None:
        """A basic catalog entry by id."""
        return self.session.get(BasicItem, basic_id)

    def basic_infos(self) -> dict[str, BasicInfo]:
        """Every basic entry as the rules see it, by 基本编码 (importer lookup)."""
        rows = self.session.execute(
            select(
                BasicItem.id,
                BasicItem.catalog_code,
                BasicItem.task_name,
                BasicItem.task_type,
                BasicItem.use_level,
                BasicItem.by_law,
                BasicItem.status,
            )
        ).all()
        return {r.catalog_code: BasicInfo(*r) for r in rows}

    def list_basic(
        self, *, q: str | None, status: str | None, task_type: str | None, offset: int, limit: int
    ) -> tuple[Sequence[BasicItem], int]:
        """A page of basic entries by 基本编码, with the total."""
        query = select(BasicItem)
        if q:
            query = query.where(BasicItem.task_name.like(like_pattern(q), escape="\\"))
        if status:
            query = query.where(BasicItem.status == status)
        if task_type:
            query = query.where(BasicItem.task_type == task_type)
        return self._page(query, BasicItem.catalog_code, offset, limit)

    # the guides of national bodies' items ---------------------------------------------------------
    def national_part(self, task_code: str, part: str, part_key: str) -> NationalGuidePart | None:
        """One kept part of a national body's item guide."""
        return self.session.scalar(
            select(NationalGuidePart).where(
                NationalGuidePart.task_code == task_code,
                NationalGuidePart.part == part,
                NationalGuidePart.part_key == part_key,
            )
        )

    def national_parts(
        self, *, catalog_code: str | None = None, task_code: str | None = None
    ) -> list[NationalGuidePart]:
        """The kept guide parts of the national items of a 基本编码 (or of one item), in guide order."""
        query = select(NationalGuidePart)
        if catalog_code is not None:
            query = query.where(NationalGuidePart.catalog_code == catalog_code)
        if task_code is not None:
            query = query.where(NationalGuidePart.task_code == task_code)
        order = (
            NationalGuidePart.task_code,
            NationalGuidePart.part,
            NationalGuidePart.order_num,
            NationalGuidePart.id,
        )
        return list(self.session.scalars(query.order_by(*order)))

    # implementation items ------------------------------------------------------------------------
    def task(self, task_code: str) -> TaskItem | None:
        """An implementation item (with its child rows) by 实施编码."""
        return self.session.scalar(select(TaskItem).where(TaskItem.task_code == task_code))

    def published_header(self, task_code: str, kind: str) -> tuple[TaskItem, dict[str, Any] | None] | None:
        """An item without its child rows and the snapshot of its current version (None: never
        published or gone), in one query: every submission reads it."""
        row = self.session.execute(_published_header(), {"task_code": task_code, "kind": kind}).first()
        return None if row is None else (row[0], row[1])

    def tasks_by_codes(self, codes: Sequence[str]) -> Sequence[TaskItem]:
        """Implementation items (with child rows) by 实施编码."""
        return self.session.scalars(select(TaskItem).where(TaskItem.task_code.in_(codes))).all()

    def existing_task_codes(self, codes: Iterable[str]) -> set[str]:
        """Which of these 实施编码 exist already."""
        wanted = list(codes)
        found: set[str] = set()
        for start in range(0, len(wanted), 500):
            found.update(
                self.session.scalars(
                    select(TaskItem.task_code).where(TaskItem.task_code.in_(wanted[start : start + 500]))
                )
            )
        return found

    def list_tasks(
        self,
        *,
        q: str | None,
        status: str | None,
        dept_code: str | None,
        dept_codes: Sequence[str] | None,
        catalog_code: str | None,
        division: str | None,
        offset: int,
        limit: int,
    ) -> tuple[Sequence[TaskItem], int]:
        """A page of implementation items for staff (any state), by 实施编码."""
        query = select(TaskItem).options(
            lazyload(TaskItem.materials),
            lazyload(TaskItem.fee_projects),
            lazyload(TaskItem.questions),
            lazyload(TaskItem.handle_items),
        )
        if q:
            query = query.where(TaskItem.task_name.like(like_pattern(q), escape="\\"))
        if status:
            query = query.where(TaskItem.status == status)
        if dept_code:
            query = query.where(TaskItem.dept_code == dept_code)
        if dept_codes is not None:
            query = query.where(TaskItem.dept_code.in_(dept_codes))
        if catalog_code:
            query = query.where(TaskItem.catalog_code == catalog_code)
        if division:
            low, high = division_range(division)
            query = query.where(TaskItem.division_code >= low, TaskItem.division_code < high)
        return self._page(query, TaskItem.task_code, offset, limit)

    def tasks_for_validation(
        self, batch: int = 2000, *, catalog_codes: Sequence[str] | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """Every implementation item that is not cancelled (of these 基本编码 only, when given), grouped in
        batches of whole 基本编码 groups."""
        columns = [c for c in TaskItem.__table__.columns]
        query = (
            select(*columns)
            .where(TaskItem.status != "cancelled")
            .order_by(TaskItem.catalog_code, TaskItem.use_level, TaskItem.task_code)
        )
        if catalog_codes is not None:
            query = query.where(TaskItem.catalog_code.in_(list(catalog_codes)))
        pending: list[dict[str, Any]] = []
        for row in self.session.execute(query.execution_options(yield_per=batch)).mappings():
            if len(pending) >= batch and pending[-1]["catalog_code"] != row["catalog_code"]:
                yield self._with_materials(pending)
                pending = []
            pending.append(dict(row))
        if pending:
            yield self._with_materials(pending)

    def _with_materials(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        by_id = {r["id"]: r for r in rows}
        for r in rows:
            r["materials"] = []
        ids = list(by_id)
        for start in range(0, len(ids), 500):
            for m in self.session.execute(
                select(Material.task_id, Material.material_name, Material.is_need, Material.accept_stand)
                .where(Material.task_id.in_(ids[start : start + 500]))
                .order_by(Material.task_id, Material.order_num)
            ):
                by_id[m.task_id]["materials"].append(
                    {"material_name": m.material_name, "is_need": m.is_need, "accept_stand": m.accept_stand}
                )
        return rows

    # versions and history ------------------------------------------------------------------------
    def version(self, kind: str, code: str, number: int) -> Version | None:
        """One version of an entry."""
        return self.session.scalar(
            select(Version).where(Version.kind == kind, Version.code == code, Version.version == number)
        )

    def versions(self, kind: str, code: str) -> Sequence[Version]:
        """Every version of an entry, oldest first."""
        return self.session.scalars(
            select(Version).where(Version.kind == kind, Version.code == code).order_by(Version.version)
        ).all()

    def history(self, kind: str, code: str) -> Sequence[History]:
        """Every lifecycle action on an entry, oldest first."""
        return self.session.scalars(
            select(History).where(History.kind == kind, History.code == code).order_by(History.at, History.id)
        ).all()

    # synonyms ------------------------------------------------------------------------------------
    def synonyms(self) -> Sequence[Synonym]:
        """The whole synonym table."""
        return self.session.scalars(select(Synonym).order_by(Synonym.term)).all()

    def synonym(self, term: str) -> Synonym | None:
        """One synonym by term."""
        return self.session.scalar(select(Synonym).where(Synonym.term == term))

    # helpers -------------------------------------------------------------------------------------
    def _page(self, query: Select[Any], order: Any, offset: int, limit: int) -> tuple[Sequence[Any], int]:
        total = self.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
        rows = self.session.scalars(query.order_by(order).offset(offset).limit(limit)).all()
        return rows, total


@cache
def _published_header() -> Select[tuple[TaskItem, dict[str, Any]]]:
    # Built once (on first use, when the mappers are configured): constructing, option-parsing and
    # cache-keying the statement per call cost more than running it.
    return (
        select(TaskItem, Version.snapshot)
        .outerjoin(
            Version,
            and_(
                Version.kind == bindparam("kind"),
                Version.code == TaskItem.task_code,
                Version.version == TaskItem.task_version,
            ),
        )
        .where(TaskItem.task_code == bindparam("task_code"))
        .options(
            lazyload(TaskItem.materials),
            lazyload(TaskItem.fee_projects),
            lazyload(TaskItem.questions),
            lazyload(TaskItem.handle_items),
        )
    )
