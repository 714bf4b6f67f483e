"""Legacy user migration: read, cleanse, validate, de-duplicate, merge and import historical user bases.

Input: CSV (UTF-8 or GBK), XLSX or JSON lines, with the column names of the national ``up_uc_province_user``
(natural persons) or ``up_uc_corporator_identity`` (legal persons) tables, or common Chinese headers.
Rules (each outcome lands in the report with its line number and reason, never with the personal data):

* cleanse: trim, full-width → half-width, lower-case x → X, 15-digit numbers upgraded, phones normalised;
* validate with ``kernel.codes``: ID check digit, birth date, area code history; credit codes (GB 32100);
* de-duplicate within the file and against existing accounts by blind index:
  same ID and same name → **merge** (missing phone, e-mail or legacy password filled in);
  same ID, different name → **conflict**; same name and phone, different ID → **conflict** (a human decides);
* keep legacy password hashes of known schemes (bcrypt, PBKDF2, salted SHA-256/MD5) for re-hashing at the
  first successful login; rows without a usable hash are imported without a password (reset needed).

The whole file is one transaction: an interrupted import writes nothing.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.orm import Session

from zhengwu.identity import passwords
from zhengwu.identity.audit import record_auth_event
from zhengwu.identity.context import of
from zhengwu.identity.levels import RealNameLevel
from zhengwu.identity.models import Account, AccountKind, LegalEntity
from zhengwu.identity.normalize import (
    clean,
    normalize_email,
    normalize_enterprise_name,
    normalize_name,
    normalize_phone,
)
from zhengwu.identity.protection import blind_index, cert_key, encrypt_field, mask_phone
from zhengwu.identity.service import (
    PURPOSE_CITIZEN_ID,
    PURPOSE_CREDIT_CODE,
    PURPOSE_LEGAL_REP,
    PURPOSE_PHONE,
)
from zhengwu.identity.upward import TOPIC_CORP_IDENTITY, TOPIC_USER
from zhengwu.kernel.clock import to_beijing_compact, utcnow
from zhengwu.kernel.codes.citizen_id import validate_citizen_id
from zhengwu.kernel.codes.uscc import validate_uscc
from zhengwu.kernel.events import OutboxRecord, OutboxStatus
from zhengwu.kernel.logging import current_trace_id, get_logger

log = get_logger("zhengwu.identity.importer")

# Column aliases → canonical field. National table columns first, then Chinese headers seen in legacy exports.
ALIASES: dict[str, tuple[str, ...]] = {
    "legacy_id": ("user_id", "id", "用户编号", "用户id", "corp_id", "acct_id"),
    "name": ("user_name", "姓名", "用户姓名", "真实姓名"),
    "cert_type": ("cert_type", "证件类型"),
    "cert_no": ("cert_no", "证件号码", "身份证号码", "身份证号", "公民身份号码"),
    "mobile": ("user_mobile", "手机号码", "手机号", "联系电话", "legal_mobile", "法人手机号码"),
    "email": ("user_mail", "电子邮箱", "邮箱"),
    "real_lvl": ("user_real_lvl", "实名等级", "real_lvl"),
    "credit_code": ("certificate_sno", "统一社会信用代码", "信用代码", "credit_code"),
    "corp_name": ("corp_name", "单位名称", "企业名称", "法人名称"),
    "corp_type": ("corp_type", "法人类型", "单位类型"),
    "legal_name": ("legal_name", "法定代表人", "法定代表人姓名", "法人姓名"),
    "legal_cert_no": ("legal_cert_no", "法定代表人证件号码", "法人证件号码"),
    "pwd_hash": ("password_hash", "pwd_hash", "user_pwd", "password", "密码", "密码哈希"),
    "pwd_scheme": ("password_scheme", "pwd_scheme", "hash_scheme", "密码算法"),
    "pwd_salt": ("password_salt", "pwd_salt", "salt", "盐值"),
    "pwd_iterations": ("password_iterations", "pwd_iterations", "iterations", "迭代次数"),
    "pwd_salt_position": ("salt_position", "pwd_salt_position", "盐值位置"),
}
_LOOKUP = {alias.lower(): canonical for canonical, names in ALIASES.items() for alias in names}
# GA/T 2000.156 居民身份证 (111) and the legacy code some systems still send (51).
ID_CARD_TYPES = {"", "111", "51", "1", "居民身份证", "身份证"}


_COMPACT_CACHE: dict[int, str] = {}


def _compact(when: datetime) -> str:
    """to_beijing_compact, memoised per second (a batch of rows shares a handful of seconds)."""
    second = int(when.timestamp())
    text = _COMPACT_CACHE.get(second)
    if text is None:
        _COMPACT_CACHE.clear()
        text = _COMPACT_CACHE[second] = to_beijing_compact(when)
    return text


def _new_id() -> str:
    """32 random hex characters, the shape of ``kernel.db.new_id`` (uuid4 objects cost more per row)."""
    return os.urandom(16).hex()


_ACCOUNTS = cast(Table, Account.__table__)
_ENTITIES = cast(Table, LegalEntity.__table__)
_OUTBOX = cast(Table, OutboxRecord.__table__)


class ImportFileError(ValueError):
    """The file cannot be imported at all (unknown format, no recognisable columns)."""


# --- reading ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One data row: its line (CSV/JSONL line, XLSX row) and canonical fields."""

    line: int
    fields: dict[str, str]


