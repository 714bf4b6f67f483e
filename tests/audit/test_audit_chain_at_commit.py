"""Change and read records are linked into their chain at commit (ADR 0016): the chain's head is not
locked while the rest of the unit of work runs, a rolled-back savepoint's records are never linked, and
the chain holds as before."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from zhengwu.audit import chain, changes, reads
from zhengwu.audit.apart import factory_of
from zhengwu.audit.models import AuditChange, AuditRead
from zhengwu.kernel.session import unit_of_work
from zhengwu.orgs import service as orgs
from zhengwu.orgs.schemas import DepartmentCreate
from zhengwu.seed import government_credit_code


def _record(session: Session, entity_id: str) -> AuditChange:
    return changes.record_change(session, actor="cli", action="test.late", entity="test", entity_id=entity_id)


def _linked(session: Session, *entity_ids: str) -> list[tuple[str, int]]:
    query = select(AuditChange.entity_id, AuditChange.seq).where(AuditChange.entity_id.in_(entity_ids))
    return [(e, int(s)) for e, s in session.execute(query.order_by(AuditChange.seq))]


def test_the_head_is_claimed_after_the_units_other_writes(session: Session, connection: Connection) -> None:
    statements: list[str] = []

    def spy(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        statements.append(" ".join(statement.split()).lower())

    event.listen(connection, "before_cursor_execute", spy)
    try:
        _record(session, "late-1")
        made = orgs.add_department(
            session,
            DepartmentCreate(
                credit_code=government_credit_code("130100", 9201), name="链尾测试局", division_code="130100"
            ),
            actor="cli",
        )
        session.flush()
        # Two changes recorded and the department written: the head is not touched yet.
        assert not [s for s in statements if "audit_chain_head" in s]
        session.commit()
    finally:
        event.remove(connection, "before_cursor_execute", spy)
    claim = next(n for n, s in enumerate(statements) if "audit_chain_head" in s)
    written = [n for n, s in enumerate(statements) if s.startswith("insert into orgs_department")]
    assert written and max(written) < claim
    after = statements[claim:]
    assert all("audit_chain_head" in s or "audit_change" in s or "savepoint" in s for s in after), after
    assert [e for e, _ in _linked(session, "late-1", made.id)] == ["late-1", made.id]
    assert chain.verify(session, changes.CHAIN).ok


def test_a_rolled_back_savepoint_leaves_nothing_in_the_chain(session: Session) -> None:
    head_before = chain.head(session, changes.CHANGES)
    _record(session, "kept-1")
    savepoint = session.begin_nested()
    _record(session, "dropped")
    inner = session.begin_nested()
    _record(session, "dropped-inner")
    inner.commit()  # released into the savepoint, so it goes with it
    savepoint.rollback()
    kept = session.begin_nested()
    _record(session, "kept-2")
    kept.commit()
    session.commit()
    linked = _linked(session, "kept-1", "dropped", "dropped-inner", "kept-2")
    # In recording order, numbered on from the head without a gap.
    assert linked == [("kept-1", head_before.seq + 1), ("kept-2", head_before.seq + 2)]
    verdict = chain.verify(session, changes.CHAIN)
    assert verdict.ok and verdict.head.seq == head_before.seq + 2


def test_a_rolled_back_transaction_leaves_nothing_even_in_the_sessions_next_one(session: Session) -> None:
    head_before = chain.head(session, changes.CHANGES)
    _record(session, "rolled-back")  # the first thing the session does: no statement has run yet
    session.rollback()
    _record(session, "next")
    session.commit()
    assert _linked(session, "rolled-back", "next") == [("next", head_before.seq + 1)]


def test_a_transaction_reads_its_own_records_before_commit(session: Session) -> None:
    made = _record(session, "own-read")
    assert made.seq is None  # not linked yet
    own = select(func.count()).select_from(AuditChange).where(AuditChange.entity_id == "own-read")
    assert session.scalar(own) == 1
    assert made.seq is not None and chain.head(session, changes.CHANGES).seq == made.seq
    read = reads.record_read(session, "a" * 32, "client:x", "核对", "userinfo:name")
    assert chain.verify(session, reads.CHAIN).ok and read.seq == chain.head(session, reads.READS).seq
    assert session.get(AuditRead, read.seq) is read


def test_a_unit_of_work_beside_the_session_does_not_link_its_records(session: Session) -> None:
    _record(session, "request-only")
    with unit_of_work(factory_of(session)) as apart:
        _record(apart, "apart")
    assert _linked(session, "request-only", "apart")[0][0] == "apart"
    session.rollback()
    assert [e for e, _ in _linked(session, "request-only", "apart")] == ["apart"]
