"""Interface self-test (联调): this node's table specs and signing keys against the national
specification, and a signed round trip of sample rows of every national table with a peer node.

Local checks need nothing but the node: the table specs (all national tables present, the send rule
within the accept rule, a fingerprint of the specs to compare with the other side's), optionally the
national DDL itself (``--ddl``), the topics' tables, and the exchange keys (SM2, certificates valid
and chaining to the CA that must trust them, a signature that verifies).

Against a peer (the upstream node this node joined), one signed batch per national table carries a
sample row at the send limits of every column, plus one row lacking a required column; the peer checks
the rows with its own national column rules only (``POST /exchange/v1/selftest``: nothing is applied,
stored or forwarded) and answers with a receipt signed like every receipt. A table passes when the
receipt verifies (its signer not on the peer's CRL), answers this very batch and accepts the sample row;
the broken row must come back refused with its column.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

import httpx
from sqlalchemy.orm import Session

from zhengwu.exchange import exlog, national, nationalddl
from zhengwu.exchange.canonical import canonical_bytes, sm3_hex
from zhengwu.exchange.credentials import NodeCredential
from zhengwu.exchange.errors import MalformedEnvelope
from zhengwu.exchange.receiving import authenticate_child, check_fresh, parse_batch
from zhengwu.exchange.runtime import ExchangeRuntime
from zhengwu.exchange.signing import ALGORITHM, check_signature, open_envelope, seal, seal_bytes, verify
from zhengwu.exchange.transports import OutboundBatch, OutboundRecord, TransportError
from zhengwu.exchange.transports.http import API, batch_document, post_json, raise_for_answer
from zhengwu.kernel.clock import to_beijing_compact, utcnow
from zhengwu.kernel.db import new_id
from zhengwu.kernel.errors import DomainError
from zhengwu.kernel.pki import TrustStore
from zhengwu.kernel.pki.oids import SM2_SM3 as SM2_WITH_SM3
from zhengwu.kernel.topics import RowError

PATH: Final = "/selftest"
TOPIC_PREFIX: Final = "selftest."
#: Certificates with less left than this are reported (the downlink renews itself at 30 days).
EXPIRY_WARNING: Final = timedelta(days=30)
#: Text put into sample rows: Chinese, as most national columns hold (MySQL utf8 counts characters).
_FILL: Final = "测"


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the report."""

    group: str
    name: str
    ok: bool
    detail: str = ""


@dataclass
class Report:
    """The self-test report: what was checked, on which node, with which result."""

    node_id: str
    node_name: str
    tier: str
    division_code: str
    started_at: str
    spec_fingerprint: str
    against: str | None = None
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return all(c.ok for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "result": "pass" if self.ok else "fail",
            "node_id": self.node_id,
            "node_name": self.node_name,
            "tier": self.tier,
            "division_code": self.division_code,
            "started_at": self.started_at,
            "against": self.against,
            "spec_fingerprint": self.spec_fingerprint,
            "passed": sum(c.ok for c in self.checks),
            "failed": sum(not c.ok for c in self.checks),
            "checks": [asdict(c) for c in self.checks],
        }

    def as_text(self) -> str:
        """The report for a person (and for the national side): one line per check."""
        lines = [
            "接口联调自测报告 / interface self-test report",
            f"节点 node: {self.node_name}（{self.node_id}）  层级 tier: {self.tier}  区划 division: {self.division_code}",
            f"时间 at: {self.started_at}",
            f"国家表规格指纹 spec fingerprint (SM3 of our table specs): {self.spec_fingerprint}",
        ]
        if self.against:
            lines.append(f"对端 peer: {self.against}")
        group = None
        for check in self.checks:
            if check.group != group:
                group = check.group
                lines.append("")
                lines.append(f"[{group}]")
            mark = "通过 PASS" if check.ok else "失败 FAIL"
            lines.append(f"  {mark}  {check.name}" + (f" — {check.detail}" if check.detail else ""))
        passed = sum(c.ok for c in self.checks)
        lines.append("")
        lines.append(
            f"结论 result: {'通过 PASS' if self.ok else '未通过 FAIL'}（{passed}/{len(self.checks)} 项通过）"
        )
        return "\n".join(lines)


def all_tables() -> list[national.NationalTable]:
    """Every national table, upward first, by name."""
    return [*sorted(national.UP_TABLES.values(), key=_name), *sorted(national.DN_TABLES.values(), key=_name)]


def _name(spec: national.NationalTable) -> str:
    return spec.name


def spec_fingerprint() -> str:
    """SM3 of the canonical form of our table specs: two nodes whose fingerprints are equal check
    rows by the same rules."""
    data = [
        [t.name, [[c.name, c.kind, c.length, c.required, c.accept_kind, c.accept_length, c.accept_required,
                   list(c.aliases)] for c in t.ddl_columns]]
        for t in all_tables()
    ]  # fmt: skip
    return "sm3:" + sm3_hex(canonical_bytes(data))


