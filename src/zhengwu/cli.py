"""The ``zhengwu`` command line (typer + rich): serve, migrate, seed, demo, departments, codes, ..."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from zhengwu.commands import audit as audit_commands
from zhengwu.commands import backup as backup_commands
from zhengwu.commands import cases as cases_commands
from zhengwu.commands import catalog as catalog_commands
from zhengwu.commands import codes as codes_commands
from zhengwu.commands import exchange as exchange_commands
from zhengwu.commands import identity as identity_commands
from zhengwu.commands import licenses as licenses_commands
from zhengwu.commands import operator as operator_commands
from zhengwu.commands import ops as ops_commands
from zhengwu.commands import pki as pki_commands
from zhengwu.commands import portal as portal_commands
from zhengwu.commands import seals as seals_commands
from zhengwu.commands import security as security_commands
from zhengwu.commands import users as users_commands
from zhengwu.commands import webhooks as webhooks_commands
from zhengwu.commands.operator import operator_actor, privileged
from zhengwu.identity import rights as identity_rights
from zhengwu.kernel.config import Settings

app = typer.Typer(
    name="zhengwu",
    help="zhengwu 政务 — provincial integrated online government service platform.",
    no_args_is_help=True,
    add_completion=False,
)
departments_app = typer.Typer(
    help="Departments and implementing bodies (部门 / 实施主体).", no_args_is_help=True
)
app.add_typer(departments_app, name="departments")
app.add_typer(codes_commands.app, name="codes")
app.add_typer(pki_commands.app, name="pki")
app.add_typer(seals_commands.app, name="seals")
app.add_typer(licenses_commands.app, name="licenses")
app.add_typer(exchange_commands.app, name="exchange")
app.add_typer(catalog_commands.app, name="catalog")
app.add_typer(users_commands.app, name="users")
app.add_typer(identity_commands.app, name="identity")
app.add_typer(audit_commands.app, name="audit")
app.add_typer(backup_commands.app, name="backup")
app.add_typer(ops_commands.app, name="ops")
app.add_typer(security_commands.app, name="security")
app.add_typer(cases_commands.app, name="cases")
app.add_typer(cases_commands.calendar_app, name="calendar")
app.add_typer(webhooks_commands.app, name="webhooks")
app.add_typer(portal_commands.app, name="portal")
app.add_typer(operator_commands.app, name="operator")

console = Console()
err_console = Console(stderr=True)


@app.callback()
def _root() -> None:
    """zhengwu 政务 — provincial integrated online government service platform."""
    import os

    from zhengwu.kernel.logging import ensure_cli_logging

    ensure_cli_logging(os.environ.get("ZHENGWU_LOG_LEVEL", "WARNING"))


def _settings() -> Settings:
    from zhengwu.commands.node import load_settings

    return load_settings()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
) -> None:
    """Serve this node over HTTP."""
    import uvicorn

    from zhengwu.kernel.logging import configure_logging

    settings = _settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    configure_logging(settings.log_level, json_output=settings.log_json)
    uvicorn.run(
        "zhengwu.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level.lower(),
        # uvicorn's own lines (start-up, errors with their tracebacks, access) go through the node's
        # JSON logging instead of its plain-text handlers: one format, the scrubber, no exception texts.
        log_config=None,
        access_log=True,
    )


@app.command()
def migrate(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Bring the database schema up to date (Alembic)."""
    from zhengwu.kernel.migrate import upgrade

    settings = _settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url, revision)
    console.print(f"数据库已迁移到 {revision} / database migrated to {revision}")
    if revision == "head":
        kid = identity_commands.ensure_signing_key(settings)
        if kid is not None:
            console.print(f"已生成签名密钥 / signing key created: {kid}")


@app.command()
@privileged(identity_rights.STAFF_MANAGE, bootstrap=True)
def seed(
    demo: Annotated[bool, typer.Option("--demo", help="Load the deterministic Hebei demo data.")] = False,
) -> None:
    """Load seed data (with --demo: the Hebei demo departments, citizens and enterprises)."""
    from zhengwu.seed import DemoSeedRefused, seed_demo

    if not demo:
        err_console.print("nothing to do: pass --demo")
        raise typer.Exit(2)
    settings = _settings()
    try:
        summary = seed_demo(settings)
    except DemoSeedRefused as exc:
        err_console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    for key, value in summary.items():
        console.print(f"{key}: {value}")


@app.command()
def worker(
    until_idle: Annotated[bool, typer.Option("--until-idle", help="Stop as soon as nothing is due.")] = False,
) -> None:
    """Relay the outbox upward and poll the 前置库 (runs until SIGTERM/Ctrl-C, or --until-idle)."""
    from zhengwu.worker import run_worker

    stats = run_worker(_settings(), until_idle=until_idle)
    console.print(" ".join(f"{k}={v}" for k, v in stats.as_dict().items()))


