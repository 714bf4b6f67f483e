"""The 前置库 (front-end database) transport: national ``up_*``/``dn_*`` tables in a separate database.

The lower node writes ``up_*`` rows append-only (standards §3.2: never update a row the national ETL
may have read; every change is a new row with a new ``row_guid``) and polls the abnormal-feedback
tables ``dn_audit_abnormal``, ``dn_lic_data_error`` and ``dn_uc_adult_abnormal`` by ``cd_time``
watermark. An upper node (the national node in demos) reads ``up_*`` by the same watermark, applies
the rows through its inbox and writes refused rows back as ``dn_*`` abnormal rows.

The DDL follows the national shape (snowflake ``id`` primary key, business columns, control columns,
tenant/audit columns, ``version``) and adds two things of ours: an index on ``(cd_time, id)`` for the
watermark and a unique index on ``row_guid`` so that a write repeated after a crash is not duplicated.
``cd_time`` and other datetimes are stored as Beijing wall time, as the national tables do. A third
thing of ours, the table ``zw_row_origin``, keeps the origin path of the rows a middle tier passed on
(the national columns have no place for it), so a zhengwu upper node reading the 前置库 sees where a
row was made as it would over HTTP. A fourth, ``zw_apply_feedback``, carries a lower node's refusals of
the downward rows it read here up to a zhengwu upper node (over HTTP they travel as the
``exchange.apply_feedback`` topic); the national centre does not read it.
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    or_,
    select,
)
from sqlalchemy.engine import Engine

from zhengwu.exchange import national
from zhengwu.exchange.national import (
    AUDIT_ABNORMAL,
    CONTROL_COLUMNS,
    LIC_ERROR,
    UC_ABNORMAL,
    NationalTable,
)
from zhengwu.exchange.transports import Delivery, OutboundBatch
from zhengwu.kernel.clock import BEIJING, utcnow
from zhengwu.kernel.db import make_engine
from zhengwu.kernel.topics import RowError

# Which control columns each kind of table carries (national DDL).
_ABNORMAL_CONTROL: Final = ("row_guid", "cd_time")
_LIC_ERROR_CONTROL: Final = ("cd_batch", "cd_operation", "cd_time", "data_source")
_AUDIT_COLUMNS: Final = (
    "tenant_id", "create_org_id", "create_user_id", "update_org_id", "update_user_id",
)  # fmt: skip


def control_columns(name: str) -> tuple[str, ...]:
    """Control columns present in the national table ``name``."""
    if name in (AUDIT_ABNORMAL, UC_ABNORMAL):
        return _ABNORMAL_CONTROL
    if name == LIC_ERROR:
        return _LIC_ERROR_CONTROL
    return tuple(c.name for c in CONTROL_COLUMNS)


def _sql_type(column: national.Column) -> Any:
    if column.kind == "int":
        return Integer()
    if column.kind == "datetime":
        return DateTime()
    # The wider of the national DDL's two readings (docs/national-tables.md): a 前置库 written by
    # another implementation must be readable; longtext there is Text here.
    return Text() if column.accept_length is None else String(column.accept_length)


def _build_table(metadata: MetaData, spec: NationalTable) -> Table:
    controls = {c.name: c for c in CONTROL_COLUMNS}
    columns: list[Column[Any]] = [
        Column("id", BigInteger, primary_key=True, autoincrement=False, comment="雪花算法生成的ID")
    ]
    names = set()
    for col in (*spec.columns, *(controls[n] for n in control_columns(spec.name))):
        if col.name in names:
            continue
        names.add(col.name)
        columns.append(
            Column(col.name, _sql_type(col), nullable=not col.accept_required, comment=col.comment or None)
        )
    for name in _AUDIT_COLUMNS:
        columns.append(Column(name, BigInteger, nullable=False, default=0))
    if "create_time" not in names:  # up_uc_province_user's create_time is business data (注册时间)
        columns.append(Column("create_time", DateTime, nullable=False))
    columns.append(Column("update_time", DateTime, nullable=False))
    columns.append(Column("version", Integer, nullable=False, default=1))
    extras: list[Any] = [Index(f"ix_{spec.name}_cd_time_id", "cd_time", "id")]
    if "row_guid" in names:
        extras.append(Index(f"ux_{spec.name}_row_guid", "row_guid", unique=True))
    if spec.name == LIC_ERROR:
        extras.append(Index(f"ux_{spec.name}_source_batch", "certificate_source_id", "cd_batch", unique=True))
    return Table(spec.name, metadata, *columns, *extras, comment=spec.comment)


#: Ours, beside the national tables (the national ETL never reads it): where a row a middle tier passed
#: on was made and the nodes it came through, keyed like the row; the HTTP batch carries the same.
ORIGIN_TABLE: Final = "zw_row_origin"


#: Ours too: a lower node's refusals of the downward rows it read from the 前置库 (``dn_*`` it could not
#: apply), the ``exchange.apply_feedback`` rows it would send over HTTP; a zhengwu upper node reads them
#: by the same (cd_time, id) watermark. The national tables have no place for them either.
APPLY_FEEDBACK_TABLE: Final = "zw_apply_feedback"
#: The exchange table whose outbox rows go into it (``exchange.applying.FEEDBACK_TABLE``).
APPLY_FEEDBACK_SOURCE: Final = "exchange_apply_feedback"


def build_metadata() -> MetaData:
    """Our schema of the national 前置库: every known ``up_*`` and ``dn_*`` table, and the origins."""
    metadata = MetaData()
    for spec in (*national.UP_TABLES.values(), *national.DN_TABLES.values()):
        _build_table(metadata, spec)
    Table(
        ORIGIN_TABLE,
        metadata,
        Column("table_name", String(64), primary_key=True),
        Column("row_guid", String(50), primary_key=True),
        Column("origin", Text, nullable=False, comment="来源节点路径（JSON）"),
        comment="行来源（zhengwu 转报路径）",
    )
    Table(
        APPLY_FEEDBACK_TABLE,
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=False),
        Column("row_guid", String(64), nullable=False, comment="反馈标识"),
        Column("cd_time", DateTime, nullable=False, comment="写入时间（北京时间）"),
        Column("content", Text, nullable=False, comment="反馈内容（JSON）"),
        Index(f"ix_{APPLY_FEEDBACK_TABLE}_cd_time_id", "cd_time", "id"),
        Index(f"ux_{APPLY_FEEDBACK_TABLE}_row_guid", "row_guid", unique=True),
        comment="下发数据应用失败反馈（zhengwu）",
    )
    return metadata


@functools.cache
def frontdb_metadata() -> MetaData:
    """The schema, built on first use: a few tenths of a second of CPU that every process importing the
    exchange (each CLI command, each server) would otherwise pay without ever opening a 前置库."""
    return build_metadata()


class Snowflake:
    """Increasing 63-bit ids: milliseconds since 2020 ‖ 10 bits of process ‖ 12-bit counter."""

    EPOCH_MS: Final = 1_577_836_800_000

    def __init__(self, worker: int | None = None) -> None:
        self.worker = (os.getpid() if worker is None else worker) & 0x3FF
        self._lock = threading.Lock()
        self._last = 0
        self._counter = 0

    def next(self) -> int:
        """The next id."""
        with self._lock:
            now = int(time.time() * 1000) - self.EPOCH_MS
            if now <= self._last:
                now = self._last
                self._counter += 1
                if self._counter >= 4096:
                    self._last += 1
                    now = self._last
                    self._counter = 0
            else:
                self._counter = 0
            self._last = now
            return (now << 22) | (self.worker << 12) | self._counter


def beijing_naive(value: str) -> datetime:
    """``yyyyMMddHHmmss`` → naive Beijing wall time (the 前置库's datetime columns)."""
    return datetime.strptime(value, "%Y%m%d%H%M%S")


def compact(value: datetime) -> str:
    """Naive Beijing wall time → ``yyyyMMddHHmmss``."""
    return value.strftime("%Y%m%d%H%M%S")


def beijing_now_naive() -> datetime:
    """Now as naive Beijing wall time (seconds)."""
    return utcnow().astimezone(BEIJING).replace(tzinfo=None, microsecond=0)


class FrontDb:
    """A connection to a 前置库 with our national-shaped schema (created when missing)."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        self.engine: Engine = make_engine(url)
        self.metadata = frontdb_metadata()
        self.ids = Snowflake()
        self.postgres = self.engine.dialect.name == "postgresql"
        if create:
            self.metadata.create_all(self.engine, checkfirst=True)

    def table(self, name: str) -> Table:
        """The table called ``name``."""
        return self.metadata.tables[name]

    def to_db(self, spec: NationalTable, row: Mapping[str, Any], *, when: datetime) -> dict[str, Any]:
        """A national row (compact times) as 前置库 values with id and audit columns."""
        table = self.table(spec.name)
        values: dict[str, Any] = {"id": self.ids.next()}
        for column in table.columns:
            name = column.name
            if name == "id" or name not in row:
                continue
            value = row[name]
            if isinstance(column.type, DateTime) and isinstance(value, str):
                value = beijing_naive(value)
            elif isinstance(column.type, Integer) and isinstance(value, str):
                value = int(value)
            values[name] = value
        for name in _AUDIT_COLUMNS:
            values.setdefault(name, 0)
        if "create_time" not in spec.by_name:
            values["create_time"] = when
        values["update_time"] = when
        values.setdefault("version", 1)
        return values

    @staticmethod
    def from_db(table: Table, values: Mapping[str, Any]) -> dict[str, Any]:
        """A 前置库 row as a national row: times compact, id and audit columns dropped."""
        spec = national.table(table.name)
        business = set(spec.by_name) if spec is not None else set()
        skip = {"id", "version", "create_time", "update_time", *_AUDIT_COLUMNS} - business
        row: dict[str, Any] = {}
        for column in table.columns:
            if column.name in skip:
                continue
            value = values[column.name]
            row[column.name] = compact(value) if isinstance(value, datetime) else value
        return row

    def read_since(
        self, name: str, after: tuple[str, int], *, settle_seconds: float, limit: int
    ) -> list[dict[str, Any]]:
        """Rows of ``name`` after the (cd_time, id) watermark whose cd_time has settled, oldest first."""
        table = self.table(name)
        since = beijing_naive(after[0])
        cutoff = beijing_now_naive() - timedelta(seconds=settle_seconds)
        query = (
            select(table)
            .where(
                or_(table.c.cd_time > since, and_(table.c.cd_time == since, table.c.id > after[1])),
                table.c.cd_time <= cutoff,
            )
            .order_by(table.c.cd_time, table.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def storage_time(self, value: Any) -> Any:
        """A national time (compact text or datetime) in the form the driver stores for DateTime."""
        if isinstance(value, str) and len(value) == 14:
            if self.postgres:
                return beijing_naive(value)
            # SQLAlchemy's SQLite DATETIME text, so that comparisons with bound datetimes hold.
            return f"{value[:4]}-{value[4:6]}-{value[6:8]} {value[8:10]}:{value[10:12]}:{value[12:14]}.000000"
        if isinstance(value, datetime):
            return value if self.postgres else value.strftime("%Y-%m-%d %H:%M:%S.%f")
        return value

    def append(
        self, name: str, rows: Sequence[Mapping[str, Any]], *, unique: tuple[str, ...] | None = ("row_guid",)
    ) -> int:
        """Append national rows to ``name`` (driver-level executemany); rows whose ``unique`` columns are
        already present are skipped by the database (the write is idempotent)."""
        spec = national.table(name)
        if spec is None:
            raise KeyError(name)
        if not rows:
            return 0
        table = self.table(name)
        when = self.storage_time(beijing_now_naive())
        texts: list[str] = []
        times: list[str] = []
        ints: list[str] = []
        fixed: list[tuple[str, Any]] = []
        for column in table.columns:
            n = column.name
            if n == "id":
                continue
            if n in _AUDIT_COLUMNS:
                fixed.append((n, 0))
            elif n == "version":
                fixed.append((n, 1))
            elif n in ("create_time", "update_time") and n not in spec.by_name:
                fixed.append((n, when))
            elif isinstance(column.type, DateTime):
                times.append(n)
            elif isinstance(column.type, Integer):
                ints.append(n)
            else:
                texts.append(n)
        names = ["id", *texts, *times, *ints, *(n for n, _ in fixed)]
        tail = tuple(v for _, v in fixed)
        stamp = self.storage_time
        next_id = self.ids.next
        values = [
            (
                next_id(),
                *[row.get(n) for n in texts],
                *[stamp(row.get(n)) for n in times],
                *[int(v) if isinstance(v := row.get(n), str) else v for n in ints],
                *tail,
            )
            for row in rows
        ]
        mark = "%s" if self.postgres else "?"
        conflict = f" ON CONFLICT ({', '.join(unique)}) DO NOTHING" if unique else ""
        sql = f"INSERT INTO {name} ({', '.join(names)}) VALUES ({', '.join(mark for _ in names)}){conflict}"  # noqa: S608 - names from our schema
        with self.engine.begin() as conn:
            conn.exec_driver_sql(sql, values)
        return len(values)

    def record_origins(self, name: str, origins: Mapping[str, Mapping[str, Any]]) -> None:
        """Keep the origin of rows passed on, before the rows themselves (idempotent)."""
        if not origins:
            return
        mark = "%s" if self.postgres else "?"
        sql = (
            f"INSERT INTO {ORIGIN_TABLE} (table_name, row_guid, origin) VALUES ({mark}, {mark}, {mark}) "  # noqa: S608 - fixed names
            "ON CONFLICT (table_name, row_guid) DO NOTHING"
        )
        values = [
            (name, guid[:50], json.dumps(dict(origin), ensure_ascii=False))
            for guid, origin in origins.items()
        ]
        with self.engine.begin() as conn:
            conn.exec_driver_sql(sql, values)

    def origins(self, name: str, guids: Sequence[str]) -> dict[str, Any]:
        """The origins kept for these rows of ``name`` (rows made by the writer itself have none)."""
        table = self.table(ORIGIN_TABLE)
        found: dict[str, Any] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(guids), 500):
                query = select(table.c.row_guid, table.c.origin).where(
                    table.c.table_name == name, table.c.row_guid.in_(guids[start : start + 500])
                )
                for guid, text in conn.execute(query):
                    try:
                        found[guid] = json.loads(text)
                    except ValueError:
                        found[guid] = text  # refused as malformed by the reader's origin check
        return found

    def append_feedback(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Append refusals of downward rows (``exchange_apply_feedback`` payloads, each with its
        ``feedback_key``); one already written is skipped (idempotent)."""
        if not rows:
            return 0
        mark = "%s" if self.postgres else "?"
        sql = (
            f"INSERT INTO {APPLY_FEEDBACK_TABLE} (id, row_guid, cd_time, content) "  # noqa: S608 - fixed names
            f"VALUES ({mark}, {mark}, {mark}, {mark}) ON CONFLICT (row_guid) DO NOTHING"
        )
        when = self.storage_time(beijing_now_naive())
        values = [
            (self.ids.next(), str(row["feedback_key"])[:64], when, json.dumps(dict(row), ensure_ascii=False))
            for row in rows
        ]
        with self.engine.begin() as conn:
            conn.exec_driver_sql(sql, values)
        return len(values)

    def dispose(self) -> None:
        """Close the pool."""
        self.engine.dispose()


Prepared = tuple[str | None, list[dict[str, Any]], dict[str, RowError], dict[str, dict[str, Any]]]


class FrontDbTransport:
    """Writes batches into the 前置库's ``up_*`` tables; an append is the acknowledgement."""

    name = "frontdb"

    def __init__(self, frontdb: FrontDb) -> None:
        self.frontdb = frontdb

    def prepare(self, batch: OutboundBatch) -> Prepared:
        """Check rows against the national DDL (a bad row must not block the table)."""
        if batch.table == APPLY_FEEDBACK_SOURCE:  # our refusal of a downward row: into our own table
            return APPLY_FEEDBACK_TABLE, [dict(r.row) for r in batch.records], {}, {}
        spec = national.UP_TABLES.get(batch.table)
        rejected: dict[str, RowError] = {}
        valid: list[dict[str, Any]] = []
        origins = {r.row_guid: r.origin for r in batch.records if r.origin is not None}
        for record in batch.records:
            if spec is None:
                rejected[record.row_guid] = RowError(
                    "unknown_table", f"前置库中没有数据表 {batch.table}", None
                )
                continue
            # What we write must pass the stricter reading of the DDL too: the national ETL may apply either.
            clean, error = national.outgoing(spec, record.row)
            if error is not None:
                rejected[record.row_guid] = error
            else:
                valid.append(clean)
        kept = {
            str(r["row_guid"]): origins[str(r["row_guid"])] for r in valid if str(r["row_guid"]) in origins
        }
        return (spec.name if spec is not None else None), valid, rejected, kept

    def deliver(self, prepared: Prepared) -> Delivery:
        """Append the valid rows (their origins first); the append is the acknowledgement."""
        table, valid, rejected, origins = prepared
        if table == APPLY_FEEDBACK_TABLE:
            self.frontdb.append_feedback(valid)
        elif valid and table is not None:
            self.frontdb.record_origins(table, origins)
            self.frontdb.append(table, valid)
        return Delivery(
            accepted=frozenset(str(r["row_guid"]) for r in valid),
            rejected=rejected,
            peer="frontdb",
            detail={"written": len(valid)},
        )

    def send(self, batch: OutboundBatch) -> Delivery:
        """Prepare and append."""
        return self.deliver(self.prepare(batch))

    def close(self) -> None:
        """Release the pool."""
        self.frontdb.dispose()


def feedback_row_guid(table_row_guid: str, error: str) -> str:
    """A deterministic id for an abnormal-feedback row (the same refusal is written once)."""
    from zhengwu.exchange.canonical import sm3_hex

    return sm3_hex(f"{table_row_guid}|{error}".encode())[:32]


def abnormal_rows(
    spec: NationalTable, refused: Iterable[tuple[Mapping[str, Any], RowError]], *, ingested_at: datetime
) -> tuple[str, list[dict[str, Any]]]:
    """National abnormal-feedback rows for refused ``up_*`` rows (the table depends on the data set)."""
    target = spec.feedback_table or AUDIT_ABNORMAL
    now = compact(ingested_at)
    rows: list[dict[str, Any]] = []
    for row, error in refused:
        if target == LIC_ERROR:
            item = {c.name: row.get(c.name) for c in spec.columns}
            item.update(
                cd_batch=row.get("cd_batch"),
                cd_operation=row.get("cd_operation") or "I",
                cd_time=now,
                data_source=row.get("data_source"),
                error_remark=f"{error.code}：{error.reason}"[:512],
            )
        else:
            item = {
                "row_guid": feedback_row_guid(str(row.get("row_guid")), error.code),
                "cd_time": now,
                "err_type": error.code[:100],
                "remark": error.reason[:1000],
                "table_cd_batch": str(row.get("cd_batch") or "")[:32],
                "table_cd_source": str(row.get("data_source") or "")[:10],
                "table_cd_time": row.get("cd_time") or now,
                "table_name": spec.comment[:50],
                "table_row_guid": str(row.get("row_guid"))[:50],
                "table_sql_name": spec.name,
                "table_update_time": now,
            }
        rows.append(item)
    return target, rows