def _canonical_header(names: list[str]) -> list[str | None]:
    return [_LOOKUP.get(clean(n).lower().lstrip("\ufeff")) for n in names]


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Legacy exports from Windows systems are GBK (conventions §13: convert at the edge).
        return raw.decode("gb18030")


def _text_encoding(path: Path) -> str:
    """utf-8-sig unless the file is not UTF-8 (then GB 18030, a superset of GBK), judged on the whole file."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as handle:
        try:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "gb18030"
    return "utf-8-sig"


def _read_csv(path: Path) -> Iterator[SourceRow]:
    # Streamed, never read whole: a million-row export is hundreds of megabytes as text.
    with path.open(encoding=_text_encoding(path), newline="") as handle:
        yield from _csv_rows(csv.reader(handle))


def _csv_rows(reader: Any) -> Iterator[SourceRow]:
    try:
        header = _canonical_header(next(reader))
    except StopIteration:
        return
    if not any(header):
        raise ImportFileError("no recognisable column names in the header row")
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        yield SourceRow(
            reader.line_num, {h: cell for h, cell in zip(header, row, strict=False) if h is not None and cell}
        )


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        # Spreadsheets turn long digit strings into floats; an ID number typed as a number loses digits,
        # which the check digit then catches.
        return str(int(value))
    return str(value)


def _read_xlsx(path: Path) -> Iterator[SourceRow]:
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = workbook.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        try:
            header = _canonical_header([_cell(v) for v in next(rows)])
        except StopIteration:
            return
        if not any(header):
            raise ImportFileError("no recognisable column names in the header row")
        for number, row in enumerate(rows, start=2):
            cells = [_cell(v) for v in row]
            if not any(c.strip() for c in cells):
                continue
            yield SourceRow(
                number, {h: c for h, c in zip(header, cells, strict=False) if h is not None and c}
            )
    finally:
        workbook.close()


def _read_jsonl(path: Path) -> Iterator[SourceRow]:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            line = _decode(raw).strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                yield SourceRow(number, {"__error__": "json"})
                continue
            if not isinstance(obj, dict):
                yield SourceRow(number, {"__error__": "json"})
                continue
            fields: dict[str, str] = {}
            for key, value in obj.items():
                canonical = _LOOKUP.get(str(key).lower())
                if canonical is not None and value is not None and value != "":
                    fields[canonical] = _cell(value)
            yield SourceRow(number, fields)


def detect_format(path: Path) -> str:
    """csv, xlsx or jsonl by file name."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return "csv"
    if suffix in (".xlsx", ".xlsm"):
        return "xlsx"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    raise ImportFileError(f"unsupported file type {suffix or '(none)'}: use .csv, .xlsx or .jsonl")


def read_rows(path: Path) -> Iterator[SourceRow]:
    """The file's data rows with canonical field names."""
    fmt = detect_format(path)
    if fmt == "csv":
        return _read_csv(path)
    if fmt == "xlsx":
        return _read_xlsx(path)
    return _read_jsonl(path)


