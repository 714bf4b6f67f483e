"""Concurrent logins against a real node on SQLite: no "database is locked", an unbroken audit chain."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from dbkit import migrate_fresh
from zhengwu.identity import service
from zhengwu.identity.audit import verify_chain
from zhengwu.identity.wiring import configure
from zhengwu.kernel.config import Settings
from zhengwu.kernel.session import unit_of_work
from zhengwu.main import build_node
from zhengwu.seed.synthetic import nth_citizen_id, nth_phone

PASSWORD = "Demo-Passw0rd"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.e2e
def test_concurrent_logins_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{(tmp_path / 'node.db').as_posix()}"
    migrate_fresh(url)
    settings = Settings(data_dir=tmp_path, database_url=url)
    node = build_node(settings)
    configure(node)
    engine, factory = node.engine, node.session_factory
    with unit_of_work(factory) as db:
        for n in range(8):
            service.register_natural_person(
                db, name="演示用户", id_number=nth_citizen_id(n), phone=nth_phone(n), password=PASSWORD
            )
    port = _free_port()
    env = dict(
        os.environ,
        ZHENGWU_DATABASE_URL=url,
        ZHENGWU_DATA_DIR=str(tmp_path),
        ZHENGWU_LOG_LEVEL="WARNING",
        ZHENGWU_PUBLIC_URL=f"http://127.0.0.1:{port}",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "zhengwu", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    statuses: list[int] = []
    lock = threading.Lock()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/_status", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "node did not start"
            time.sleep(0.3)

        def worker(k: int) -> None:
            with httpx.Client(base_url=base, timeout=60) as client:
                for i in range(6):
                    # Every third attempt is wrong: failures write counters and audit rows too.
                    password = PASSWORD if i % 3 else "Wrong-Passw0rd"
                    response = client.post(
                        "/api/v1/identity/login",
                        json={"identifier": nth_phone((k + i) % 8), "password": password},
                    )
                    with lock:
                        statuses.append(response.status_code)
                    client.cookies.clear()

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert len(statuses) == 36
    assert sorted(set(statuses)) == [200, 401], statuses
    assert statuses.count(401) == 12
    with unit_of_work(factory) as db:
        verdict = verify_chain(db)
    engine.dispose()
    assert verdict.ok and verdict.checked >= 8 + 36 + 24
