"""``zhengwu demo``: a Hebei province node and a national node on loopback, migrated and seeded, and the
reference department system (examples/department-system) beside the province, registered with it as a
client of the demo's 行政审批局 with its case webhook, so a clerk handles the cases citizens submit."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import httpx
from rich.console import Console

console = Console()


TRANSPORTS = ("http", "frontdb")


def frontdb_url(data_dir: Path) -> str:
    """The 前置库 both demo nodes share in frontdb mode (one SQLite file under the data dir)."""
    return f"sqlite:///{(data_dir / 'frontdb.db').as_posix()}"


def node_env(
    name: str, data_dir: Path, port: int, upstream_port: int | None, *, transport: str = "http"
) -> dict[str, str]:
    """Environment for one demo node; ``transport`` chooses how the province reports upward."""
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
            # Browsers share cookies across ports of one host: the national node answers as
            # "localhost" so that logging in on one node never overwrites the other's session.
            "ZHENGWU_PUBLIC_URL": f"http://{'localhost' if national else '127.0.0.1'}:{port}",
            "ZHENGWU_LOG_JSON": "false",
        }
    )
    # The demo never inherits a database or exchange wiring from the caller's environment.
    for key in ("ZHENGWU_UPSTREAM_URL", "ZHENGWU_FRONTDB_URL", "ZHENGWU_EXCHANGE__TRANSPORT",
                "ZHENGWU_EXCHANGE__FRONTDB_URL", "ZHENGWU_EXCHANGE__FRONTDB_PEER"):  # fmt: skip
        env.pop(key, None)
    if upstream_port is not None:
        env["ZHENGWU_UPSTREAM_URL"] = f"http://localhost:{upstream_port}"
    if transport == "frontdb":
        # Both nodes open the same 前置库: the province writes up_* rows (and reads dn_* feedback),
        # the national node reads the province's up_* rows as sender "hebei" (its node id).
        env["ZHENGWU_EXCHANGE__FRONTDB_URL"] = frontdb_url(data_dir)
        if national:
            env["ZHENGWU_EXCHANGE__FRONTDB_PEER"] = "hebei"
        else:
            env["ZHENGWU_EXCHANGE__TRANSPORT"] = "frontdb"
    return env


def _command(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``zhengwu <args>`` in this process as a process started with ``env`` would run it, its output
    captured.

    The demo's thirteen set-up and wiring steps each started an interpreter before (1.5–2.5 s of imports
    and node opening each, about half the demo's start-up); every command reads its node from the
    environment when it runs, so swapping the environment for the call is all a node's process adds."""
    from zhengwu.cli import app

    saved = dict(os.environ)
    out, err = io.StringIO(), io.StringIO()
    os.environ.clear()
    os.environ.update(env)
    code: int = 0
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                app([*args], prog_name="zhengwu")
            except SystemExit as exc:  # click ends every command, a success too, with SystemExit
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except Exception:  # reported as the interpreter would have, with its exit code
                err.write(traceback.format_exc())
                code = 1
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return subprocess.CompletedProcess(["zhengwu", *args], code, out.getvalue(), err.getvalue())


def _run(args: list[str], env: dict[str, str]) -> None:
    """Run a preparation step; its output is shown, and its failure stops the demo."""
    done = _command(args, env)
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    done.check_returncode()


