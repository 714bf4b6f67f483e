"""The one SM3 hash chain of the platform (等保 8.1.4.3 c: audit records protected against modification).

A chain has a name and a head row (``audit_chain_head``). Each record carries a sequence number of its
chain (1, 2, 3 … without gaps), the previous record's hash and its own:
``hash = SM3(previous hash ‖ canonical bytes of the record)``, where the canonical bytes are sorted-key
compact UTF-8 JSON of the record's fields (its sequence number included). Appending first updates the
head row, which takes the write lock on SQLite and a row lock on PostgreSQL, so concurrent appenders
queue instead of forking the chain. The lock is held until the transaction ends, so the change log and
the read audit, written in the middle of long transactions (a case submission), do not append where
they record: ``append_at_commit`` keeps the record on the session and links it just before the commit
(ADR 0016), and the head is locked only for the last statements and the commit itself. ``verify`` walks
a chain and reports the first place it does not hold: an edited record, a dropped one, a reordered or
inserted one, a cut tail or a head that does not match. A chain rebuilt consistently after an edit is caught by the signed heads (``audit.heads``).
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, cast

from sqlalchemy import Table, bindparam, event, insert, inspect, select, update
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, make_transient_to_detached
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.util import find_tables

from zhengwu.audit.models import AuditChainHead
from zhengwu.kernel.crypto import sm3
from zhengwu.kernel.db import dialect_insert

GENESIS: Final = "0" * 64


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    raise TypeError(f"not canonical: {type(value).__name__}")


def canonical_bytes(body: Mapping[str, Any]) -> bytes:
    """Sorted-key compact UTF-8 JSON (datetimes as UTC ISO-8601 with microseconds); no floats' NaN."""
    return json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_plain
    ).encode("utf-8")


def link_hash(prev_hash: str, body: Mapping[str, Any]) -> str:
    """SM3(previous hash ‖ canonical bytes of the record) as hex."""
    return sm3(bytes.fromhex(prev_hash) + canonical_bytes(body)).hex()


@dataclass(frozen=True, slots=True)
class ChainSpec:
    """A named chain over one table: its model, the hash column and the fields that are hashed."""

    name: str
    model: type[Any]
    body: Callable[[Any], dict[str, Any]]
    hash_attr: str = "hash"
    label: str = ""

    @property
    def seq_column(self) -> Any:
        """The model's ``seq`` column (every chained table numbers its records in ``seq``)."""
        return self.model.seq

    def hash_of(self, row: Any) -> str:
        """The stored hash of a row."""
        return str(getattr(row, self.hash_attr))


@dataclass(frozen=True, slots=True)
class Head:
    """A chain's head: how many records it holds and the last hash."""

    seq: int
    hash: str


@dataclass(frozen=True, slots=True)
class Link:
    """Where a new record goes: its sequence number, the previous hash and its own hash."""

    seq: int
    prev_hash: str
    hash: str


# Prebuilt Core statements on the head table: appends run in every audited write, and building,
# cache-keying and ORM-dispatching an ``update(AuditChainHead)`` per call cost more than the SQL itself.
_HEADS = cast(Table, AuditChainHead.__table__)
# A no-op update takes the lock (SQLite: the transaction's write lock; PostgreSQL: the row lock, and under
# READ COMMITTED the returned values are the row as re-read after the lock is granted, i.e. the head the
# previous appender committed) and returns the head in the same round trip.
_CLAIM = (
    update(_HEADS)
    .where(_HEADS.c.name == bindparam("chain_name"))
    .values(seq=_HEADS.c.seq)
    .returning(_HEADS.c.seq, _HEADS.c.hash)
)
_ADVANCE = (
    update(_HEADS)
    .where(_HEADS.c.name == bindparam("chain_name"))
    .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
)


def lock(session: Session, name: str) -> Head:
    """Take the chain's lock (until the transaction ends) and read its head; creates the head if new."""
    row = session.execute(_CLAIM, {"chain_name": name}).one_or_none()
    if row is None:
        # Two first appenders may race: the loser's insert does nothing and its claim then waits.
        insert = dialect_insert(session, AuditChainHead).values(name=name, seq=0, hash=GENESIS)
        session.execute(insert.on_conflict_do_nothing(index_elements=["name"]))
        row = session.execute(_CLAIM, {"chain_name": name}).one()
    return Head(int(row.seq), str(row.hash))


def append(session: Session, name: str, body_without_seq: Mapping[str, Any]) -> Link:
    """Link one record into chain ``name`` in the caller's transaction (the caller inserts the row).

    ``body_without_seq`` is the record's hashed fields; the sequence number is added here, so that the
    hash covers it. Two statements: the claim (lock and read) and the head's advance.
    """
    head = lock(session, name)
    seq = head.seq + 1
    hashed = link_hash(head.hash, {**body_without_seq, "seq": seq})
    session.execute(_ADVANCE, {"chain_name": name, "new_seq": seq, "new_hash": hashed})
    return Link(seq, head.hash, hashed)


