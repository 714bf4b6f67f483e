"""The serials of case numbers on PostgreSQL, taken in a transaction of their own.

Bumped inside the submitting transaction, the counter row of a prefix (one division, one day) stays
locked until that transaction commits, so every submission of a division queues behind the one before
it for the whole of its work — uploads checked, rows written, events fanned out. Taken here instead, the
row is locked for one statement: an upsert that returns the new value, committed at once on a connection
of a small pool of its own (never the node's pool: a submission holding a connection of it while waiting
for a second one could starve that pool, ADR 0009).

The price is gaps: a submission that rolls back after taking its serial leaves that serial unused.
Standards §2.2 asks of the case number only that it be unique nationwide and reused across a case's
records; nothing counts cases by their serials (the national statistics count rows), so a gap is
harmless, while uniqueness still rests on the one row per prefix.

The bump commits without waiting for its WAL to reach the disk (``synchronous_commit`` off on this
pool's transactions only): many submitters of one prefix queue on the row for one statement each, not for one WAL flush
each.
Durability is unchanged where it matters: the submission commits afterwards with the node's own setting,
and flushing its commit record flushes every WAL record written before it, the bump included — so a
committed case never has a serial that a crash can hand out again. A crash before the submission commits
may lose the bump; the number then goes to a later case, as no committed case holds it.

SQLite keeps the bump in the submitting transaction: it runs one writing transaction at a time anyway,
so the row lock costs nothing there, and a second connection would wait on the submitter's own write lock.
"""

from __future__ import annotations

import threading
import weakref
from typing import Final, cast

from sqlalchemy import Engine, Table, create_engine, event
from sqlalchemy.dialects import postgresql

from zhengwu.cases.models import CaseSerial

#: Connections of the allocating pool: each is held for one upsert, so a few serve many submitters.
POOL_SIZE: Final = 2
MAX_OVERFLOW: Final = 6

_SERIALS = cast(Table, CaseSerial.__table__)
_UPSERT = (
    postgresql.insert(_SERIALS)
    .on_conflict_do_update(index_elements=[_SERIALS.c.scope], set_={"value": _SERIALS.c.value + 1})
    .returning(_SERIALS.c.value)
)

#: See the module's docstring: the submission's own commit makes the bump durable.
_ASYNC_COMMIT: Final = "SET LOCAL synchronous_commit TO OFF"

_pools: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _pool_of(engine: Engine) -> Engine:
    """The allocating engine beside ``engine`` (same database), made once and disposed with it."""
    with _lock:
        own = _pools.get(engine)
        if own is None:
            own = create_engine(
                engine.url,
                pool_size=POOL_SIZE,
                max_overflow=MAX_OVERFLOW,
                pool_pre_ping=True,
                hide_parameters=True,
            )
            _pools[engine] = own
            event.listen(engine, "engine_disposed", lambda _engine: own.dispose())
        return own


def take(engine: Engine, scope: str) -> int:
    """The next serial of ``scope``, committed before this returns (PostgreSQL only)."""
    with _pool_of(engine).begin() as conn:
        # per transaction, not per connection: a startup option would be refused by PgBouncer in front
        conn.exec_driver_sql(_ASYNC_COMMIT)
        return int(conn.execute(_UPSERT, {"scope": scope, "value": 1}).scalar_one())
