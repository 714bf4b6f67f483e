"""Verification services (共享核验): person, legal person and license checks.

Answers are match / no-match plus the minimum fields (status, type) and never echo the query's personal
data (conventions §4). Only authorised clients may ask (client credentials + scope, checked by the
authoriser the composition root installs); each caller is rate-limited; every query is audited with a
keyed SM3 index of the query, never the query itself (conventions §3). The national node answers from
its registries, which hold keyed SM3 indexes only. A lower node answers a match from what it holds itself
(a license a node below it reported, a copy shared down to it, a registry loaded here) and otherwise asks
its upstream over the signed exchange — which does the same, so the nearest tier holding the record
answers — keeping the answer for a short time (``verify_cache_seconds``) at every hop. Every hop audits
the query, and checks the upstream's signed answer against the upstream's current CRL.
"""

from __future__ import annotations

import json
import secrets
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final, Protocol

import httpx
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from zhengwu.audit.reads import record_read
from zhengwu.exchange import exlog
from zhengwu.exchange.canonical import canonical_bytes
from zhengwu.exchange.errors import (
    InvalidQuery,
    MalformedEnvelope,
    NotJoined,
    Replayed,
    UpstreamFailed,
    VerificationRateLimited,
)
from zhengwu.exchange.models import (
    RegistryLegalPerson,
    RegistryLicense,
    RegistryPerson,
    VerificationAudit,
    VerificationCache,
)
from zhengwu.exchange.receiving import authenticate_child, check_fresh, parse_time
from zhengwu.exchange.runtime import ExchangeRuntime
from zhengwu.exchange.servicekeys import PERSON_ACCOUNT
from zhengwu.exchange.signing import open_envelope, seal
from zhengwu.exchange.topics import InboundRow
from zhengwu.exchange.transports import TransportError
from zhengwu.exchange.transports.http import API, open_from_upstream, post_json, raise_for_answer
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.codes import validate_citizen_id, validate_license_id, validate_uscc
from zhengwu.kernel.config import Settings
from zhengwu.kernel.crypto import hmac_sm3
from zhengwu.kernel.db import dialect_insert
from zhengwu.kernel.errors import DomainError
from zhengwu.kernel.logging import current_trace_id, get_logger
from zhengwu.kernel.node import service_in
from zhengwu.kernel.ratelimit import RateLimiter, SharedRateLimiter
from zhengwu.kernel.topics import RowError

log = get_logger("zhengwu.exchange.verification")

KINDS: Final = ("person", "legal_person", "license")
SCOPES: Final = {kind: f"verify:{kind}" for kind in KINDS}


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated client of the verification services."""

    client_id: str
    scopes: frozenset[str]
    node: str | None = None


class CallerAuthorizer(Protocol):
    """Checks the request's client credentials and that ``scope`` was granted; returns the caller."""

    def __call__(self, authorization: str | None, scope: str) -> Caller:
        """Raise VerificationUnauthenticated / VerificationDenied, or return the caller."""
        ...


def registry_key(settings: Settings) -> bytes:
    """Key of the keyed SM3 indexes of registries, caches and audit records (derived from the node secret)."""
    secret = settings.security.secret_key.get_secret_value().encode()
    return hmac_sm3(secret, b"zhengwu/exchange/registry-index/v1")


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().upper()


def index(key: bytes, *parts: str) -> str:
    """Keyed SM3 (HMAC-SM3) of normalised parts, as hex."""
    return hmac_sm3(key, "\x1f".join(_norm(p) for p in parts).encode()).hex()


def _name(value: Any, label: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value.strip()) <= 100:
        raise InvalidQuery(f"{label}无效", detail_en=f"{label} must be 1-100 characters")
    return value.strip()


