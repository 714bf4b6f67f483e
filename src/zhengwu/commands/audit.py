"""``zhengwu audit``: verify every hash chain, sign their heads, list signed heads and the change log.

This module also binds the audit capability to the node's PKI (the audit sits below it): the TSA
identity signs chain heads, and a signed head verifies only against a TSA certificate of this node.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

from zhengwu.audit import chain, changes, heads, reads
from zhengwu.commands.operator import routine
from zhengwu.commands.seals import ReportingGroup, node_session, settings
from zhengwu.kernel.config import Settings
from zhengwu.kernel.errors import DomainError
from zhengwu.kernel.logging import get_logger
from zhengwu.kernel.session import unit_of_work

app = typer.Typer(
    cls=ReportingGroup,
    help="安全审计 / audit: hash chains, signed chain heads, the change log.",
    no_args_is_help=True,
)
log = get_logger("zhengwu.audit")
console = Console()
err_console = Console(stderr=True)


def chains() -> list[chain.ChainSpec]:
    """Every hash chain of the node (the composition root knows them all)."""
    from zhengwu.exchange import exlog
    from zhengwu.identity import audit as identity_audit

    return [identity_audit.CHAIN, exlog.CHAIN, changes.CHAIN, reads.CHAIN]


def node_signer(session: Session, config: Settings) -> heads.NodeSigner | None:
    """The node's signing identity for chain heads (its TSA), or None before ``pki init``."""
    from zhengwu.kernel.pki.issuance import CertProfile
    from zhengwu.pki import authority
    from zhengwu.pki.errors import PkiNotInitialized

    try:
        tsa = authority.authority(session, config, CertProfile.TSA)
    except PkiNotInitialized:
        return None
    return heads.NodeSigner(config.node_id, tsa.signer, tsa.certificate.fingerprint)


def signature_check(session: Session) -> heads.SignatureCheck:
    """Verifies a head signature with this node's TSA certificate of that thumbprint (no other)."""
    from zhengwu.pki.tsa import signature_check as tsa_check

    return tsa_check(session)


def seal(session: Session, config: Settings) -> list[Any] | None:
    """Sign every chain head that grew (None when the node has no PKI yet)."""
    signer = node_signer(session, config)
    if signer is None:
        return None
    return heads.seal_heads(session, chains(), signer, report=bool(config.upstream_url))


def seal_if_due(factory: sessionmaker[Session], config: Settings) -> int:
    """The worker's periodic seal (``ZHENGWU_AUDIT__SEAL_MINUTES``); returns how many heads were signed."""
    if config.audit.seal_minutes <= 0:
        return 0
    try:
        with unit_of_work(factory) as session:
            if not heads.due(session, config.audit.seal_minutes):
                return 0
            sealed = seal(session, config)
    except (DomainError, ValueError) as exc:
        # A key the ring cannot unwrap (CryptoError is a ValueError) must not stop the worker's other duties.
        log.warning("audit_seal_failed", error=type(exc).__name__)
        return 0
    return len(sealed or [])


def _out(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, default=str) + "\n")


def _report_breaks(config: Settings, broken: list[chain.Verdict]) -> None:
    """Each broken chain becomes a critical security event (its own unit: the verdict stands regardless)."""
    from zhengwu.commands.node import node_unit
    from zhengwu.security.service import chain_broken

    with node_unit(config) as (node, session):
        for verdict in broken:
            if verdict.broken is not None:
                chain_broken(session, verdict.chain, verdict.broken.seq, verdict.broken.kind, bus=node.bus)


def _report_intact(config: Settings, chains: int) -> None:
    """An intact verification is recorded too: the security posture reports the last outcome."""
    from zhengwu.commands.node import node_unit
    from zhengwu.security.service import chain_verified

    with node_unit(config) as (node, session):
        chain_verified(session, chains, bus=node.bus)


