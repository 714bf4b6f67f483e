"""Worker liveness: each worker process beats once a minute in ``ops_worker_beat``; a server answering a
scrape reads the beats, so a node whose every worker stopped shows it (no worker, no exchange, no webhook).
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.db import dialect_insert, new_id
from zhengwu.ops.models import WorkerBeat

#: A worker beats every housekeeping round (60 s); three missed beats and it counts as gone.
ALIVE_WITHIN: Final = timedelta(minutes=3)
#: Rows of workers gone for a week are forgotten (a restarted worker has a new pid).
FORGET_AFTER: Final = timedelta(days=7)


def worker_name() -> str:
    """This process as a worker: host and pid."""
    return f"{socket.gethostname()[:100]}:{os.getpid()}"


def beat(session: Session, worker: str, started_at: datetime, loops: int) -> None:
    """Record that ``worker`` is alive now (in the caller's transaction)."""
    now = utcnow()
    insert = dialect_insert(session, WorkerBeat).values(
        id=new_id(), worker=worker, started_at=started_at, beat_at=now, loops=loops
    )
    session.execute(
        insert.on_conflict_do_update(index_elements=["worker"], set_={"beat_at": now, "loops": loops})
    )
    session.execute(delete(WorkerBeat).where(WorkerBeat.beat_at < now - FORGET_AFTER))


def beats(session: Session) -> list[tuple[str, float, bool]]:
    """Every known worker: (name, seconds since its last beat, alive)."""
    now = utcnow()
    shown = []
    for row in session.scalars(select(WorkerBeat).order_by(WorkerBeat.worker)):
        age = now - row.beat_at
        shown.append((row.worker, round(age.total_seconds(), 1), age <= ALIVE_WITHIN))
    return shown
