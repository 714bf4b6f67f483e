"""Two real nodes over HTTP: join, province → national delivery with receipts, a refused row coming back
as abnormal feedback, store and forward while the national node is down, and an intact exchange log."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from clikit import run_in
from dbkit import migrate_fresh
from waf_kit import behind_the_waf  # noqa: F401 - fixture
from zhengwu.exchange import service
from zhengwu.identity.oidc import service as oidc_service
from zhengwu.identity.oidc.schemas import ClientCreate
from zhengwu.identity.oidc.secrets import NodeKeys
from zhengwu.kernel.config import Settings
from zhengwu.kernel.db import make_engine
from zhengwu.kernel.events import emit
from zhengwu.kernel.session import make_session_factory, unit_of_work
from zhengwu.seed import registries as registry_seed

# Through nginx + ModSecurity + CRS wherever they are installed (tests/waf_kit.py): no false positive.
pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("behind_the_waf")]

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def node_env(root: Path, name: str, port: int, upstream: int | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHENGWU_")}
    env.update(
        {
            "ZHENGWU_DATA_DIR": str(root / name),
            "ZHENGWU_DATABASE_URL": f"sqlite:///{(root / name / 'zhengwu.db').as_posix()}",
            "ZHENGWU_TIER": "province" if upstream else "national",
            "ZHENGWU_DIVISION_CODE": "130000" if upstream else "000000",
            "ZHENGWU_NODE_ID": name,
            "ZHENGWU_NODE_NAME": "河北省（端到端测试）" if upstream else "国家（端到端测试）",
            "ZHENGWU_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "ZHENGWU_LOG_LEVEL": "INFO",
            "ZHENGWU_EXCHANGE__RETRY_BASE_SECONDS": "0.2",
            "ZHENGWU_EXCHANGE__RETRY_MAX_SECONDS": "0.5",
            "ZHENGWU_EXCHANGE__POLL_SECONDS": "0.2",
            "ZHENGWU_EXCHANGE__REQUEST_TIMEOUT_SECONDS": "5",
        }
    )
    if upstream:
        env["ZHENGWU_UPSTREAM_URL"] = f"http://127.0.0.1:{upstream}"
    (root / name).mkdir(parents=True, exist_ok=True)
    return env


def settings_for(env: dict[str, str]) -> Settings:
    """The settings a node process derives from its environment."""
    values = {
        k[len("ZHENGWU_") :].lower(): v for k, v in env.items() if k.startswith("ZHENGWU_") and "__" not in k
    }
    exchange = {k.split("__", 1)[1].lower(): v for k, v in env.items() if k.startswith("ZHENGWU_EXCHANGE__")}
    return Settings(**values, exchange=exchange)


def relay_until_idle(env: dict[str, str]) -> None:
    """The province's worker loop (in this process; the national node is a real server)."""
    from zhengwu.commands.node import open_node
    from zhengwu.exchange.servicekeys import RUNTIME
    from zhengwu.worker import run

    # The worker's own composition: the node's runtime, whose sessions carry the node (identity's keys).
    with open_node(settings_for(env)) as node:
        run(node.services.provide(RUNTIME), until_idle=True)


