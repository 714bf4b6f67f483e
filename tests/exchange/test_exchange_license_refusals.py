"""Refusals of our ``up_lic_data`` rows by the upper node — in its receipt, or through the 前置库's
``dn_lic_data_error`` — land in the licenses' abnormal data queue once each, with the reason, next to the
exchange's own feedback list; resubmitting the entry closes it (the licenses' refusal hook)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from exchange_nodes import Node, http_transport, issue_business_license
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from zhengwu.exchange.frontdb_sync import ingest_frontdb, poll_feedback
from zhengwu.exchange.models import ExchangeFeedback
from zhengwu.exchange.relay import Relay
from zhengwu.exchange.transports.frontdb import FrontDb, FrontDbTransport
from zhengwu.kernel.events import OutboxRecord
from zhengwu.licenses import abnormal, topics

pytestmark = pytest.mark.db


@pytest.fixture
def frontdb(tmp_path: Path) -> Iterator[FrontDb]:
    db = FrontDb(f"sqlite:///{(tmp_path / 'frontdb.db').as_posix()}")
    yield db
    db.dispose()


def _issue(node: Node) -> str:
    """Issue a license on the province and make its pending up_lic_data row one the upper node refuses."""
    identifier = issue_business_license(node, division="130000", department_name="河北省市场监督管理局")
    with node.uow() as session:
        # A wrong issuing department code: the upper node's code check refuses the row.
        [outbox] = _pending(session, identifier)
        payload: dict[str, Any] = {**outbox.payload, "issue_dept_code": "NOT-A-CREDIT-CODE"}
        session.execute(update(OutboxRecord).where(OutboxRecord.seq == outbox.seq).values(payload=payload))
    return identifier


def _pending(session: Session, key: str) -> list[OutboxRecord]:
    query = select(OutboxRecord).where(OutboxRecord.topic == topics.TOPIC, OutboxRecord.key == key)
    return list(session.scalars(query.where(OutboxRecord.status == "pending")))


def _queued_once_then_resubmitted(node: Node, identifier: str, via: str) -> None:
    with node.uow() as session:
        [feedback] = session.scalars(select(ExchangeFeedback)).all()
        assert (feedback.source, feedback.business_key) == (via, identifier)
        entries, total = abnormal.list_entries(session, departments=None, status="open")
        assert total == 1, [(e.origin, e.reason) for e in entries]
        [entry] = entries
        assert entry.identifier == identifier and entry.department_id is not None
        assert "证照颁发机构代码" in entry.reason and entry.summary["certificate_type_code"]
        done = abnormal.resubmit(session, node.settings, entry, abnormal.Correction(), actor="test")
        assert done.status == abnormal.RESUBMITTED
        assert len(_pending(session, identifier)) == 1  # reported again, from the license as it stands
        _, still_open = abnormal.list_entries(session, departments=None, status="open")
        assert still_open == 0


def test_a_row_refused_in_the_receipt_is_queued_once_and_resubmitted(joined: tuple[Node, Node]) -> None:
    province, national = joined
    identifier = _issue(province)
    relay = Relay(province.runtime, http_transport(province, national))
    stats = relay.run_once()
    assert stats.rejected == 1
    relay.run_once()  # nothing left to send: no second entry
    _queued_once_then_resubmitted(province, identifier, "receipt")


def test_a_row_refused_through_the_frontdb_is_queued_once_and_resubmitted(
    province: Node, national: Node, frontdb: FrontDb
) -> None:
    identifier = _issue(province)
    Relay(province.runtime, FrontDbTransport(frontdb)).run_once()
    assert ingest_frontdb(national.runtime, frontdb, sender="hebei").rejected == 1
    assert poll_feedback(province.runtime, frontdb).feedback == 1
    assert poll_feedback(province.runtime, frontdb).feedback == 0
    _queued_once_then_resubmitted(province, identifier, "frontdb")