def normalise_query(kind: str, data: Mapping[str, Any]) -> dict[str, str]:
    """Check a query's fields (check digits included) without ever echoing them back."""
    if kind == "person":
        verdict = validate_citizen_id(data.get("id_number"))
        if not verdict.ok:
            raise InvalidQuery(
                "公民身份号码无效", detail_en="invalid citizen ID number", extra={"field": "id_number"}
            )
        return {"name": _name(data.get("name"), "姓名"), "id_number": verdict.value}
    if kind == "legal_person":
        verdict = validate_uscc(data.get("credit_code"))
        if not verdict.ok:
            raise InvalidQuery(
                "统一社会信用代码无效", detail_en="invalid credit code", extra={"field": "credit_code"}
            )
        return {
            "credit_code": verdict.value,
            "name": _name(data.get("name"), "名称"),
            "legal_representative": _name(data.get("legal_representative"), "法定代表人"),
        }
    if kind == "license":
        verdict = validate_license_id(data.get("identifier"))
        if not verdict.ok:
            raise InvalidQuery(
                "电子证照标识无效", detail_en="invalid e-license identifier", extra={"field": "identifier"}
            )
        holder = data.get("holder")
        return {"identifier": verdict.value, "holder": _name(holder, "持证主体")}
    raise InvalidQuery("未知的核验类型", detail_en=f"unknown verification kind {kind!r}")


def query_index(key: bytes, kind: str, query: Mapping[str, str]) -> str:
    """The keyed index of a whole query (cache key and audit reference)."""
    return index(key, kind, canonical_bytes(dict(query)).decode())


def answer_from_registry(session: Session, key: bytes, kind: str, query: Mapping[str, str]) -> dict[str, Any]:
    """Match / no-match plus minimum fields, from this node's registries."""
    if kind == "person":
        person = session.scalars(
            select(RegistryPerson).where(RegistryPerson.id_index == index(key, query["id_number"]))
        ).first()
        if person is None or person.name_index != index(key, query["name"]):
            return {"match": False}
        return {"match": True, "status": person.status}
    if kind == "legal_person":
        org = session.scalars(
            select(RegistryLegalPerson).where(
                RegistryLegalPerson.code_index == index(key, query["credit_code"])
            )
        ).first()
        if (
            org is None
            or org.name_index != index(key, query["name"])
            or org.legal_rep_index != index(key, query["legal_representative"])
        ):
            return {"match": False}
        return {"match": True, "status": org.status, "entity_type": org.entity_type}
    lic = session.scalars(
        select(RegistryLicense).where(RegistryLicense.identifier_index == index(key, query["identifier"]))
    ).first()
    holder = index(key, query["holder"])
    if lic is None or holder not in (lic.holder_index, lic.holder_code_index):
        return {"match": False}
    return {"match": True, "status": lic.status, "license_type": lic.license_type}


def limiter(runtime: ExchangeRuntime) -> RateLimiter:
    """The process's own rate limiter of the verification services (``rate_limit_store=memory``)."""
    found = runtime.extras.get("verify_limiter")
    if not isinstance(found, RateLimiter):
        found = RateLimiter(runtime.settings.exchange.verify_rate_per_minute)
        runtime.extras["verify_limiter"] = found
    return found


def _allowed(session: Session, runtime: ExchangeRuntime, key: str) -> bool:
    """Take one verification for ``key``: from the node-wide bucket in the database, or this process's.

    The database bucket is taken in the request's own transaction: by now it may hold SQLite's write lock
    (the signed exchange route has stored its nonce), so a unit of work beside it would wait for itself.
    A refused query rolls back and spends nothing; an answered one commits its token with the answer."""
    if runtime.settings.security.rate_limit_store == "database":
        shared = SharedRateLimiter("exchange.verify", runtime.settings.exchange.verify_rate_per_minute)
        return shared.take(session, key)[0]
    return limiter(runtime).allow(key)


def _audit(
    session: Session,
    kind: str,
    caller: Caller,
    purpose: str | None,
    qindex: str,
    outcome: str,
    answered_by: str,
) -> VerificationAudit:
    row = VerificationAudit(
        kind=kind,
        caller=caller.client_id[:128],
        caller_node=caller.node,
        purpose=(purpose or "")[:200] or None,
        query_index=qindex,
        outcome=outcome,
        answered_by=answered_by,
        trace_id=current_trace_id(),
    )
    session.add(row)
    session.flush()
    return row