@app.command()
def demo(
    base_port: Annotated[
        int, typer.Option(help="Province node port; the national node uses the next one.")
    ] = 8000,
    data_dir: Annotated[str, typer.Option(help="Where both nodes keep their data.")] = "var",
    transport: Annotated[
        str, typer.Option(help="How the province reports upward: http (signed batches) or frontdb (前置库).")
    ] = "http",
) -> None:
    """Migrate, seed and start a Hebei province node and a national node on loopback (Ctrl-C stops both)."""
    from zhengwu.demo import run_demo

    raise typer.Exit(run_demo(base_port=base_port, data_dir=data_dir, transport=transport))


@departments_app.command("list")
def departments_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
    division: Annotated[str | None, typer.Option(help="Division code prefix, e.g. 1301.")] = None,
) -> None:
    """List registered departments."""
    from zhengwu.commands.node import node_unit
    from zhengwu.orgs import service
    from zhengwu.orgs.schemas import DepartmentRead

    with node_unit(_settings()) as (_node, session):
        rows, total = service.list_departments(session, division_prefix=division, limit=100_000)
        items = [DepartmentRead.model_validate(r) for r in rows]
    if as_json:
        for item in items:
            sys.stdout.write(item.model_dump_json() + "\n")
        return
    table = Table(title=f"部门 / departments ({total})")
    for column in ("credit_code", "name", "division_code", "level"):
        table.add_column(column)
    for item in items:
        table.add_row(item.credit_code, item.name, item.division_code, str(item.level))
    console.print(table)


@departments_app.command("add")
@privileged(identity_rights.STAFF_MANAGE, bootstrap=True)
def departments_add(
    credit_code: Annotated[str, typer.Option("--credit-code", help="统一社会信用代码 (18 characters).")],
    name: Annotated[str, typer.Option(help="Full name.")],
    division: Annotated[str, typer.Option(help="GB/T 2260 division code.")],
    short_name: Annotated[str | None, typer.Option("--short-name")] = None,
    parent: Annotated[str | None, typer.Option(help="Credit code of the parent department.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Register a department or implementing body."""
    from pydantic import ValidationError

    from zhengwu.commands.node import node_unit
    from zhengwu.kernel.errors import DomainError
    from zhengwu.orgs import service
    from zhengwu.orgs.schemas import DepartmentCreate, DepartmentRead

    settings = _settings()
    try:
        data = DepartmentCreate(
            credit_code=credit_code.strip().upper(),
            name=name,
            short_name=short_name,
            division_code=division,
            parent_credit_code=parent,
        )
        with node_unit(settings) as (_node, session):
            created = DepartmentRead.model_validate(
                service.add_department(session, data, actor=operator_actor("cli"))
            )
    except DomainError as exc:
        err_console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from exc
    except ValidationError as exc:
        reasons = "；".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        err_console.print(f"[red]参数无效 / invalid arguments:[/red] {reasons}")
        raise typer.Exit(1) from exc
    if as_json:
        sys.stdout.write(json.dumps(created.model_dump(), ensure_ascii=False) + "\n")
    else:
        console.print(f"已添加 / added: {created.name} ({created.credit_code})")


def database_problem(settings: Settings) -> str | None:
    """Why the node's database cannot serve a command (unreachable, or never migrated), or None."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError

    from zhengwu.kernel.db import make_engine

    if (
        settings.is_sqlite
        and not (settings.data_dir / "zhengwu.db").exists()
        and "zhengwu.db" in settings.database_url
    ):
        return "missing"
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as connection:
            return None if inspect(connection).has_table("alembic_version") else "not_migrated"
    except SQLAlchemyError:
        return "unreachable"
    finally:
        engine.dispose()


def explain_database(settings: Settings, problem: str) -> str:
    """One sentence in Chinese and one in English: which data directory, and how to choose another."""
    from sqlalchemy.engine import make_url

    where = settings.data_dir.resolve()
    url = make_url(settings.database_url).render_as_string(hide_password=True)
    zh_problem = "无法连接数据库" if problem == "unreachable" else "没有已迁移的数据库"
    en_problem = "cannot reach its database" if problem == "unreachable" else "has no migrated database"
    return (
        f"数据目录 {where} {zh_problem}（{url}）：请先运行 zhengwu migrate，或用环境变量 ZHENGWU_DATA_DIR"
        "（或 ZHENGWU_DATABASE_URL）指定另一个数据目录，演示节点的数据目录为 ./var/hebei 和 ./var/national。\n"
        f"The data directory {where} {en_problem} ({url}): run `zhengwu migrate` first, or choose another "
        "with ZHENGWU_DATA_DIR (or ZHENGWU_DATABASE_URL); the demo's nodes keep theirs in ./var/hebei and "
        "./var/national."
    )


def main() -> None:
    """Console-script entry point.

    A command that needs the database and finds none (a data directory never migrated, a database that
    does not answer) says so in one sentence instead of a driver traceback that quotes SQL.
    """
    from sqlalchemy.exc import OperationalError, ProgrammingError

    try:
        app()
    except (OperationalError, ProgrammingError) as exc:
        try:
            settings = Settings()
        except ValueError:
            raise exc from None
        problem = database_problem(settings)
        if problem is None:
            raise
        err_console.print(f"[red]{explain_database(settings, problem)}[/red]", soft_wrap=True)
        raise SystemExit(3) from None
