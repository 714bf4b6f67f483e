"""A case handled on the province node (its API over an ASGI client) reaches the national node: the
``up_pro_accept``, ``up_pro_material``, ``up_pro_process`` and ``up_pro_result`` rows pass the national
column checks and are applied, the result carrying the license number and the evaluation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

from cases_kit import WORKER_FACE, WORKER_TYPE, Casework
from dbkit import migrated_database, rolled_back
from zhengwu.kernel.db import make_engine


@pytest.fixture(scope="module")
def national_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from migrated_database(tmp_path_factory, "cases_national")


@pytest.fixture
def national_connection(national_url: str) -> Iterator[Connection]:
    engine = make_engine(national_url)
    yield from rolled_back(engine)
    engine.dispose()


@pytest.fixture
def nodes(
    tmp_path: Path, database_url: str, national_url: str, session_factory: sessionmaker[Session],
    national_connection: Connection,
) -> Iterator[tuple[Any, Any]]:  # fmt: skip
    from exchange_nodes import join_nodes, make_node, node_settings

    national_factory = sessionmaker(
        bind=national_connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    national = make_node(node_settings(tmp_path, national_url, national=True), national_factory)
    province = make_node(node_settings(tmp_path, database_url, national=False), session_factory)
    join_nodes(province, national)
    yield province, national
    province.client.close()
    national.client.close()


def _login(client: Any, token: str) -> None:
    client.cookies.clear()
    client.cookies.set("zw_session", token)


def test_case_records_are_applied_at_the_national_node(nodes: tuple[Any, Any], casework: Casework) -> None:
    from exchange_nodes import http_transport

    from zhengwu.exchange.models import ExchangeAggregate, ExchangeInbox
    from zhengwu.exchange.relay import Relay

    province, national = nodes
    client, work = province.client, casework
    _login(client, work.citizen_token)
    made = client.post("/api/v1/cases", json=work.body())
    assert made.status_code == 201, made.text
    case_no = made.json()["case_no"]
    _login(client, work.handler_token)
    act = f"/api/v1/cases/{case_no}/actions"
    for body in (
        {"action": "accept", "opinion": "予以受理"},
        {"action": "start_special", "special_kind": "hearing", "opinion": "组织听证"},
        {"action": "end_special", "opinion": "听证结束"},
        {"action": "conclude", "outcome": "approved", "result_kind": "license", "opinion": "准予许可",
         "license_type_code": work.env.type_code(WORKER_TYPE), "license_face": WORKER_FACE},
    ):  # fmt: skip
        done = client.post(act, json=body)
        assert done.status_code == 200, done.text
    _login(client, work.citizen_token)
    assert client.post(f"/api/v1/cases/{case_no}/evaluation", json={"channel": "1", "satisfaction": 4}).status_code == 201  # fmt: skip
    work.session.commit()  # the fixture's session: its writes join the province's rolled-back transaction

    # Every row is within the stricter reading of the national DDL (docs/national-tables.md).
    from zhengwu.exchange import national as tables
    from zhengwu.kernel.events import OutboxRecord

    with province.uow() as session:
        sent = list(session.scalars(select(OutboxRecord).where(OutboxRecord.topic.like("cases.%"))))
    too_wide = [
        (r.topic, e.column, e.code)
        for r in sent
        if (spec := tables.table(r.topic.split(".", 1)[1])) is not None
        for e in tables.check_send(spec, r.payload) + tables.unknown_columns(spec, r.payload)
    ]
    assert len(sent) >= 5 and too_wide == []
    relay = Relay(province.runtime, http_transport(province, national))
    while relay.run_once().acknowledged:
        pass
    with national.uow() as session:
        inbox = list(session.scalars(select(ExchangeInbox).where(ExchangeInbox.table_name.like("up_pro_%"))))
        refused = {(r.table_name, r.reason) for r in inbox if r.status != "applied"}
        assert refused == set()
        tables = sorted({r.table_name for r in inbox})
        assert tables == [
            "up_pro_accept", "up_pro_material", "up_pro_process", "up_pro_result", "up_pro_special_procedure"
        ]  # fmt: skip
        result = session.scalar(
            select(ExchangeAggregate).where(
                ExchangeAggregate.table_name == "up_pro_result", ExchangeAggregate.business_key == case_no
            )
        )
        assert result is not None
        assert result.payload["result_cetr_no"] == WORKER_FACE["certificate_no"]
        assert result.payload["satisfaction"] == "4"
        special = session.scalar(
            select(ExchangeAggregate).where(ExchangeAggregate.table_name == "up_pro_special_procedure")
        )
        assert special is not None and special.payload["special_name"] == "听证"
        assert special.payload["special_reason"] == "组织听证" and special.payload["result"] == "听证结束"