def check(
    session: Session,
    runtime: ExchangeRuntime,
    kind: str,
    data: Mapping[str, Any],
    caller: Caller,
    *,
    purpose: str | None = None,
) -> dict[str, Any]:
    """Answer one verification query for an authorised caller (registry, cache or upstream); refused and
    failed queries are audited too (in a transaction of their own: the request's is rolled back)."""
    _PENDING.set(None)
    key = registry_key(runtime.settings)
    try:
        query = normalise_query(kind, data)
    except InvalidQuery:
        raw = {k: str(v) for k, v in data.items() if isinstance(v, str | int)}
        _audit_apart(runtime, kind, caller, purpose, query_index(key, kind, raw), "invalid", "validation")
        raise
    qindex = query_index(key, kind, query)
    if not _allowed(session, runtime, f"{caller.node or ''}/{caller.client_id}"):
        _audit_apart(runtime, kind, caller, purpose, qindex, "refused", "rate_limit")
        raise VerificationRateLimited()
    try:
        answer, answered_by = _resolve(session, runtime, key, kind, query, qindex, caller, purpose)
    except DomainError:
        _audit_apart(runtime, kind, caller, purpose, qindex, "error", "upstream")
        raise
    audit = _audit(
        session, kind, caller, purpose, qindex, "match" if answer.get("match") else "no_match", answered_by
    )
    if kind == "person":
        _record_person_read(session, query["id_number"], caller, purpose)
    log.info(
        "exchange_verification", kind=kind, caller=caller.client_id, outcome=audit.outcome, by=answered_by
    )
    return {**answer, "query_id": audit.id}


#: What a person verification read, as the data-use log names it (the portal puts it in words).
PERSON_READ: Final = "verification.real_name"


def _record_person_read(session: Session, id_number: str, caller: Caller, purpose: str | None) -> None:
    """A person verified by a client of this node, who has an account here, sees the query in their
    data-use log (who asked, why; whatever the answer) — the registries' own records are not accounts."""
    lookup = service_in(session, PERSON_ACCOUNT)
    account_id = lookup(session, id_number) if lookup is not None else None
    if account_id is not None:
        record_read(session, account_id, f"client:{caller.client_id}", purpose or "共享核验", PERSON_READ)


def answers_locally(runtime: ExchangeRuntime) -> bool:
    """True on the node that holds the registries (the national node, or a node without upstream)."""
    return runtime.is_national or not runtime.settings.upstream_url


def _audit_apart(
    runtime: ExchangeRuntime,
    kind: str,
    caller: Caller,
    purpose: str | None,
    qindex: str,
    outcome: str,
    by: str,
) -> None:
    """Queue the audit row of a refused query; the HTTP edge writes it with :func:`write_refusal_audit`
    once the request's transaction has been rolled back (it may hold SQLite's write lock)."""
    _PENDING.set((kind, caller, purpose, qindex, outcome, by))


_PENDING: ContextVar[tuple[str, Caller, str | None, str, str, str] | None] = ContextVar(
    "zhengwu_exchange_pending_audit", default=None
)


def write_refusal_audit(runtime: ExchangeRuntime) -> None:
    """Write the queued audit row of a refused query in its own transaction (call after rollback)."""
    from zhengwu.kernel.session import unit_of_work

    pending = _PENDING.get()
    if pending is None:
        return
    _PENDING.set(None)
    kind, caller, purpose, qindex, outcome, by = pending
    with unit_of_work(runtime.session_factory) as session:
        _audit(session, kind, caller, purpose, qindex, outcome, by)
    log.info("exchange_verification", kind=kind, caller=caller.client_id, outcome=outcome, by=by)


def _resolve(
    session: Session,
    runtime: ExchangeRuntime,
    key: bytes,
    kind: str,
    query: dict[str, str],
    qindex: str,
    caller: Caller,
    purpose: str | None,
) -> tuple[dict[str, Any], str]:
    if answers_locally(runtime):
        exlog.write_first(session)  # SQLite: take the write lock before reading (no stale snapshot)
        return answer_from_registry(session, key, kind, query), "registry"
    now = utcnow()
    # Read the cache and ask upstream outside the request's transaction: it must not hold SQLite's
    # write lock (or a read snapshot it later upgrades) across a network call.
    from zhengwu.kernel.session import unit_of_work

    with unit_of_work(runtime.session_factory) as reader:
        cached = reader.get(VerificationCache, qindex)
        hit = dict(cached.answer) if cached is not None and cached.expires_at > now else None
        # What this tier holds itself (licenses its lower nodes reported, copies shared down to it, a
        # registry loaded here) answers a match at once; only a no-match here goes on up, where the
        # registries are whole: the nearest tier holding the record answers.
        held = answer_from_registry(reader, key, kind, query) if hit is None else None
    if hit is not None:
        return hit, "cache"
    if held is not None and held.get("match"):
        return held, "registry"
    answer = ask_upstream(runtime, kind, query, caller, purpose)
    ttl = runtime.settings.exchange.verify_cache_seconds
    if ttl > 0:
        stmt = dialect_insert(session, VerificationCache).values(
            query_index=qindex, kind=kind, answer=answer, expires_at=now + timedelta(seconds=ttl)
        )
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=["query_index"],
                set_={"answer": answer, "expires_at": now + timedelta(seconds=ttl)},
            )
        )
    return answer, "upstream"


