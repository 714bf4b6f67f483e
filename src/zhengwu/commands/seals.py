"""``zhengwu seals``: the seal registry, OFD signing, verification and page previews."""

from __future__ import annotations

import getpass
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.orm import Session
from typer.core import TyperGroup

from zhengwu.commands.node import load_settings, node_unit
from zhengwu.commands.operator import ensure_department, operator_actor, privileged
from zhengwu.kernel.config import Settings
from zhengwu.kernel.errors import DomainError
from zhengwu.kernel.node import Node
from zhengwu.seals import rights as seal_rights

console = Console()
err_console = Console(stderr=True)


def fail(exc: DomainError) -> NoReturn:
    """Print a domain error in Chinese (and English) and exit 1."""
    fail_with(exc.detail, exc.detail_en)


def fail_with(detail_zh: str, detail_en: str | None = None) -> NoReturn:
    """Print a message in Chinese (and English) on stderr and exit 1."""
    english = f" ({escape(detail_en)})" if detail_en and detail_en != detail_zh else ""
    err_console.print(f"[red]{escape(detail_zh)}[/red]{english}")
    raise typer.Exit(1)


class ReportingGroup(TyperGroup):
    """A command group whose commands answer expected failures with a message and exit status 1.

    Domain errors, and the PKI and crypto kernels' input errors (``PkiError``, ``CryptoError``: bad
    certificates, CSRs, keys, a request a PKI rule forbids) are the operator's to fix, not a traceback.
    """

    def invoke(self, ctx: Any) -> Any:  # ctx: the click Context typer vendors (typer._click, private)
        """Run the command; report expected errors instead of raising them."""
        try:
            return super().invoke(ctx)
        except DomainError as exc:
            fail(exc)
        except ValueError as exc:
            # Imported here: both modules are loaded already when one of their errors is raised, and
            # the CLI starts faster without the PKI package.
            from zhengwu.kernel.crypto.errors import CryptoError
            from zhengwu.kernel.pki.errors import PkiError

            if isinstance(exc, PkiError):
                fail_with(exc.message_zh, exc.message)
            if isinstance(exc, CryptoError):
                fail_with("密码运算失败或密钥、签名数据无效", str(exc))  # messages never hold key material
            raise


app = typer.Typer(
    cls=ReportingGroup,
    help="电子印章 / electronic seals: registry, OFD signing, verification.",
    no_args_is_help=True,
)

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_INDETERMINATE = 2


def settings() -> Settings:
    """The node settings (exit 2 with a message when they are invalid); log lines go to stderr."""
    config = load_settings()
    _logs_to_stderr(config.log_level)
    return config


class _StderrLogger:
    """A structlog logger writing to whatever sys.stderr is at the time (test runners swap it)."""

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr)

    debug = info = warning = warn = error = critical = exception = fatal = log = msg


def _logs_to_stderr(level: str) -> None:
    # Unconfigured structlog prints to stdout, which would corrupt `--json` output; a server configures
    # logging itself (main.create_app), so only an unconfigured process is touched.
    import logging

    import structlog

    if not structlog.is_configured():
        structlog.configure(
            wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
            logger_factory=lambda *_: _StderrLogger(),
        )


@contextmanager
def node_session(config: Settings) -> Iterator[Session]:
    """One unit of work on the node database."""
    with node_unit(config) as (_node, session):
        yield session


@contextmanager
def node_and_session(config: Settings) -> Iterator[tuple[Node, Session]]:
    """The node (for its bus) and one unit of work on its database."""
    with node_unit(config) as (node, session):
        yield node, session


def actor() -> str:
    """Who runs the command, for status histories: the verified operator (commands.operator), else the OS
    account."""
    try:
        fallback = f"cli:{getpass.getuser()}"[:100]
    except (KeyError, OSError):
        fallback = "cli"
    return operator_actor(fallback)


def read_file(path: Path, what: str) -> bytes:
    """The bytes of an input file, or exit 1 with a message."""
    try:
        return path.read_bytes()
    except OSError as exc:
        err_console.print(f"[red]无法读取{what} / cannot read {path}: {exc.strerror}[/red]")
        raise typer.Exit(1) from exc