def _try(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a wiring step; its failure is reported, not fatal (the nodes still serve)."""
    return _command(args, env)


def wire_nodes(national_env: dict[str, str], province_env: dict[str, str]) -> list[str]:
    """Join the province to the national exchange and set up trust transfer; returns problems found."""
    problems: list[str] = []
    # Exchange (X-Road-like joining): request, approve upstairs, install.
    first = _try(["exchange", "join"], province_env)
    if first.returncode != 0:
        problems.append(f"exchange join: {first.stderr.strip()[-300:]}")
    else:
        _try(["exchange", "nodes", "approve", province_env["ZHENGWU_NODE_ID"]], national_env)
        second = _try(["exchange", "join"], province_env)
        if second.returncode != 0 or "joined" not in second.stdout:
            problems.append(f"exchange join (install): {(second.stdout + second.stderr).strip()[-300:]}")
    # Trust transfer (信任传递): the province is an OIDC client of the national node.
    province_url = province_env["ZHENGWU_PUBLIC_URL"]
    created = _try(
        [
            "identity", "clients", "create", "--name", "河北省政务服务平台", "--kind", "node",
            "--grant", "authorization_code", "--redirect-uri", f"{province_url}/oidc/federation/callback",
            "--backchannel-logout-uri", f"{province_url}/oidc/federation/backchannel-logout",
            "--scope", "openid profile phone citizen_id", "--citizen-id", "--json",
        ],
        national_env,
    )  # fmt: skip
    try:
        client = json.loads(created.stdout.strip().splitlines()[-1])
        registered = _try(
            ["identity", "upstream", "register", "--client-id", client["client_id"],
             "--client-secret", client["client_secret"]],
            province_env,
        )  # fmt: skip
        if registered.returncode != 0:
            problems.append(f"identity upstream register: {registered.stderr.strip()[-300:]}")
    except (ValueError, IndexError, KeyError):
        problems.append(f"identity clients create: {created.stderr.strip()[-300:]}")
    return problems


#: The department the reference system serves: that of the demo's 审批局 administrator (``admin-xzsp``,
#: seed.accounts: the first department of this kind by division code and name).
DEPARTMENT_SYSTEM_KIND = "行政审批局"
#: Where the reference system's registration is kept between runs (the client secret and the webhook
#: secret are shown once, so a second run reuses them instead of registering another client).
REGISTRATION = "registration.json"


def department_system_source() -> Path | None:
    """The reference department system's folder in this checkout (None when installed without it)."""
    folder = Path(__file__).resolve().parents[2] / "examples" / "department-system"
    return folder if (folder / "department_system" / "__main__.py").exists() else None


def _pick_department(province_env: dict[str, str]) -> dict[str, str] | None:
    listed = _try(["departments", "list", "--json"], province_env)
    rows = [json.loads(line) for line in listed.stdout.splitlines() if line.startswith("{")]
    rows.sort(key=lambda d: (d["division_code"], d["name"]))
    return next((d for d in rows if d["name"].endswith(DEPARTMENT_SYSTEM_KIND)), None)


def prepare_department_system(
    province_env: dict[str, str], *, port: int, root: Path
) -> tuple[dict[str, str] | None, list[str]]:
    """Register the reference department system with the province — an OIDC client of the department
    (clerks sign in; the system calls the case API with ``cases.handle`` and ``licenses.issue``) and its
    webhook endpoint — and answer the environment to start it with, and the problems found. A second run
    on the same data reuses the registration kept under ``<root>/department-system``."""
    folder = root / "department-system"
    folder.mkdir(parents=True, exist_ok=True)
    kept = folder / REGISTRATION
    base = f"http://127.0.0.1:{port}"
    if kept.exists():
        registration = json.loads(kept.read_text(encoding="utf-8"))
    else:
        department = _pick_department(province_env)
        if department is None:
            return None, [f"department system: no {DEPARTMENT_SYSTEM_KIND} registered on the province"]
        created = _try(
            [
                "identity", "clients", "create", "--name", f"{department['name']}审批系统（演示）",
                "--grant", "authorization_code", "--grant", "client_credentials",
                "--redirect-uri", f"{base}/callback", "--backchannel-logout-uri", f"{base}/backchannel-logout",
                "--post-logout-redirect-uri", f"{base}/",
                "--scope", "openid profile cases.handle licenses.issue",
                "--department", department["credit_code"], "--json",
            ],
            province_env,
        )  # fmt: skip
        try:
            client = json.loads(created.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return None, [f"department system: identity clients create: {created.stderr.strip()[-300:]}"]
        hook = _try(["webhooks", "register", client["client_id"], "--url", f"{base}/webhooks", "--json"],
                    province_env)  # fmt: skip
        try:
            secret = json.loads(hook.stdout.strip().splitlines()[-1])["secret"]
        except (ValueError, IndexError, KeyError):
            return None, [f"department system: webhooks register: {hook.stderr.strip()[-300:]}"]
        registration = {
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
            "webhook_secret": secret,
            "department": department["credit_code"],
            "department_name": department["name"],
        }
        kept.write_text(json.dumps(registration, ensure_ascii=False), encoding="utf-8")
        kept.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZHENGWU_", "DEPTSYS_"))}
    source = department_system_source()
    if source is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source), env.get("PYTHONPATH", "")]))
    env.update(
        {
            "DEPTSYS_NODE_URL": province_env["ZHENGWU_PUBLIC_URL"],
            "DEPTSYS_BASE_URL": base,
            "DEPTSYS_CLIENT_ID": registration["client_id"],
            "DEPTSYS_CLIENT_SECRET": registration["client_secret"],
            "DEPTSYS_WEBHOOK_SECRET": registration["webhook_secret"],
            "DEPTSYS_DEPARTMENT": registration["department"],
            "DEPTSYS_DATABASE": str(folder / "department-system.db"),
            "DEPTSYS_TITLE": f"{registration['department_name']}审批系统（演示）",
        }
    )
    return env, []


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


