"""The SM3-chained exchange log: intact chains verify; edits, drops, inserts, reorders and a cut tail
are found and the first break located."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from zhengwu.exchange import exlog
from zhengwu.exchange.models import ExchangeLog

pytestmark = pytest.mark.db


def fill(session: Session, count: int = 6) -> None:
    for i in range(count):
        exlog.append(session, direction="out", kind="batch.sent", peer="national", ref=f"b{i}", digest=f"{i:064x}",
                     detail={"rows": i, "topic": "t"})  # fmt: skip
    session.flush()


def kinds(session: Session) -> dict[int, str]:
    return {p.seq: p.kind for p in exlog.verify(session).problems}


def test_intact_chain(session: Session) -> None:
    fill(session)
    verdict = exlog.verify(session)
    assert verdict.ok and verdict.entries == 6 and verdict.head_seq == 6
    last = session.scalars(select(ExchangeLog).order_by(ExchangeLog.seq.desc()).limit(1)).one()
    assert verdict.head_hash == last.entry_hash
    assert last.prev_hash != exlog.GENESIS


def test_edited_entry_is_located(session: Session) -> None:
    fill(session)
    session.execute(
        update(ExchangeLog).where(ExchangeLog.seq == 3).values(detail={"rows": 999, "topic": "t"})
    )
    assert kinds(session) == {3: "edited"}


def test_edited_entry_with_recomputed_hash_breaks_the_next_link(session: Session) -> None:
    fill(session)
    entry = session.get(ExchangeLog, 3)
    assert entry is not None
    forged = exlog.entry_hash(prev_hash=entry.prev_hash, seq=3, at=entry.at, direction="out", kind="batch.sent",
                              peer="evil", ref=entry.ref, digest=entry.digest, detail=entry.detail)  # fmt: skip
    session.execute(update(ExchangeLog).where(ExchangeLog.seq == 3).values(peer="evil", entry_hash=forged))
    assert kinds(session) == {4: "broken_link"}


def test_dropped_entry_is_located(session: Session) -> None:
    fill(session)
    session.execute(delete(ExchangeLog).where(ExchangeLog.seq == 4))
    problems = exlog.verify(session).problems
    assert [(p.seq, p.kind) for p in problems] == [(4, "dropped")]  # the first missing record
    assert "4..4" in problems[0].message and "第 4～4 条" in problems[0].message_zh


def test_inserted_entry_is_found(session: Session) -> None:
    fill(session)
    # Make room after entry 2 and insert a forged entry that links correctly to entry 2.
    for seq in range(6, 2, -1):
        session.execute(update(ExchangeLog).where(ExchangeLog.seq == seq).values(seq=seq + 1))
    two = session.get(ExchangeLog, 2)
    assert two is not None
    at = two.at
    forged = exlog.entry_hash(prev_hash=two.entry_hash, seq=3, at=at, direction="in", kind="batch.received",
                              peer="x", ref="fake", digest=None, detail={})  # fmt: skip
    session.add(ExchangeLog(seq=3, at=at, direction="in", kind="batch.received", peer="x", ref="fake",
                            digest=None, detail={}, prev_hash=two.entry_hash, entry_hash=forged))  # fmt: skip
    session.flush()
    found = [(p.seq, p.kind) for p in exlog.verify(session).problems]
    # The forged entry itself links correctly; the entry moved behind it no longer follows it.
    assert found == [(4, "broken_link")]


def test_reordered_entries_are_found(session: Session) -> None:
    fill(session)
    a, b = session.get(ExchangeLog, 2), session.get(ExchangeLog, 3)
    assert a is not None and b is not None
    fields = ("at", "direction", "kind", "peer", "ref", "digest", "detail", "prev_hash", "entry_hash")
    va, vb = ({f: getattr(x, f) for f in fields} for x in (a, b))
    session.execute(update(ExchangeLog).where(ExchangeLog.seq == 2).values(**vb))
    session.execute(update(ExchangeLog).where(ExchangeLog.seq == 3).values(**va))
    found = [(p.seq, p.kind) for p in exlog.verify(session).problems]
    assert found == [(2, "broken_link")]


def test_cut_tail_is_found(session: Session) -> None:
    fill(session)
    session.execute(delete(ExchangeLog).where(ExchangeLog.seq >= 5))
    assert kinds(session) == {5: "truncated"}
