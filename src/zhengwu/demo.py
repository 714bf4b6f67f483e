"""``zhengwu demo``: a Hebei province node and a national node on loopback, migrated and seeded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from rich.console import Console

console = Console()


def node_env(name: str, data_dir: Path, port: int, upstream_port: int | None) -> dict[str, str]:
    """Environment for one demo node."""
    env = dict(os.environ)
    national = upstream_port is None
    env.update(
        {
            "ZHENGWU_DATA_DIR": str(data_dir / name),
            "ZHENGWU_DATABASE_URL": f"sqlite:///{(data_dir / name / 'zhengwu.db').as_posix()}",
            "ZHENGWU_TIER": "national" if national else "province",
            "ZHENGWU_DIVISION_CODE": "000000" if national else "130000",
            "ZHENGWU_NODE_ID": name,
            "ZHENGWU_NODE_NAME": "国家政务服务平台（演示）" if national else "河北省政务服务平台（演示）",
            "ZHENGWU_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "ZHENGWU_LOG_JSON": "false",
        }
    )
    # The demo never inherits a database from the caller's environment.
    env.pop("ZHENGWU_UPSTREAM_URL", None)
    if upstream_port is not None:
        env["ZHENGWU_UPSTREAM_URL"] = f"http://127.0.0.1:{upstream_port}"
    return env


def _run(args: list[str], env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "zhengwu", *args], env=env, check=True)  # noqa: S603


def _wait_ready(url: str, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/_status", timeout=2.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    return False


def run_demo(*, base_port: int = 8000, data_dir: str = "var") -> int:
    """Prepare and start both nodes; block until Ctrl-C, then stop both. Returns an exit code."""
    root = Path(data_dir).resolve()
    nodes = [("national", base_port + 1, None), ("hebei", base_port, base_port + 1)]
    envs = {name: node_env(name, root, port, up) for name, port, up in nodes}
    for name, _port, _up in nodes:
        (root / name).mkdir(parents=True, exist_ok=True)
        console.print(f"[bold]{name}[/bold]: 迁移数据库 / migrating …")
        _run(["migrate"], envs[name])
        console.print(f"[bold]{name}[/bold]: 载入演示数据 / seeding demo data …")
        _run(["seed", "--demo"], envs[name])
    procs: list[subprocess.Popen[bytes]] = []

    def _terminate(_signum: int, _frame: object) -> None:
        # A supervisor's SIGTERM must stop both nodes too, not only Ctrl-C.
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    try:
        for name, port, _up in nodes:
            procs.append(
                subprocess.Popen(  # noqa: S603
                    [sys.executable, "-m", "zhengwu", "serve", "--host", "127.0.0.1", "--port", str(port)],
                    env=envs[name],
                )
            )
        for name, port, _up in nodes:
            url = f"http://127.0.0.1:{port}"
            if not _wait_ready(url):
                console.print(f"[red]{name} did not start on {url}[/red]")
                return 1
        console.rule("zhengwu demo")
        console.print(
            f"河北省政务服务平台 province node : http://127.0.0.1:{base_port}  (/_status, /api/docs)"
        )
        console.print(
            f"国家政务服务平台 national node   : http://127.0.0.1:{base_port + 1}  (/_status, /api/docs)"
        )
        from zhengwu.seed import DEMO_ACCOUNTS

        console.print("演示账号 / demo accounts:")
        for account in DEMO_ACCOUNTS:
            console.print(f"  {account}")
        console.print("Ctrl-C 停止两个节点 / stops both nodes")
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