_ANSWER_FIELDS: Final = {"match", "status", "entity_type", "license_type"}


def ask_upstream(
    runtime: ExchangeRuntime, kind: str, query: Mapping[str, str], caller: Caller, purpose: str | None
) -> dict[str, Any]:
    """Ask the upstream node over the signed exchange; only the minimum answer fields are kept."""
    credential = runtime.credentials.uplink()
    if credential is None:
        raise NotJoined()
    nonce = secrets.token_hex(16)
    document = {
        "type": "verify",
        "kind": kind,
        "query": dict(query),
        "sender": runtime.node_id,
        "caller": caller.client_id,
        "purpose": purpose,
        "sent_at": utcnow().isoformat(),
        "nonce": nonce,
    }
    body = json.dumps(seal(document, credential), ensure_ascii=False, separators=(",", ":")).encode()
    client = runtime.extras.get("verify_client")
    if not isinstance(client, httpx.Client):
        client = httpx.Client(timeout=min(10.0, runtime.settings.exchange.request_timeout_seconds))
        runtime.extras["verify_client"] = client
    try:
        response = post_json(client, f"{runtime.settings.upstream_url}{API}/verify", body, current_trace_id())
        raise_for_answer(response)
        opened = open_from_upstream(
            runtime.credentials, client, runtime.settings.upstream_url, response.json()
        )
    except (TransportError, DomainError, ValueError) as exc:
        log.warning("exchange_verification_upstream_failed", error=type(exc).__name__)
        raise UpstreamFailed("上级节点核验服务暂时不可用", detail_en="upstream verification failed") from exc
    doc = opened.document
    if (
        doc.get("type") != "verify.answer"
        or doc.get("nonce") != nonce
        or not isinstance(doc.get("answer"), dict)
    ):
        raise UpstreamFailed("上级节点核验应答无效", detail_en="upstream answer does not match the query")
    return {k: v for k, v in doc["answer"].items() if k in _ANSWER_FIELDS}


def answer_child(session: Session, runtime: ExchangeRuntime, envelope: Any) -> dict[str, Any]:
    """Upper node: answer a lower node's signed verification query with a signed answer."""
    trust = runtime.credentials.children_trust()
    signer = runtime.credentials.downlink()
    opened = open_envelope(envelope)
    doc = opened.document
    if doc.get("type") != "verify" or doc.get("kind") not in KINDS or not isinstance(doc.get("query"), dict):
        raise MalformedEnvelope("不是核验请求报文", detail_en="not a verification query")
    sender = doc.get("sender")
    if not isinstance(sender, str):
        raise MalformedEnvelope("核验请求缺少发送方", detail_en="sender missing")
    if answers_locally(runtime):
        exlog.write_first(session)
    node = authenticate_child(session, trust, opened, sender)
    nonce = doc.get("nonce")
    if not isinstance(nonce, str) or not 8 <= len(nonce) <= 64:
        raise MalformedEnvelope("核验请求缺少随机数", detail_en="nonce missing")
    sent_at = parse_time(doc.get("sent_at"), "sent_at")
    if abs(utcnow() - sent_at) > timedelta(seconds=runtime.settings.exchange.freshness_seconds):
        raise Replayed(
            "报文时间超出有效窗口（过期或重放）", detail_en="document outside the freshness window"
        )
    caller_id = doc.get("caller")
    purpose = doc.get("purpose")
    caller = Caller(
        client_id=caller_id if isinstance(caller_id, str) else "unknown",
        scopes=frozenset({SCOPES[str(doc["kind"])]}),
        node=node.node_id,
    )
    answer = check(
        session,
        runtime,
        str(doc["kind"]),
        doc["query"],
        caller,
        purpose=purpose if isinstance(purpose, str) else None,
    )
    check_fresh(session, runtime, sender, sent_at, nonce)
    answer.pop("query_id", None)
    reply = {
        "type": "verify.answer",
        "kind": doc["kind"],
        "nonce": nonce,
        "answer": answer,
        "answered_at": utcnow().isoformat(),
    }
    exlog.append(
        session, direction="in", kind="verify.answered", peer=node.node_id, digest=opened.digest,
        detail={"kind": str(doc["kind"]), "match": bool(answer.get("match"))},
    )  # fmt: skip
    return seal(reply, signer)


