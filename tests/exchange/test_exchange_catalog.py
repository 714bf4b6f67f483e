"""The catalog's outbox rows (catalog.up_task_*) reach the national node as national rows; refused rows
can be rebuilt from the current catalog when an operator resends them."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
from exchange_nodes import Node, http_transport
from sqlalchemy import select, update

from zhengwu.catalog.importexport import ImportOptions, directory_records, import_records, task_records
from zhengwu.exchange import service
from zhengwu.exchange.models import ExchangeInbox
from zhengwu.exchange.relay import Relay
from zhengwu.kernel.events import OutboxRecord
from zhengwu.seed import catalog as catalog_demo
from zhengwu.seed import seed_departments

pytestmark = pytest.mark.db


def test_catalog_rows_travel_and_refresh(joined: tuple[Node, Node]) -> None:
    province, national = joined
    factory = province.runtime.session_factory
    with province.uow() as session:
        seed_departments(session)
        places = catalog_demo.demo_places(session)[:2]
        departments = catalog_demo.ensure_departments(session, places)
    options = ImportOptions(publish=True, chunk_size=100, actor="test", skip_existing=True)
    import_records(factory, directory_records(catalog_demo.directory_rows()[:20]), options=options)
    implementations = list(itertools.islice(catalog_demo.implementations(places, departments), 4))
    import_records(factory, task_records(implementations), options=options)
    with province.uow() as session:
        topics = Counter(t for (t,) in session.execute(select(OutboxRecord.topic)))
    assert (
        topics["catalog.up_task_directory"] >= 1
        and sum(v for k, v in topics.items() if k.endswith("_basic")) >= 1
    )

    relay = Relay(province.runtime, http_transport(province, national))
    while relay.run_once().batches:
        pass
    with national.uow() as session:
        verdicts = Counter(
            (topic, status)
            for topic, status in session.execute(select(ExchangeInbox.topic, ExchangeInbox.status))
        )
    accepted_tables = {topic for (topic, status) in verdicts if status == "applied"}
    assert {"catalog.up_task_directory"} <= accepted_tables
    assert any(t.endswith("_basic") for t in accepted_tables)
    assert any(t.endswith("_material") for t in accepted_tables)

    # Resend a basic row: its payload is rebuilt from the catalog as it is now (a new row_guid).
    with province.uow() as session:
        basic = session.scalars(
            select(OutboxRecord).where(OutboxRecord.topic.like("catalog.up_task_%_basic")).limit(1)
        ).one()
        session.execute(update(OutboxRecord).where(OutboxRecord.seq == basic.seq).values(status="rejected"))
        from zhengwu.exchange.models import ExchangeFeedback

        item = ExchangeFeedback(source="receipt", topic=basic.topic, table_name=basic.topic.split(".")[1],
                                     row_guid=basic.message_id, message_id=basic.message_id, outbox_seq=basic.seq,
                                     business_key=basic.key, error_code="test", reason="测试")  # fmt: skip
        session.add(item)
        session.flush()
        feedback_id = item.id
    with province.uow() as session:
        counts = service.resend_feedback(session, province.runtime.registry, feedback_id=feedback_id)
        assert counts == {"resent": 1, "resolved": 0, "skipped": 0}
        again = session.scalars(
            select(OutboxRecord)
            .where(OutboxRecord.topic == basic.topic)
            .order_by(OutboxRecord.seq.desc())
            .limit(1)
        ).one()
    assert again.message_id != basic.message_id and again.payload["task_code"] == basic.key


def test_user_rows_travel(joined: tuple[Node, Node]) -> None:
    from zhengwu.seed.accounts import seed_demo_accounts

    province, national = joined
    with province.uow() as session:
        seed_departments(session)
        seed_demo_accounts(session)
    relay = Relay(province.runtime, http_transport(province, national))
    while relay.run_once().batches:
        pass
    with national.uow() as session:
        verdicts = Counter(
            (table, status)
            for table, status in session.execute(select(ExchangeInbox.table_name, ExchangeInbox.status))
        )
    assert verdicts[("up_uc_province_user", "applied")] >= 1
    assert verdicts[("up_uc_corporator_identity", "applied")] >= 1
    assert not [k for k in verdicts if k[1] == "rejected"], verdicts
