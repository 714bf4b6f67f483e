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
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Hashable
from typing import Any, Final, Generic, TypeVar

from sqlalchemy import BigInteger, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from zhengwu.kernel.db import Base, dialect_insert
from zhengwu.kernel.node import NODE_INFO, Node, ServiceKey

T = TypeVar("T")

_READ_KEY: Final = "zhengwu.stamps"


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