def count_rows(path: Path) -> int | None:
    """A fast estimate of the number of data rows (for the progress bar)."""
    fmt = detect_format(path)
    if fmt == "xlsx":
        return None
    with path.open("rb") as handle:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    return max(0, lines - 1) if fmt == "csv" else lines


# --- report ----------------------------------------------------------------------------------------


@dataclass
class ImportReport:
    """Everything that happened to every row that was not simply imported."""

    source: str
    file: str
    kind: str = "natural"
    rows: int = 0
    imported: int = 0
    legacy_passwords: int = 0
    merges: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    rejections: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    started_at: str = ""
    finished_at: str = ""

    def summary(self) -> dict[str, int]:
        """Counts by outcome."""
        return {
            "rows": self.rows,
            "imported": self.imported,
            "merged": len(self.merges),
            "conflicts": len(self.conflicts),
            "rejected": len(self.rejections),
            "warnings": len(self.warnings),
            "legacy_passwords": self.legacy_passwords,
        }

    def to_dict(self) -> dict[str, Any]:
        """The JSON report."""
        return {
            "source": self.source,
            "file": self.file,
            "kind": self.kind,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "summary": self.summary(),
            "merges": self.merges,
            "conflicts": self.conflicts,
            "rejections": self.rejections,
            "warnings": self.warnings,
        }


def _reject(report: ImportReport, row: SourceRow, field_name: str, code: str, reason: str) -> None:
    entry: dict[str, Any] = {"line": row.line, "field": field_name, "code": code, "reason": reason}
    if "legacy_id" in row.fields:
        entry["legacy_id"] = row.fields["legacy_id"][:64]
    report.rejections.append(entry)


def _ref(row: SourceRow) -> dict[str, Any]:
    ref: dict[str, Any] = {"line": row.line}
    if "legacy_id" in row.fields:
        ref["legacy_id"] = row.fields["legacy_id"][:64]
    return ref


# --- legacy passwords --------------------------------------------------------------------------------


def _legacy_password(row: SourceRow, report: ImportReport) -> tuple[str, str, dict[str, Any]] | None:
    text = row.fields.get("pwd_hash", "").strip()
    if not text:
        return None
    try:
        iterations = int(row.fields["pwd_iterations"]) if row.fields.get("pwd_iterations") else None
        return passwords.parse_legacy(
            text,
            scheme=row.fields.get("pwd_scheme"),
            salt=row.fields.get("pwd_salt"),
            iterations=iterations,
            salt_position=row.fields.get("pwd_salt_position"),
        )
    except (passwords.UnknownLegacyScheme, ValueError):
        report.warnings.append(
            {
                **_ref(row),
                "field": "password",
                "code": "password.unknown_scheme",
                "reason": "密码哈希算法无法识别，导入后需重置密码",
            }
        )
        return None


# --- natural persons ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Pending:
    """A row accepted for insertion (kept until its batch is flushed)."""

    row: SourceRow
    values: dict[str, Any]
    name: str
    phone: str | None
    email: str | None
    legacy: tuple[str, str, dict[str, Any]] | None
    upward: dict[str, Any]
    # Merge entries of later duplicates, settled when this row is checked against the database.
    merges: list[dict[str, Any]] = field(default_factory=list)


def _name_phone_key(name: str, phone: str) -> bytes:
    return hashlib.blake2b(f"{name}\x00{phone}".encode(), digest_size=16).digest()


