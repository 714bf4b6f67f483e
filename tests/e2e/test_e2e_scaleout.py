"""Scale-out on one PostgreSQL: two ``serve`` processes and two ``worker`` processes of one province node
(real uvicorn processes), with a national node over HTTP above it.

* the per-address rate limit holds across both servers (the second server refuses what the first spent);
* a lockout earned by failures spread over both servers locks the account on both;
* with both workers running — one killed in the middle of its work — every outbox row reaches the
  national node and is applied there once (none missing; only the killed worker's batch in flight may be
  sent again, and the receiver's inbox applies it once), and every case webhook is delivered once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from licenses_kit import INSURANCE_FACE
from nodekit import Node, database_urls, eventually, free_port, register_person, staff_client, start_node

pytestmark = [pytest.mark.e2e, pytest.mark.db, pytest.mark.slow]  # minutes: handed out first

CITIZEN_PASSWORD = "Citizen-Passw0rd-2026"
CASES = 4


def _postgres() -> None:
    if not os.environ.get("ZHENGWU_TEST_DATABASE_URL", "").startswith("postgresql"):
        pytest.skip("scale-out runs on PostgreSQL (ZHENGWU_TEST_DATABASE_URL)")


def _another_server(node: Node, tmp: Path) -> tuple[Node, subprocess.Popen[bytes]]:
    """A second ``serve`` process of ``node`` (same database, same data directory, another port)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with (tmp / f"{node.name}-b.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "zhengwu", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=node.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def up() -> bool:
        try:
            return httpx.get(f"{url}/.well-known/openid-configuration", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    if not eventually(up, 60):
        proc.kill()
        raise RuntimeError((tmp / f"{node.name}-b.log").read_text()[-2000:])
    return replace(node, url=url, proc=proc), proc


def _worker(node: Node, tmp: Path, n: int) -> subprocess.Popen[bytes]:
    with (tmp / f"worker-{n}.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "zhengwu", "worker"], env=node.env, stdout=log, stderr=subprocess.STDOUT
        )


def _count(url: str, query: Any) -> Any:
    from zhengwu.kernel.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(query).all()
    finally:
        engine.dispose()


def test_two_servers_and_two_workers_share_one_postgresql(tmp_path: Path) -> None:
    _postgres()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "catalog"))
    from test_e2e_case_webhooks import _Inbox, _receiver
    from test_e2e_cases import _cli, _seed

    from zhengwu.cases.webhooks.models import WebhookDelivery
    from zhengwu.exchange.models import ExchangeTopicStats
    from zhengwu.kernel.events import OutboxRecord

    inbox = _Inbox()
    receiver, hook_url = _receiver(inbox)
    urls = database_urls(tmp_path, ["national", "hebei"])
    national = start_node("national", "127.0.0.1", tmp_path, urls["national"], None, national=True)
    processes: list[subprocess.Popen[bytes]] = [national.proc]
    try:
        limits = {
            "ZHENGWU_SECURITY__PUBLIC_RATE_PER_MINUTE": "1",  # a burst of one per address, then 1/min
            "ZHENGWU_EXCHANGE__LEASE_SECONDS": "3",  # a killed worker's scope is taken over soon
            "ZHENGWU_EXCHANGE__BATCH_SIZE": "2",  # many batches: both workers get to relay
        }
        a = start_node(
            "hebei", "127.0.0.1", tmp_path, urls["hebei"], national.url, national=False, extra_env=limits
        )
        processes.append(a.proc)
        b, b_proc = _another_server(a, tmp_path)
        processes.append(b_proc)

        # Rate limits: what one server spent, the other refuses.
        probe = {"identifier": "1.2.156.3005.2.11100000000013338W011.11430000006122244L.PROBE0000.001.L",
                 "holder_code": "PROBE00000"}  # fmt: skip
        assert httpx.post(f"{a.url}/api/v1/licenses/verify", json=probe).status_code == 200
        refused = httpx.post(f"{b.url}/api/v1/licenses/verify", json=probe)
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1

        # Lockouts: failures on both servers add up; the account is locked on both.
        number, _ = register_person(a, 5100, "演示用户", CITIZEN_PASSWORD)
        wrong = {"identifier": number, "password": "Wrong-Passw0rd-2026"}
        answers = [
            httpx.post(f"{(a, b)[i % 2].url}/api/v1/identity/login", json=wrong).status_code for i in range(5)
        ]
        assert answers[:4] == [401, 401, 401, 401] and answers[4] == 423, answers
        right = {"identifier": number, "password": CITIZEN_PASSWORD}
        assert httpx.post(f"{a.url}/api/v1/identity/login", json=right).status_code == 423
        assert httpx.post(f"{b.url}/api/v1/identity/login", json=right).status_code == 423

        # Join the national node, then make outbox rows and webhooks through both servers.
        assert "requested" in _cli(a, "exchange", "join").stdout
        _cli(national, "exchange", "nodes", "approve", "hebei")
        assert "joined" in _cli(a, "exchange", "join").stdout
        department, task_code = _seed(a)
        made = json.loads(_cli(a, "identity", "clients", "create", "--name", "住建厅审批系统",
                               "--grant", "client_credentials", "--scope", "cases.handle",
                               "--department", department, "--json").stdout)  # fmt: skip
        inbox.secret = json.loads(
            _cli(a, "webhooks", "register", made["client_id"], "--url", hook_url, "--json").stdout
        )["secret"]
        clerk = staff_client(a, "case.clerk", "Clerk-Passw0rd-2026")
        types = {t["name"]: t["code"] for t in httpx.get(f"{a.url}/api/v1/licenses/types").json()}
        guide = httpx.get(f"{b.url}/api/v1/catalog/items/{task_code}").json()
        ids = {m["material_name"]: m["row_guid"] for m in guide["materials"]}
        cases = []
        for i in range(CASES):
            server = (a, b)[i % 2]
            citizen_no, _ = register_person(server, 5200 + i, "演示用户", CITIZEN_PASSWORD)
            held = clerk.post("/api/v1/licenses", json={
                "type_code": types["社会保险参保证明"], "department_credit_code": department,
                "holder_code": citizen_no, "holder_name": "演示用户", "face": INSURANCE_FACE})  # fmt: skip
            assert held.status_code == 201, held.text
            with httpx.Client(base_url=server.url) as citizen:
                login = {"identifier": citizen_no, "password": CITIZEN_PASSWORD}
                assert citizen.post("/api/v1/identity/login", json=login).status_code == 200
                stored = citizen.post("/api/v1/cases/uploads", content=b"%PDF-1.7 form",
                                      headers={"Content-Type": "application/pdf"})  # fmt: skip
                body = {"task_code": task_code, "form": {}, "materials": [
                    {"material_id": ids["社会保险参保证明"], "license_id": held.json()["id"]},
                    {"material_id": ids["申请表"], "file_sm3": stored.json()["file_sm3"]}]}  # fmt: skip
                applied = citizen.post("/api/v1/cases", json=body)
                assert applied.status_code == 201, applied.text
                cases.append(applied.json()["case_no"])
        clerk.close()
        total = _count(urls["hebei"], select(func.count()).select_from(OutboxRecord))[0][0]
        assert total > 10  # enough rows for several batches

        # Two workers; the first is killed once the relay has begun (no clean release of its lease).
        first = _worker(a, tmp_path, 1)
        second = _worker(a, tmp_path, 2)
        processes += [first, second]

        def relayed(n: int) -> bool:
            rows = _count(urls["hebei"], select(func.count()).where(OutboxRecord.status != "pending"))
            return bool(rows[0][0] >= n)

        assert eventually(lambda: relayed(1), 120)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)

        def settled() -> bool:
            by_status = dict(
                _count(urls["hebei"], select(OutboxRecord.status, func.count()).group_by(OutboxRecord.status))
            )
            hooks = dict(
                _count(
                    urls["hebei"],
                    select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status),
                )
            )
            return set(by_status) <= {"acknowledged", "rejected"} and hooks == {"delivered": CASES}

        assert eventually(settled, 240), (tmp_path / "worker-2.log").read_text()[-3000:]
        second.terminate()  # stopped after its current batch
        second.wait(timeout=60)
        # Rows the workers' housekeeping queued late (status report, audit heads) are drained once more;
        # a row the killed or the stopped worker had sent would come out here as a duplicate.
        _cli(a, "worker", "--until-idle")
        by_status = dict(
            _count(urls["hebei"], select(OutboxRecord.status, func.count()).group_by(OutboxRecord.status))
        )
        received, applied, duplicates = _count(
            urls["national"],
            select(
                func.sum(ExchangeTopicStats.received),
                func.sum(ExchangeTopicStats.applied),
                func.sum(ExchangeTopicStats.duplicates),
            ).where(ExchangeTopicStats.sender == "hebei"),
        )[0]
        # The workers queue rows of their own too (status report, audit heads): every row arrives, and is
        # applied once. Only the batch the killed worker had in flight may be sent again (at most one
        # batch): the receiver recognises it by message id and applies nothing twice.
        assert received == applied == sum(by_status.values()) >= total, (received, applied, by_status, total)
        assert set(by_status) == {"acknowledged"}
        assert duplicates <= 2, f"more than the killed worker's batch was sent twice: {duplicates}"
        ids_seen = [m[0] for m in inbox.messages]
        assert len(ids_seen) == len(set(ids_seen)) == CASES and inbox.refused == 0
        assert sorted(m[2]["data"]["case_no"] for m in inbox.messages) == sorted(cases)
    finally:
        for proc in reversed(processes):
            if proc.poll() is None:
                proc.terminate()
        for proc in processes:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        receiver.shutdown()
        receiver.server_close()