def _seal_json(session: Session, seal: Any) -> dict[str, Any]:
    from zhengwu.orgs import service as orgs
    from zhengwu.seals import service

    department = orgs.get_department(session, seal.department_id)
    cert = service.seal_certificate(session, seal)
    return {
        "es_id": seal.es_id,
        "name": seal.name,
        "seal_type": seal.seal_type,
        "department_credit_code": department.credit_code,
        "department_name": department.name,
        "status": seal.status,
        "status_reason": seal.status_reason,
        "status_changed_at": seal.status_changed_at.isoformat(),
        "valid_start": seal.valid_start.isoformat(),
        "valid_end": seal.valid_end.isoformat(),
        "picture_type": seal.picture_type,
        "certificate_serial": cert.serial,
        "certificate_fingerprint": cert.fingerprint,
        "certificate_status": cert.status,
    }


@app.command("create")
@privileged(seal_rights.MANAGE)
def create(
    department: Annotated[str, typer.Option("--department", help="部门统一社会信用代码 (USCC).")],
    name: Annotated[str, typer.Option("--name", help="印章名称, e.g. 河北省市场监督管理局行政审批专用章.")],
    picture: Annotated[
        Path | None, typer.Option("--picture", help="PNG or SVG picture (default: drawn).")
    ] = None,
    seal_type: Annotated[int, typer.Option("--type", help="印章类型 (1 单位印章).")] = 1,
    years: Annotated[int, typer.Option("--years", help="Validity in years.")] = 5,
    key_backend: Annotated[
        str, typer.Option("--key-backend", help="Signer backend scheme: soft, or a registered HSM.")
    ] = "soft",
    as_json: Annotated[bool, typer.Option("--json", help="Print the seal as JSON.")] = False,
) -> None:
    """Make a GB/T 38540 v4 seal for a department (with its own signer key and certificate)."""
    from zhengwu.orgs import service as orgs
    from zhengwu.seals import service

    config = settings()
    picture_bytes = read_file(picture, "印章图片") if picture is not None else None
    try:
        with node_and_session(config) as (node, session):
            owner = None
            with suppress(DomainError):  # an unknown department is create_seal's refusal, in its words
                owner = orgs.get_by_credit_code(session, department.strip().upper())
            if owner is not None:
                ensure_department(session, seal_rights.MANAGE, owner.id)
            seal = service.create_seal(
                session,
                config,
                department_credit_code=department.strip().upper(),
                name=name,
                actor=actor(),
                picture=picture_bytes,
                seal_type=seal_type,
                valid_years=years,
                key_scheme=key_backend,
                bus=node.bus,
            )
            out = _seal_json(session, seal)
    except DomainError as exc:
        fail(exc)
    if as_json:
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
    else:
        console.print(f"已制作印章 / seal made: {out['es_id']} {out['name']}")


@app.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
    status: Annotated[str | None, typer.Option(help="active, suspended or revoked.")] = None,
) -> None:
    """List the registered seals."""
    from zhengwu.seals import service

    config = settings()
    if status is not None and status not in service.STATUSES:
        err_console.print(f"[red]状态只能是 {', '.join(service.STATUSES)}[/red]")
        raise typer.Exit(1)
    with node_session(config) as session:
        rows, total = service.list_seals(session, status=status, limit=1_000_000)
        items = [_seal_json(session, row) for row in rows]
    if as_json:
        for item in items:
            sys.stdout.write(json.dumps(item, ensure_ascii=False) + "\n")
        return
    table = Table(title=f"电子印章 / seals ({total})")
    for column in ("es_id", "name", "department_name", "status", "valid_end"):
        table.add_column(column)
    for item in items:
        table.add_row(
            item["es_id"], item["name"], item["department_name"], item["status"], item["valid_end"][:10]
        )
    console.print(table)


