"""Change stamps: a counter per kind of data, raised in the transaction that changes the data, so that
every process of a node can keep something derived from that data and know when it went stale.

A page that shows, say, the catalog's items counted by theme would otherwise count the whole catalog on
every request. With a stamp, a process keeps the counts together with the stamp they were computed
under (:func:`remember`, a :class:`StampedCache` on the node); each request reads the node's stamps (one
query of a few rows, once per transaction) and recomputes only when the stamp moved. The writer sets a
new stamp (:func:`bump`) in the same transaction as its change: the new stamp becomes visible exactly
when the change does, in this process and in every other one sharing the database — no message to
lose, no time-to-live to wait for.

A new stamp is a fresh random number, not the old one plus one: a database restored from a backup, or
a transaction rolled back, can never bring back a value that a process has kept for other data.

Whole public pages kept for anonymous visitors (``kernel.pagecache``) cannot afford even that one query
per request. They use :class:`ProcessView` instead, under a weaker rule (ADR 15): this process's own
changes are seen at once (every :func:`bump` and every write to a :func:`watch`-ed table moves the
process's :func:`local_generation`), another process's within :data:`CROSS_PROCESS_BOUND` seconds (the view
re-reads the stamps when it is older than that). :class:`StampedCache` keeps the exact rule.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, Final, Generic, TypeVar

from sqlalchemy import BigInteger, Integer, String, event, select
from sqlalchemy.orm import Mapped, ORMExecuteState, Session, UOWTransaction, mapped_column

from zhengwu.kernel.db import Base, dialect_insert
from zhengwu.kernel.node import NODE_INFO, Node, ServiceKey

T = TypeVar("T")

_READ_KEY: Final = "zhengwu.stamps"
_BUMPED: Final = "zhengwu.stamps.bumped"
_WRITTEN: Final = "zhengwu.stamps.written"
#: How stale another process's change may look through a :class:`ProcessView` (seconds).
CROSS_PROCESS_BOUND: Final = 1.0


class Stamp(Base):
    """变更戳 — a value that changes with every committed change of a kind of data."""

    __tablename__ = "kernel_stamp"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))


def bump(session: Session, name: str) -> None:
    """Give ``name`` a new stamp in the caller's transaction (visible to others when it commits)."""
    version = secrets.randbits(62) + 1  # never 0, the stamp of "no change recorded yet"
    statement = dialect_insert(session, Stamp).values(name=name, version=version)
    session.execute(statement.on_conflict_do_update(index_elements=["name"], set_={"version": version}))
    session.info.pop(_READ_KEY, None)  # this transaction's own reads see its change
    session.info[_BUMPED] = True
    _moved()


# --- this process's own changes ---------------------------------------------------------------------

_generation = 0
_generation_lock = threading.Lock()


def _moved() -> None:
    global _generation
    with _generation_lock:
        _generation += 1


def local_generation() -> int:
    """A number that moves whenever a session of this process bumped a stamp or wrote a watched table
    (when it did, and again when that transaction committed): what was kept under an older number may
    predate a change this process made."""
    return _generation


_watched: dict[str, str] = {}


def watch(table: str, stamp: str) -> None:
    """Bump ``stamp`` in every transaction of this process that writes ``table`` through a session (ORM
    objects or DML statements; SQL sent on a bare connection is not seen), for data whose writers do not
    call :func:`bump` themselves."""
    _watched[table] = stamp


def _written(session: Session, table: Any) -> None:
    stamp = _watched.get(getattr(table, "name", ""))
    if stamp is not None:
        session.info.setdefault(_WRITTEN, set()).add(stamp)
        _moved()  # kept pages of this process go at once, before the commit makes the stamp move


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, _flush: UOWTransaction) -> None:
    if _watched:
        for obj in (*session.new, *session.dirty, *session.deleted):
            _written(session, getattr(obj, "__table__", None))


@event.listens_for(Session, "do_orm_execute")
def _executed(state: ORMExecuteState) -> None:
    if _watched and (state.is_insert or state.is_update or state.is_delete):
        _written(state.session, getattr(state.statement, "table", None))


@event.listens_for(Session, "before_commit")
def _stamp_written(session: Session) -> None:
    if _watched and (session.new or session.dirty or session.deleted):
        # commit() calls this hook before its own last flush: changes still pending would otherwise be
        # written after the stamps were, and a watched table changed that way would move no stamp.
        session.flush()
    for stamp in sorted(session.info.pop(_WRITTEN, ())):
        bump(session, stamp)


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    if session.info.pop(_BUMPED, False):
        _moved()


