"""Real nodes for end-to-end tests: ``python -m zhengwu serve`` processes on loopback addresses.

The database is a SQLite file per node, or a fresh PostgreSQL database per node when
ZHENGWU_TEST_DATABASE_URL names a PostgreSQL server.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from dbkit import migrate_fresh
from zhengwu.kernel.config import SecuritySettings, Settings
from zhengwu.seed.synthetic import nth_citizen_id, nth_phone


def free_port(host: str = "127.0.0.1") -> int:
    """A free TCP port on ``host``."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class Node:
    """A running node."""

    name: str
    url: str
    env: dict[str, str]
    proc: subprocess.Popen[bytes]
    waf: Any = None  # the nginx + ModSecurity proxy in front (ZHENGWU_TEST_WAF=1), else None

    def cli(self, *args: str) -> dict[str, Any]:
        """Run a CLI command against this node's database (JSON output), in this process with the node's
        environment (an interpreter start per command cost seconds; ``python -m zhengwu`` has tests of
        its own)."""
        from clikit import run_in

        out = run_in(self.env, *args, "--json")
        assert out.returncode == 0, out.stderr[-2000:]
        return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def database_urls(tmp: Path, names: list[str]) -> dict[str, str]:
    """A database URL per node name."""
    base = os.environ.get("ZHENGWU_TEST_DATABASE_URL")
    if not base or not base.startswith("postgresql"):
        return {n: f"sqlite:///{(tmp / n / 'zhengwu.db').as_posix()}" for n in names}
    from sqlalchemy import create_engine, text

    admin_url, _, dbname = base.rpartition("/")
    urls = {}
    admin = create_engine(f"{admin_url}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for n in names:
            db = f"{dbname}_e2e_{n}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{db}"'))
            urls[n] = f"{admin_url}/{db}"
    admin.dispose()
    return urls


def node_env(
    name: str,
    data_dir: Path,
    db_url: str,
    url: str,
    upstream: str | None = None,
    national: bool = False,
    extra_env: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment of a test node's processes (server and CLI): its settings and nothing else of ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHENGWU_")}
    env.update(
        {
            "ZHENGWU_DATA_DIR": str(data_dir),
            "ZHENGWU_DATABASE_URL": db_url,
            "ZHENGWU_TIER": "national" if national else "province",
            "ZHENGWU_DIVISION_CODE": "000000" if national else "130000",
            "ZHENGWU_NODE_ID": name,
            "ZHENGWU_NODE_NAME": "国家政务服务平台（测试）" if national else "河北省政务服务平台（测试）",
            "ZHENGWU_PUBLIC_URL": url,
            "ZHENGWU_SECURITY__SECRET_KEY": f"test-secret-of-{name}-0123456789abcdef",
            "ZHENGWU_OIDC__BACKCHANNEL_BACKOFF_SECONDS": "0.5",
            # 0.6 s of start-up per node process; the suite's few searches load it when they need it.
            "ZHENGWU_PORTAL__WARM_SEARCH": "false",
        }
    )
    if upstream:
        env["ZHENGWU_UPSTREAM_URL"] = upstream
    env.update(extra_env or {})
    return env


def start_node(
    name: str,
    host: str,
    tmp: Path,
    db_url: str,
    upstream: str | None,
    national: bool,
    extra_env: dict[str, str] | None = None,
    *,
    waf: bool = False,
) -> Node:
    """Migrate and serve a node; returns once its discovery document answers.

    With ``waf`` (or ZHENGWU_TEST_WAF=1) the node is reached only through nginx + ModSecurity + CRS
    (deploy/nginx): ``Node.url`` and the node's public URL are the proxy's.
    """
    port = free_port(host)
    url = f"http://{host}:{port}"
    waf_port = free_port(host) if waf or os.environ.get("ZHENGWU_TEST_WAF") == "1" else None
    if waf_port is not None:  # the world sees the node only through nginx + ModSecurity
        url = f"http://{host}:{waf_port}"
    (tmp / name).mkdir(parents=True, exist_ok=True)
    env = node_env(name, tmp / name, db_url, url, upstream, national, extra_env)
    migrate_fresh(db_url)  # a copy of the migrated template on SQLite: `zhengwu migrate` has tests of its own
    with (tmp / f"{name}.log").open("wb") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "zhengwu", "serve", "--host", host, "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if (
                httpx.get(f"http://{host}:{port}/.well-known/openid-configuration", timeout=2).status_code
                == 200
            ):
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        proc.kill()
        raise RuntimeError(f"{name} did not start: {(tmp / f'{name}.log').read_text()[-2000:]}")
    if waf_port is None:
        return Node(name, url, env, proc)
    from waf_kit import front

    proxy = front(tmp / f"{name}-nginx", host, waf_port, port)  # after the node: no 502s in its audit log
    if httpx.get(f"{url}/.well-known/openid-configuration", timeout=10).status_code == 200:
        return Node(name, url, env, proc, proxy)
    proc.kill()
    proxy.stop()
    raise RuntimeError(
        f"{name} does not answer through nginx: {proxy.rendered.error_log.read_text()[-2000:]}"
    )


def register_person(node: Node, n: int, name: str, password: str) -> tuple[str, dict[str, Any]]:
    """Register the ``n``-th synthetic natural person on ``node``; (ID number, account as /me shows it).

    Registration answers alike for new and known ID numbers (ADR 0014), so the account is read back
    through a login of its own.
    """
    number = nth_citizen_id(n)
    response = httpx.post(
        f"{node.url}/api/v1/identity/register/natural",
        json={"name": name, "id_number": number, "phone": nth_phone(n), "password": password},
    )
    assert response.status_code == 202, response.text
    with httpx.Client(base_url=node.url) as own:
        login = own.post("/api/v1/identity/login", json={"identifier": number, "password": password})
        assert login.status_code == 200, login.text
        account: dict[str, Any] = own.get("/api/v1/identity/me").json()["account"]
        own.post("/api/v1/identity/logout", json={})
    return number, account


def eventually(check: Callable[[], bool], seconds: float = 20.0) -> bool:
    """Whether ``check`` comes true within ``seconds`` (asked every 0.2 s)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def register_department_system(node: Node, rp_url: str) -> dict[str, Any]:
    """Register the reference department system at ``rp_url`` as a client of ``node`` (CLI, --json)."""
    return node.cli(
        "identity", "clients", "create", "--name", "省人社厅社保业务系统", "--grant", "authorization_code",
        "--redirect-uri", f"{rp_url}/callback", "--backchannel-logout-uri", f"{rp_url}/backchannel-logout",
        "--scope", "openid profile",
    )  # fmt: skip


def staff_client(node: Node, login_name: str, password: str) -> httpx.Client:
    """A staff member's HTTP session with a second factor: enrol TOTP (confirmed with a current code),
    then log in again with password and a recovery code. The caller closes the client."""
    import pyotp

    staff = httpx.Client(base_url=node.url, timeout=30)
    login = staff.post("/api/v1/identity/login", json={"identifier": login_name, "password": password})
    assert login.status_code == 200, login.text
    secret = staff.post("/api/v1/identity/mfa/enrol", json={}).json()["secret"]
    codes = staff.post("/api/v1/identity/mfa/confirm", json={"code": pyotp.TOTP(secret).now()}).json()
    staff.post("/api/v1/identity/logout", json={})
    login = staff.post("/api/v1/identity/login", json={"identifier": login_name, "password": password})
    assert login.json()["mfa_required"] is True, login.text
    second = staff.post("/api/v1/identity/login/mfa", json={"code": codes["recovery_codes"][0]})
    assert second.status_code == 200, second.text
    return staff


@dataclass(frozen=True)
class DemoTemplate:
    """A SQLite database migrated and loaded with the demo seed, with what the seed said and the node
    settings it ran under (the seeded accounts' keys derive from the node's secret)."""

    database: Path
    env: dict[str, str]
    summary: dict[str, Any]

    def copy_to(self, target: Path) -> None:
        """A copy of the seeded database at ``target`` (SQLite's online backup)."""
        target.parent.mkdir(parents=True, exist_ok=True)
        source, copy = sqlite3.connect(self.database), sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
            source.close()

    def settings(self, data_dir: Path, database_url: str) -> Settings:
        """The template node's settings on another data directory and database."""
        return Settings(
            data_dir=data_dir,
            database_url=database_url,
            node_id=self.env["ZHENGWU_NODE_ID"],
            security=SecuritySettings(secret_key=self.env["ZHENGWU_SECURITY__SECRET_KEY"]),
        )


_SEED_AND_SAY = (
    "import json; from zhengwu.cli import _settings; from zhengwu.seed import seed_demo; "
    "print(json.dumps(seed_demo(_settings())))"
)
_demo_lock = threading.Lock()
_demo: DemoTemplate | None = None


def demo_template() -> DemoTemplate:
    """The demo seed, run once per test process in a child process (seconds of CPU that the browser,
    demo and end-to-end tests would otherwise each pay); callers take copies of its database."""
    global _demo
    with _demo_lock:
        if _demo is None:
            root = Path(tempfile.mkdtemp(prefix="zw-demo-template-"))
            atexit.register(shutil.rmtree, root, True)  # ~100 MB per test process, left behind before
            url = f"sqlite:///{(root / 'demo.db').as_posix()}"
            migrate_fresh(url)
            env = node_env("province", root / "data", url, "http://127.0.0.1:9")
            out = subprocess.run(
                [sys.executable, "-c", _SEED_AND_SAY], env=env, capture_output=True, text=True, check=False
            )
            assert out.returncode == 0, out.stderr[-2000:]
            summary = json.loads(out.stdout.strip().splitlines()[-1])
            _demo = DemoTemplate(root / "demo.db", env, summary)
        return _demo