# --- records linked at commit -----------------------------------------------------------------------
# A chain's head stays locked from the append to the end of the transaction, and every appender of the
# node queues on it: appending where a service records its change would serialise whole requests. The
# record is kept on the session instead, tagged with the (sub)transaction it was made in, and linked by
# the ``before_commit`` hook below once the rest of the unit of work is flushed. A rolled-back savepoint
# drops what was recorded inside it; a rolled-back transaction drops everything.

_PENDING: Final = "zhengwu.audit.chain.pending"


@dataclass(slots=True)
class _Pending:
    # The session the list belongs to: a session factory made from another session's ``info``
    # (``audit.apart``) copies the dict, and must not inherit, then link, the other session's records.
    owner: weakref.ReferenceType[Session]
    records: list[tuple[ChainSpec, Any, SessionTransaction]] = field(default_factory=list)


def _pending(session: Session, *, create: bool) -> _Pending | None:
    found = session.info.get(_PENDING)
    if isinstance(found, _Pending) and found.owner() is session:
        return found
    if not create:
        return None
    made = _Pending(weakref.ref(session))
    session.info[_PENDING] = made
    return made


def append_at_commit(session: Session, spec: ChainSpec, row: Any) -> None:
    """Link ``row`` (a new record of ``spec``'s table) into its chain when the session commits.

    Its ``seq``, ``prev_hash`` and hash are set, and the row added to the session, just before the
    commit (or earlier, when the transaction itself selects from the chain's table or the heads: it
    reads its own records). Recorded inside a savepoint that is rolled back, or in a transaction that
    is, it is never linked. The hashed fields are read from the row then, so it must not change before.
    """
    # Begun now if not yet: a rollback of a session that never began is no event, and the record would
    # survive it into the session's next transaction.
    root = session.get_transaction() or session.begin()
    tag = session.get_nested_transaction() or root
    pending = _pending(session, create=True)
    assert pending is not None
    pending.records.append((spec, row, tag))


def link_pending(session: Session) -> int:
    """Link the session's kept records now (each chain locked once, chains in name order so that two
    transactions never wait for each other's heads); returns how many were linked."""
    pending = _pending(session, create=False)
    if pending is None or not pending.records:
        return 0
    records, pending.records = pending.records, []
    by_chain: dict[str, list[tuple[ChainSpec, Any]]] = {}
    for spec, row, _tag in records:
        by_chain.setdefault(spec.name, []).append((spec, row))
    # What the unit of work wrote goes out first: the head is locked for as few statements as possible.
    session.flush()
    for name in sorted(by_chain):
        current = lock(session, name)
        prev, seq = current.hash, current.seq
        for spec, row in by_chain[name]:
            seq += 1
            hashed = link_hash(prev, {**spec.body(row), "seq": seq})
            row.seq, row.prev_hash = seq, prev
            setattr(row, spec.hash_attr, hashed)
            prev = hashed
        session.execute(_ADVANCE, {"chain_name": name, "new_seq": seq, "new_hash": prev})
        for spec, row in by_chain[name]:
            _insert_record(session, spec, row)
    return len(records)


def _insert_record(session: Session, spec: ChainSpec, row: Any) -> None:
    """Write a linked record with a Core INSERT and attach it to the session as the persistent object
    of that row: the unit of work's flush of one new object cost about twice the statement, on every
    audited write. A column left unset that has a default gets it from the INSERT, and the object
    reads it back when asked (expired), as after a flush."""
    values: dict[str, Any] = {}
    unset: list[str] = []
    for attr in inspect(type(row)).column_attrs:
        column = attr.columns[0]
        value = getattr(row, attr.key)
        if value is None and (column.default is not None or column.server_default is not None):
            unset.append(attr.key)
        else:
            values[column.key] = value
    session.execute(insert(spec.model.__table__), values)
    make_transient_to_detached(row)
    session.add(row)
    if unset:
        session.expire(row, unset)


def _inside(tag: SessionTransaction, ended: SessionTransaction) -> bool:
    """Whether a record tagged ``tag`` was made in ``ended`` or in a savepoint within it."""
    current: SessionTransaction | None = tag
    while current is not None:
        if current is ended:
            return True
        current = current.parent
    return False


@event.listens_for(Session, "before_commit")
def _link_before_commit(session: Session) -> None:
    # Fired for savepoint releases too: those keep their records for the enclosing transaction.
    if session.get_nested_transaction() is None:
        link_pending(session)


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous: SessionTransaction) -> None:
    pending = _pending(session, create=False)
    if pending is not None and pending.records:
        pending.records = [r for r in pending.records if not _inside(r[2], previous)]


@event.listens_for(Session, "after_transaction_end")
def _forget_at_end(session: Session, transaction: SessionTransaction) -> None:
    # A session closed without commit or rollback ends its transaction here, without a rollback event.
    pending = _pending(session, create=False)
    if transaction.parent is None and pending is not None:
        pending.records.clear()