def sample_value(column: national.Column, now: datetime) -> Any:
    """A value at the send limit of ``column`` (longest text, an int, now as national time)."""
    if column.kind == "int":
        return 1
    if column.kind == "datetime":
        return to_beijing_compact(now)
    return _FILL * (column.length or 300)


def sample_row(spec: national.NationalTable, now: datetime) -> dict[str, Any]:
    """Every business column of ``spec`` filled to its send limit."""
    return {c.name: sample_value(c, now) for c in spec.columns}


def broken_row(spec: national.NationalTable, now: datetime) -> tuple[dict[str, Any], str] | None:
    """A sample row lacking one column both readings of the DDL require, and that column's name."""
    column = next((c for c in spec.columns if c.required and c.accept_required), None)
    if column is None:
        return None
    row = sample_row(spec, now)
    row.pop(column.name)
    return row, column.name


def _control(row: dict[str, Any], batch_id: str, data_source: str, now: datetime) -> dict[str, Any]:
    return {**row, "row_guid": new_id(), "cd_batch": batch_id, "cd_operation": "I",
            "cd_time": to_beijing_compact(now), "data_source": data_source}  # fmt: skip


# ---------------------------------------------------------------- local checks


def check_specs(ddl: Path | None) -> Iterator[Check]:
    """The national tables are all there, each sample row at the send limits is accepted by our own
    receiving rules, and (with ``ddl``) the specs equal the national DDL."""
    group = "国家表规格 table specs"
    tables = all_tables()
    yield Check(
        group,
        "国家表数量 tables",
        len(tables) == 57,
        f"{len(national.UP_TABLES)} 张上行表，{len(national.DN_TABLES)} 张下行表",
    )
    now = utcnow()
    narrow: list[str] = []
    for spec in tables:
        row = sample_row(spec, now)
        if national.check_send(spec, row) or national.check_columns(spec, row):
            narrow.append(spec.name)
        for column in spec.columns:
            if column.required and not column.accept_required:
                continue
            if column.accept_required and not column.required:
                narrow.append(f"{spec.name}.{column.name}")
    yield Check(
        group,
        "发送规则不宽于接收规则 send rule within accept rule",
        not narrow,
        "、".join(narrow[:10]) if narrow else "每张表按发送上限填满的样例行均被本节点接收规则接受",
    )
    if ddl is None:
        yield Check(
            group,
            "与国家 DDL 逐列比对 compared with the national DDL",
            True,
            "未提供 --ddl，跳过（测试套件在发布前已比对）",
        )
        return
    try:
        sources = nationalddl.load(ddl)
    except (OSError, ValueError) as exc:
        yield Check(
            group, "与国家 DDL 逐列比对 compared with the national DDL", False, f"无法读取 {ddl}：{exc}"
        )
        return
    found = list(nationalddl.differences(sources))
    yield Check(
        group,
        "与国家 DDL 逐列比对 compared with the national DDL",
        not found,
        f"{len(found)} 处不一致：" + "；".join(found[:10])
        if found
        else f"{len(sources.task_init)} 张表逐列一致（{ddl}）",
    )


def check_topics(runtime: ExchangeRuntime) -> Iterator[Check]:
    """Every registered topic that travels as a national table names one of our specs; topics of this
    platform's own (node status, security notices …) are listed, as they never reach a 前置库."""
    national_topics: list[str] = []
    own: list[str] = []
    for name in runtime.registry.names():
        topic = runtime.registry.get(name)
        if topic is not None and national.table(topic.table) is not None:
            national_topics.append(name)
        else:
            own.append(name)
    detail = f"{len(national_topics)} 个主题按国家表交换"
    if own:
        detail += f"；本平台节点间自有主题（不属国家表）：{'、'.join(own)}"
    yield Check(
        "交换主题 topics", "主题与国家表对应 topics and national tables", bool(national_topics), detail
    )


