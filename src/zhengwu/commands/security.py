"""``zhengwu security``: ingest the WAF's audit log, list security events.

Exit codes: 0 done; 1 a failure the operator must fix (an unreadable file, no database). An ingest
that met malformed lines still exits 0: the lines are counted, reported and stored as an event.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from zhengwu.commands.node import node_unit
from zhengwu.commands.operator import OperatorOption, authorise, operator_actor, privileged, required, routine
from zhengwu.commands.seals import ReportingGroup, settings
from zhengwu.kernel.clock import BEIJING, utcnow
from zhengwu.security import rights as security_rights
from zhengwu.security import tlcp

app = typer.Typer(
    cls=ReportingGroup,
    help="安全保障 / security: WAF audit log ingestion, security events.",
    no_args_is_help=True,
)
events_app = typer.Typer(cls=ReportingGroup, help="安全事件 / security events.", no_args_is_help=True)
app.add_typer(events_app, name="events")
console = Console()


def _out(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, default=str) + "\n")


@app.command("ingest-waf")
@routine(
    "每分钟由 cron 运行，结果（游标、事件）即其记录 / cron every minute; its cursor and events are its record",
    record=False,
)
def ingest_waf(
    path: Annotated[Path, typer.Argument(help="ModSecurity JSON audit log (SecAuditLogFormat JSON).")],
    allowance: Annotated[
        int, typer.Option(help="Events kept one by one per source, type and minute; the rest are summarised.")
    ] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Read the new lines of the WAF audit log into security events (again: continues where it stopped)."""
    from zhengwu.security import service

    with node_unit(settings()) as (node, session):
        report = service.ingest_waf(session, path, bus=node.bus, allowance=max(1, allowance))
    if as_json:
        _out(report.as_dict())
        return
    console.print(
        f"读取 {report.lines} 行 / lines: {report.stored} 条事件 / events, "
        f"{report.summarised} 条汇总为 {report.summaries} 条 / summarised, "
        f"{report.duplicates} 条已导入过 / already stored, {report.malformed} 行无法解析 / malformed"
    )
    if report.malformed:
        shown = ", ".join(str(n) for n in report.malformed_lines[:20])
        more = " …" if report.malformed > 20 else ""
        console.print(f"[yellow]无法解析的行号 / malformed lines: {shown}{more}[/yellow]")
    if report.restarted:
        console.print(
            "[yellow]文件已被替换或截断，已从头读取 / the file was rotated: read from its start[/yellow]"
        )


@app.command("posture")
def list_posture(
    as_json: Annotated[bool, typer.Option("--json", help="Print the summaries as JSON.")] = False,
) -> None:
    """This node's own security posture, and the newest summary of every node below (passed on by the
    lower nodes: the node column names the one it came through)."""
    from zhengwu.security import upward

    config = settings()
    with node_unit(config) as (_node, session):
        own = upward.posture(session, config)
        lower = upward.postures(session)
    if as_json:
        _out({"node": own, "lower_nodes": lower})
        return
    table = Table(title="安全态势 / security posture")
    for column in (
        "节点",
        "版本",
        "24 小时事件（严重/高/中）",
        "证书（有效/已过期/即将到期）",
        "审计链",
        "上报时间（北京时间）",
    ):
        table.add_column(column)
    for row in [{"node_id": config.node_id, **own}, *lower]:
        events, certs = row["events_24h"], row["certificates"]
        table.add_row(
            escape(row["node_id"] + (f"（经 {row['via']}）" if row.get("via") else "")),
            escape(row["version"]),
            f"{events['critical']}/{events['high']}/{events['medium']}",
            f"{certs['valid']}/{certs['expired']}/{len(certs['expiring_soon'])}",
            {"intact": "完整", "broken": "校验失败", "unverified": "未校验"}.get(
                row["audit_chain"]["state"], "未知"
            ),
            datetime.fromisoformat(row["reported_at"]).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
        )
    console.print(table)