def cli(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``zhengwu <args>`` in this process with the node's environment (the nodes stay real servers)."""
    result = run_in(env, *args)
    if check and result.returncode != 0:
        raise AssertionError(f"zhengwu {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


class Server:
    def __init__(self, env: dict[str, str], port: int) -> None:
        self.env, self.port = env, port
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "zhengwu", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 90  # a start-up deadline, not a measure: a loaded CI host is slow
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/_status", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("node did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[tuple[dict[str, str], Server, dict[str, str], Server]]:
    nport, pport = free_port(), free_port()
    # ZHENGWU_TEST_WAF=1 (tests/security_waf): the province reaches the national node through nginx +
    # ModSecurity, so joins, signed batches and receipts cross the WAF.
    waf_port = free_port() if os.environ.get("ZHENGWU_TEST_WAF") == "1" else None
    nenv = node_env(tmp_path, "national", nport, None)
    penv = node_env(tmp_path, "hebei", pport, waf_port or nport)
    for env in (nenv, penv):
        migrate_fresh(env["ZHENGWU_DATABASE_URL"])
    national, province = Server(nenv, nport), Server(penv, pport)
    national.start()
    if waf_port is not None:
        from waf_kit import front

        front(tmp_path / "national-nginx", "127.0.0.1", waf_port, nport)
    province.start()
    try:
        yield nenv, national, penv, province
    finally:
        province.stop()
        national.stop()


def emit_rows(env: dict[str, str], rows: list[dict[str, Any]]) -> None:
    engine = make_engine(env["ZHENGWU_DATABASE_URL"])
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            for row in rows:
                emit(session, "e2e.up_pro_result", row, key=row["project_no"])
    finally:
        engine.dispose()


def result_row(i: int, **over: Any) -> dict[str, Any]:
    row = {
        "project_no": f"E2E{i:08d}",
        "result_type": "0",
        "result_date": "20241201103000",
        "is_delivery_results": "0",
    }
    row.update(over)
    return row


def topic_status(env: dict[str, str]) -> dict[str, Any]:
    """The province's outbox counts for the e2e topic, read from its database."""
    engine = make_engine(env["ZHENGWU_DATABASE_URL"])
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            topics = {t["topic"]: t for t in service.outbox_status(session)}
    finally:
        engine.dispose()
    return topics["e2e.up_pro_result"]


def test_two_nodes_over_http(nodes: tuple[dict[str, str], Server, dict[str, str], Server]) -> None:
    nenv, national, penv, province = nodes
    # Joining: request, approve on the national node, install.
    assert "requested" in cli(penv, "exchange", "join").stdout
    cli(nenv, "exchange", "nodes", "approve", "hebei")
    assert "joined" in cli(penv, "exchange", "join").stdout

    # Delivery with receipts; one row lacks a NOT NULL column: the relay holds it back (the national send
    # rule, checked before signing) and refuses it with its reason, so the national node never sees it.
    emit_rows(penv, [result_row(i) for i in range(40)] + [result_row(99, result_type=None)])
    relay_until_idle(penv)
    topic = topic_status(penv)
    assert (topic["acknowledged"], topic["rejected"], topic["pending"]) == (40, 1, 0)
    feedback = [json.loads(line) for line in cli(penv, "exchange", "feedback", "--json").stdout.splitlines()]
    assert (
        len(feedback) == 1 and feedback[0]["key"] == "E2E00000099" and "result_type" in feedback[0]["reason"]
    )

    overview = httpx.get(f"{national.url}/api/v1/exchange/overview", timeout=5).json()
    (hebei,) = [n for n in overview["nodes"] if n["node_id"] == "hebei"]
    # The worker also reports the node's status (ops.node_status): look at the e2e topic only.
    (stats,) = [t for t in hebei["topics"] if t["topic"] == "e2e.up_pro_result"]
    assert (stats["received"], stats["applied"], stats["rejected"]) == (40, 40, 0)
    page = httpx.get(f"{national.url}/exchange/overview", timeout=5).text
    assert "河北省（端到端测试）" in page and "e2e.up_pro_result" in page

    # Store and forward: the national node is down, the province keeps queueing, then drains in order.
    national.stop()
    emit_rows(penv, [result_row(100 + i) for i in range(30)])
    relay_until_idle(penv)
    topic = topic_status(penv)
    assert topic["pending"] == 30 and topic["lag_seconds"] > 0 and topic["dead"] == 0
    national.start()
    time.sleep(0.6)  # the backoff (at most 0.5 s here) expires
    relay_until_idle(penv)
    topic = topic_status(penv)
    assert (topic["acknowledged"], topic["pending"]) == (70, 0)
    overview = httpx.get(f"{national.url}/api/v1/exchange/overview", timeout=5).json()
    (hebei,) = [n for n in overview["nodes"] if n["node_id"] == "hebei"]
    (stats,) = [t for t in hebei["topics"] if t["topic"] == "e2e.up_pro_result"]
    assert stats["applied"] == 70 and stats["duplicates"] == 0

    # Verification across the two nodes: a province client asks; the province asks the national registry.
    engine = make_engine(nenv["ZHENGWU_DATABASE_URL"])
    with unit_of_work(make_session_factory(engine)) as session:
        registry_seed.seed_registries(session, settings_for(nenv), people_count=10, companies_count=1)
    engine.dispose()
    engine = make_engine(penv["ZHENGWU_DATABASE_URL"])
    with unit_of_work(make_session_factory(engine)) as session:
        client, secret = oidc_service.create_client(
            session,
            NodeKeys(settings_for(penv).security.secret_key.get_secret_value()),
            ClientCreate(name="e2e 核验", grant_types=["client_credentials"], scope="verify:person"),
            actor="e2e",
            allow_http=True,
        )
    engine.dispose()
    token = httpx.post(
        f"{province.url}/oidc/token",
        data={"grant_type": "client_credentials", "scope": "verify:person"},
        auth=(client.client_id, secret or ""),
        timeout=10,
    ).json()["access_token"]
    person = registry_seed.people(10)[3]
    answer = httpx.post(
        f"{province.url}/api/v1/verify/person",
        json={"name": person.name, "id_number": person.id_number},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert answer.status_code == 200 and answer.json()["match"] is True, answer.text
    assert person.id_number not in answer.text

    # Both exchange logs are intact hash chains.
    for env in (penv, nenv):
        engine = make_engine(env["ZHENGWU_DATABASE_URL"])
        with unit_of_work(make_session_factory(engine)) as session:
            verdict = service.verify_log(session)
        engine.dispose()
        assert verdict.ok and verdict.entries >= 4, verdict.problems