# --- registries ------------------------------------------------------------------------------------


class PersonRecord(Protocol):
    """A 人口库 entry as the registry loader reads it."""

    @property
    def name(self) -> str: ...
    @property
    def id_number(self) -> str: ...


class LegalPersonRecord(Protocol):
    """A 法人库 entry."""

    @property
    def credit_code(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def legal_representative(self) -> str: ...
    @property
    def entity_type(self) -> str: ...


class LicenseRecord(Protocol):
    """A 证照库 entry."""

    @property
    def identifier(self) -> str: ...
    @property
    def holder(self) -> str: ...
    @property
    def holder_code(self) -> str: ...
    @property
    def license_type(self) -> str: ...


def load_registries(
    session: Session,
    settings: Settings,
    *,
    people: Iterable[PersonRecord] = (),
    companies: Iterable[LegalPersonRecord] = (),
    licenses: Iterable[LicenseRecord] = (),
    source: str = "seed",
) -> dict[str, int]:
    """Load registry entries (idempotent: entries already present are skipped); only keyed indexes are kept."""
    key = registry_key(settings)
    added = {"people": 0, "companies": 0, "licenses": 0}
    known = set(session.scalars(select(RegistryPerson.id_index)))
    for p in people:
        idx = index(key, p.id_number)
        if idx not in known:
            session.add(
                RegistryPerson(id_index=idx, name_index=index(key, p.name), status="正常", source=source)
            )
            known.add(idx)
            added["people"] += 1
    known = set(session.scalars(select(RegistryLegalPerson.code_index)))
    for c in companies:
        idx = index(key, c.credit_code)
        if idx not in known:
            session.add(
                RegistryLegalPerson(
                    code_index=idx,
                    name_index=index(key, c.name),
                    legal_rep_index=index(key, c.legal_representative),
                    status="存续",
                    entity_type=c.entity_type,
                    source=source,
                )
            )
            known.add(idx)
            added["companies"] += 1
    known = set(session.scalars(select(RegistryLicense.identifier_index)))
    for lic in licenses:
        idx = index(key, lic.identifier)
        if idx not in known:
            session.add(
                RegistryLicense(
                    identifier_index=idx,
                    holder_index=index(key, lic.holder),
                    holder_code_index=index(key, lic.holder_code),
                    license_type=lic.license_type,
                    status="有效",
                    source=source,
                )
            )
            known.add(idx)
            added["licenses"] += 1
    session.flush()
    return added


def license_registry_apply(settings: Settings) -> Any:
    """Apply function for ``up_lic_data`` rows: keep the license registry current (indexes only)."""
    key = registry_key(settings)

    def apply(session: Session, rows: Sequence[InboundRow]) -> Mapping[str, RowError]:
        latest: dict[str, InboundRow] = {}
        for row in rows:
            idx = index(key, str(row.row.get("certificate_source_id") or row.business_key))
            if idx not in latest or row.order >= latest[idx].order:
                latest[idx] = row
        if not latest:
            return {}
        session.execute(delete(RegistryLicense).where(RegistryLicense.identifier_index.in_(list(latest))))
        for idx, row in latest.items():
            if row.operation == "D":
                continue
            code = row.row.get("certificate_holder_code")
            session.add(
                RegistryLicense(
                    identifier_index=idx,
                    holder_index=index(key, str(row.row.get("certificate_holder") or "")),
                    holder_code_index=index(key, str(code)) if code else None,
                    license_type=str(row.row.get("certificate_type") or "")[:256],
                    status="有效",
                    source=row.sender,
                )
            )
        session.flush()
        return {}

    return apply