@events_app.command("list")
def list_events(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 50,
    event_type: Annotated[str | None, typer.Option("--type", help="Only this event type.")] = None,
    min_severity: Annotated[
        str | None, typer.Option("--min-severity", help="info, low, medium, high or critical.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the events as JSON.")] = False,
) -> None:
    """The node's security events, newest first."""
    from zhengwu.security import service
    from zhengwu.security.routes import read
    from zhengwu.security.severity import Severity

    try:
        floor = Severity(min_severity) if min_severity else None
    except ValueError:
        console.print(f"[red]未知的严重程度 / unknown severity: {escape(min_severity or '')}[/red]")
        raise typer.Exit(1) from None
    with node_unit(settings()) as (_node, session):
        rows, total = service.list_events(session, limit=limit, event_type=event_type, min_severity=floor)
        events = [read(row).model_dump(mode="json") for row in rows]
    if as_json:
        _out({"total": total, "events": events})
        return
    table = Table(title=f"安全事件 / security events ({len(events)} / {total})")
    for column in ("时间（北京时间）", "严重程度", "类型", "来源", "次数", "摘要"):
        table.add_column(column)
    for row, event in zip(rows, events, strict=True):
        table.add_row(
            row.occurred_at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
            event["severity_label"],
            event["type_label"],
            escape(
                f"{event['origin'] + ' · ' if event['origin'] else ''}{event['source']} {event['peer'] or ''}".strip()
            ),
            str(event["count"]),
            escape(event["summary"]),
        )
    console.print(table)


notices_app = typer.Typer(
    cls=ReportingGroup,
    help="安全通报 / national security notices: issue, list, handle.",
    no_args_is_help=True,
)
app.add_typer(notices_app, name="notices")


def _notice_step(step: str, notice_id: str, as_json: bool, **kwargs: Any) -> None:
    from zhengwu.audit.changes import actor_of
    from zhengwu.security import notices
    from zhengwu.security.routes import read_notice

    with node_unit(settings()) as (_node, session):
        notice = getattr(notices, step)(
            session, notice_id, actor=operator_actor(actor_of(None, cli=True)), **kwargs
        )
        shown = read_notice(notice, notices.trail(session, notice.id)).model_dump(mode="json")
    if as_json:
        _out(shown)
        return
    console.print(f"{escape(shown['title'])}：{shown['status_label']} / {shown['status']}")


