"""Historical import (历史证照导入): CSV or XLSX rows of one license type become imported licenses.

One row per license: holder code and name, issue date, the existing identifier if any, the face fields
as columns named by the type's face schema (machine name or Chinese label), optionally the file name of
an OFD in a folder. Each row is checked like an issuance (holder code check digits, face schema); good
rows are stored as licenses with ``source = imported`` and queue their ``up_lic_data`` row; broken rows
go to a rejects file in the input's own format with a Chinese reason column, and to the abnormal data
queue. An existing identifier that is not GB/T 36904-valid is kept as it is, with a warning (never
rewritten); rows without one get an identifier allocated from the same serial counters as issuance.

Re-import is idempotent: a row already imported (same identifier and holder, or the same type, holder,
number and issue date) is counted as a duplicate and not stored again. Rows are written in chunks with
multi-row INSERTs, one transaction per chunk, so that 100,000 metadata-only rows import in seconds.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Final, cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from zhengwu.audit.changes import record_change
from zhengwu.identity import context as identity_context
from zhengwu.identity.protection import encrypt_field
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.codes import make_license_id, validate_license_id
from zhengwu.kernel.config import Settings
from zhengwu.kernel.crypto import sm3
from zhengwu.kernel.db import new_id
from zhengwu.kernel.events import EventBus, OutboxRecord, OutboxStatus, publish_on
from zhengwu.licenses import abnormal, holders, lifecycle, service, topics
from zhengwu.licenses.dataevents import LicensesImported
from zhengwu.licenses.datamodels import LicenseImport
from zhengwu.licenses.datarepo import DataRepository
from zhengwu.licenses.errors import FaceDataInvalid, LicenseError
from zhengwu.licenses.face import FaceSchema
from zhengwu.licenses.models import License, LicenseStatusEvent, LicenseType
from zhengwu.orgs.models import Department

REASON_COLUMN: Final = "错误原因"
CHUNK: Final = 2_000
MAX_FILE_BYTES: Final = 20 * 1024 * 1024
#: The fixed columns and the headers accepted for each (English name or the Chinese heading).
FIXED: Final = {
    "holder_code": ("holder_code", "持证主体代码"),
    "holder_name": ("holder_name", "持证主体", "持证主体名称"),
    "holder_code_type": ("holder_code_type", "持证主体代码类型"),
    "issue_date": ("issue_date", "颁发日期", "证照颁发日期"),
    "valid_until": ("valid_until", "有效期截止日期", "有效期至"),
    "identifier": ("identifier", "证照标识", "电子证照标识"),
    "file": ("file", "证照文件", "文件名"),
    "issuer_code": ("issuer_code", "颁发机构代码", "颁发机构统一社会信用代码"),
}
REQUIRED: Final = ("holder_code", "holder_name", "issue_date")
IMPORT_REASON: Final = "导入历史证照"
FORBIDDEN: Final = "licenses.import_forbidden"


class ImportFileInvalid(LicenseError):
    """The file as a whole cannot be imported (format, header); no row was stored."""

    status_code = 422
    code = "licenses.import_file"
    default_detail = "导入文件无效"


# --- reading and writing the tables ------------------------------------------------------------------


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


@dataclass
class SourceTable:
    """A table read from a file: its header, its rows (line number, cells) and its format."""

    fmt: str
    header: list[str]
    rows: Iterator[tuple[int, list[str]]]
    total: int | None


def read_table(path: Path) -> SourceTable:
    """Open a CSV (UTF-8, with or without BOM; GB18030 accepted) or XLSX file."""
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        return _read_xlsx(path)
    if suffix != ".csv":
        raise ImportFileInvalid("只能导入 CSV 或 XLSX 文件", detail_en="only .csv and .xlsx files")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("gb18030")
        except UnicodeDecodeError as exc:
            raise ImportFileInvalid("CSV 文件编码无法识别（应为 UTF-8）", detail_en="bad encoding") from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration as exc:
        raise ImportFileInvalid("文件是空的", detail_en="empty file") from exc
    total = max(0, text.count("\n") - 1)

    def rows() -> Iterator[tuple[int, list[str]]]:
        for line, cells in enumerate(reader, 2):
            if any(c.strip() for c in cells):
                yield line, [c.strip() for c in cells]

    return SourceTable("csv", header, rows(), total)


def _read_xlsx(path: Path) -> SourceTable:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise ImportFileInvalid(
            "XLSX 文件无法读取", detail_en=f"unreadable workbook: {type(exc).__name__}"
        ) from exc
    sheet = book.worksheets[0]
    values = sheet.iter_rows(values_only=True)
    try:
        header = [_cell(v) for v in next(values)]
    except StopIteration as exc:
        raise ImportFileInvalid("文件是空的", detail_en="empty file") from exc
    while header and not header[-1]:
        header.pop()
    total = (sheet.max_row - 1) if sheet.max_row else None

    def rows() -> Iterator[tuple[int, list[str]]]:
        try:
            for line, cells in enumerate(values, 2):
                texts = [_cell(v) for v in cells[: len(header)]]
                if any(texts):
                    yield line, texts
        finally:
            book.close()

    return SourceTable("xlsx", header, rows(), total)


class RejectsWriter:
    """The rejects report: the input's format and header, plus the reason column (then re-importable)."""

    def __init__(self, path: Path, fmt: str, header: Sequence[str]) -> None:
        self.path, self.fmt, self.count = path, fmt, 0
        self.header = [h for h in header if h != REASON_COLUMN] + [REASON_COLUMN]
        self._rows: list[list[str]] = []

    def add(self, cells: Sequence[str], reason: str) -> None:
        """Keep one refused row with its reason."""
        width = len(self.header) - 1
        self._rows.append([*list(cells)[:width], *([""] * (width - len(cells))), reason])
        self.count += 1

    def close(self) -> None:
        """Write the report (also when empty, so that a person sees the run was clean)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.fmt == "xlsx":
            from openpyxl import Workbook

            book = Workbook(write_only=True)
            sheet = book.create_sheet("rejects")
            sheet.append(self.header)
            for row in self._rows:
                sheet.append(row)
            book.save(self.path)
            return
        with self.path.open("w", encoding="utf-8-sig", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(self.header)
            writer.writerows(self._rows)


# --- the plan of one import --------------------------------------------------------------------------


#: Whether the operator may import into a department: None when allowed, else the reason (per row).
DepartmentCheck = Callable[[Department], str | None]


@dataclass
class Plan:
    """What one import run needs: the type, the department (None: each row's own, see ``_department``),
    the column of each value, and the check of the operator's reach over each row's department."""

    kind: LicenseType
    schema: FaceSchema
    department: Department | None
    header: list[str]
    columns: dict[str, int]  # canonical name (fixed column or face field) → cell index
    batch_id: str
    actor: str
    files_dir: Path | None = None
    check_department: DepartmentCheck | None = None
    # Departments of this node by credit code as rows name them (None: no such department), per chunk.
    known: dict[str, Department | None] = field(default_factory=dict)

    def bound(self, session: Session) -> Plan:
        """The same plan with its type and department loaded in ``session`` (one per chunk's unit)."""
        kind = session.get(LicenseType, self.kind.id)
        department = session.get(Department, self.department.id) if self.department is not None else None
        if kind is None or (self.department is not None and department is None):
            raise ImportFileInvalid("导入过程中证照类型或颁发部门被删除", detail_en="type or department gone")
        return replace(self, kind=kind, department=department, known={})


def plan(
    session: Session,
    *,
    type_code: str,
    department_id: str | None,
    header: Sequence[str],
    actor: str,
    files_dir: Path | None = None,
    check_department: DepartmentCheck | None = None,
) -> Plan:
    """Check the header against the type; ImportFileInvalid names unknown, repeated or missing columns.

    Without ``department_id`` each row's issuing department is derived (``_department``);
    ``check_department`` refuses the rows of departments the operator does not reach."""
    from zhengwu.orgs import service as orgs

    kind = service.get_type(session, type_code)
    department = orgs.get_department(session, department_id) if department_id else None
    schema = FaceSchema.from_json(kind.fields)
    names: dict[str, str] = {}
    for canonical, aliases in FIXED.items():
        names.update({a: canonical for a in aliases})
    for item in schema.fields:
        names.setdefault(item.name, item.name)
        names.setdefault(item.label, item.name)
    columns: dict[str, int] = {}
    unknown: list[str] = []
    for index, heading in enumerate(header):
        if heading == REASON_COLUMN or not heading:
            continue  # a rejects report being re-imported
        found = names.get(heading)
        if found is None:
            unknown.append(heading)
        elif found in columns:
            raise ImportFileInvalid(f"列“{heading}”重复", detail_en="a column appears twice")
        else:
            columns[found] = index
    if unknown:
        shown = "、".join(unknown[:5])
        raise ImportFileInvalid(
            f"“{kind.name}”没有这些列：{shown}（列名应为照面字段名或中文名称）",
            detail_en=f"{len(unknown)} unknown column(s)",
        )
    missing = [FIXED[c][1] for c in REQUIRED if c not in columns]
    missing += [f.label for f in schema.fields if f.required and f.name not in columns]
    if missing:
        raise ImportFileInvalid(f"缺少必需的列：{'、'.join(missing)}", detail_en="required columns missing")
    if "file" in columns and files_dir is None:
        raise ImportFileInvalid(
            "文件中有“证照文件”列，请用 --files 指明文件所在目录", detail_en="--files needed"
        )
    return Plan(
        kind, schema, department, list(header), columns, new_id(), actor[:100], files_dir, check_department
    )


# --- checking and storing rows -----------------------------------------------------------------------


@dataclass
class Outcome:
    """What one chunk (or a whole run) did."""

    imported: int = 0
    duplicates: int = 0
    rejected: int = 0
    allocated: int = 0
    warnings: list[tuple[int, str]] = field(default_factory=list)
    rejects: list[tuple[int, list[str], str]] = field(default_factory=list)
    license_ids: list[str] = field(default_factory=list)

    def add(self, other: Outcome) -> None:
        """Fold another chunk's outcome into this one (rejects are written as they come, not kept)."""
        self.imported += other.imported
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        self.allocated += other.allocated
        self.warnings.extend(other.warnings)

    def as_json(self) -> dict[str, Any]:
        """The summary printed by the command."""
        return {
            "imported": self.imported,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "identifiers_allocated": self.allocated,
            "warnings": [{"line": line, "warning": text} for line, text in self.warnings],
        }


@dataclass
class _Good:
    department: Department
    line: int
    values: dict[str, str]
    holder: tuple[str, str, str]  # name, code type, code
    holder_index: str
    face: dict[str, str]
    issued_on: date
    valid_until: date | None
    identifier: str | None
    warning: str | None
    file: tuple[str, bytes] | None
    key: str
    row_key: str


class _Refused(Exception):
    def __init__(self, reason: str, code: str = "licenses.import_row") -> None:
        super().__init__(reason)
        self.reason, self.code = reason, code


def _date(text: str, label: str) -> date:
    for layout in ("%Y-%m-%d", "%Y%m%d", "%Y/%m/%d"):
        try:
            return datetime.strptime(text, layout).date()
        except ValueError:
            continue
    raise _Refused(f"{label}应为日期，格式 YYYY-MM-DD")


def row_key(type_code: str, values: dict[str, str]) -> str:
    """A fingerprint of a row without the holder code (the field most often at fault)."""
    parts = (
        type_code,
        values.get("identifier", ""),
        values.get("holder_name", ""),
        values.get("issue_date", ""),
    )
    return sm3("|".join(parts).encode()).hex()


def _by_code(session: Session, p: Plan, code: str) -> Department | None:
    if code not in p.known:
        from zhengwu.orgs.repository import DepartmentRepository

        p.known[code] = DepartmentRepository(session).by_credit_code(code)
    return p.known[code]


def _department(session: Session, p: Plan, values: dict[str, str]) -> Department:
    """The row's issuing department: the run's (``--department``), else the one the row names — its
    颁发机构代码 column, or the issuer part of a GB/T 36904 identifier —, else the type's defining
    authority when it is a department of this node. Anything else is ambiguous and the row is refused."""
    if p.department is not None:
        return p.department
    named = values.get("issuer_code", "").strip().upper()
    identifier = values.get("identifier") or ""
    from_id = identifier.split(".")[-4].upper() if validate_license_id(identifier).ok else ""
    if named and from_id and named != from_id:
        raise _Refused("颁发机构代码与证照标识中的颁发机构不一致", "licenses.import_department")
    code = named or from_id
    if code:
        found = _by_code(session, p, code)
        if found is None:
            raise _Refused(f"颁发机构代码 {code[:18]} 不是本节点的部门", "licenses.import_department")
        return found
    definer = _by_code(session, p, p.kind.definer_code)
    if definer is not None:
        return definer
    raise _Refused(
        "无法确定颁发部门：请在“颁发机构代码”列填写颁发部门的统一社会信用代码，或用 --department 指定",
        "licenses.import_department",
    )


def _check(session: Session, p: Plan, line: int, values: dict[str, str]) -> _Good:
    kind = p.kind
    missing = [FIXED[c][1] for c in REQUIRED if not values.get(c)]
    if missing:
        raise _Refused(f"缺少{'、'.join(missing)}")
    department = _department(session, p, values)
    if p.check_department is not None:
        refusal = p.check_department(department)
        if refusal is not None:
            raise _Refused(refusal, FORBIDDEN)
    try:
        code_type, code = holders.check_holder(
            values["holder_code"], kind.holder_code_types, values.get("holder_code_type") or None
        )
    except LicenseError as exc:
        raise _Refused(str(exc.detail), exc.instance_code) from exc
    name = " ".join(values["holder_name"].split())
    if len(name) > 200:
        raise _Refused("持证主体名称不能超过200个字符")
    issued_on = _date(values["issue_date"], "颁发日期")
    if issued_on > utcnow().date():
        raise _Refused("颁发日期不能晚于今天")
    until_text = values.get("valid_until") or ""
    valid_until = _date(until_text, "有效期截止日期") if until_text else None
    if valid_until is not None and valid_until < issued_on:
        raise _Refused("有效期截止日期不能早于颁发日期")
    face_values = {n: values[n] for n in p.schema.names() if values.get(n)}
    try:
        face = p.schema.validate(face_values)
    except FaceDataInvalid as exc:
        problems = (exc.extra or {}).get("fields") or []
        detail = "；".join(f"{x['label']}：{x['reason']}" for x in problems) or str(exc.detail)
        raise _Refused(f"照面信息有误：{detail}", exc.instance_code) from exc
    identifier = values.get("identifier") or None
    warning = None
    if identifier is not None:
        if len(identifier) > 128:
            raise _Refused("证照标识不能超过128个字符")
        verdict = validate_license_id(identifier)
        if not verdict.ok:
            warning = f"原证照标识不符合 GB/T 36904（{verdict.reason_zh}），按原样保留"
        elif verdict.value.split(".")[-5] != kind.code:
            warning = "原证照标识中的证照类型代码与导入的证照类型不同，按原样保留"
    stored = _file(p, values.get("file") or "")
    holder_index = service._holder_index(session, code_type, code)
    number = face.get(kind.number_field or "", "") or identifier or json.dumps(face, sort_keys=True)
    key = sm3("|".join((kind.code, holder_index, number, issued_on.isoformat())).encode()).hex()
    return _Good(department, line, values, (name, code_type, code), holder_index, face, issued_on, valid_until,
                 identifier, warning, stored, key, row_key(kind.code, values))  # fmt: skip


def _file(p: Plan, name: str) -> tuple[str, bytes] | None:
    if not name:
        return None
    assert p.files_dir is not None
    if Path(name).name != name or name.startswith("."):
        raise _Refused("证照文件应为文件目录中的文件名，不能含路径")
    path = p.files_dir / name
    if not path.is_file():
        raise _Refused(f"文件目录中没有证照文件“{name[:60]}”")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise _Refused("证照文件超过20 MB")
    data = path.read_bytes()
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise _Refused("证照文件不是 OFD 文件")
    return name, data


def _serial_parts(identifier: str) -> tuple[str, int]:
    if validate_license_id(identifier).ok:
        parts = identifier.split(".")
        return parts[-3], int(parts[-2])
    return identifier[:64], 1


def _issued_at(day: date) -> datetime:
    # Noon in Beijing (04:00 UTC): the date reads the same in UTC (the national row) and on screens.
    return datetime.combine(day, time(4, 0), tzinfo=UTC)


def import_rows(
    session: Session,
    settings: Settings,
    p: Plan,
    rows: Iterable[tuple[int, list[str]]],
    *,
    bus: EventBus | None = None,
    queue_failures: bool = True,
) -> Outcome:
    """Check and store one chunk of rows in the caller's transaction; refused rows are returned (and
    queued as abnormal data unless ``queue_failures`` is off: a resubmission reports its refusal itself)."""
    outcome = Outcome()
    goods: list[_Good] = []
    seen_keys: set[str] = set()
    seen_ids: set[str] = set()
    repo = DataRepository(session)
    repo.widen_cache()
    refused: list[_Rejected] = []
    for line, cells in rows:
        values = {name: (cells[i] if i < len(cells) else "") for name, i in p.columns.items()}
        try:
            good = _check(session, p, line, values)
        except _Refused as exc:
            refused.append(
                _Rejected(line, cells, values, exc.reason, exc.code, _known_department(session, p, values))
            )
            continue
        if good.key in seen_keys or (good.identifier is not None and good.identifier in seen_ids):
            refused.append(_Rejected(line, cells, values, "与本文件中前面的一行重复", "licenses.import_duplicate_row",
                                     good.department.id))  # fmt: skip
            continue
        seen_keys.add(good.key)
        if good.identifier is not None:
            seen_ids.add(good.identifier)
        goods.append(good)
    known_keys = repo.existing_import_keys([g.key for g in goods])
    holders_of = repo.holders_of_identifiers([g.identifier for g in goods if g.identifier])
    fresh: dict[str, list[_Good]] = {}  # by department, in the order met
    for good in goods:
        if good.key in known_keys:
            outcome.duplicates += 1
            continue
        if good.identifier is not None and good.identifier in holders_of:
            if holders_of[good.identifier] == (p.kind.code, good.holder_index):
                outcome.duplicates += 1
            else:
                refused.append(_Rejected(good.line, [], good.values, "证照标识已被本节点的另一张证照使用",
                                         "licenses.import_identifier_taken", good.department.id))  # fmt: skip
            continue
        fresh.setdefault(good.department.id, []).append(good)
    for group in fresh.values():
        _store(session, settings, p, group[0].department, group, outcome)
    for r in refused:
        outcome.rejects.append((r.line, r.cells or [r.values.get(n, "") for n in _ordered(p)], r.reason))
    outcome.rejected = len(refused)
    if queue_failures:
        _queue(session, p, refused)
    abnormal.close_reimported(session, [g.row_key for group in fresh.values() for g in group], actor=p.actor)
    # One change record and one event a department: each department's staff follow their own imports.
    counts: dict[str | None, dict[str, int]] = {}
    for department_id, group in fresh.items():
        counts.setdefault(department_id, {"imported": 0, "rejected": 0})["imported"] = len(group)
    for r in refused:
        counts.setdefault(r.department_id, {"imported": 0, "rejected": 0})["rejected"] += 1
    for changed, count in counts.items():
        record_change(session, actor=p.actor, action="license.import", entity="license_import",
                      entity_id=p.batch_id, department_id=changed,
                      after={"type_code": p.kind.code, **count, "duplicates": outcome.duplicates})  # fmt: skip
    for department_id, group in fresh.items():
        publish_on(bus, session, LicensesImported(batch_id=p.batch_id, type_code=p.kind.code,
                                                   department_id=department_id, count=len(group)))  # fmt: skip
    return outcome


@dataclass(frozen=True, slots=True)
class _Rejected:
    line: int
    cells: list[str]
    values: dict[str, str]
    reason: str
    code: str
    department_id: str | None  # None: not known (the entry is then for platform administrators)


def _known_department(session: Session, p: Plan, values: dict[str, str]) -> str | None:
    try:
        return _department(session, p, values).id
    except _Refused:
        return None


def _queue(session: Session, p: Plan, refused: Sequence[_Rejected]) -> None:
    abnormal.record_import_failures(
        session,
        [
            abnormal.ImportFailure(
                origin=f"import:{p.batch_id}:{r.line}",
                type_code=p.kind.code,
                department_id=r.department_id,
                row={"type_code": p.kind.code, "department_id": r.department_id, "values": r.values},
                row_key=row_key(p.kind.code, r.values),
                identifier=(r.values.get("identifier") or None),
                reason=r.reason,
                error_code=r.code,
            )
            for r in refused
            # A row refused for the operator's reach is the operator's matter, not the department's data.
            if r.code != FORBIDDEN
        ],
    )


def _ordered(p: Plan) -> list[str]:
    """The canonical names in the order of the input's columns (to rebuild a refused row's cells)."""
    by_index = {i: n for n, i in p.columns.items()}
    return [by_index.get(i, "") for i in range(len(p.header))]


def _store(
    session: Session,
    settings: Settings,
    p: Plan,
    department: Department,
    rows: Sequence[_Good],
    outcome: Outcome,
) -> None:
    if not rows:
        return
    kind = p.kind
    keys = identity_context.of(session).keys
    now = utcnow().replace(microsecond=0)
    need = sum(1 for g in rows if g.identifier is None)
    serials = iter(())  # type: Iterator[int]
    if need:
        last = DataRepository(session).reserve_serials(
            f"{kind.code}.{department.credit_code}.{now.year}", need
        )
        serials = iter(range(last - need + 1, last + 1))
    store = service.files(settings)
    licenses: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    imports: list[dict[str, Any]] = []
    outbox: list[dict[str, Any]] = []
    for good in rows:
        name, code_type, code = good.holder
        if good.identifier is None:
            serial, version = f"{now.year}{next(serials):07d}", 1
            identifier = make_license_id(kind.code, department.credit_code, serial, version)
            outcome.allocated += 1
        else:
            identifier = good.identifier
            serial, version = _serial_parts(identifier)
        file_sm3, size = "", 0
        if good.file is not None:
            file_sm3, size = store.put(good.file[1]), len(good.file[1])
        lic_id = new_id()
        values: dict[str, Any] = {
            "id": lic_id, "identifier": identifier, "type_id": kind.id, "type_code": kind.code,
            "type_name": kind.name, "number": (good.face.get(kind.number_field or "", "") or serial)[:128],
            "serial": serial, "version": version, "department_id": department.id,
            "issuer_name": department.name, "issuer_code": department.credit_code,
            "area_code": department.division_code, "holder_name": name, "holder_code_type": code_type,
            "holder_code_enc": encrypt_field(keys, code, purpose=topics.HOLDER_PURPOSE),
            "holder_index": good.holder_index, "face": good.face, "issued_at": _issued_at(good.issued_on),
            "valid_from": good.issued_on,
            "valid_until": service._validity(kind, good.issued_on, good.valid_until),
            "trust_level": kind.trust_level, "es_id": "", "file_sm3": file_sm3, "file_size": size,
            "status": lifecycle.VALID, "status_reason": IMPORT_REASON, "status_changed_at": now,
            "status_changed_by": p.actor, "supersedes_id": None, "created_by": p.actor, "source": "imported",
        }  # fmt: skip
        licenses.append(values)
        events.append({"id": new_id(), "license_id": lic_id, "seq": 1, "status": lifecycle.VALID,
                       "reason": IMPORT_REASON, "actor": p.actor, "at": now})  # fmt: skip
        imports.append({"id": new_id(), "license_id": lic_id, "import_key": good.key, "batch_id": p.batch_id,
                        "original_identifier": good.identifier, "identifier_allocated": good.identifier is None,
                        "warning": good.warning, "source_file": good.file[0] if good.file else None,
                        "imported_at": now, "actor": p.actor})  # fmt: skip
        # The national row from the values themselves (a plain namespace: an ORM instance per row costs more
        # than the rest of the row's work, and it would never be added to the session anyway).
        payload = topics.row(session, cast(License, SimpleNamespace(**values)))
        outbox.append({"message_id": new_id(), "topic": topics.TOPIC, "key": identifier, "operation": "I",
                       "payload": payload, "trace_id": None, "status": OutboxStatus.PENDING, "attempts": 0,
                       "created_at": now, "updated_at": now})  # fmt: skip
        if good.warning:
            outcome.warnings.append((good.line, good.warning))
        outcome.license_ids.append(lic_id)
    # Core multi-row INSERTs: every value is given, so the ORM's bulk bookkeeping would only slow them.
    for model, values_list in ((License, licenses), (LicenseStatusEvent, events), (LicenseImport, imports),
                               (OutboxRecord, outbox)):  # fmt: skip
        session.execute(insert(cast(Table, model.__table__)), values_list)
    outcome.imported += len(rows)


def chunks(rows: Iterator[tuple[int, list[str]]], size: int = CHUNK) -> Iterator[list[tuple[int, list[str]]]]:
    """The rows in lists of ``size``."""
    batch: list[tuple[int, list[str]]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