@event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session: Session, previous: Any) -> None:
    if previous.parent is not None:  # a savepoint: the outer transaction's writes still stand
        return
    session.info.pop(_WRITTEN, None)
    session.info.pop(_BUMPED, None)


def read(session: Session) -> dict[str, int]:
    """Every stamp of the node, read once per transaction of ``session``."""
    transaction = session.get_transaction()
    found = session.info.get(_READ_KEY)
    if found is not None and transaction is not None and found[0] is transaction:
        return dict(found[1])
    stamps = {name: int(version) for name, version in session.execute(select(Stamp.name, Stamp.version))}
    session.info[_READ_KEY] = (session.get_transaction(), stamps)
    return dict(stamps)


class StampedCache(Generic[T]):
    """Values derived from data under the stamps ``names``, kept in this process while those stamps stay.

    ``get`` answers the kept value when the stamps read in the caller's transaction equal the ones it was
    computed under, else computes it (in the caller's transaction, so what it reads is at least as new
    as the stamps) and keeps it. Concurrent misses may compute twice; they store the same thing."""

    def __init__(self, *names: str, max_keys: int = 64) -> None:
        self.names = names
        self.max_keys = max_keys
        self._values: dict[Hashable, tuple[tuple[int, ...], T]] = {}
        self._lock = threading.Lock()
        self.computed = 0  # for tests and benchmarks: how often the value was (re)computed

    def get(self, session: Session, key: Hashable, compute: Callable[[], T]) -> T:
        """The value for ``key``: kept, or computed by ``compute()`` when a stamp moved."""
        stamps = read(session)
        current = tuple(stamps.get(name, 0) for name in self.names)
        with self._lock:
            kept = self._values.get(key)
        if kept is not None and kept[0] == current:
            return kept[1]
        value = compute()
        with self._lock:
            if len(self._values) >= self.max_keys and key not in self._values:
                self._values.clear()
            self._values[key] = (current, value)
            self.computed += 1
        return value

    def clear(self) -> None:
        """Forget every kept value (tests)."""
        with self._lock:
            self._values.clear()


_install = threading.Lock()


def remember(
    session: Session,
    cache: ServiceKey[StampedCache[T]],
    names: tuple[str, ...],
    key: Hashable,
    compute: Callable[[], T],
    *,
    max_keys: int = 64,
) -> T:
    """The value for ``key`` from the session's node's cache ``cache`` over the stamps ``names`` (made on
    first use). Each node keeps its own: two nodes in one process (tests, the demo) never share values.
    A session opened outside a node (a script) computes every time."""
    node = session.info.get(NODE_INFO)
    if not isinstance(node, Node):
        return compute()
    with _install:
        found = node.services.get(cache)
        if found is None:
            found = node.services.put(cache, StampedCache(*names, max_keys=max_keys))
    return found.get(session, key, compute)


def cache_of(node: Node, cache: ServiceKey[StampedCache[Any]]) -> StampedCache[Any] | None:
    """A node's cache, if made (tests look at how often it computed)."""
    return node.services.get(cache)


class ProcessView:
    """The node's stamps as this process last read them: re-read when older than ``bound`` seconds or
    when this process changed something since (:func:`local_generation`). One read at a time; the
    requests that find it stale meanwhile wait for that read instead of starting their own."""

    def __init__(
        self, bound: float = CROSS_PROCESS_BOUND, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.bound = bound
        self.clock = clock
        self._stamps: dict[str, int] | None = None
        self._read_at = 0.0
        self._generation = -1
        self._lock = threading.Lock()
        self.reads = 0  # for tests and benchmarks

    def fresh(self) -> tuple[int, dict[str, int]] | None:
        """(generation, stamps) when the last read is still good, else None (without touching the
        database: the caller reads in a worker thread)."""
        generation = _generation
        if (
            self._stamps is not None
            and generation == self._generation
            and self.clock() - self._read_at < self.bound
        ):
            return generation, self._stamps
        return None

    def current(self, factory: Callable[[], Session]) -> tuple[int, dict[str, int]]:
        """(generation, stamps), re-read from the database through ``factory`` when not fresh."""
        with self._lock:
            found = self.fresh()
            if found is not None:
                return found
            generation = _generation  # before the read: a change made meanwhile moves it again
            at = self.clock()
            with factory() as session:
                stamps = {name: int(v) for name, v in session.execute(select(Stamp.name, Stamp.version))}
            self._stamps, self._read_at, self._generation = stamps, at, generation
            self.reads += 1
            return generation, stamps