@notices_app.command("issue")
@privileged(security_rights.HANDLE_NOTICES)
def issue_notice(
    title: Annotated[str, typer.Option("--title", help="通报标题 (1-200).")],
    body: Annotated[str, typer.Option("--body", help="通报正文 (1-4000).")],
    to: Annotated[str | None, typer.Option("--to", help="A joined lower node's id.")] = None,
    to_all: Annotated[bool, typer.Option("--all", help="Every lower node.")] = False,
    severity: Annotated[
        str, typer.Option("--severity", help="info, low, medium, high or critical.")
    ] = "high",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Issue a security notice to a lower node (or all); it goes down the exchange's feed."""
    from zhengwu.audit.changes import actor_of
    from zhengwu.security import notices
    from zhengwu.security.routes import read_notice
    from zhengwu.security.severity import Severity

    if (to is None) == (not to_all):
        console.print("[red]请指定 --to 节点 或 --all / give exactly one of --to NODE and --all[/red]")
        raise typer.Exit(1)
    try:
        level = Severity(severity)
    except ValueError:
        console.print(f"[red]未知的严重程度 / unknown severity: {escape(severity)}[/red]")
        raise typer.Exit(1) from None
    config = settings()
    with node_unit(config) as (_node, session):
        notice = notices.issue(
            session, config, to_node=to or notices.EVERY_NODE, title=title, body=body, severity=level,
            actor=operator_actor(actor_of(None, cli=True)),
        )  # fmt: skip
        shown = read_notice(notice).model_dump(mode="json")
    if as_json:
        _out(shown)
        return
    console.print(f"已下发 / issued {shown['id']} → {escape(shown['to_node'])}")


@notices_app.command("list")
def list_notices(
    status: Annotated[
        str | None, typer.Option("--status", help="open, assigned, acknowledged, closed, issued.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Security notices received (and issued), newest first."""
    from zhengwu.security import notices
    from zhengwu.security.routes import read_notices

    with node_unit(settings()) as (_node, session):
        rows = notices.list_notices(session, status=status)
        read = read_notices(session, rows)
        shown = [n.model_dump(mode="json") for n in read]
    if as_json:
        _out({"notices": shown})
        return
    table = Table(title=f"安全通报 / security notices ({len(shown)})")
    for column in ("编号", "下发时间（北京时间）", "来自", "严重程度", "状态", "处理人", "标题", "下级回执"):
        table.add_column(column)
    for row, notice, full in zip(rows, shown, read, strict=True):
        # Issued here: which lower nodes acknowledged or closed it, and when (北京时间).
        receipts = "；".join(
            f"{escape(r.node_id)} {r.status_label} "
            f"{(r.closed_at or r.acknowledged_at or r.received_at).astimezone(BEIJING):%m-%d %H:%M}"
            for r in full.receipts
        )
        table.add_row(
            notice["id"],
            row.issued_at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M"),
            escape(notice["issuer"]),
            notice["severity_label"],
            notice["status_label"],
            escape(notice["assignee"] or ""),
            escape(notice["title"]),
            receipts or ("尚无" if row.direction == "issued" else ""),
        )
    console.print(table)


@notices_app.command("assign")
@privileged(security_rights.HANDLE_NOTICES)
def assign_notice(
    notice_id: str,
    assignee: Annotated[str, typer.Option("--to", help="The staff member's login name.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Give a received notice to a staff member."""
    _notice_step("assign", notice_id, as_json, assignee=assignee)


@notices_app.command("ack")
@privileged(security_rights.HANDLE_NOTICES)
def acknowledge_notice(notice_id: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Acknowledge an assigned notice."""
    _notice_step("acknowledge", notice_id, as_json)


@notices_app.command("close")
@privileged(security_rights.HANDLE_NOTICES)
def close_notice(
    notice_id: str,
    note: Annotated[str, typer.Option("--note", help="What was done (1-2000).")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Close an acknowledged notice with a note."""
    _notice_step("close", notice_id, as_json, note=note)


@app.command("integrity")
def integrity(
    seal: Annotated[bool, typer.Option("--seal", help="Sign a new manifest of the installed files.")] = False,
    manifest: Annotated[
        Path | None,
        typer.Option("--manifest", help="Manifest file (default: DATA_DIR/integrity-manifest.json)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    operator: OperatorOption = None,
) -> None:
    """Check the installed code, templates and static assets against the signed SM3 manifest (or --seal one)."""
    from zhengwu.commands.audit import node_signer, signature_check
    from zhengwu.security import integrity as tamper
    from zhengwu.security import service
    from zhengwu.security.tamper import manifest_path

    config = settings()
    path = manifest or manifest_path(config)
    root = tamper.package_root()
    if seal:
        # Sealing decides what the check trusts from now on: the security administrator's act.
        authorise("security integrity --seal", (security_rights.INTEGRITY,), operator, bootstrap=False)
        with node_unit(config) as (_node, session):
            signer = node_signer(session, config)
        if signer is None:
            console.print("[red]本节点尚未初始化证书体系 / the node has no PKI: run `zhengwu pki init`[/red]")
            raise typer.Exit(1)
        sealed = tamper.seal(root, config.node_id, signer.thumbprint, signer.signer.sign)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(sealed, ensure_ascii=False, indent=1), encoding="utf-8")
        result = {"sealed": str(path), "files": len(sealed["files"]), "sealed_at": sealed["sealed_at"]}
        if as_json:
            _out(result)
        else:
            console.print(
                f"已签署清单 / manifest sealed: {len(sealed['files'])} 个文件 → {escape(str(path))}"
            )
        return
    with node_unit(config) as (node, session):
        report = tamper.check(root, path, signature_check(session))
        if not report.intact:
            service.integrity_finding(session, report.as_dict(), bus=node.bus)
    if as_json:
        _out(report.as_dict())
    elif report.intact:
        console.print(f"完整 / intact: {report.checked} 个文件与清单一致（签署于 {report.sealed_at}）")
    elif not report.manifest_ok:
        console.print(f"[red]清单无法验证 / manifest does not verify: {escape(report.problem or '')}[/red]")
    else:
        for label, names in (("改动 / changed", report.changed), ("新增 / added", report.added),
                             ("删除 / removed", report.removed)):  # fmt: skip
            for name in names:
                console.print(f"[red]{label}: {escape(name)}[/red]")
    if not report.intact:
        raise typer.Exit(1)


#: Why operator sessions ended, as the report groups them (identity.operator records the finer reason).
_SESSION_END_GROUPS = {
    "expired": "expiry",
    "logout": "logout",
    "foreign": "other_terminal",
    "disabled": "account_change",
    "locked": "account_change",
    "factor_changed": "account_change",
    "rights_changed": "account_change",
}


def operator_sessions(session: Any, since: datetime) -> dict[str, Any]:
    """Operator sessions of privileged commands since ``since``: opened, commands run under one, and how
    they ended — a secret presented from another terminal is the figure an assessor asks about."""
    from sqlalchemy import func, select

    from zhengwu.identity.models import AuthEvent, OperatorSession

    opened = session.scalar(select(func.count()).where(OperatorSession.created_at >= since))
    used = session.scalar(
        select(func.count()).where(
            AuthEvent.event_type == "privileged_cli",
            AuthEvent.session_id.is_not(None),
            AuthEvent.occurred_at >= since,
        )
    )
    ended = {group: 0 for group in ("expiry", "logout", "other_terminal", "account_change")}
    for reason, count in session.execute(
        select(OperatorSession.end_reason, func.count())
        .where(OperatorSession.ended_at >= since)
        .group_by(OperatorSession.end_reason)
    ).all():
        group = _SESSION_END_GROUPS.get(reason or "", "other")
        ended[group] = ended.get(group, 0) + int(count)
    now = utcnow()
    still_open = session.scalar(
        select(func.count()).where(OperatorSession.ended_at.is_(None), OperatorSession.expires_at > now)
    )
    return {"opened": int(opened or 0), "commands": int(used or 0), "ended": ended,
            "open_now": int(still_open or 0)}  # fmt: skip


def control_report(session: Any, config: Any) -> dict[str, Any]:
    """The live state of the 等保 / 密评 controls this node implements (docs/security.md)."""
    from sqlalchemy import func, select

    from zhengwu.audit import heads
    from zhengwu.commands.audit import chains, signature_check
    from zhengwu.identity.models import Account, AccountKind, AccountStatus, AuthEvent
    from zhengwu.identity.oidc.models import OidcSigningKey
    from zhengwu.identity.service import accounts_holding_two_administrators
    from zhengwu.pki.models import PkiKey

    backends = dict(session.execute(select(PkiKey.backend, func.count()).group_by(PkiKey.backend)).all())
    oidc_algs = sorted(
        set(session.scalars(select(OidcSigningKey.alg).where(OidcSigningKey.status == "active")))
    )
    staff = list(
        session.scalars(
            select(Account).where(Account.kind == AccountKind.STAFF, Account.status == AccountStatus.ACTIVE)
        )
    )
    without_factor = sorted(a.login_name or a.id for a in staff if not a.totp_enabled)
    since = utcnow() - timedelta(days=30)
    cli_events = dict(
        session.execute(
            select(AuthEvent.event_type, func.count())
            .where(
                AuthEvent.event_type.in_(("privileged_cli", "break_glass")), AuthEvent.occurred_at >= since
            )
            .group_by(AuthEvent.event_type)
        ).all()
    )
    cli_factor = required(config)
    # uvicorn believes X-Forwarded-For/-Proto only from these addresses (its default: 127.0.0.1, the nginx
    # on the same host); "*" would let any client claim https or another address.
    forwarded = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
    forwarded_ok = "*" not in forwarded
    doubled = accounts_holding_two_administrators(session)
    verdicts = heads.verify_all(session, chains(), signature_check(session), config.node_id)
    broken = [v.chain for v in verdicts if not v.ok]
    https = config.public_url.startswith("https://")
    gateway_config = tlcp.configured(config)
    gateway = tlcp.not_configured() if gateway_config is None else tlcp.check(gateway_config)
    controls = {
        "keys_wrapped": {
            "ok": True,  # software keys are stored SM4-GCM-wrapped by construction (pki.keys); HSM keys stay in the HSM
            "pki_keys_by_backend": {str(k): int(v) for k, v in backends.items()},
            "oidc_signing_keys_encrypted": True,
        },
        "algorithms": {
            "ok": True,
            "signatures": "SM2 with SM3 (seals, time-stamps, exchange, audit heads, license payloads)",
            "hash_chains": "SM3",
            "encryption_at_rest": "SM4-GCM (personal data fields, wrapped keys, backups)",
            "integrity_mac": "HMAC-SM3 (blind indexes, backup manifests, webhooks v1sm3)",
            "oidc_token_signing": oidc_algs,
            "note": "OIDC tokens are signed with ES256 for standard relying parties; SM2 is used everywhere else",
        },
        "staff_second_factor": {
            "ok": not without_factor and cli_factor,
            "staff": len(staff),
            "with_totp": len(staff) - len(without_factor),
            "without_totp": without_factor,
            # Privileged commands need the operator's TOTP too (commands.operator): production or
            # ZHENGWU_SECURITY__CLI_SECOND_FACTOR; how often it was used, and break-glass, in 30 days.
            "cli_second_factor": cli_factor,
            "cli_privileged_30d": int(cli_events.get("privileged_cli", 0)),
            "cli_break_glass_30d": int(cli_events.get("break_glass", 0)),
            "cli_sessions_30d": operator_sessions(session, since),
        },
        "three_administrators_apart": {"ok": not doubled, "accounts_holding_two": doubled},
        "audit_chains": {"ok": not broken, "chains": len(verdicts), "broken": broken},
        "transport": {
            "ok": bool(config.production and https and forwarded_ok and gateway["ok"]),
            "production": bool(config.production),
            "public_url_https": https,
            "secure_cookies": bool(config.security.secure_cookies or config.production),
            "forwarded_allow_ips": forwarded,
            "forwarded_trust_narrow": forwarded_ok,
            "tls_termination": "nginx (deploy/nginx: TLS 1.2/1.3); TLCP (GB/T 38636) at a certified 国密 SSL"
            " gateway in front of it (docs/security.md): its handshake and certificates are checked from the"
            " node when ZHENGWU_SECURITY__TLCP_GATEWAY names it (tlcp_gateway), otherwise not observable",
            "tlcp_gateway": gateway,
        },
    }
    return {"ok": all(c["ok"] for c in controls.values()), "node_id": config.node_id, "controls": controls}


_CONTROL_LABELS = {
    "keys_wrapped": "密钥保护 / keys wrapped",
    "algorithms": "密码算法 / algorithms",
    "staff_second_factor": "工作人员双因素 / staff second factor (pages, API and privileged CLI)",
    "three_administrators_apart": "三员分立 / three administrators apart",
    "audit_chains": "审计链完整 / audit chains intact",
    "transport": "传输安全 / transport (HTTPS, secure cookies, proxy trust, TLCP)",
}


@app.command("tlcp-check")
def tlcp_check(
    gateway: Annotated[
        str | None, typer.Option(help="host:port of the gateway (default: ZHENGWU_SECURITY__TLCP_GATEWAY).")
    ] = None,
    ca_file: Annotated[
        Path | None, typer.Option(help="PEM CA certificates (default: ZHENGWU_SECURITY__TLCP_CA_FILE).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Check the TLCP (国密 SSL) gateway in front of the node: it answers a TLCP handshake (0x0101, an SM
    suite) with a signing and an encryption SM2 certificate that chain to the CA and are valid; exit 1
    when not. The product's certification is a recorded document, warned about before it expires."""
    config = settings()
    found = tlcp.configured(config)
    if gateway is not None:
        found = tlcp.GatewayConfig(address=gateway, ca_file=config.security.tlcp_ca_file,
                                   warn_days=config.security.tlcp_warn_days) if found is None else (
                                       dataclasses.replace(found, address=gateway))  # fmt: skip
    if found is None:
        result = tlcp.not_configured() | {"ok": False}
    else:
        if ca_file is not None:
            found = dataclasses.replace(found, ca_file=ca_file)
        result = tlcp.check(found)
    if as_json:
        _out(result)
    elif not result["configured"]:
        console.print(f"[red]{escape(result['note'])}[/red]")
    else:
        head = "通过 / ok" if result["ok"] else "[red]未通过 / failed[/red]"
        console.print(f"TLCP 网关 {escape(result['gateway'])}: {head}")
        if "version" in result:
            console.print(f"  协议 / version: {result['version']}，套件 / suite: {result['cipher_suite']}")
        for role, cert in result.get("certificates", {}).items():
            label = "签名证书 / sign" if role == "sign" else "加密证书 / enc"
            console.print(f"  {label}: {escape(cert['subject'])}，有效期至 {cert['not_after'][:10]}"
                          f"（{cert['days_left']} 天），证书链 {cert['chain']}")  # fmt: skip
        for line in result.get("problems", []):
            console.print(f"  [red]{escape(line)}[/red]")
        for line in result.get("warnings", []):
            console.print(f"  [yellow]{escape(line)}[/yellow]")
    if not result["ok"]:
        raise typer.Exit(1)


@app.command("report")
def report(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """The live state of the 等保 / 密评 controls (keys, algorithms, staff MFA, 三员, audit chains, TLS);
    exit 1 when a control is not met."""
    config = settings()
    with node_unit(config) as (_node, session):
        result = control_report(session, config)
    if as_json:
        _out(result)
    else:
        table = Table("控制项 / control", "状态 / state", "详情 / detail")
        for name, control in result["controls"].items():
            detail = {k: v for k, v in control.items() if k != "ok"}
            table.add_row(
                _CONTROL_LABELS[name],
                "满足 / met" if control["ok"] else "[red]未满足 / not met[/red]",
                escape(json.dumps(detail, ensure_ascii=False, default=str)),
            )
        console.print(table)
    if not result["ok"]:
        raise typer.Exit(1)