def run_demo(*, base_port: int = 8000, data_dir: str = "var", transport: str = "http") -> int:
    """Prepare and start both nodes and the department system; block until Ctrl-C, then stop them all.
    Returns an exit code."""
    if transport not in TRANSPORTS:
        console.print(f"[red]unknown transport {transport!r}: http or frontdb[/red]")
        return 2
    root = Path(data_dir).resolve()
    nodes = [("national", base_port + 1, None), ("hebei", base_port, base_port + 1)]
    envs = {name: node_env(name, root, port, up, transport=transport) for name, port, up in nodes}
    for name, _port, _up in nodes:
        (root / name).mkdir(parents=True, exist_ok=True)
        console.print(f"[bold]{name}[/bold]: 迁移数据库 / migrating …")
        _run(["migrate"], envs[name])
        console.print(f"[bold]{name}[/bold]: 载入演示数据 / seeding demo data …")
        _run(["seed", "--demo"], envs[name])
    console.print(
        "[bold]national[/bold]: 核验用人口库、法人库（合成数据） / synthetic verification registries …"
    )
    _try(["exchange", "seed-registries"], envs["national"])
    # The national node's own CAs (the province gets its own through the seals demo): its /_status is
    # then complete, and it can verify and time-stamp like any node.
    _try(["pki", "init"], envs["national"])
    if transport == "frontdb":
        from zhengwu.exchange.transports.frontdb import FrontDb

        # Created once here: two workers creating the schema of one SQLite file at once could collide.
        FrontDb(frontdb_url(root)).dispose()
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
        console.print("连接省级节点与国家节点 / joining the province to the national node …")
        for problem in wire_nodes(envs["national"], envs["hebei"]):
            console.print(f"[yellow]warning:[/yellow] {problem}")
        system_port = base_port + 2
        system_env: dict[str, str] | None = None
        if department_system_source() is None:
            console.print(
                "[yellow]warning:[/yellow] examples/department-system not found: no department system"
            )
        else:
            console.print("登记参考部门业务系统 / registering the reference department system …")
            system_env, problems = prepare_department_system(envs["hebei"], port=system_port, root=root)
            for problem in problems:
                console.print(f"[yellow]warning:[/yellow] {problem}")
        if system_env is not None:
            procs.append(
                subprocess.Popen(  # noqa: S603
                    [
                        sys.executable,
                        "-m",
                        "department_system",
                        "serve",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(system_port),
                    ],
                    env=system_env,
                )
            )
        # The province worker reports its outbox upward; the national worker publishes the downward
        # feed, aggregates the national node's own rows and, in frontdb mode, reads the 前置库.
        # Workers log warnings only (the servers log requests).
        workers = ["hebei", "national"]
        for name in workers:
            worker_env = {**envs[name], "ZHENGWU_LOG_LEVEL": "WARNING"}
            procs.append(subprocess.Popen([sys.executable, "-m", "zhengwu", "worker"], env=worker_env))
        console.rule("zhengwu demo")
        if transport == "frontdb":
            console.print(f"上报方式 / transport: 前置库 frontdb ({root / 'frontdb.db'})")
        else:
            console.print("上报方式 / transport: 签名 HTTP / signed HTTP")
        console.print(
            f"河北省政务服务平台 province node : http://127.0.0.1:{base_port}  (/_status, /api/docs)"
        )
        console.print(
            f"国家政务服务平台 national node   : http://localhost:{base_port + 1}  "
            "(/_status, /api/docs, /exchange/overview)"
        )
        if system_env is not None:
            console.print(
                f"{system_env['DEPTSYS_TITLE']} department system : http://127.0.0.1:{system_port}  "
                "(登录: admin-xzsp)"
            )
        from zhengwu.seed import DEMO_ACCOUNTS

        console.print("演示账号 / demo accounts:")
        for account in DEMO_ACCOUNTS:
            console.print(f"  {account}")
        console.print("Ctrl-C 停止全部 / stops the nodes and the department system")
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
