"""The exchange log: every message in and out, the chain ``exchange.log`` of the audit capability.

Each entry's hash is SM3(prev_hash ‖ canonical entry) (``zhengwu.audit.chain``). Appending first updates
the chain's head row, which takes the write lock on SQLite and a row lock on PostgreSQL, so concurrent
appenders queue instead of forking the chain. ``verify`` walks the chain and says where an entry was
edited, dropped, inserted or reordered, and whether the tail was cut.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlalchemy import insert
from sqlalchemy.orm import Session

from zhengwu.audit import chain
from zhengwu.exchange.models import ExchangeLog
from zhengwu.kernel.clock import utcnow

GENESIS: Final = chain.GENESIS
LOG_CHAIN: Final = "exchange.log"


def _body(entry: ExchangeLog) -> dict[str, Any]:
    return {
        "at": entry.at,
        "direction": entry.direction,
        "kind": entry.kind,
        "peer": entry.peer,
        "ref": entry.ref,
        "digest": entry.digest,
        "detail": entry.detail,
    }


CHAIN: Final = chain.ChainSpec(
    LOG_CHAIN, ExchangeLog, _body, hash_attr="entry_hash", label="交换日志 / exchange log"
)


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
    body = {"seq": seq, "at": at, "direction": direction, "kind": kind, "peer": peer, "ref": ref}
    return chain.link_hash(prev_hash, {**body, "digest": digest, "detail": detail})


def lock_head(session: Session) -> tuple[int, str]:
    """Take the log's write lock (first statement of a writing transaction) and read the head."""
    head = chain.lock(session, LOG_CHAIN)
    return head.seq, head.hash


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
    values: dict[str, Any] = {
        "at": utcnow(),
        "direction": direction,
        "kind": kind,
        "peer": peer,
        "ref": ref,
        "digest": digest,
        "detail": detail or {},
    }
    link = chain.append(session, LOG_CHAIN, values)
    session.execute(
        insert(ExchangeLog).values(**values, seq=link.seq, prev_hash=link.prev_hash, entry_hash=link.hash)
    )
    return link.seq


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


def verify(session: Session, *, max_problems: int = 100) -> LogVerdict:
    """Walk the whole chain and report the first place it does not hold."""
    del max_problems  # the chain primitive stops at the first break
    result = chain.verify(session, CHAIN)
    verdict = LogVerdict(entries=result.checked, head_seq=result.head.seq, head_hash=result.head.hash)
    if result.broken is not None:
        b = result.broken
        verdict.problems.append(Problem(b.seq, b.kind, b.message, b.message_zh))
    return verdict