@app.command("verify")
def verify(
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdicts as JSON.")] = False,
) -> None:
    """Walk every hash chain and compare it with its signed heads; exit 1 on the first break of any chain."""
    config = settings()
    with node_session(config) as session:
        verdicts = heads.verify_all(session, chains(), signature_check(session), config.node_id)
    broken = [v for v in verdicts if not v.ok]
    if broken:
        _report_breaks(config, broken)
    else:
        _report_intact(config, len(verdicts))
    if as_json:
        _out({"ok": not broken, "chains": [v.as_dict() for v in verdicts]})
    else:
        for v in verdicts:
            signed = f", signed up to {v.signed_seq}" if v.signed_seq is not None else ", no signed head"
            if v.broken is None:
                console.print(f"{v.chain}: 完整 / intact — {v.checked:,} records{signed}")
            else:
                b = v.broken
                console.print(
                    f"[red]{v.chain}: 第 {b.seq} 条 {b.kind}[/red] — {escape(b.message_zh)} / {escape(b.message)}"
                )
    if broken:
        raise typer.Exit(1)


@app.command("seal")
@routine(
    "与 zhengwu worker 每隔若干分钟所做相同 / the worker does the same every few minutes",
    # Its signed heads are its record; an event of its own would make the chain it signs grow every run.
    record=False,
)
def seal_command(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Sign every chain head that grew since its last seal (node TSA key) and report it upward."""
    config = settings()
    with node_session(config) as session:
        sealed = seal(session, config)
        rows = [heads.report_payload(config.node_id, row) for row in sealed or []]
    if sealed is None:
        err_console.print("[red]本节点尚未初始化证书体系 / the node has no PKI: run `zhengwu pki init`[/red]")
        raise typer.Exit(1)
    if as_json:
        _out({"sealed": rows})
        return
    if not rows:
        console.print("链头均已签名 / every chain head is already signed")
    for row in rows:
        console.print(f"{row['chain']}: seq {row['seq']} {row['hash'][:16]}… signed")


@app.command("heads")
def heads_command(
    chain_name: Annotated[str | None, typer.Option("--chain", help="Only this chain.")] = None,
    reported: Annotated[bool, typer.Option("--reported", help="Heads reported by lower nodes.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List the signed chain heads (newest first), this node's or those reported by lower nodes."""
    config = settings()
    with node_session(config) as session:
        if reported:
            found: list[dict[str, Any]] = [
                {
                    "sender": r.sender,
                    "chain": r.chain,
                    "seq": r.seq,
                    "hash": r.hash,
                    "signed_at": r.signed_at,
                    "received_at": r.received_at,
                }
                for r in heads.reported_heads(session, limit=limit)
                if chain_name is None or r.chain == chain_name
            ]
        else:
            found = [
                {"chain": r.chain, "seq": r.seq, "hash": r.hash, "signed_at": r.signed_at, "signer": r.signer}
                for r in heads.signed_heads(session, chain_name, limit=limit)
            ]
    if as_json:
        _out({"heads": found})
        return
    table = Table("chain", "seq", "hash", "signed at", *(["sender"] if reported else []))
    for h in found:
        table.add_row(h["chain"], str(h["seq"]), h["hash"][:16] + "…", str(h["signed_at"]),
                      *([h["sender"]] if reported else []))  # fmt: skip
    console.print(table)


@app.command("changes")
def changes_command(
    entity: Annotated[
        str | None, typer.Option("--entity", help="Only this kind of object (seal, department …).")
    ] = None,
    entity_id: Annotated[str | None, typer.Option("--id", help="Only this object.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List the change log (newest first): who changed what, where, before and after."""
    config = settings()
    with node_session(config) as session:
        rows = changes.list_changes(session, entity=entity, entity_id=entity_id, limit=limit)
        found = [
            {
                "seq": r.seq,
                "at": r.at,
                "actor": r.actor,
                "action": r.action,
                "entity": r.entity,
                "entity_id": r.entity_id,
                "department_id": r.department_id,
                "before": r.before,
                "after": r.after,
            }
            for r in rows
        ]
    if as_json:
        _out({"changes": found})
        return
    table = Table("seq", "at", "actor", "action", "entity", "id", "department")
    for c in found:
        cells = (
            c["seq"],
            f"{c['at']:%Y-%m-%d %H:%M:%S}",
            c["actor"],
            c["action"],
            c["entity"],
            c["entity_id"],
        )
        table.add_row(*(str(x) for x in cells), str(c["department_id"] or ""))
    console.print(table)
