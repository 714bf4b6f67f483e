"""Refusals of our ``up_lic_data`` rows by the upper node — in its receipt, or through the 前置库's
``dn_lic_data_error`` — land in the licenses' abnormal data queue once each, with the reason, next to the
exchange's own feedback list; resubmitting the entry closes it and the feedback entry beside it (the
licenses' refusal hook and ``kernel.topics.RefusalSettled``), and resending from the feedback list
closes the abnormal entry (the hook's ``on_settled``): a refusal never stays open twice."""

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
from zhengwu.exchange.service import resend_feedback
from zhengwu.exchange.transports.frontdb import FrontDb, FrontDbTransport
from zhengwu.kernel.events import OutboxRecord
from zhengwu.kernel.node import node_of
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
        assert feedback.status == "open"
        done = abnormal.resubmit(session, node.settings, entry, abnormal.Correction(), actor="test",
                                 bus=node_of(node.app).bus)  # fmt: skip
        assert done.status == abnormal.RESUBMITTED
        assert len(_pending(session, identifier)) == 1  # reported again, from the license as it stands
        _, still_open = abnormal.list_entries(session, departments=None, status="open")
        assert still_open == 0
        session.refresh(feedback)
        assert feedback.status == "resent" and feedback.resolved_at is not None  # closed beside it


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


def test_resending_from_the_feedback_list_resolves_the_abnormal_entry(joined: tuple[Node, Node]) -> None:
    province, national = joined
    identifier = _issue(province)
    Relay(province.runtime, http_transport(province, national)).run_once()
    with province.uow() as session:
        [entry] = abnormal.list_entries(session, departments=None, status="open")[0]
        counts = resend_feedback(session, province.runtime.registry)
        assert counts["resent"] == 1 and len(_pending(session, identifier)) == 1
        session.refresh(entry)
        assert entry.status == abnormal.RESOLVED and entry.handled_by == "system"
        assert resend_feedback(session, province.runtime.registry) == {
            "resent": 0,
            "resolved": 0,
            "skipped": 0,
        }


def test_dismissing_the_entry_resolves_the_feedback(joined: tuple[Node, Node]) -> None:
    province, national = joined
    _issue(province)
    Relay(province.runtime, http_transport(province, national)).run_once()
    with province.uow() as session:
        [entry] = abnormal.list_entries(session, departments=None, status="open")[0]
        abnormal.dismiss(
            session, entry, reason="国家目录尚未登记该类型", actor="test", bus=node_of(province.app).bus
        )
        [feedback] = session.scalars(select(ExchangeFeedback)).all()
        assert feedback.status == "resolved"