class NaturalImporter:
    """Imports natural persons in batches (one lookup query per batch; executemany inserts)."""

    def __init__(self, db: Session, report: ImportReport, *, source: str, batch_size: int = 2000) -> None:
        self.db = db
        self.report = report
        self.source = f"import:{source}"[:64]
        self.batch_size = batch_size
        self.ctx = of(db)
        self.region = self.ctx.division_code
        # Blind index → (line, account id, name) of rows accepted from this file.
        self.seen: dict[str, tuple[int, str, str]] = {}
        # (name, phone) → (line, blind index) of rows accepted from this file.
        self.by_name_phone: dict[bytes, tuple[int, str]] = {}
        self.batch: list[_Pending] = []
        self.pending: dict[str, _Pending] = {}

    def add(self, row: SourceRow) -> None:
        """Cleanse and validate one row; queue it, or report it."""
        report = self.report
        report.rows += 1
        fields = row.fields
        if "__error__" in fields:
            _reject(report, row, "row", "row.unreadable", "该行不是有效的 JSON 对象")
            return
        cert_type = clean(fields.get("cert_type", ""))
        if cert_type not in ID_CARD_TYPES:
            _reject(report, row, "cert_type", "cert_type.unsupported", "证件类型不是居民身份证，暂不支持导入")
            return
        raw_number = fields.get("cert_no", "")
        if not raw_number.strip():
            _reject(report, row, "cert_no", "citizen_id.empty", "证件号码为空")
            return
        verdict = validate_citizen_id(clean(raw_number))
        if not verdict.ok:
            _reject(report, row, "cert_no", verdict.code, verdict.reason_zh)
            return
        name = normalize_name(fields.get("name", ""))
        if name is None:
            _reject(report, row, "user_name", "name.invalid", "姓名为空或含有非法字符")
            return
        number = verdict.value
        phone = None
        if fields.get("mobile", "").strip():
            phone = normalize_phone(fields["mobile"])
            if phone is None:
                report.warnings.append(
                    {
                        **_ref(row),
                        "field": "user_mobile",
                        "code": "phone.invalid",
                        "reason": "手机号码无效，已忽略",
                    }
                )
        email = None
        if fields.get("email", "").strip():
            email = normalize_email(fields["email"])
            if email is None:
                report.warnings.append(
                    {
                        **_ref(row),
                        "field": "user_mail",
                        "code": "email.invalid",
                        "reason": "电子邮箱无效，已忽略",
                    }
                )
        index = blind_index(self.ctx.keys, number, kind="cid")
        legacy = _legacy_password(row, report)
        first = self.seen.get(index)
        if first is not None:
            line, account_id, first_name = first
            if first_name != name:
                self.report.conflicts.append(
                    {
                        **_ref(row),
                        "reason": "same_id_different_name",
                        "reason_zh": "证件号码相同但姓名不同",
                        "other_line": line,
                        "other_account_id": account_id,
                    }
                )
            elif account_id in self.pending:
                self._merge_into_pending(row, self.pending[account_id], phone, email, legacy)
            else:
                self._merge_within_file(row, line, account_id, phone, email, legacy)
            return
        if phone is not None:
            other = self.by_name_phone.get(_name_phone_key(name, phone))
            if other is not None and other[1] != index:
                self.report.conflicts.append(
                    {
                        **_ref(row),
                        "reason": "same_name_phone_different_id",
                        "reason_zh": "姓名和手机号码相同但证件号码不同",
                        "other_line": other[0],
                    }
                )
                return
        level = RealNameLevel.SELF_DECLARED
        raw_level = fields.get("real_lvl", "").strip()
        if raw_level.isdigit() and 2 <= int(raw_level) <= 5:
            level = RealNameLevel(int(raw_level))
        now = utcnow()
        account_id = _new_id()
        values: dict[str, Any] = {
            "id": account_id,
            "kind": AccountKind.NATURAL,
            "display_name": name,
            "real_name_level": int(level),
            "cert_type": "111",
            "citizen_id_enc": encrypt_field(self.ctx.keys, number, purpose=PURPOSE_CITIZEN_ID),
            "citizen_id_index": index,
            "cert_key": cert_key(self.ctx.keys, number),
            "phone_enc": encrypt_field(self.ctx.keys, phone, purpose=PURPOSE_PHONE) if phone else None,
            "phone_index": blind_index(self.ctx.keys, phone, kind="phone") if phone else None,
            "email": email,
            "legacy_scheme": legacy[0] if legacy else None,
            "legacy_hash": legacy[1] if legacy else None,
            "legacy_params": legacy[2] if legacy else None,
            "source": self.source,
            "created_at": now,
            "updated_at": now,
        }
        sex = "1" if int(number[16]) % 2 else "2"
        upward_payload = {
            "user_id": account_id,
            "cert_type": "111",
            "cert_key": values["cert_key"],
            "user_name": name,
            "user_sex": sex,
            "user_birthday": number[6:14],
            "user_mobile": mask_phone(phone) if phone else None,
            "user_mail": email,
            "user_real_lvl": str(int(level)),
            "user_region": self.region,
            "create_time": _compact(now),
        }
        self.seen[index] = (row.line, account_id, name)
        if phone is not None:
            self.by_name_phone[_name_phone_key(name, phone)] = (row.line, index)
        self.batch.append(_Pending(row, values, name, phone, email, legacy, upward_payload))
        self.pending[account_id] = self.batch[-1]
        if len(self.batch) >= self.batch_size:
            self.flush()

    def _merge_into_pending(
        self,
        row: SourceRow,
        pending: _Pending,
        phone: str | None,
        email: str | None,
        legacy: tuple[str, str, dict[str, Any]] | None,
    ) -> None:
        """A duplicate of a row still in the batch: fill what the first occurrence lacks, in memory."""
        values = pending.values
        filled: list[str] = []
        if phone and pending.phone is None:
            pending.phone = phone
            values["phone_enc"] = encrypt_field(self.ctx.keys, phone, purpose=PURPOSE_PHONE)
            values["phone_index"] = blind_index(self.ctx.keys, phone, kind="phone")
            pending.upward["user_mobile"] = mask_phone(phone)
            filled.append("phone")
        if email and pending.email is None:
            pending.email = values["email"] = pending.upward["user_mail"] = email
            filled.append("email")
        if legacy and pending.legacy is None:
            pending.legacy = legacy
            values["legacy_scheme"], values["legacy_hash"], values["legacy_params"] = legacy
            filled.append("password")
        entry = {
            **_ref(row),
            "kind": "within_file",
            "into_line": pending.row.line,
            "account_id": values["id"],
            "filled": filled,
        }
        self.report.merges.append(entry)
        pending.merges.append(entry)

    def _hold_duplicates(self, pending: _Pending) -> None:
        """The first occurrence went to a human: so do its duplicates (moved from merges to conflicts)."""
        for entry in pending.merges:
            self.report.merges.remove(entry)
            self.report.conflicts.append(
                {
                    "line": entry["line"],
                    **({"legacy_id": entry["legacy_id"]} if "legacy_id" in entry else {}),
                    "reason": "duplicate_of_conflicting_row",
                    "reason_zh": "与一条待人工处理的记录重复",
                    "other_line": pending.row.line,
                }
            )

    def _merge_within_file(
        self,
        row: SourceRow,
        line: int,
        account_id: str,
        phone: str | None,
        email: str | None,
        legacy: tuple[str, str, dict[str, Any]] | None,
    ) -> None:
        account = self.db.get(Account, account_id)
        filled = self._fill_account(account, phone, email, legacy) if account is not None else []
        if "password" in filled:
            self.report.legacy_passwords += 1
        self.report.merges.append(
            {
                **_ref(row),
                "kind": "within_file",
                "into_line": line,
                "account_id": account_id,
                "filled": filled,
            }
        )

    def _fill_account(
        self,
        account: Account,
        phone: str | None,
        email: str | None,
        legacy: tuple[str, str, dict[str, Any]] | None,
    ) -> list[str]:
        """Fill what the account lacks (phone, e-mail, a legacy password) from a duplicate row."""
        changes: dict[str, Any] = {}
        filled: list[str] = []
        if phone and account.phone_enc is None:
            changes["phone_enc"] = encrypt_field(self.ctx.keys, phone, purpose=PURPOSE_PHONE)
            changes["phone_index"] = blind_index(self.ctx.keys, phone, kind="phone")
            filled.append("phone")
        if email and not account.email:
            changes["email"] = email
            filled.append("email")
        if legacy and not account.legacy_hash and not account.password_hash:
            changes["legacy_scheme"], changes["legacy_hash"], changes["legacy_params"] = legacy
            filled.append("password")
        if changes:
            changes["updated_at"] = utcnow()
            self.db.execute(update(Account).where(Account.id == account.id).values(**changes))
            self.db.expire(account)
        return filled

    def flush(self) -> None:
        """Check the batch against existing accounts with two queries, then insert the rest at once."""
        if not self.batch:
            return
        batch, self.batch = self.batch, []
        self.pending.clear()
        indexes = [p.values["citizen_id_index"] for p in batch]
        existing = {
            a.citizen_id_index: a
            for a in self.db.scalars(
                select(Account).where(
                    Account.kind == AccountKind.NATURAL, Account.citizen_id_index.in_(indexes)
                )
            )
        }
        phone_indexes = [p.values["phone_index"] for p in batch if p.values.get("phone_index")]
        by_phone: dict[str, list[Account]] = {}
        if phone_indexes:
            # kind is checked here, not in SQL: without ANALYZE statistics SQLite would otherwise pick the
            # (kind, citizen_id_index) index and scan every natural person.
            for account in self.db.scalars(select(Account).where(Account.phone_index.in_(phone_indexes))):
                if account.kind == AccountKind.NATURAL:
                    by_phone.setdefault(account.phone_index or "", []).append(account)
        to_insert: list[_Pending] = []
        for pending in batch:
            index = pending.values["citizen_id_index"]
            match = existing.get(index)
            if match is not None:
                if match.display_name != pending.name:
                    self.report.conflicts.append(
                        {
                            **_ref(pending.row),
                            "reason": "same_id_different_name",
                            "reason_zh": "证件号码与已有账号相同但姓名不同",
                            "other_account_id": match.id,
                        }
                    )
                    self._hold_duplicates(pending)
                else:
                    for entry in pending.merges:
                        entry["account_id"] = match.id
                    filled = self._fill_account(match, pending.phone, pending.email, pending.legacy)
                    if "password" in filled:
                        self.report.legacy_passwords += 1
                    self.report.merges.append(
                        {
                            **_ref(pending.row),
                            "kind": "existing_account",
                            "account_id": match.id,
                            "filled": filled,
                        }
                    )
                # Later duplicates of this row in the file refer to the existing account.
                self.seen[index] = (pending.row.line, match.id, match.display_name)
                continue
            phone_index = pending.values.get("phone_index")
            clash = next(
                (a for a in by_phone.get(phone_index or "", []) if a.display_name == pending.name), None
            )
            if clash is not None:
                self.report.conflicts.append(
                    {
                        **_ref(pending.row),
                        "reason": "same_name_phone_different_id",
                        "reason_zh": "姓名和手机号码与已有账号相同但证件号码不同",
                        "other_account_id": clash.id,
                    }
                )
                self._hold_duplicates(pending)
                del self.seen[index]
                continue
            to_insert.append(pending)
        if to_insert:
            # Core executemany on the session's connection: the ORM bulk path costs four times as much here.
            self.db.connection().execute(insert(_ACCOUNTS), [p.values for p in to_insert])
            trace = current_trace_id()
            self.db.connection().execute(
                insert(_OUTBOX),
                [
                    {
                        "message_id": _new_id(),
                        "topic": TOPIC_USER,
                        "key": p.values["id"],
                        "operation": "I",
                        "payload": p.upward,
                        "trace_id": trace,
                        "status": OutboxStatus.PENDING,
                        "attempts": 0,
                        "created_at": p.values["created_at"],
                        "updated_at": p.values["created_at"],
                    }
                    for p in to_insert
                ],
            )
            self.report.imported += len(to_insert)
            self.report.legacy_passwords += sum(1 for p in to_insert if p.values.get("legacy_hash"))