def _status_command(es_id: str, reason: str | None, action: str, as_json: bool) -> None:
    from zhengwu.seals import service

    config = settings()
    try:
        with node_and_session(config) as (node, session):
            ensure_department(session, seal_rights.MANAGE, service.get_seal(session, es_id).department_id)
            who, bus = actor(), node.bus
            if action == "suspend":
                seal = service.suspend_seal(session, es_id, reason=reason, actor=who, bus=bus)
            elif action == "resume":
                seal = service.resume_seal(session, es_id, reason=reason, actor=who, bus=bus)
            else:
                seal = service.revoke_seal(session, config, es_id, reason=reason, actor=who, bus=bus)
            out = _seal_json(session, seal)
    except DomainError as exc:
        fail(exc)
    if as_json:
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
    else:
        console.print(f"{out['es_id']}: {service.status_label(out['status'])} ({out['status']})")


@app.command("revoke")
@privileged(seal_rights.MANAGE)
def revoke(
    es_id: Annotated[str, typer.Argument(help="esID of the seal.")],
    reason: Annotated[str | None, typer.Option("--reason", help="Why (recorded with the actor).")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Revoke a seal for good (its certificate goes on the CRL)."""
    _status_command(es_id, reason, "revoke", as_json)


@app.command("suspend")
@privileged(seal_rights.MANAGE)
def suspend(
    es_id: Annotated[str, typer.Argument(help="esID of the seal.")],
    reason: Annotated[str | None, typer.Option("--reason")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Suspend a seal (reversible with `resume`)."""
    _status_command(es_id, reason, "suspend", as_json)


@app.command("resume")
@privileged(seal_rights.MANAGE)
def resume(
    es_id: Annotated[str, typer.Argument(help="esID of the seal.")],
    reason: Annotated[str | None, typer.Option("--reason")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Resume a suspended seal."""
    _status_command(es_id, reason, "resume", as_json)


@app.command("status")
def status(
    es_id: Annotated[str, typer.Argument(help="esID of the seal.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show one seal and its status history."""
    from zhengwu.seals import service

    config = settings()
    try:
        with node_session(config) as session:
            seal = service.get_seal(session, es_id)
            out = _seal_json(session, seal)
            out["history"] = [
                {"status": e.status, "reason": e.reason, "actor": e.actor, "at": e.at.isoformat()}
                for e in service.status_history(session, seal)
            ]
    except DomainError as exc:
        fail(exc)
    if as_json:
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        return
    console.print(f"{out['es_id']} {out['name']} — {service.status_label(out['status'])}")
    for event in out["history"]:
        console.print(f"  {event['at']}  {event['status']:<10} {event['actor']}  {event['reason'] or ''}")


@app.command("sign")
@privileged(seal_rights.USE)
def sign(
    source: Annotated[Path, typer.Argument(help="The OFD file to seal.")],
    seal: Annotated[str, typer.Option("--seal", help="esID of the seal.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the signed OFD.")],
    page: Annotated[int | None, typer.Option("--page", help="Page number (1-based).")] = None,
    x: Annotated[float, typer.Option("--x", help="Left edge of the stamp, mm.")] = 0.0,
    y: Annotated[float, typer.Option("--y", help="Top edge of the stamp, mm.")] = 0.0,
    keyword: Annotated[str | None, typer.Option("--keyword", help="Centre the stamp on this text.")] = None,
) -> None:
    """Seal an OFD file (time-stamped by the node TSA); earlier signatures stay valid."""
    from zhengwu.seals import service

    if keyword is not None and page is not None:
        err_console.print("[red]--keyword 与 --page 只能选一个 / give either --keyword or --page[/red]")
        raise typer.Exit(1)
    config = settings()
    data = read_file(source, "OFD 文件")
    try:
        with node_session(config) as session:
            ensure_department(session, seal_rights.USE, service.get_seal(session, seal).department_id)
            signed = service.sign_document(
                session,
                config,
                seal,
                data,
                placement=service.Placement(page=page, x=x, y=y, keyword=keyword),
                actor=actor(),
            )
    except DomainError as exc:
        fail(exc)
    output.write_bytes(signed)
    console.print(f"已签章 / sealed: {output}")


def _print_report(report: dict[str, Any]) -> None:
    colours = {"VALID": "green", "INVALID": "red", "INDETERMINATE": "yellow", "ERROR": "red"}
    verdict = report["verdict"]
    console.print(f"[{colours.get(verdict, 'white')}]验证结论 / verdict: {verdict}[/]")
    for sig in report["signatures"]:
        console.print(
            f"  签章 {sig['id']}: {sig['verdict']}  {sig.get('seal_name') or ''} "
            f"{sig.get('es_id') or ''}  签章人 {sig.get('signer') or '-'}  时间 {sig.get('signed_at') or '-'}",
            markup=False,
            highlight=False,
        )
        for reason in sig["reasons"]:
            console.print(f"    {reason['severity']}: {reason['zh']}", markup=False, highlight=False)
    for reason in report.get("reasons", []):
        console.print(f"  {reason['severity']}: {reason['zh']}", markup=False, highlight=False)


@app.command("verify")
def verify(
    source: Annotated[Path, typer.Argument(help="The OFD file to verify.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the verification report as JSON.")] = False,
    trust: Annotated[
        list[Path] | None, typer.Option("--trust", help="Also trust this CA certificate (repeatable).")
    ] = None,
    cert: Annotated[
        list[Path] | None, typer.Option("--cert", help="Signer certificate for Sign signatures without one.")
    ] = None,
    offline: Annotated[bool, typer.Option("--offline", help="Do not use the node database.")] = False,
) -> None:
    """Verify every signature; exit 0 VALID, 1 INVALID or ERROR, 2 INDETERMINATE."""
    from sqlalchemy.exc import SQLAlchemyError

    from zhengwu.seals import service
    from zhengwu.seals.verify import Verdict

    data = read_file(source, "OFD 文件")
    anchors = [read_file(p, "证书") for p in trust or []]
    certs = [read_file(p, "证书") for p in cert or []]
    try:
        if offline:
            report = service.verify_offline(data, anchors=anchors, extra_certs=certs)
        else:
            config = settings()
            try:
                with node_session(config) as session:
                    report = service.verify_document(
                        session, config, data, extra_anchors=anchors, extra_certs=certs
                    )
            except SQLAlchemyError:
                err_console.print(
                    "[yellow]节点数据库不可用，仅使用 --trust 指定的根证书验证 / "
                    "node database unavailable: verifying with --trust anchors only[/yellow]"
                )
                report = service.verify_offline(data, anchors=anchors, extra_certs=certs)
    except DomainError as exc:
        fail(exc)
    body = report.as_json()
    if as_json:
        sys.stdout.write(json.dumps(body, ensure_ascii=False) + "\n")
    else:
        _print_report(body)
    verdict = report.verdict
    if verdict is Verdict.VALID:
        raise typer.Exit(EXIT_VALID)
    raise typer.Exit(EXIT_INDETERMINATE if verdict is Verdict.INDETERMINATE else EXIT_INVALID)


@app.command("preview")
def preview(
    source: Annotated[Path, typer.Argument(help="The OFD file.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the PNG.")],
    page: Annotated[int, typer.Option("--page", help="Page number (1-based).")] = 1,
    dpi: Annotated[int, typer.Option("--dpi", min=36, max=600)] = 96,
) -> None:
    """Render one page (with its seal stamps) to PNG — needs pdftoppm (poppler-utils)."""
    from zhengwu.seals.ofd.preview import render_preview

    data = read_file(source, "OFD 文件")
    try:
        png = render_preview(data, page=page, dpi=dpi)
    except DomainError as exc:
        fail(exc)
    except (ValueError, OSError, subprocess.SubprocessError) as exc:
        err_console.print(f"[red]无法生成预览 / cannot render the page: {type(exc).__name__}[/red]")
        raise typer.Exit(1) from exc
    output.write_bytes(png)
    console.print(f"已生成预览 / preview written: {output}")
