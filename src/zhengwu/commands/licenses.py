"""``zhengwu licenses``: license types, issuance, verification and revocation from the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from zhengwu.commands.operator import ensure_department, privileged
from zhengwu.commands.seals import (
    ReportingGroup,
    actor,
    console,
    err_console,
    fail_with,
    node_and_session,
    node_session,
    read_file,
    settings,
)
from zhengwu.licenses import rights as license_rights

app = typer.Typer(
    cls=ReportingGroup,
    help="电子证照 / electronic licenses: types, issuance, verification, revocation.",
    no_args_is_help=True,
)
types_app = typer.Typer(cls=ReportingGroup, help="证照类型 / license types.", no_args_is_help=True)
app.add_typer(types_app, name="types")


def _print_json(body: Any) -> None:
    sys.stdout.write(json.dumps(body, ensure_ascii=False, default=str) + "\n")


@types_app.command("list")
def list_types(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List the license types with their face fields, validity and trust level."""
    from zhengwu.licenses import service
    from zhengwu.licenses.schemas import LicenseTypeRead

    with node_session(settings()) as session:
        rows = [
            LicenseTypeRead.model_validate(t).model_dump(mode="json") for t in service.list_types(session)
        ]
    if as_json:
        _print_json(rows)
        return
    table = Table("代码 code", "名称 name", "定义机构 definer", "持证主体 holder", "有效期 years", "等级")
    for row in rows:
        years = row["validity_years"]
        table.add_row(
            row["code"],
            row["name"],
            row["definer_name"],
            row["holder_kind"],
            str(years or "长期"),
            row["trust_level"],
        )
    console.print(table)


@app.command()
@privileged(license_rights.ISSUE)
def issue(
    type_code: Annotated[str, typer.Option("--type", help="License type code (21 characters).")],
    holder_code: Annotated[str, typer.Option("--holder-code", help="Holder's ID number or credit code.")],
    holder_name: Annotated[str, typer.Option("--holder-name", help="Holder's name.")],
    data: Annotated[Path, typer.Option("--data", help="JSON file with the face fields.")],
    department: Annotated[str, typer.Option("--department", help="Issuing department's credit code.")],
    holder_code_type: Annotated[
        str | None,
        typer.Option("--holder-code-type", help="111 ID number, 001 credit code, 414 passport ..."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Issue a license sealed with the department's seal; prints license_id and the file path."""
    from zhengwu.licenses import service
    from zhengwu.orgs import service as orgs

    try:
        face = json.loads(read_file(data, "照面数据"))
    except ValueError as exc:
        fail_with("照面数据不是有效的 JSON", str(exc))
    if not isinstance(face, dict):
        fail_with("照面数据应为 JSON 对象", "face data must be a JSON object")
    config = settings()
    with node_and_session(config) as (node, session):
        dept = orgs.get_by_credit_code(session, department.strip().upper())
        ensure_department(session, license_rights.ISSUE, dept.id)
        lic = service.issue_license(
            session,
            config,
            type_code=type_code,
            department_id=dept.id,
            holder_name=holder_name,
            holder_code=holder_code,
            holder_code_type=holder_code_type,
            face=face,
            actor=actor(),
            bus=node.bus,
        )
        path = service.files(config)._path(lic.file_sm3)
        body = {"license_id": lic.id, "identifier": lic.identifier, "file": str(path), "status": lic.status}
    if as_json:
        _print_json(body)
        return
    console.print(f"license_id: {body['license_id']}")
    console.print(f"identifier: {body['identifier']}")
    console.print(f"file: {body['file']}")


@app.command()
def verify(
    source: Annotated[Path | None, typer.Argument(help="The license OFD to verify.")] = None,
    license_id: Annotated[str | None, typer.Option("--id", help="Check a license by its identifier.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Verify a license file (seals + registry) or an identifier; exit 0 when valid, 1 otherwise."""
    from zhengwu.licenses import service

    if (source is None) == (license_id is None):
        fail_with("请给出 OFD 文件或 --id（二者择一）", "give FILE.ofd or --id")
    config = settings()
    caller = service.Caller(actor(), "命令行核验")
    with node_session(config) as session:
        if source is not None:
            answer = service.verify_file(session, config, read_file(source, "OFD 文件"), caller=caller)
        else:
            assert license_id is not None
            answer = service.lookup_identifier(session, license_id, caller=caller)
    body = answer.as_json()
    if as_json:
        _print_json(body)
    else:
        out = console if answer.valid else err_console
        out.print(("VALID " if answer.valid else "INVALID ") + body["reason"])
        if body["type_name"]:
            console.print(f"{body['type_name']} · {body['issuer_name']} · {body['status_label']}")
    raise typer.Exit(0 if answer.valid else 1)


def _change(license_id: str, action: str, reason: str) -> None:
    from zhengwu.licenses import lifecycle, service

    with node_and_session(settings()) as (node, session):
        ensure_department(
            session, license_rights.MANAGE, service.get_license(session, license_id).department_id
        )
        lic = service.change_status(session, license_id, action, reason=reason, actor=actor(), bus=node.bus)
        console.print(f"{lic.identifier}: {lifecycle.label(lic.status)}")


@app.command()
@privileged(license_rights.MANAGE)
def revoke(
    license_id: Annotated[str, typer.Argument(help="The license's id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the history).")],
) -> None:
    """Revoke a license for good."""
    _change(license_id, "revoke", reason)


@app.command()
@privileged(license_rights.MANAGE)
def suspend(
    license_id: Annotated[str, typer.Argument(help="The license's id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the history).")],
) -> None:
    """Suspend a license (reversible with resume)."""
    _change(license_id, "suspend", reason)


@app.command()
@privileged(license_rights.MANAGE)
def resume(
    license_id: Annotated[str, typer.Argument(help="The license's id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the history).")],
) -> None:
    """Make a suspended license valid again."""
    _change(license_id, "resume", reason)


def _register_data_commands() -> None:
    # Historical import and the abnormal data queue live in their own module.
    from zhengwu.commands.licenses_data import register

    register(app)


_register_data_commands()