def _certificate(
    group: str, label: str, credential: NodeCredential, trust: TrustStore | None
) -> Iterator[Check]:
    cert = credential.certificate
    now = utcnow()
    sm2 = cert.is_sm2 and cert.signature_algorithm == SM2_WITH_SM3
    algorithms = f"{cert.key_algorithm} / {cert.signature_algorithm}"
    yield Check(group, f"{label} 算法 algorithm", sm2, "SM2 公钥，SM2-with-SM3 签名" if sm2 else algorithms)
    left = cert.not_after - now
    valid = cert.not_before <= now < cert.not_after
    yield Check(
        group,
        f"{label} 有效期 validity",
        valid and left >= EXPIRY_WARNING,
        f"至 {cert.not_after.isoformat()}（剩余 {max(left.days, 0)} 天）"
        if valid
        else f"不在有效期内：{cert.not_before.isoformat()} — {cert.not_after.isoformat()}",
    )
    if trust is not None:
        result = trust.validate(
            cert, list(credential.chain), purpose="exchange", at=now, check_revocation="none",
            key_usage=["digital_signature"],
        )  # fmt: skip
        yield Check(
            group, f"{label} 证书链 chain", result.ok, "链至信任的交换 CA" if result.ok else result.reason_zh
        )
    document = {"type": "selftest", "nonce": secrets.token_hex(8), "at": now.isoformat()}
    try:
        check_signature(open_envelope(seal(document, credential)))
    except DomainError as exc:
        good, reason = False, exc.detail
    else:
        good, reason = True, f"{ALGORITHM} 签名并验签成功"
    yield Check(group, f"{label} 签名 signature", good, reason)


def check_keys(runtime: ExchangeRuntime) -> Iterator[Check]:
    """The exchange CA, the receipt-signing certificate and (below the national node) the uplink."""
    group = "签名密钥 signing keys"
    credentials = runtime.credentials
    yield from _certificate(group, "交换 CA", credentials.ca(), None)
    yield from _certificate(
        group, "回执签名证书 downlink", credentials.downlink(), credentials.children_trust()
    )
    if not runtime.settings.upstream_url:
        return
    uplink = credentials.uplink()
    if uplink is None:
        yield Check(group, "上行证书 uplink", False, "尚未接入上级节点（zhengwu exchange join）")
        return
    yield from _certificate(group, "上行证书 uplink", uplink, credentials.upstream_trust())


# ---------------------------------------------------------------- peer round trip


def check_peer(
    runtime: ExchangeRuntime,
    url: str,
    *,
    client: httpx.Client | None = None,
    tables: Sequence[str] | None = None,
) -> Iterator[Check]:
    """A signed batch per national table to the peer's self-test endpoint, receipts verified against
    the upstream CA kept at join (the peer is the node this node joined)."""
    group = f"签名往返 signed round trip（{url}）"
    credential = runtime.credentials.uplink()
    if credential is None:
        yield Check(group, "上行证书 uplink", False, "尚未接入该节点：先运行 zhengwu exchange join")
        return
    http = client or httpx.Client(timeout=runtime.settings.exchange.request_timeout_seconds)
    try:
        fingerprints: set[str] = set()
        for spec in all_tables():
            if tables is None or spec.name in tables:
                check, fingerprint = _round_trip(runtime, http, url, credential, spec, group)
                if fingerprint:
                    fingerprints.add(fingerprint)
                yield check
        ours = spec_fingerprint()
        if fingerprints:
            same = fingerprints == {ours}
            yield Check(
                group,
                "对端国家表规格指纹 peer spec fingerprint",
                same,
                "与本节点一致" if same else f"对端 {'、'.join(sorted(fingerprints))}，本节点 {ours}",
            )
    finally:
        if client is None:
            http.close()


def _round_trip(
    runtime: ExchangeRuntime,
    http: httpx.Client,
    url: str,
    credential: NodeCredential,
    spec: national.NationalTable,
    group: str,
) -> tuple[Check, str | None]:
    now = utcnow()
    batch_id = new_id()
    source = runtime.settings.exchange.data_source
    good = _control(sample_row(spec, now), batch_id, source, now)
    rows = [good]
    broken = broken_row(spec, now)
    if broken is not None:
        rows.append(_control(broken[0], batch_id, source, now))
    batch = OutboundBatch(
        batch_id,
        TOPIC_PREFIX + spec.name,
        spec.name,
        tuple(OutboundRecord(i + 1, new_id(), None, None, row) for i, row in enumerate(rows)),
        None,
    )
    name = f"{spec.name} {spec.comment}"
    try:
        body, digest = seal_bytes({**batch_document(runtime.settings, batch), "selftest": True}, credential)
        response = post_json(http, f"{url.rstrip('/')}{API}{PATH}", body, None)
        raise_for_answer(response)
        receipt = _receipt(runtime, http, url, response, batch_id, digest)
    except TransportError as exc:
        return Check(group, name, False, f"往返失败：{exc.message}"), None
    accepted = {str(g) for g in receipt.get("accepted") or []}
    rejected = {
        str(item.get("row_guid")): item for item in receipt.get("rejected") or [] if isinstance(item, dict)
    }
    problems: list[str] = []
    if good["row_guid"] not in accepted:
        refusal = rejected.get(good["row_guid"])
        problems.append(f"样例行被拒收：{refusal.get('reason') if refusal else '回执未提及'}")
    if broken is not None:
        refusal = rejected.get(rows[1]["row_guid"])
        if refusal is None or refusal.get("column") != broken[1]:
            problems.append(f"缺少必填字段 {broken[1]} 的行未被拒收")
    if problems:
        detail = "；".join(problems)
    else:
        detail = "回执已验签，样例行接收" + (f"，缺 {broken[1]} 的行拒收" if broken else "")
    fingerprint = receipt.get("spec_fingerprint")
    return Check(group, name, not problems, detail), fingerprint if isinstance(fingerprint, str) else None