# --- legal persons -----------------------------------------------------------------------------------


class LegalImporter:
    """Imports legal entities (``up_uc_corporator_identity`` rows) with their 法人账号."""

    def __init__(self, db: Session, report: ImportReport, *, source: str, batch_size: int = 2000) -> None:
        self.db = db
        self.report = report
        self.source = f"import:{source}"[:64]
        self.batch_size = batch_size
        self.ctx = of(db)
        self.seen: dict[str, tuple[int, str, str]] = {}
        self.by_name: dict[str, tuple[int, str]] = {}
        self.batch: list[tuple[SourceRow, dict[str, Any], dict[str, Any], dict[str, Any]]] = []
        # Legal duplicates are rare: the batch is settled before merging into a row still in it.
        self.pending_ids: set[str] = set()

    def add(self, row: SourceRow) -> None:
        """Cleanse and validate one legal-person row."""
        report = self.report
        report.rows += 1
        fields = row.fields
        if "__error__" in fields:
            _reject(report, row, "row", "row.unreadable", "该行不是有效的 JSON 对象")
            return
        raw_code = fields.get("credit_code", "")
        if not raw_code.strip():
            _reject(report, row, "certificate_sno", "uscc.empty", "统一社会信用代码为空")
            return
        verdict = validate_uscc(clean(raw_code))
        if not verdict.ok:
            _reject(report, row, "certificate_sno", verdict.code, verdict.reason_zh)
            return
        name = normalize_enterprise_name(fields.get("corp_name", ""))
        if name is None:
            _reject(report, row, "corp_name", "corp_name.invalid", "单位名称为空或过长")
            return
        rep = normalize_name(fields.get("legal_name", ""))
        if rep is None:
            _reject(report, row, "legal_name", "name.invalid", "法定代表人姓名为空或含有非法字符")
            return
        rep_number = None
        if fields.get("legal_cert_no", "").strip():
            rep_verdict = validate_citizen_id(clean(fields["legal_cert_no"]))
            if rep_verdict.ok:
                rep_number = rep_verdict.value
            else:
                report.warnings.append(
                    {
                        **_ref(row),
                        "field": "legal_cert_no",
                        "code": rep_verdict.code,
                        "reason": f"法定代表人证件号码无效，已忽略：{rep_verdict.reason_zh}",
                    }
                )
        code = verdict.value
        index = blind_index(self.ctx.keys, code, kind="uscc")
        first = self.seen.get(index)
        if first is not None and first[1] in self.pending_ids:
            self.flush()
            first = self.seen.get(index)
        if first is not None:
            if first[2] != name:
                report.conflicts.append(
                    {
                        **_ref(row),
                        "reason": "same_code_different_name",
                        "reason_zh": "信用代码相同但单位名称不同",
                        "other_line": first[0],
                    }
                )
            else:
                report.merges.append(
                    {
                        **_ref(row),
                        "kind": "within_file",
                        "into_line": first[0],
                        "account_id": first[1],
                        "filled": [],
                    }
                )
            return
        other = self.by_name.get(name)
        if other is not None and other[1] != index:
            report.conflicts.append(
                {
                    **_ref(row),
                    "reason": "same_name_different_code",
                    "reason_zh": "单位名称相同但信用代码不同",
                    "other_line": other[0],
                }
            )
            return
        phone = normalize_phone(fields["mobile"]) if fields.get("mobile") else None
        legacy = _legacy_password(row, report)
        now = utcnow()
        entity_id, account_id = _new_id(), _new_id()
        corp_type = clean(fields.get("corp_type", "")) or "1"
        entity = {
            "id": entity_id,
            "credit_code_enc": encrypt_field(self.ctx.keys, code, purpose=PURPOSE_CREDIT_CODE),
            "credit_code_index": index,
            "certificate_key": cert_key(self.ctx.keys, code, cert_type="001"),
            "name": name,
            "corp_type": corp_type[:6],
            "legal_rep_name": rep,
            "legal_rep_cert_enc": encrypt_field(self.ctx.keys, rep_number, purpose=PURPOSE_LEGAL_REP)
            if rep_number
            else None,
            "legal_rep_cert_index": blind_index(self.ctx.keys, rep_number, kind="cid")
            if rep_number
            else None,
            "real_name_level": int(RealNameLevel.SELF_DECLARED),
            "status": "active",
            "created_at": now,
        }
        account = {
            "id": account_id,
            "kind": AccountKind.LEGAL,
            "display_name": name,
            "real_name_level": int(RealNameLevel.SELF_DECLARED),
            "cert_type": "001",
            "legal_entity_id": entity_id,
            "phone_enc": encrypt_field(self.ctx.keys, phone, purpose=PURPOSE_PHONE) if phone else None,
            "phone_index": blind_index(self.ctx.keys, phone, kind="phone") if phone else None,
            "legacy_scheme": legacy[0] if legacy else None,
            "legacy_hash": legacy[1] if legacy else None,
            "legacy_params": legacy[2] if legacy else None,
            "source": self.source,
            "created_at": now,
            "updated_at": now,
        }
        upward_payload = {
            "corp_id": entity_id,
            "certificate_sno": code,
            "certificate_key": entity["certificate_key"],
            "corp_name": name,
            "corp_type": entity["corp_type"],
            "corp_status": "active",
            "legal_name": rep,
            "legal_cert_type": "111" if rep_number else None,
            "real_lvl": "2",
            "create_time": _compact(now),
        }
        self.seen[index] = (row.line, account_id, name)
        self.by_name[name] = (row.line, index)
        self.batch.append((row, entity, account, upward_payload))
        self.pending_ids.add(account_id)
        if len(self.batch) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        """Check against registered entities, then insert entities, accounts and outbox rows."""
        if not self.batch:
            return
        batch, self.batch = self.batch, []
        self.pending_ids.clear()
        existing = {
            e.credit_code_index: e
            for e in self.db.scalars(
                select(LegalEntity).where(
                    LegalEntity.credit_code_index.in_([b[1]["credit_code_index"] for b in batch])
                )
            )
        }
        keep = []
        for row, entity, account, payload in batch:
            match = existing.get(entity["credit_code_index"])
            if match is None:
                keep.append((entity, account, payload))
                continue
            holder = self.db.scalar(select(Account.id).where(Account.legal_entity_id == match.id))
            if match.name != entity["name"]:
                self.report.conflicts.append(
                    {
                        **_ref(row),
                        "reason": "same_code_different_name",
                        "reason_zh": "信用代码与已有单位相同但名称不同",
                        "other_account_id": holder,
                    }
                )
            else:
                self.report.merges.append(
                    {**_ref(row), "kind": "existing_account", "account_id": holder, "filled": []}
                )
            self.seen[entity["credit_code_index"]] = (row.line, holder or "", match.name)
        if keep:
            self.db.connection().execute(insert(_ENTITIES), [k[0] for k in keep])
            self.db.connection().execute(insert(_ACCOUNTS), [k[1] for k in keep])
            trace = current_trace_id()
            self.db.connection().execute(
                insert(_OUTBOX),
                [
                    {
                        "message_id": _new_id(),
                        "topic": TOPIC_CORP_IDENTITY,
                        "key": k[0]["id"],
                        "operation": "I",
                        "payload": k[2],
                        "trace_id": trace,
                        "status": OutboxStatus.PENDING,
                        "attempts": 0,
                        "created_at": k[0]["created_at"],
                        "updated_at": k[0]["created_at"],
                    }
                    for k in keep
                ],
            )
            self.report.imported += len(keep)
            self.report.legacy_passwords += sum(1 for k in keep if k[1].get("legacy_hash"))


