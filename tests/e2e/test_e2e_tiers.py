"""Four real nodes over HTTP — county → city → province → national: a user registered and an item published
at the county reach the national node with their origin (county via city via province), the national
overview lists the nodes beneath the province, and a refusal at the national node comes back down to
the county's abnormal feedback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from nodekit import Node, database_urls, register_person, start_node
from zhengwu.seed import government_credit_code

pytestmark = [pytest.mark.e2e, pytest.mark.db, pytest.mark.slow]  # minutes: handed out first

PASSWORD = "Citizen-Passw0rd-2026"


def _cli(node: Node, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "zhengwu", *args], env=node.env, capture_output=True, text=True, check=False,
        timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, f"zhengwu {' '.join(args)}: {done.stdout[-1000:]} {done.stderr[-2000:]}"
    return done


def _join(lower: Node, upper: Node) -> None:
    assert "requested" in _cli(lower, "exchange", "join").stdout
    _cli(upper, "exchange", "nodes", "approve", lower.name)
    assert "joined" in _cli(lower, "exchange", "join").stdout


def _work(*nodes: Node) -> None:
    """One ``zhengwu worker --until-idle`` per node, bottom up."""
    for node in nodes:
        _cli(node, "worker", "--until-idle")


def _inbox(node: Node) -> list[Any]:
    from zhengwu.exchange.models import ExchangeInbox
    from zhengwu.kernel.db import make_engine
    from zhengwu.kernel.session import make_session_factory, unit_of_work

    engine = make_engine(node.env["ZHENGWU_DATABASE_URL"])
    with unit_of_work(make_session_factory(engine)) as session:
        rows = [
            (
                r.table_name,
                r.row_guid,
                r.sender,
                r.origin,
                r.origin_division,
                r.route,
                r.data_source,
                r.status,
            )
            for r in session.scalars(select(ExchangeInbox))
        ]
    engine.dispose()
    return rows


def _publish_item(county: Node) -> str:
    """A department of the county and one published implementation item; its task code."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "catalog"))  # catalog_kit's guides
    from catalog_kit import guide, make_basic
    from zhengwu.catalog import service as catalog
    from zhengwu.kernel.db import make_engine
    from zhengwu.kernel.session import make_session_factory, unit_of_work

    code = government_credit_code("130123", 41)
    _cli(
        county,
        "departments",
        "add",
        "--credit-code",
        code,
        "--name",
        "正定县行政审批局",
        "--division",
        "130123",
    )
    engine = make_engine(county.env["ZHENGWU_DATABASE_URL"])
    with unit_of_work(make_session_factory(engine)) as session:
        make_basic(session, "000132001000", "建筑施工特种作业人员操作资格认定", "01")
        item = catalog.create_task(session, guide(code, "000132001000"), actor="e2e")
        task_code = catalog.publish_task(session, item.task_code, actor="e2e").task_code
    engine.dispose()
    return task_code


def test_four_tiers_over_http(tmp_path: Path) -> None:
    urls = database_urls(tmp_path, ["national", "hebei", "sjz", "zhengding"])
    started: list[Node] = []
    try:
        national = start_node("national", "127.0.0.1", tmp_path, urls["national"], None, national=True)
        started.append(national)
        province = start_node("hebei", "127.0.0.1", tmp_path, urls["hebei"], national.url, national=False)
        started.append(province)
        city = start_node("sjz", "127.0.0.1", tmp_path, urls["sjz"], province.url, national=False, extra_env={
            "ZHENGWU_TIER": "city", "ZHENGWU_DIVISION_CODE": "130100",
            "ZHENGWU_NODE_NAME": "石家庄市政务服务平台（测试）"})  # fmt: skip
        started.append(city)
        county = start_node("zhengding", "127.0.0.1", tmp_path, urls["zhengding"], city.url, national=False,
                            extra_env={"ZHENGWU_TIER": "county", "ZHENGWU_DIVISION_CODE": "130123",
                                       "ZHENGWU_NODE_NAME": "正定县政务服务平台（测试）",
                                       "ZHENGWU_EXCHANGE__DATA_SOURCE": "413"})  # fmt: skip
        started.append(county)
        _join(province, national)
        _join(city, province)
        _join(county, city)

        register_person(county, 5151, "演示县民", PASSWORD)
        _publish_item(county)
        _work(county, city, province)

        at_national = _inbox(national)
        from_county = [r for r in at_national if r[3] == "zhengding"]
        tables = {r[0] for r in from_county}
        assert "up_uc_province_user" in tables and "up_task_general_basic" in tables, at_national
        assert {(r[2], r[4], r[5], r[6], r[7]) for r in from_county} == {
            ("hebei", "130123", "zhengding/sjz/hebei", "413", "applied")
        }
        # Each national-table row arrived once, under the county's own row_guid.
        guids = [r[1] for r in from_county if r[0].startswith("up_")]
        assert len(guids) == len(set(guids))
        # Every national-table row the city took from the county, and only those.
        at_city = [r for r in _inbox(city) if r[2] == "zhengding" and r[0].startswith("up_")]
        county_guids = {r[1] for r in at_city if r[7] == "applied"}
        assert set(guids) == county_guids, [r for r in at_city if r[1] not in guids]

        # The nodes' own status reports go all the way up too: the county's (queued by its first worker
        # round) reaches the national node through the city and the province. (Whether the city's and
        # province's own statuses went in the same rounds depends on when their housekeeping ran.)
        statuses = json.loads(_cli(national, "ops", "nodes", "--json").stdout)
        seen = {(n["node_id"], n["tier"], n["route"], n["via"]) for n in statuses}
        assert ("zhengding", "county", "zhengding/sjz/hebei", "hebei") in seen, statuses
        assert seen <= {
            ("hebei", "province", "hebei", None),
            ("sjz", "city", "sjz/hebei", "hebei"),
            ("zhengding", "county", "zhengding/sjz/hebei", "hebei"),
        }, statuses

        tree = httpx.get(f"{national.url}/api/v1/exchange/overview", timeout=10).json()
        (hebei,) = [n for n in tree["nodes"] if n["node_id"] == "hebei"]
        (sjz,) = [n for n in hebei["lower"] if n["node_id"] == "sjz"]
        (zhengding,) = [n for n in sjz["lower"] if n["node_id"] == "zhengding"]
        assert zhengding["division_code"] == "130123" and zhengding["tier"] == "county"
        assert {t["table"] for t in zhengding["tables"]} >= {"up_uc_province_user", "up_task_general_basic"}

        # The national node refuses the county's user row; the refusal travels back down to the county.
        (user_guid,) = [r[1] for r in from_county if r[0] == "up_uc_province_user"]
        assert (
            "refused=1"
            in _cli(national, "exchange", "refuse", user_guid, "--reason", "国家核查：用户信息不完整").stdout
        )
        _work(province, city, county)
        feedback = [
            json.loads(line) for line in _cli(county, "exchange", "feedback", "--json").stdout.splitlines()
        ]
        mine = [f for f in feedback if f["row_guid"] == user_guid]
        assert len(mine) == 1, feedback
        assert mine[0]["source"] == "upstream" and mine[0]["table"] == "up_uc_province_user"
        assert "国家核查" in mine[0]["reason"] and "national" in mine[0]["reason"]
    finally:
        for node in reversed(started):
            node.proc.terminate()
            try:
                node.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                node.proc.kill()
