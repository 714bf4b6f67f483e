"""File formats of catalog import and export: how a file, a sheet or a JSON line is recognised.

* JSON lines, nested: one implementation item per line (national column names, child lists nested);
  basic catalog entries as lines with ``"_table": "up_task_directory"``.
* JSON lines, 前置库 layout: every line carries ``"_table"`` naming a ``dn_task_*``/``up_task_*`` table.
* XLSX: sheets named after the national tables or in Chinese (实施清单, 申请材料 …); the header row has
  national column names or their Chinese names.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from zhengwu.catalog import codetables as ct
from zhengwu.catalog.errors import ImportRefused

ZIP_MAGIC = b"PK\x03\x04"
MAX_XLSX_BYTES = 256 * 1024 * 1024  # openpyxl keeps shared strings in memory: larger sheets go as JSONL
MAX_XLSX_UNCOMPRESSED = 2 * 1024 * 1024 * 1024  # zip-bomb guard over the declared entry sizes
MAX_JSONL_BYTES = 64 * 1024 * 1024 * 1024  # streamed line by line; the bound only stops absurd input
MAX_LINE_BYTES = 4 * 1024 * 1024

# Columns that may appear in national exports without being elements (exchange control fields …).
CONTROL_COLUMNS = frozenset(
    {
        "_table",
        "table_name",
        "row_guid",
        "cd_batch",
        "cd_operation",
        "cd_time",
        "data_source",
        "version",
        "task_guid",
        "division_code",
        "status",
        "order_num",
        "task_state",
        "task_version",
        "id",
        "row_key",
    }
)

# Table kinds: directory, basic, extend, material, fee_project, questions, handle_item.
_TABLE_RE = re.compile(
    r"^(?:dn|up)_task_(?:(general|public)_)?(directory|basic|extend|material|fee_project|questions)$"
)
_SHEET_KINDS = {
    "基本目录": "directory",
    "实施清单": "basic",
    "办事指南": "basic",
    "扩展信息": "extend",
    "申请材料": "material",
    "材料目录": "material",
    "收费项目": "fee_project",
    "常见问题": "questions",
    "业务办理项": "handle_item",
    "tasks": "basic",
    "directory": "directory",
    "materials": "material",
    "fee_projects": "fee_project",
    "questions": "questions",
    "handle_items": "handle_item",
}
CHILD_KINDS = {
    "material": "materials",
    "fee_project": "fee_projects",
    "questions": "questions",
    "handle_item": "handle_items",
}
_HEADER = {label: name for name, label in ct.LABELS.items()}
_HEADER_CLEAN = re.compile(r"[\s*＊]+")


def table_kind(name: str) -> str | None:
    """The kind of a national table name (``dn_task_general_material`` → ``material``), or None."""
    match = _TABLE_RE.match(name.strip().lower())
    return match.group(2) if match else None


def sheet_kind(title: str) -> str | None:
    """The kind of an XLSX sheet by its title (national table name or Chinese; ``申请材料(2)`` continues)."""
    base = re.sub(r"[（(]\d+[)）]$", "", title.strip())
    return table_kind(base) or _SHEET_KINDS.get(base) or _SHEET_KINDS.get(base.lower())


def header_name(cell: object) -> str | None:
    """A header cell as a national column name: the name itself, or its Chinese label (“受理条件”)."""
    if cell is None:
        return None
    text = _HEADER_CLEAN.sub("", str(cell))
    if not text:
        return None
    lowered = text.lower()
    if lowered in ct.LABELS or lowered in CONTROL_COLUMNS or lowered in ("dept_code", "catalog_code"):
        return lowered
    if text in _HEADER:
        return _HEADER[text]
    # “受理条件(accept_condition)” and “accept_condition 受理条件” styles.
    inner = re.search(r"[a-z_]{3,}", lowered)
    if inner and inner.group(0) in ct.LABELS:
        return inner.group(0)
    return None


@dataclass(frozen=True, slots=True)
class Detected:
    """What a file turned out to be."""

    kind: str  # "jsonl" | "xlsx"
    size: int


def detect(path: Path) -> Detected:
    """Recognise a file by its content (never by its name alone) and refuse what cannot be read safely."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ImportRefused("无法读取导入文件", detail_en=f"cannot stat the file: {exc.strerror}") from exc
    if not path.is_file():
        raise ImportRefused("导入路径不是文件", detail_en="not a regular file")
    if size == 0:
        raise ImportRefused("导入文件为空", detail_en="the file is empty")
    with path.open("rb") as handle:
        head = handle.read(4096)
    claims_xlsx = path.suffix.lower() in (".xlsx", ".xlsm")
    if head.startswith(ZIP_MAGIC):
        if size > MAX_XLSX_BYTES:
            raise ImportRefused(
                f"XLSX 文件过大（{size // (1024 * 1024)} MB，上限 {MAX_XLSX_BYTES // (1024 * 1024)} MB），请改用 JSON lines 格式",
                detail_en="XLSX file too large; use JSON lines",
            )
        _check_zip(path)
        return Detected("xlsx", size)
    if claims_xlsx:
        raise ImportRefused(
            "文件扩展名为 .xlsx，但内容不是 XLSX（ZIP）格式", detail_en="named .xlsx but not a ZIP/XLSX file"
        )
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"{"):
        if size > MAX_JSONL_BYTES:
            raise ImportRefused("JSON lines 文件过大", detail_en="JSON lines file too large")
        return Detected("jsonl", size)
    raise ImportRefused(
        "无法识别的文件格式：应为 JSON lines（每行一个 JSON 对象）或 XLSX",
        detail_en="neither JSON lines nor XLSX",
    )


def _check_zip(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
            names = {e.filename for e in entries}
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ImportRefused("XLSX 文件已损坏（ZIP 结构无效）", detail_en="corrupt XLSX (bad ZIP)") from exc
    if "[Content_Types].xml" not in names or not any(n.startswith("xl/") for n in names):
        raise ImportRefused("ZIP 文件不是 XLSX 工作簿", detail_en="a ZIP file but not an XLSX workbook")
    declared = sum(e.file_size for e in entries)
    if declared > MAX_XLSX_UNCOMPRESSED:
        raise ImportRefused("XLSX 解压后过大（疑似压缩炸弹），已拒绝", detail_en="XLSX expands too much")
