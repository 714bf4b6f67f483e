"""Downward data over signed HTTP: the upper node publishes dn_* topics into a feed; the lower node pulls
it in order, verifies it and takes each row once."""

from __future__ import annotations

from typing import Any

import pytest
from exchange_nodes import Node, http_transport
from sqlalchemy import func, select

from zhengwu.exchange import downward
from zhengwu.exchange.models import ExchangeAggregate, ExchangeDownward, ExchangeInbox
from zhengwu.exchange.relay import Relay
from zhengwu.kernel.codes import make_task_code
from zhengwu.kernel.codes.uscc import complete_uscc, org_check_digit
from zhengwu.kernel.events import OutboxRecord, emit

pytestmark = pytest.mark.db


def basic(i: int) -> dict[str, Any]:
    dept = complete_uscc("11100000MB000901" + org_check_digit("MB000901"))
    code = f"0001101100{i:02d}"
    return {"task_code": make_task_code(dept, 1, code), "catalog_code": code, "task_name": f"演示下发事项{i}",
            "task_type": "01", "task_state": "1", "task_version": 1, "use_level": "1", "by_law": "法",
            "dept_code": dept, "dept_name": "演示部", "dept_type": "1", "handle_flow": "流程", "link_way": "电话",
            "supervise_way": "电话", "accept_condition": "无", "app_is_single_login": "0", "is_fee": "0",
            "is_single_login": "0", "limit_scene_num": 0, "project_type": "1", "server_type": "1",
            "special_procedure": "无", "transact_addr": "地址", "transact_time": "工作日", "anticipate_day": 20,
            "anticipate_type": "1", "power_source": "1", "promise_day": 10, "promise_type": 1}  # fmt: skip


def test_feed_published_and_pulled(joined: tuple[Node, Node]) -> None:
    province, national = joined
    with national.uow() as session:
        for i in range(3):
            emit(session, "catalog.dn_task_general_basic", basic(i), key=f"k{i}")
    assert downward.publish(national.runtime) == 3
    assert downward.publish(national.runtime) == 0
    with national.uow() as session:
        assert session.scalar(select(func.count()).select_from(ExchangeDownward)) == 3
        assert {s for (s,) in session.execute(select(OutboxRecord.status))} == {"acknowledged"}

    # A province's relay never sends downward topics upward.
    with province.uow() as session:
        emit(session, "catalog.dn_task_general_basic", basic(9), key="up?")
    assert Relay(province.runtime, http_transport(province, national)).due_topics() == []

    stats = downward.pull(province.runtime, national.client)
    assert (stats.rows, stats.applied) == (3, 3)
    assert downward.pull(province.runtime, national.client).rows == 0  # from its watermark on
    with national.uow() as session:
        emit(session, "catalog.dn_task_general_basic", {**basic(1), "task_name": "改名后的事项"}, key="k1",
             operation="U")  # fmt: skip
    downward.publish(national.runtime)
    assert downward.pull(province.runtime, national.client).rows == 1
    with province.uow() as session:
        rows = {a.business_key: a for a in session.scalars(select(ExchangeAggregate))}
        assert len(rows) == 3 and {a.sender for a in rows.values()} == {"upstream"}
        assert rows[basic(1)["task_code"]].payload["task_name"] == "改名后的事项"
        assert session.scalar(select(func.count()).select_from(ExchangeInbox)) == 4
