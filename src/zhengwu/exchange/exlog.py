"""The exchange log: every message in and out, chained by SM3 (entry_hash = SM3(prev_hash ‖ entry)).

Appending first updates the single head row, which takes the write lock on SQLite and a row lock on
PostgreSQL, so concurrent appenders queue instead of forking the chain. ``verify`` walks the chain
and says where an entry was edited, dropped, inserted or reordered, and whether the tail was cut.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from zhengwu.exchange.canonical import canonical_bytes
from zhengwu.exchange.models import ExchangeLog, ExchangeLogHead
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.crypto import sm3

GENESIS: Final = "0" * 64
HEAD_ID: Final = 1


def entry_hash(
    *,
    prev_hash: str,
    seq: int,
    at: datetime,
    direction: str,
    kind: str,
    peer: str | None,
    ref: str | None,
    digest: str | None,
    detail: dict[str, Any],
) -> str:
    """SM3(prev_hash ‖ canonical JSON of the entry) as hex."""
    body = {
        "seq": seq,
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "direction": direction,
        "kind": kind,
        "peer": peer,
        "ref": ref,
        "digest": digest,
        "detail": detail,
    }
    return sm3(bytes.fromhex(prev_hash) + canonical_bytes(body)).hex()


def lock_head(session: Session) -> tuple[int, str]:
    """Take the log's write lock (first statement of a writing transaction) and read the head."""
    result = session.execute(
        update(ExchangeLogHead).where(ExchangeLogHead.id == HEAD_ID).values(seq=ExchangeLogHead.seq)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        session.execute(insert(ExchangeLogHead).values(id=HEAD_ID, seq=0, last_hash=GENESIS))
    row = session.execute(
        select(ExchangeLogHead.seq, ExchangeLogHead.last_hash).where(ExchangeLogHead.id == HEAD_ID)
    ).one()
    return int(row.seq), str(row.last_hash)


def write_first(session: Session) -> None:
    """On SQLite, take the write lock now: a transaction that reads first and writes later fails when
    another writer committed in between (WAL snapshots cannot be upgraded). No-op on PostgreSQL."""
    if session.get_bind().dialect.name == "sqlite":
        lock_head(session)


def append(
    session: Session,
    *,
    direction: str,
    kind: str,
    peer: str | None = None,
    ref: str | None = None,
    digest: str | None = None,
    detail: dict[str, Any] | None = None,
) -> int:
    """Append one entry in the caller's transaction; returns its sequence number."""
    seq, last_hash = lock_head(session)
    seq += 1
    at = utcnow()
    values = {
        "seq": seq,
        "at": at,
        "direction": direction,
        "kind": kind,
        "peer": peer,
        "ref": ref,
        "digest": digest,
        "detail": detail or {},
    }
    hashed = entry_hash(prev_hash=last_hash, **values)  # type: ignore[arg-type]
    session.execute(insert(ExchangeLog).values(**values, prev_hash=last_hash, entry_hash=hashed))
    session.execute(
        update(ExchangeLogHead).where(ExchangeLogHead.id == HEAD_ID).values(seq=seq, last_hash=hashed)
    )
    return seq


@dataclass(frozen=True, slots=True)
class Problem:
    """One break in the chain, located by sequence number."""

    seq: int
    kind: str  # edited | dropped | broken_link | truncated | head_mismatch
    message: str
    message_zh: str


@dataclass(slots=True)
class LogVerdict:
    """Result of verifying the chain."""

    entries: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the chain is intact."""
        return not self.problems


def _entries(session: Session, chunk: int = 5_000) -> Iterator[ExchangeLog]:
    last = 0
    while True:
        rows = list(
            session.scalars(
                select(ExchangeLog).where(ExchangeLog.seq > last).order_by(ExchangeLog.seq).limit(chunk)
            )
        )
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def verify(session: Session, *, max_problems: int = 100) -> LogVerdict:
    """Walk the whole chain and report every place it does not hold."""
    verdict = LogVerdict()
    expected_seq = 1
    prev_hash = GENESIS
    hashes: dict[str, int] = {}
    for entry in _entries(session):
        verdict.entries += 1
        if entry.seq != expected_seq:
            verdict.problems.append(
                Problem(
                    entry.seq,
                    "dropped",
                    f"entries {expected_seq}..{entry.seq - 1} are missing (dropped) before entry {entry.seq}",
                    f"第 {expected_seq}～{entry.seq - 1} 条记录缺失（被删除），位于第 {entry.seq} 条之前",
                )
            )
        elif entry.prev_hash != prev_hash:
            linked = hashes.get(entry.prev_hash)
            where = f"; it links to entry {linked}" if linked is not None else ""
            verdict.problems.append(
                Problem(
                    entry.seq,
                    "broken_link",
                    f"entry {entry.seq} does not follow entry {entry.seq - 1}{where}: "
                    "an entry was inserted, dropped or reordered here",
                    f"第 {entry.seq} 条记录与第 {entry.seq - 1} 条不衔接：此处有记录被插入、删除或调换顺序",
                )
            )
        recomputed = entry_hash(
            prev_hash=entry.prev_hash,
            seq=entry.seq,
            at=entry.at,
            direction=entry.direction,
            kind=entry.kind,
            peer=entry.peer,
            ref=entry.ref,
            digest=entry.digest,
            detail=entry.detail,
        )
        if recomputed != entry.entry_hash:
            verdict.problems.append(
                Problem(
                    entry.seq,
                    "edited",
                    f"entry {entry.seq} was edited (its hash does not match its content)",
                    f"第 {entry.seq} 条记录被篡改（内容与哈希不符）",
                )
            )
        hashes[entry.entry_hash] = entry.seq
        prev_hash = entry.entry_hash
        expected_seq = entry.seq + 1
        if len(verdict.problems) >= max_problems:
            break
    head = session.execute(
        select(ExchangeLogHead.seq, ExchangeLogHead.last_hash).where(ExchangeLogHead.id == HEAD_ID)
    ).one_or_none()
    verdict.head_seq, verdict.head_hash = (int(head.seq), str(head.last_hash)) if head else (0, GENESIS)
    last_seq = expected_seq - 1
    if verdict.head_seq > last_seq:
        verdict.problems.append(
            Problem(
                last_seq + 1,
                "truncated",
                f"the head records {verdict.head_seq} entries but the log ends at {last_seq} (tail dropped)",
                f"日志头记录了 {verdict.head_seq} 条，但日志只到第 {last_seq} 条（末尾被删除）",
            )
        )
    elif verdict.head_seq != last_seq or verdict.head_hash != prev_hash:
        verdict.problems.append(
            Problem(
                last_seq,
                "head_mismatch",
                f"the head (entry {verdict.head_seq}) does not match the last entry {last_seq}",
                f"日志头（第 {verdict.head_seq} 条）与最后一条记录（第 {last_seq} 条）不符",
            )
        )
    return verdict
