"""`zhengwu demo` brings up a province node and a national node that both answer /_status, and the
province's catalog and users reach the national node over signed HTTP or through the 前置库."""

from __future__ import annotations

import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # a minute each on two cores: handed out first


def _free_pair() -> int:
    for _ in range(50):
        base = random.randint(20000, 40000)
        ok = True
        for port in (base, base + 1, base + 2):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
        if ok:
            return base
    raise RuntimeError("no free port pair")


def test_demo_serves_both_nodes_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    base = _free_pair()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHENGWU_")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "zhengwu",
            "demo",
            "--base-port",
            str(base),
            "--data-dir",
            str(tmp_path / "var"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        statuses = {}
        # Both nodes migrate and seed the full demo first (catalog, seals, accounts) before serving.
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and len(statuses) < 2:
            for port in (base, base + 1):
                try:
                    r = httpx.get(f"http://127.0.0.1:{port}/_status", timeout=2)
                    if r.status_code == 200:
                        statuses[port] = r.json()
                except httpx.HTTPError:
                    pass
            time.sleep(0.5)
        assert len(statuses) == 2, "both nodes must answer /_status"
        assert statuses[base]["tier"] == "province" and statuses[base]["division_code"] == "130000"
        assert statuses[base]["upstream_url"] == f"http://localhost:{base + 1}"
        assert statuses[base + 1]["tier"] == "national" and statuses[base + 1]["division_code"] == "000000"
        assert statuses[base + 1]["status"] == "ok", statuses[base + 1]  # its PKI is initialised too
        assert statuses[base]["migration_revision"] == statuses[base + 1]["migration_revision"] is not None
        departments = httpx.get(
            f"http://127.0.0.1:{base}/api/v1/orgs/departments", params={"limit": 1}
        ).headers
        assert int(departments["x-total-count"]) >= 55
        assert (tmp_path / "var" / "hebei" / "zhengwu.db").exists()
        # The demo wires the tiers: the province joined the national exchange and its worker reports
        # the catalog upward; the province login page offers trust transfer from the national node.
        received = 0
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and received == 0:
            overview = httpx.get(f"http://127.0.0.1:{base + 1}/api/v1/exchange/overview", timeout=5).json()
            nodes = {n["node_id"]: n for n in overview["nodes"]}
            if nodes.get("hebei", {}).get("status") == "approved":
                received = sum(t["applied"] for t in nodes["hebei"]["topics"])
            time.sleep(1)
        assert received > 0, "province records must reach the national node"
        login = httpx.get(f"http://127.0.0.1:{base}/identity/login", timeout=5)
        assert login.status_code == 200 and "使用国家政务服务平台账号登录" in login.text
        # The reference department system runs beside the province, registered with it.
        system = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and system is None:
            try:
                system = httpx.get(f"http://127.0.0.1:{base + 2}/", timeout=2)
            except httpx.HTTPError:
                time.sleep(0.5)
        assert system is not None and system.status_code == 200
        assert (
            "石家庄市行政审批局审批系统（演示）" in system.text and "使用政务服务平台账号登录" in system.text
        )
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    for port in (base, base + 1, base + 2):
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/_status", timeout=1)
    assert proc.returncode == 0, out.decode(errors="replace")[-2000:]


def _wait_status(base: int, timeout: float = 300) -> dict[int, dict[str, object]]:
    statuses: dict[int, dict[str, object]] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(statuses) < 2:
        for port in (base, base + 1):
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/_status", timeout=2)
                if r.status_code == 200:
                    statuses[port] = r.json()
            except httpx.HTTPError:
                pass
        time.sleep(0.5)
    return statuses


def _applied_from_hebei(base: int, timeout: float = 120) -> dict[str, int]:
    """Applied rows per national table received from sender hebei, once any arrived."""
    applied: dict[str, int] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not any(applied.values()):
        overview = httpx.get(f"http://127.0.0.1:{base + 1}/api/v1/exchange/overview", timeout=5).json()
        nodes = {n["node_id"]: n for n in overview["nodes"]}
        applied = {t["table"]: t["applied"] for t in nodes.get("hebei", {}).get("topics", [])}
        time.sleep(1)
    return applied


def _count_rows(db: Path, sql: str) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return int(conn.execute(sql).fetchone()[0])


def test_demo_frontdb_transport_reports_through_the_front_end_database(tmp_path: Path) -> None:
    base = _free_pair()
    data = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHENGWU_")}
    command = [sys.executable, "-m", "zhengwu", "demo", "--transport", "frontdb"]
    command += ["--base-port", str(base), "--data-dir", str(data)]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        statuses = _wait_status(base)
        assert len(statuses) == 2, "both nodes must answer /_status"
        # Catalog items and user accounts arrive; the province worker has no HTTP transport in this mode.
        applied = _applied_from_hebei(base)
        assert applied.get("up_task_directory", 0) > 0, applied
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not applied.get("up_uc_province_user"):
            time.sleep(1)
            applied = _applied_from_hebei(base)
        assert applied.get("up_uc_province_user", 0) > 0, applied
        # The rows went through the shared 前置库: written there by the province, ingested from there.
        frontdb = data / "frontdb.db"
        assert _count_rows(frontdb, "SELECT count(*) FROM up_task_directory") > 0
        assert _count_rows(frontdb, "SELECT count(*) FROM up_uc_province_user") > 0
        national_db = data / "national" / "zhengwu.db"
        inbox = "SELECT count(*) FROM exchange_inbox WHERE sender = 'hebei'"
        via_frontdb = _count_rows(national_db, f"{inbox} AND batch_id LIKE 'frontdb:%'")
        assert via_frontdb > 0 and via_frontdb == _count_rows(national_db, inbox)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    text = out.decode(errors="replace")
    for port in (base, base + 1):
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/_status", timeout=1)
    assert proc.returncode == 0, text[-2000:]
    assert "transport: 前置库 frontdb" in text
