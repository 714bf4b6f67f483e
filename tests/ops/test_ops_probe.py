"""The synthetic journey probe against a real HTTP node (``python -m zhengwu serve``): the command reports
each step, the worker records a run that /metrics and /_status show; a node that is down or a step that
answers wrongly fails the journey."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session

from nodekit import database_urls, free_port, start_node
from zhengwu.kernel.db import make_engine
from zhengwu.ops import probe

pytestmark = pytest.mark.e2e


def _publish_an_item(db_url: str) -> str:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "catalog"))
    from catalog_kit import make_basic, make_department, published_task

    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            dept = make_department(session, "130000", "河北省公安厅", 1)
            make_basic(session)
            task = published_task(session, dept)
            session.commit()
            return task.task_code
    finally:
        engine.dispose()


#: What this test allows each HTTP answer. The first search of a fresh node loads the word segmenter (1.7 s
#: on an idle machine); under the test pass's load that came near the probe's default 10 s and a step
#: failed by its clock, not by its answer. What is checked of each answer stays the same.
PATIENT = 60.0


def test_the_probe_walks_a_running_node_and_the_worker_records_it(tmp_path: Path) -> None:
    urls = database_urls(tmp_path, ["probed"])
    node = start_node("probed", "127.0.0.1", tmp_path, urls["probed"], None, national=False)
    env = {**node.env, "ZHENGWU_OPS__PROBE_TIMEOUT_SECONDS": str(PATIENT)}
    try:
        task_code = _publish_an_item(urls["probed"])
        done = subprocess.run(
            [sys.executable, "-m", "zhengwu", "ops", "probe", "--url", node.url, "--query", "护照", "--json"],
            env=env, capture_output=True, text=True, check=False, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        result = json.loads(done.stdout.strip().splitlines()[-1])
        assert result["ok"] is True
        steps = {s["name"]: s for s in result["steps"]}
        assert list(steps) == ["home", "search", "guide", "verify"]
        assert all(s["ok"] and s["status"] == 200 and s["seconds"] >= 0 for s in steps.values())
        assert steps["guide"]["detail"] == ""  # the search found the item and its guide answered
        assert httpx.get(f"{node.url}/items/{task_code}", timeout=PATIENT).status_code == 200

        status = httpx.get(f"{node.url}/_status", timeout=PATIENT).json()
        assert status["probe"] is None
        worker = subprocess.run(
            [sys.executable, "-m", "zhengwu", "worker", "--until-idle"],
            env={**env, "ZHENGWU_OPS__PROBE_MINUTES": "5", "ZHENGWU_OPS__PROBE_QUERY": "护照"},
            capture_output=True, text=True, check=False, timeout=300,
        )  # fmt: skip
        assert worker.returncode == 0, worker.stderr[-2000:]
        status = httpx.get(f"{node.url}/_status", timeout=PATIENT).json()
        assert status["probe"]["ok"] is True, status["probe"]
        assert set(status["probe"]["steps"]) == {"home", "search", "guide", "verify"}
        metrics = httpx.get(f"{node.url}/metrics", timeout=PATIENT).text
        assert re.search(r"^zhengwu_probe_ok 1\.0$", metrics, re.MULTILINE)
        assert re.search(r'^zhengwu_probe_step_seconds\{step="guide"\} ', metrics, re.MULTILINE)
        assert re.search(r"^zhengwu_workers_alive 1\.0$", metrics, re.MULTILINE)  # its heartbeat
    finally:
        node.proc.terminate()
        node.proc.wait(timeout=30)


def test_a_node_that_does_not_answer_fails_the_journey(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = probe.run(url, timeout=2)
    assert result.ok is False
    details = {s.name: s.detail for s in result.steps}
    assert not any(s.ok for s in result.steps) and details["guide"] == "搜索失败"
    assert all(details[name].startswith("连接失败") for name in ("home", "search", "verify"))
    done = subprocess.run(
        [sys.executable, "-m", "zhengwu", "ops", "probe", "--url", url],
        env={**{k: v for k, v in os.environ.items() if not k.startswith("ZHENGWU_")}, "ZHENGWU_DATA_DIR": str(tmp_path)},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "失败" in done.stdout


def test_a_wrong_answer_on_one_step_fails_that_step() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/":
            return httpx.Response(200, text='<html lang="zh-CN">首页</html>')
        if request.url.path == "/search":
            return httpx.Response(200, text='<a href="/items/11130000MT0000019X3000101001000">护照</a>')
        if request.url.path.startswith("/items/"):
            return httpx.Response(200, text="<html>指南</html>")
        return httpx.Response(200, json={"valid": True})  # a verification must never say yes here

    result = probe.run("http://node.test", transport=httpx.MockTransport(answer))
    assert [s.ok for s in result.steps] == [True, True, True, False]
    assert result.ok is False and result.steps[3].detail == "HTTP 200"


def test_a_verification_answered_with_a_page_fails_without_raising() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/licenses/verify":
            return httpx.Response(200, text="<html>维护中</html>")
        return httpx.Response(200, text="<html>首页</html>")

    result = probe.run("http://node.test", transport=httpx.MockTransport(answer))
    assert [s.ok for s in result.steps] == [True, True, True, False]
    assert result.steps[2].detail == "skipped" and result.ok is False


def test_a_step_not_answered_within_the_probe_timeout_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    from clikit import invoke

    # A listening socket nobody accepts from: the connection is made, no answer ever comes.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        monkeypatch.setenv("ZHENGWU_OPS__PROBE_TIMEOUT_SECONDS", "0.3")
        started = time.monotonic()
        done = invoke("ops", "probe", "--url", url, "--json")
        waited = time.monotonic() - started
    assert done.exit_code == 1, done.output
    result = json.loads(done.stdout.strip().splitlines()[-1])
    details = {s["name"]: s["detail"] for s in result["steps"]}
    assert details["home"] == "连接失败：ReadTimeout" and details["verify"] == "连接失败：ReadTimeout"
    assert waited < 8  # three steps of 0.3 s, not the default 10 s each
