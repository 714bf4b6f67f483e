"""``zhengwu users``: legacy user migration and checks of the authentication audit trail."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from zhengwu.commands.node import load_settings, open_node
from zhengwu.commands.operator import operator_actor, privileged
from zhengwu.identity import rights as identity_rights
from zhengwu.kernel.config import Settings

app = typer.Typer(help="用户 / users: legacy migration (历史用户迁移), audit checks.", no_args_is_help=True)
console = Console(stderr=True)


def _settings() -> Settings:
    return load_settings()


@app.command("import")
@privileged(identity_rights.STAFF_MANAGE)
def import_command(
    file: Annotated[
        Path,
        typer.Argument(help="CSV, XLSX or JSON-lines file of legacy users.", exists=True, dir_okay=False),
    ],
    source: Annotated[
        str, typer.Option("--source", help="Name of the legacy system (recorded on every account).")
    ],
    report: Annotated[Path | None, typer.Option("--report", help="Write the JSON report here.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=100, max=20_000)] = 2000,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
) -> None:
    """Cleanse, validate, de-duplicate and import a legacy user file in one transaction."""
    from zhengwu.identity.importer import ImportFileError, count_rows, import_users

    settings = _settings()
    if not source.strip() or len(source) > 50:
        console.print("[red]--source 必须是1至50个字符 / --source must be 1-50 characters[/red]")
        raise typer.Exit(2)
    node = open_node(settings)
    try:
        total = count_rows(file)
        with Progress(
            TextColumn("[bold]导入 / importing[/bold]"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress:
            task = progress.add_task("rows", total=total)
            with node.unit() as session:
                result = import_users(
                    session,
                    file,
                    source=source.strip(),
                    batch_size=batch_size,
                    progress=lambda n: progress.advance(task, n),
                )
    except ImportFileError as exc:
        console.print(f"[red]无法导入 / cannot import:[/red] {exc}")
        raise typer.Exit(1) from exc
    finally:
        node.close()
    body = result.to_dict()
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(body, ensure_ascii=False, indent=2), encoding="utf-8")
    summary = result.summary()
    if as_json:
        sys.stdout.write(json.dumps(summary, ensure_ascii=False) + "\n")
        return
    table = Table(title=f"导入结果 / import summary — {file.name}")
    table.add_column("项目 / item")
    table.add_column("数量 / count", justify="right")
    labels = {
        "rows": "读取行数 / rows read",
        "imported": "新建账号 / imported",
        "merged": "合并 / merged",
        "conflicts": "冲突待人工处理 / conflicts",
        "rejected": "拒绝 / rejected",
        "warnings": "警告 / warnings",
        "legacy_passwords": "保留旧密码哈希 / legacy password hashes kept",
    }
    for key, label in labels.items():
        table.add_row(label, f"{summary[key]:,}")
    Console().print(table)
    if report is not None:
        Console().print(f"报告 / report: {report}")


@app.command("verify-audit")
def verify_audit() -> None:
    """Recompute the SM3 hash chain of the authentication audit trail (exit 1 when broken)."""
    from zhengwu.identity.audit import verify_chain

    settings = _settings()
    node = open_node(settings)
    try:
        with node.unit() as session:
            verdict = verify_chain(session)
    finally:
        node.close()
    if verdict.ok:
        Console().print(f"审计链完整 / audit chain intact: {verdict.checked:,} events")
        return
    broken_at = verdict.broken.seq if verdict.broken else None
    Console().print(f"[red]审计链在第 {broken_at} 条处断裂 / chain broken at seq {broken_at}[/red]")
    raise typer.Exit(1)


@app.command("add-staff")
@privileged(identity_rights.STAFF_MANAGE, bootstrap=True)
def add_staff(
    login_name: Annotated[str, typer.Option("--login-name", help="Login name (3–64 of a-z 0-9 . _ -).")],
    name: Annotated[str, typer.Option("--name", help="The person's name (姓名).")],
    department: Annotated[
        str, typer.Option("--department", help="The department's credit code (统一社会信用代码) or id.")
    ],
    role: Annotated[
        list[str],
        typer.Option("--role", help="A role to grant (repeat for several); see docs/operations.md."),
    ],
    phone: Annotated[str | None, typer.Option("--phone", help="Mobile number (optional).")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input, not a prompt.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the new account as JSON.")] = False,
) -> None:
    """Create a staff account (工作人员账号) bound to a department with roles — the first administrator too."""
    from zhengwu.identity import service
    from zhengwu.identity.roles import STAFF_ROLES, unknown_roles
    from zhengwu.kernel.errors import DomainError
    from zhengwu.orgs import service as orgs

    unknown = unknown_roles(role)
    if unknown:
        console.print(
            f"[red]未知角色 / unknown role:[/red] {', '.join(unknown)}; known: {', '.join(STAFF_ROLES)}"
        )
        raise typer.Exit(2)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("密码 / password", hide_input=True, confirmation_prompt=True, err=True)
    settings = _settings()
    node = open_node(settings)
    try:
        with node.unit() as session:
            try:
                found = (
                    orgs.get_by_credit_code(session, department)
                    if len(department) == 18
                    else orgs.get_department(session, department)
                )
                account = service.register_staff(
                    session,
                    name=name,
                    login_name=login_name,
                    password=password,
                    department_id=found.id,
                    roles=role,
                    phone=phone,
                    source=operator_actor("cli"),
                )
            except DomainError as exc:
                if getattr(exc, "keep_writes", False):
                    session.commit()  # the refusal's audit event stays (every failure is audited)
                console.print(f"[red]未创建 / not created:[/red] {exc.detail} ({exc.instance_code})")
                raise typer.Exit(1) from exc
            created = {
                "account_id": account.id,
                "login_name": account.login_name,
                "department_id": found.id,
                "department": found.name,
                "roles": sorted(set(role)),
            }
    finally:
        node.close()
    if as_json:
        print(json.dumps(created, ensure_ascii=False))
    else:
        Console().print(
            f"已创建工作人员账号 / staff account created: {created['login_name']} ({created['department']})"
        )
    # 等保 8.1.4.1.d: every staff action asks for a second factor (identity.policy, ADR 0010).
    console.print(
        "工作人员须在首次登录后绑定动态验证码（/identity/account）或使用数字证书登录，之后方可执行工作人员操作。"
        " / Staff enrol a TOTP second factor after their first login (or log in with a certificate) before"
        " any staff action."
    )