@event.listens_for(Session, "do_orm_execute")
def _link_before_own_read(state: ORMExecuteState) -> None:
    pending = _pending(state.session, create=False)
    statement = state.statement
    if pending is None or not pending.records or not isinstance(statement, ClauseElement):
        return
    if not state.is_select:
        return
    # Its own records, or a chain's head (``head``, ``verify``, a seal in the same transaction).
    tables = {_HEADS, *(spec.model.__table__ for spec, _row, _tag in pending.records)}
    if any(table in tables for table in find_tables(statement, include_joins=True)):
        link_pending(state.session)


def head(session: Session, name: str) -> Head:
    """The chain's head as stored, without locking (GENESIS for a chain never written)."""
    row = session.execute(
        select(AuditChainHead.seq, AuditChainHead.hash).where(AuditChainHead.name == name)
    ).one_or_none()
    return Head(int(row.seq), str(row.hash)) if row is not None else Head(0, GENESIS)


@dataclass(frozen=True, slots=True)
class Break:
    """Where a chain does not hold."""

    chain: str
    seq: int
    kind: str  # edited | dropped | broken_link | truncated | head_mismatch | rebuilt | unsigned
    message: str
    message_zh: str

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON output."""
        return {
            "chain": self.chain,
            "seq": self.seq,
            "kind": self.kind,
            "message": self.message,
            "message_zh": self.message_zh,
        }


@dataclass(slots=True)
class Verdict:
    """The result of walking one chain."""

    chain: str
    checked: int = 0
    head: Head = Head(0, GENESIS)
    broken: Break | None = None
    signed_seq: int | None = None

    @property
    def ok(self) -> bool:
        """True when the chain holds."""
        return self.broken is None

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON output."""
        return {
            "chain": self.chain,
            "ok": self.ok,
            "checked": self.checked,
            "head_seq": self.head.seq,
            "head_hash": self.head.hash,
            "signed_seq": self.signed_seq,
            "break": self.broken.as_dict() if self.broken else None,
        }


def rows(session: Session, spec: ChainSpec, *, after: int = 0, batch: int = 2000) -> Iterator[Any]:
    """The chain's rows in sequence order, read in batches."""
    last = after
    while True:
        chunk = list(
            session.scalars(
                select(spec.model).where(spec.seq_column > last).order_by(spec.seq_column).limit(batch)
            )
        )
        if not chunk:
            return
        yield from chunk
        last = int(chunk[-1].seq)


def verify(session: Session, spec: ChainSpec) -> Verdict:
    """Walk the whole chain and report its first break (None when it holds)."""
    return walk(spec, rows(session, spec), head(session, spec.name))


def walk(spec: ChainSpec, records: Iterable[Any], stored_head: Head) -> Verdict:
    """Check records given in sequence order against each other and against the chain's head."""
    verdict = Verdict(spec.name, head=stored_head)
    name = spec.name
    prev = GENESIS
    expected = 1
    seen: dict[str, int] = {}
    for row in records:
        seq = int(row.seq)
        stored = spec.hash_of(row)
        if seq != expected:
            verdict.broken = Break(
                name,
                expected,
                "dropped",
                f"{name}: records {expected}..{seq - 1} are missing (deleted) before record {seq}",
                f"{name}：第 {expected}～{seq - 1} 条记录缺失（被删除），位于第 {seq} 条之前",
            )
            return verdict
        if row.prev_hash != prev:
            linked = seen.get(row.prev_hash)
            where = f" (it follows record {linked})" if linked is not None else ""
            verdict.broken = Break(
                name,
                seq,
                "broken_link",
                f"{name}: record {seq} does not follow record {seq - 1}{where}: records were reordered, "
                "inserted or replaced here",
                f"{name}：第 {seq} 条记录与第 {seq - 1} 条不衔接：此处记录被调换顺序、插入或替换",
            )
            return verdict
        if link_hash(row.prev_hash, {**spec.body(row), "seq": seq}) != stored:
            verdict.broken = Break(
                name,
                seq,
                "edited",
                f"{name}: record {seq} was edited (its hash does not match its content)",
                f"{name}：第 {seq} 条记录被篡改（内容与哈希不符）",
            )
            return verdict
        seen[stored] = seq
        prev = stored
        expected = seq + 1
        verdict.checked += 1
    last = expected - 1
    if verdict.head.seq > last:
        verdict.broken = Break(
            name,
            last + 1,
            "truncated",
            f"{name}: the head counts {verdict.head.seq} records but the chain ends at {last} (tail deleted)",
            f"{name}：链头记录了 {verdict.head.seq} 条，但链只到第 {last} 条（末尾被删除）",
        )
    elif verdict.head.seq != last or verdict.head.hash != prev:
        verdict.broken = Break(
            name,
            last,
            "head_mismatch",
            f"{name}: the head (record {verdict.head.seq}) does not match the last record {last}",
            f"{name}：链头（第 {verdict.head.seq} 条）与最后一条记录（第 {last} 条）不符",
        )
    return verdict


def hash_at(session: Session, spec: ChainSpec, seq: int) -> str | None:
    """The stored hash of record ``seq`` (None when there is no such record)."""
    row = session.scalars(select(spec.model).where(spec.seq_column == seq)).one_or_none()
    return spec.hash_of(row) if row is not None else None
