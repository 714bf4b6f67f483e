"""Readers: turn a JSON lines or XLSX file into numbered records, never raising on bad content.

A record is an entry to import (``directory`` or ``task``, national column names) or a problem found
while reading (``error``) that becomes a reject line. Progress is reported in bytes (JSON lines) or rows
(XLSX).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zhengwu.catalog.importexport.formats import (
    CHILD_KINDS,
    MAX_LINE_BYTES,
    detect,
    header_name,
    sheet_kind,
    table_kind,
)
from zhengwu.kernel.codes import make_task_code

Progress = Callable[[int], None]


@dataclass
class Record:
    """One entry read from a file (or a reading problem)."""

    where: str  # "第12行" / "实施清单!12"
    row: int
    kind: str  # directory | task | error
    data: dict[str, Any] = field(default_factory=dict)
    field: str = ""
    reason: str = ""
    operation: str = "I"  # 前置库 cd_operation; D cancels


def _decode(raw: bytes) -> str | None:
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]  # a BOM (the utf-8-sig codec is several times slower than utf-8)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        try:
            return raw.decode("gbk")  # legacy department exports (conventions §13)
        except UnicodeDecodeError:
            return None


def _error(where: str, row: int, reason: str, name: str = "") -> Record:
    return Record(where=where, row=row, kind="error", field=name, reason=reason)


def _parse_line(raw: bytes, number: int) -> Record | None:
    where = f"第{number}行"
    if len(raw) > MAX_LINE_BYTES:
        return _error(where, number, f"该行过长（超过 {MAX_LINE_BYTES // (1024 * 1024)} MB）")
    if not raw.strip():
        return None
    text = _decode(raw)
    if text is None:
        return _error(where, number, "该行既不是 UTF-8 也不是 GBK 编码")
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        return _error(where, number, f"不是有效的 JSON：{getattr(exc, 'msg', '嵌套过深')}")
    if not isinstance(value, dict):
        return _error(where, number, "每行应为一个 JSON 对象")
    return Record(where=where, row=number, kind="raw", data=value)


def _classify(record: Record) -> Record:
    data = record.data
    table = data.get("_table") or data.get("table_name")
    if isinstance(table, str):
        kind = table_kind(table)
        if kind == "directory":
            record.kind = "directory"
        elif kind == "basic":
            record.kind = "task"
        elif kind is None:
            return _error(record.where, record.row, f"未知的数据表：{table[:60]}", "_table")
        else:
            record.kind = kind
        operation = str(data.get("cd_operation") or "I").strip().upper()
        record.operation = operation if operation in ("I", "U", "D") else "I"
        return record
    if "dept_code" in data:
        record.kind = "task"
    elif "catalog_code" in data and "use_level" in data:
        record.kind = "directory"
    else:
        return _error(
            record.where, record.row, "无法判断是基本目录还是实施清单（缺少 dept_code）", "dept_code"
        )
    return record


def parse_line(raw: bytes, number: int) -> Record | None:
    """One JSON line as a classified record (``None`` for a blank line, an ``error`` record for garbage)."""
    record = _parse_line(raw, number)
    if record is None or record.kind == "error":
        return record
    return _classify(record)


def _parts(data: dict[str, Any]) -> tuple[str, str, str]:
    dept, level, catalog = (
        str(data.get(k) or "").strip().upper() for k in ("dept_code", "use_level", "catalog_code")
    )
    return dept, level, catalog


def _derived(dept: str, level: str, catalog: str) -> str | None:
    try:
        return make_task_code(dept, int(float(level)), catalog)
    except (ValueError, TypeError):
        return None


def child_key(data: dict[str, Any]) -> str | None:
    """How a child row names its item: the 实施编码, else body + level + 基本编码 (or body + 基本编码)."""
    code = data.get("task_code")
    if code:
        return str(code).strip().upper()[:31]
    dept, level, catalog = _parts(data)
    if not (dept and catalog):
        return None
    return (_derived(dept, level, catalog) if level else None) or f"{dept}|{level or '*'}|{catalog}"


def parent_keys(data: dict[str, Any]) -> list[str]:
    """Every key under which the child rows of an item may have been filed."""
    keys: list[str] = []
    code = data.get("task_code")
    if code:
        keys.append(str(code).strip().upper()[:31])
    dept, level, catalog = _parts(data)
    if dept and catalog:
        # Without a level in the row, the body's level decides; try each so child rows still find it.
        for candidate in [level] if level else ["1", "2", "3", "4", "5", "6"]:
            derived = _derived(dept, candidate, catalog)
            keys.append(derived or f"{dept}|{candidate}|{catalog}")
        keys.append(f"{dept}|*|{catalog}")
    return list(dict.fromkeys(keys))


def read_jsonl(path: Path, progress: Progress | None = None) -> Iterator[Record]:
    """Records of a JSON lines file; 前置库 layouts (child tables as lines) are joined in a first pass."""
    children: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    extends: dict[str, dict[str, Any]] = {}
    layout = has_child_tables(path)
    if layout:
        for record in _jsonl_records(path, None):
            if record.kind in CHILD_KINDS or record.kind == "extend":
                key = child_key(record.data)
                if key is None:
                    continue
                if record.kind == "extend":
                    extends[key] = record.data
                else:
                    children[key][CHILD_KINDS[record.kind]].append(record.data)
    for record in _jsonl_records(path, progress):
        if record.kind in CHILD_KINDS or record.kind == "extend":
            if not layout or child_key(record.data) is None:
                yield _error(record.where, record.row, "子表记录缺少实施编码（task_code）", "task_code")
            continue
        if record.kind == "task" and layout:
            _attach(record, extends, children)
        yield record


def _attach(
    record: Record, extends: dict[str, dict[str, Any]], children: dict[str, dict[str, list[dict[str, Any]]]]
) -> None:
    gathered: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for key in parent_keys(record.data):
        extra = extends.get(key)
        if extra:
            for name, value in extra.items():
                record.data.setdefault(name, value)
        for list_key, rows in children.get(key, {}).items():
            gathered[list_key].extend(rows)
    for list_key, rows in gathered.items():
        record.data.setdefault(list_key, sorted(rows, key=_order))


def _order(row: dict[str, Any]) -> float:
    try:
        return float(row.get("order_num") or 0)
    except (TypeError, ValueError):
        return 0.0


_TABLE_VALUE = re.compile(rb'"_table"\s*:\s*"([^"]{1,80})"')


def has_child_tables(path: Path) -> bool:
    """True when lines carry 前置库 child tables (materials, fees …) that must be joined to their items."""
    with path.open("rb") as handle:
        for raw in handle:
            if b'"_table"' not in raw:
                continue
            match = _TABLE_VALUE.search(raw)
            if match is not None:
                kind = table_kind(match.group(1).decode("utf-8", "replace"))
                if kind in CHILD_KINDS or kind == "extend":
                    return True
    return False


def jsonl_batches(
    path: Path, size: int, progress: Progress | None = None
) -> Iterator[list[tuple[int, bytes]]]:
    """Numbered raw lines in batches of ``size`` (overlong lines are cut, and then reported by parse_line)."""
    batch: list[tuple[int, bytes]] = []
    with path.open("rb") as handle:
        number = 0
        done = 0
        while True:
            raw = handle.readline(MAX_LINE_BYTES + 1)
            if not raw:
                break
            number += 1
            done += len(raw)
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                # Skip the rest of an overlong line without holding it in memory.
                while True:
                    more = handle.readline(MAX_LINE_BYTES)
                    done += len(more)
                    if not more or more.endswith(b"\n"):
                        break
            batch.append((number, raw))
            if len(batch) >= size:
                yield batch
                batch = []
                if progress is not None:
                    progress(done)
        if batch:
            yield batch
        if progress is not None:
            progress(done)


def _jsonl_records(path: Path, progress: Progress | None) -> Iterator[Record]:
    for batch in jsonl_batches(path, 1000, progress):
        for number, raw in batch:
            record = parse_line(raw, number)
            if record is not None:
                yield record


def read_xlsx(path: Path, progress: Progress | None = None) -> Iterator[Record]:
    """Records of an XLSX workbook (openpyxl read-only); child sheets are joined to their items."""
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types on malformed workbooks
        yield _error("工作簿", 0, f"XLSX 文件无法解析：{type(exc).__name__}")
        return
    try:
        sheets = [(ws.title, sheet_kind(ws.title), ws) for ws in workbook.worksheets]
        if len(sheets) == 1 and sheets[0][1] is None:
            sheets = [(sheets[0][0], "basic", sheets[0][2])]
        extends: dict[str, dict[str, Any]] = {}
        children: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
        for title, kind, ws in sheets:
            if kind in CHILD_KINDS or kind == "extend":
                for record in _sheet_rows(title, ws, None):
                    if record.kind == "error":
                        yield record
                        continue
                    key = child_key(record.data)
                    if key is None:
                        yield _error(
                            record.where, record.row, "子表记录缺少实施编码（task_code）", "task_code"
                        )
                    elif kind == "extend":
                        extends[key] = record.data
                    else:
                        children[key][CHILD_KINDS[kind]].append(record.data)
        done = 0
        for title, kind, ws in sheets:
            if kind not in ("directory", "basic"):
                if kind is None:
                    yield _error(f"{title}!1", 1, f"无法识别的工作表“{title[:30]}”，已跳过", "sheet")
                continue
            for record in _sheet_rows(title, ws, None):
                done += 1
                if progress is not None and done % 500 == 0:
                    progress(done)
                if record.kind != "error":
                    record.kind = "directory" if kind == "directory" else "task"
                    if record.kind == "task":
                        _attach(record, extends, children)
                yield record
        if progress is not None:
            progress(done)
    finally:
        workbook.close()


def _sheet_rows(title: str, ws: Any, progress: Progress | None) -> Iterator[Record]:
    header: list[str | None] | None = None
    for number, values in enumerate(ws.iter_rows(values_only=True), 1):
        if header is None:
            if not any(v not in (None, "") for v in values):
                continue
            header = [header_name(v) for v in values]
            if not any(header):
                yield _error(f"{title}!{number}", number, "表头中没有可识别的国家列名或中文列名", "header")
                return
            continue
        if not any(v not in (None, "") for v in values):
            continue
        data = {
            name: value
            for name, value in zip(header, values, strict=False)
            if name and value not in (None, "")
        }
        operation = str(data.get("cd_operation") or "I").strip().upper()
        yield Record(
            where=f"{title}!{number}",
            row=number,
            kind="raw",
            data=data,
            operation=operation if operation in ("I", "U", "D") else "I",
        )


def read_file(path: Path, progress: Progress | None = None) -> tuple[str, int, Iterator[Record]]:
    """Detect the format and return (kind, size in bytes, records); raises ImportRefused for unusable files."""
    detected = detect(path)
    if detected.kind == "xlsx":
        return "xlsx", detected.size, read_xlsx(path, progress)
    return "jsonl", detected.size, read_jsonl(path, progress)