# --- driver ------------------------------------------------------------------------------------------


def file_kind(path: Path) -> str:
    """``legal`` when the file carries credit codes, else ``natural``."""
    for row in read_rows(path):
        return "legal" if "credit_code" in row.fields or "corp_name" in row.fields else "natural"
    return "natural"


def import_users(
    db: Session,
    path: Path,
    *,
    source: str,
    batch_size: int = 2000,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import a legacy user file into the caller's transaction (never commits); returns the report."""
    report = ImportReport(source=source, file=path.name, started_at=utcnow().isoformat())
    kind = file_kind(path)
    report.kind = kind
    importer: NaturalImporter | LegalImporter = (
        LegalImporter(db, report, source=source, batch_size=batch_size)
        if kind == "legal"
        else NaturalImporter(db, report, source=source, batch_size=batch_size)
    )
    done = 0
    for row in read_rows(path):
        importer.add(row)
        done += 1
        if progress is not None and done % 1000 == 0:
            progress(1000)
    importer.flush()
    if progress is not None:
        progress(done % 1000)
    report.finished_at = utcnow().isoformat()
    record_auth_event(
        db,
        "user_import",
        success=True,
        detail={"source": source, "file": path.name[:200], "kind": kind, **report.summary()},
    )
    log.info("user_import", source=source, kind=kind, **report.summary())
    return report
