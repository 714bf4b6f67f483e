"""``zhengwu pki``: the node's SM2 CA, trust anchors of other PKIs, CRLs and exchange certificates."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from zhengwu.commands.operator import privileged
from zhengwu.commands.seals import ReportingGroup, actor, fail, node_session, read_file, settings
from zhengwu.identity import rights as identity_rights
from zhengwu.kernel.errors import DomainError

# ReportingGroup: PkiError / CryptoError / domain errors of any command become a message and exit 1.
app = typer.Typer(
    cls=ReportingGroup, help="证书体系 / the node's SM2 PKI: CA, trust anchors, CRLs.", no_args_is_help=True
)
trust_app = typer.Typer(
    cls=ReportingGroup,
    help="受信任的外部根证书 / external CA roots this node trusts.",
    no_args_is_help=True,
)
app.add_typer(trust_app, name="trust")
console = Console()
err_console = Console(stderr=True)


def _cert_json(cert: Any) -> dict[str, Any]:
    return {
        "subject": str(cert.subject),
        "serial": f"{cert.serial_number:X}",
        "fingerprint": cert.fingerprint,
        "not_before": cert.not_before.isoformat(),
        "not_after": cert.not_after.isoformat(),
        "crl_urls": list(cert.crl_urls),
    }


@app.command("init")
@privileged(identity_rights.PKI_MANAGE, bootstrap=True)
def init(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Create the node's SM2 root CA, issuing CA, seal maker and TSA (idempotent, never overwrites)."""
    from zhengwu.pki import authority

    config = settings()
    try:
        with node_session(config) as session:
            summary = authority.init_pki(session, config)
    except DomainError as exc:
        fail(exc)
    out = {
        "created": list(summary.created),
        "certificates": {k: _cert_json(v) for k, v in summary.certificates.items()},
        "crl_urls": {slug: authority.crl_url(config, slug) for slug in authority.INIT_SLUGS},
    }
    if as_json:
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        return
    if summary.created:
        console.print(f"已创建 / created: {', '.join(summary.created)}")
    else:
        console.print("证书体系已存在，未做改动 / PKI already initialised, nothing changed")
    for profile, cert in summary.certificates.items():
        console.print(f"  {profile:<12} {cert.fingerprint[:16]}  {cert.subject}")