def _receipt(
    runtime: ExchangeRuntime,
    http: httpx.Client,
    url: str,
    response: httpx.Response,
    batch_id: str,
    digest: str,
) -> dict[str, Any]:
    """The verified receipt document answering this batch: the checks of every HTTP receipt, its
    signer checked against the peer's CRL."""

    def fetch() -> bytes:
        answer = http.get(f"{url.rstrip('/')}{API}/crl")
        if answer.status_code != 200:
            raise LookupError(f"peer answered {answer.status_code} for its CRL")
        return answer.content

    try:
        trust = runtime.credentials.upstream_receipt_trust(fetch)
        opened = verify(response.json(), trust, at=utcnow(), revocation="leaf")
    except (ValueError, LookupError, httpx.HTTPError, DomainError) as exc:
        raise TransportError(f"回执无法验证：{exc}", transient=False, code="bad_receipt") from exc
    document = opened.document
    if (
        document.get("type") != "receipt"
        or document.get("selftest") is not True
        or document.get("batch_id") != batch_id
        or document.get("batch_digest") != digest
    ):
        raise TransportError("回执不是对本批次的答复", transient=False, code="bad_receipt")
    return dict(document)


def answer(session: Session, runtime: ExchangeRuntime, envelope: Any) -> dict[str, Any]:
    """The peer side: check a lower node's signed self-test batch by the national column rules only
    and answer with a signed receipt. Nothing is applied, stored or forwarded (the nonce is kept,
    against replays, and the exchange log records the test)."""
    trust = runtime.credentials.children_trust()
    signer = runtime.credentials.downlink()
    opened = open_envelope(envelope)
    if opened.document.get("selftest") is not True:
        raise MalformedEnvelope("不是自测报文", detail_en="not a self-test batch")
    batch = parse_batch(opened.document, max_rows=runtime.settings.exchange.max_batch_rows)
    exlog.lock_head(session)
    authenticate_child(session, trust, opened, batch.sender)
    check_fresh(session, runtime, batch.sender, batch.sent_at, batch.nonce)
    spec = national.table(batch.table)
    accepted: list[str] = []
    rejected: list[dict[str, Any]] = []
    for record in batch.records:
        guid = str(record.row.get("row_guid") or "")
        errors = national.check_control(record.row)
        if spec is None:
            errors.append(RowError("unknown_table", f"接收方未登记该数据表：{batch.table}", None))
        else:
            errors.extend(national.check_columns(spec, record.row))
        if errors:
            rejected.append({"row_guid": guid, "message_id": record.message_id, "code": errors[0].code,
                             "reason": "；".join(e.reason for e in errors)[:2000], "column": errors[0].column})  # fmt: skip
        else:
            accepted.append(guid)
    receipt = seal(
        {
            "type": "receipt",
            "selftest": True,
            "batch_id": batch.batch_id,
            "sender": batch.sender,
            "receiver": runtime.node_id,
            "batch_digest": opened.digest,
            "received_at": utcnow().isoformat(),
            "duplicate": False,
            "spec_fingerprint": spec_fingerprint(),
            "accepted": accepted,
            "rejected": rejected,
        },
        signer,
    )
    exlog.append(
        session, direction="in", kind="selftest.received", peer=batch.sender, ref=batch.batch_id,
        digest=opened.digest, detail={"table": batch.table, "rows": len(batch.records), "accepted": len(accepted)},
    )  # fmt: skip
    return receipt


# ---------------------------------------------------------------- the whole test


def run(
    runtime: ExchangeRuntime,
    *,
    against: str | None = None,
    ddl: Path | None = None,
    client: httpx.Client | None = None,
    tables: Sequence[str] | None = None,
) -> Report:
    """Run the local checks, and the round trip when ``against`` names a peer."""
    settings = runtime.settings
    report = Report(
        node_id=settings.node_id,
        node_name=settings.node_name,
        tier=str(getattr(settings.tier, "value", settings.tier)),
        division_code=settings.division_code,
        started_at=utcnow().isoformat(),
        spec_fingerprint=spec_fingerprint(),
        against=against,
    )
    report.checks.extend(check_specs(ddl))
    report.checks.extend(check_topics(runtime))
    report.checks.extend(check_keys(runtime))
    if against:
        report.checks.extend(check_peer(runtime, against, client=client, tables=tables))
    return report