@app.command("show")
def show(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show the node's CA, maker, TSA and exchange certificates and the current CRLs."""
    from zhengwu.kernel.pki import CertProfile, load_certificate
    from zhengwu.pki import authority
    from zhengwu.pki.repository import PkiRepository

    config = settings()
    out: dict[str, Any] = {"initialized": False, "certificates": {}, "crls": {}}
    with node_session(config) as session:
        repo = PkiRepository(session)
        out["initialized"] = authority.is_initialized(session)
        own = (CertProfile.ROOT_CA, CertProfile.ISSUING_CA, CertProfile.SEAL_MAKER, CertProfile.TSA)
        for profile in (*own, authority.EXCHANGE_CA, authority.EXCHANGE_DOWNLINK):
            row = repo.current(profile)
            if row is not None:
                out["certificates"][profile] = _cert_json(load_certificate(row.der))
                crl = repo.latest_crl(row.id)
                if crl is not None:
                    out["crls"][profile] = {
                        "number": crl.number,
                        "this_update": crl.this_update.isoformat(),
                        "next_update": crl.next_update.isoformat(),
                    }
    if as_json:
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        return
    if not out["initialized"]:
        console.print("尚未初始化，请运行 zhengwu pki init / not initialised: run `zhengwu pki init`")
        return
    for profile, cert in out["certificates"].items():
        console.print(
            f"{profile:<12} {cert['fingerprint'][:16]}  {cert['subject']}  → {cert['not_after'][:10]}"
        )
    for profile, crl in out["crls"].items():
        console.print(f"CRL {profile:<8} #{crl['number']}  nextUpdate {crl['next_update']}")


@app.command("crl")
def crl(
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the CRL.")],
    ca: Annotated[str, typer.Option("--ca", help="root, issuing or exchange.")] = "issuing",
    pem: Annotated[bool, typer.Option("--pem", help="PEM instead of DER.")] = False,
) -> None:
    """Write the current CRL of a node CA (re-issued first when due)."""
    from zhengwu.kernel.pki import load_crl
    from zhengwu.pki import authority

    config = settings()
    try:
        with node_session(config) as session:
            row = authority.current_crl(session, config, ca)
            der = row.der
    except DomainError as exc:
        fail(exc)
    output.write_bytes(load_crl(der).to_pem() if pem else der)
    console.print(f"已写出 / written: {output}")


@app.command("export-ca")
def export_ca(
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the certificate(s) (PEM).")],
    ca: Annotated[
        str, typer.Option("--ca", help="chain (root + issuing), root, issuing or exchange.")
    ] = "chain",
) -> None:
    """Write the node CA certificates, for `pki trust add` / `seals verify --trust` elsewhere."""
    from zhengwu.kernel.pki import load_certificate
    from zhengwu.pki import authority

    config = settings()
    slugs = list(authority.INIT_SLUGS) if ca == "chain" else [ca]
    try:
        with node_session(config) as session:
            ders = [authority.ca_certificate(session, slug).der for slug in slugs]
    except DomainError as exc:
        fail(exc)
    output.write_bytes(b"".join(load_certificate(der).to_pem() for der in ders))
    console.print(f"已写出 / written: {output}")


@app.command("revoke")
@privileged(identity_rights.PKI_MANAGE)
def revoke(
    certificate: Annotated[str, typer.Argument(help="Serial number (hex) or SM3 fingerprint.")],
    reason: Annotated[str, typer.Option("--reason", help="CRLReason, e.g. key_compromise.")] = "unspecified",
) -> None:
    """Revoke a certificate this node issued and re-issue the CRL."""
    from zhengwu.kernel.pki import RevocationReason
    from zhengwu.pki import authority

    try:
        crl_reason = RevocationReason(reason)
    except ValueError as exc:
        err_console.print(
            f"[red]未知的撤销原因 / unknown reason; one of {', '.join(r.value for r in RevocationReason)}[/red]"
        )
        raise typer.Exit(1) from exc
    config = settings()
    try:
        with node_session(config) as session:
            row = authority.find_certificate(session, certificate)
            authority.revoke_certificate(session, config, row, reason=crl_reason, actor=actor())
            serial = row.serial
    except DomainError as exc:
        fail(exc)
    console.print(f"已撤销 / revoked: {serial}")


@app.command("issue-exchange")
@privileged(identity_rights.PKI_MANAGE)
def issue_exchange(
    csr: Annotated[Path, typer.Argument(help="The peer node's SM2 CSR (PEM or DER).")],
    node_id: Annotated[str, typer.Option("--node-id", help="The peer node's id.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the certificate (PEM).")],
    days: Annotated[int, typer.Option("--days", min=1, max=3650)] = 365,
) -> None:
    """Issue a node-to-node exchange certificate from a peer's CSR."""
    from zhengwu.pki import authority

    config = settings()
    data = read_file(csr, "证书申请")
    try:
        with node_session(config) as session:
            cert = authority.issue_exchange_certificate(session, config, data, node_id, days=days)
    except DomainError as exc:
        fail(exc)
    output.write_bytes(cert.to_pem())
    console.print(f"已签发 / issued: {cert.fingerprint[:16]} {cert.subject}")


@trust_app.command("add")
@privileged(identity_rights.PKI_MANAGE)
def trust_add(
    certificate: Annotated[Path, typer.Argument(help="CA certificate (PEM/DER, or a PEM bundle).")],
    purposes: Annotated[
        list[str], typer.Option("--for", help="seals, exchange, timestamping or login (repeatable).")
    ],
    crl_file: Annotated[Path | None, typer.Option("--crl", help="A CRL of this CA (PEM/DER).")] = None,
    crl_url: Annotated[str | None, typer.Option("--crl-url", help="Where to fetch this CA's CRL.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Trust an external CA root for seals and/or exchange (its CRL from a file or a URL)."""
    from zhengwu.pki import authority

    config = settings()
    data = read_file(certificate, "证书")
    crl_data = read_file(crl_file, "撤销列表") if crl_file is not None else None
    try:
        with node_session(config) as session:
            rows = authority.add_trust_anchors(
                session, data, purposes=purposes, actor=actor(), crl=crl_data, crl_url=crl_url
            )
            out = [_anchor_json(row) for row in rows]
    except DomainError as exc:
        fail(exc)
    if as_json:
        for item in out:
            sys.stdout.write(json.dumps(item, ensure_ascii=False) + "\n")
        return
    for item in out:
        console.print(
            f"已信任 / trusted: {item['fingerprint'][:16]} {item['subject']} ({', '.join(item['purposes'])})"
        )


def _anchor_json(row: Any) -> dict[str, Any]:
    return {
        "fingerprint": row.fingerprint,
        "subject": row.subject,
        "purposes": list(row.purposes),
        "crl_url": row.crl_url,
        "has_crl": row.crl_der is not None,
        "not_after": row.not_after.isoformat(),
        "added_by": row.added_by,
        "added_at": row.added_at.isoformat(),
    }


@trust_app.command("list")
def trust_list(as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False) -> None:
    """List the external CA roots this node trusts."""
    from zhengwu.pki import authority

    config = settings()
    with node_session(config) as session:
        out = [_anchor_json(row) for row in authority.list_trust_anchors(session)]
    if as_json:
        for item in out:
            sys.stdout.write(json.dumps(item, ensure_ascii=False) + "\n")
        return
    table = Table(title=f"受信任的根证书 / trust anchors ({len(out)})")
    for column in ("fingerprint", "subject", "purposes", "crl", "not_after"):
        table.add_column(column)
    for item in out:
        crl_text = item["crl_url"] or ("file" if item["has_crl"] else "-")
        table.add_row(
            item["fingerprint"][:16],
            item["subject"],
            ",".join(item["purposes"]),
            crl_text,
            item["not_after"][:10],
        )
    console.print(table)


@trust_app.command("remove")
@privileged(identity_rights.PKI_MANAGE)
def trust_remove(
    fingerprint: Annotated[str, typer.Argument(help="SM3 fingerprint (at least 8 hex digits).")],
) -> None:
    """Stop trusting an external CA root."""
    from zhengwu.pki import authority

    config = settings()
    try:
        with node_session(config) as session:
            row = authority.remove_or_find(session, fingerprint, remove=True, actor=actor())
            subject = row.subject
    except DomainError as exc:
        fail(exc)
    console.print(f"已移除 / removed: {subject}")
