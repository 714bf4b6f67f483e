"""Signed HTTP between zhengwu nodes: ``POST {upstream}/exchange/v1/batches`` with a signed batch,
answered by a receipt signed by the upper node (verified against the upstream CA kept at join, its
signer checked against the upstream's CRL from ``/exchange/v1/crl``)."""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Any, Final

import httpx

from zhengwu.exchange import national
from zhengwu.exchange.credentials import CredentialStore
from zhengwu.exchange.signing import seal_bytes, verify
from zhengwu.exchange.transports import Delivery, OutboundBatch, TransportError
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.config import Settings
from zhengwu.kernel.errors import DomainError
from zhengwu.kernel.topics import RowError

API: Final = "/exchange/v1"
_TRANSIENT_STATUS: Final = frozenset({408, 425, 429, 500, 502, 503, 504})


def post_json(client: httpx.Client, url: str, body: bytes, trace_id: str | None) -> httpx.Response:
    """POST a JSON body; network problems become transient TransportErrors."""
    headers = {"Content-Type": "application/json"}
    if trace_id:
        headers["X-Request-ID"] = trace_id
    try:
        return client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise TransportError(
            f"upstream unreachable: {type(exc).__name__}", transient=True, code="unreachable"
        ) from exc


def raise_for_answer(response: httpx.Response) -> None:
    """Turn an error answer into a TransportError (transient for 5xx/429/408, permanent otherwise)."""
    if response.status_code == 200:
        return
    code = f"http_{response.status_code}"
    detail = ""
    try:
        body = response.json()
        code = str(body.get("code") or code)
        detail = str(body.get("detail_en") or body.get("detail") or "")
    except (ValueError, AttributeError):
        pass
    retry_after: float | None = None
    if "retry-after" in response.headers:
        try:
            retry_after = float(response.headers["retry-after"])
        except ValueError:
            retry_after = None
    raise TransportError(
        f"upstream answered {response.status_code} {code}: {detail}"[:500],
        transient=response.status_code in _TRANSIENT_STATUS,
        code=code,
        retry_after=retry_after,
    )


def fetch_crl(client: httpx.Client, upstream_url: str | None) -> bytes:
    """The upstream exchange CA's CRL (PEM), as it publishes it."""
    response = client.get(f"{upstream_url}{API}/crl")
    if response.status_code != 200:
        raise LookupError(f"upstream answered {response.status_code} for its CRL")
    return response.content


def open_from_upstream(
    credentials: CredentialStore, client: httpx.Client, upstream_url: str | None, document: Any
) -> Any:
    """A signed document the upstream answered (a feed or feedback page, a verification answer), its
    signer checked against the upstream's current CRL as a receipt's is: a revoked signing certificate
    refuses the document (DomainError), no current CRL refuses it too (TransportError
    ``crl_unavailable``) — an answer whose signer may be revoked proves nothing."""
    try:
        trust = credentials.upstream_receipt_trust(lambda: fetch_crl(client, upstream_url))
    except (LookupError, httpx.HTTPError) as exc:
        raise TransportError(
            f"upstream CRL unavailable: {exc}", transient=True, code="crl_unavailable"
        ) from exc
    return verify(document, trust, at=utcnow(), revocation="leaf")


def batch_document(settings: Settings, batch: OutboundBatch) -> dict[str, Any]:
    """The batch as signed: one fresh nonce and send time per attempt, the same records every time."""
    return {
        "type": "batch",
        "batch_id": batch.batch_id,
        "sender": settings.node_id,
        "sender_division": settings.division_code,
        "topic": batch.topic,
        "table": batch.table,
        "sent_at": utcnow().isoformat(),
        "nonce": secrets.token_hex(16),
        "trace_id": batch.trace_id,
        "records": [
            {"message_id": r.message_id, "seq": r.seq, "trace_id": r.trace_id, "row": r.row}
            if r.origin is None
            else {
                "message_id": r.message_id,
                "seq": r.seq,
                "trace_id": r.trace_id,
                "row": r.row,
                "origin": r.origin,
            }
            for r in batch.records
        ],
    }


Prepared = tuple[OutboundBatch, bytes, str, dict[str, RowError]]


def held_back(batch: OutboundBatch) -> tuple[OutboundBatch, dict[str, RowError]]:
    """The batch without the rows of a national ``up_*`` table that break its send rule, and why each
    was held back. Checked at every hop: a province passes a city's row on only when it meets the
    narrower rule (it accepted it by the wider one), so the national node never sees a row it may
    refuse, and the refusal travels back down to the city like a receipt's (exchange.relay)."""
    spec = national.UP_TABLES.get(batch.table)
    if spec is None:  # zhengwu's own reports: no national rule to keep
        return batch, {}
    refused: dict[str, RowError] = {}
    for record in batch.records:
        # The narrower rule implies the wider one for every national column: one pass (the receiver
        # drops unknown columns itself).
        errors = national.check_control(record.row) or national.check_send(spec, record.row)
        if errors:
            reason = "；".join(e.reason for e in errors)
            refused[record.row_guid] = RowError(
                errors[0].code, f"不符合国家接口发送规则：{reason}"[:2000], errors[0].column
            )
    if not refused:
        return batch, {}
    kept = tuple(r for r in batch.records if r.row_guid not in refused)
    return replace(batch, records=kept), refused


class HttpTransport:
    """Delivers batches to ``ZHENGWU_UPSTREAM_URL`` over signed HTTP."""

    name = "http"

    def __init__(
        self, settings: Settings, credentials: CredentialStore, client: httpx.Client | None = None
    ) -> None:
        self.settings = settings
        self.credentials = credentials
        self.client = client or httpx.Client(timeout=settings.exchange.request_timeout_seconds)

    def prepare(self, batch: OutboundBatch) -> Prepared:
        """Hold back the rows of a national table that break its send rule, sign the rest (a fresh nonce
        and time per attempt) and serialise the request body."""
        credential = self.credentials.uplink()
        if credential is None:
            raise TransportError("not joined to the upstream node", transient=True, code="not_joined")
        batch, refused = held_back(batch)
        if not batch.records:
            return batch, b"", "", refused
        body, digest = seal_bytes(batch_document(self.settings, batch), credential)
        return batch, body, digest, refused

    def deliver(self, prepared: Prepared) -> Delivery:
        """Post a prepared batch and check the signed receipt; the rows held back are refused with it."""
        batch, body, digest, refused = prepared
        if not batch.records:
            return Delivery(accepted=frozenset(), rejected=refused, detail={"held_back": len(refused)})
        if not self.settings.upstream_url:
            raise TransportError("no upstream configured", transient=True, code="no_upstream")
        response = post_json(self.client, f"{self.settings.upstream_url}{API}/batches", body, batch.trace_id)
        raise_for_answer(response)
        delivery = self._read_receipt(response, batch, digest)
        if not refused:
            return delivery
        return replace(delivery, rejected={**refused, **delivery.rejected})

    def send(self, batch: OutboundBatch) -> Delivery:
        """Sign, post, and check the signed receipt."""
        return self.deliver(self.prepare(batch))

    def _fetch_crl(self) -> bytes:
        return fetch_crl(self.client, self.settings.upstream_url)

    def _read_receipt(self, response: httpx.Response, batch: OutboundBatch, digest: str) -> Delivery:
        try:
            trust = self.credentials.upstream_receipt_trust(self._fetch_crl)
        except (LookupError, httpx.HTTPError) as exc:
            # A receipt whose signer may be revoked proves nothing: keep the batch and ask again later.
            raise TransportError(
                f"upstream CRL unavailable: {exc}", transient=True, code="crl_unavailable"
            ) from exc
        try:
            opened = verify(response.json(), trust, at=utcnow(), revocation="leaf")
        except (ValueError, DomainError) as exc:
            # An unreadable or unverifiable receipt proves nothing: send again (the inbox is idempotent).
            raise TransportError(f"bad receipt: {exc}", transient=True, code="bad_receipt") from exc
        doc = opened.document
        if (
            doc.get("type") != "receipt"
            or doc.get("batch_id") != batch.batch_id
            or doc.get("batch_digest") != digest
        ):
            raise TransportError("receipt does not answer this batch", transient=True, code="bad_receipt")
        accepted = frozenset(str(g) for g in doc.get("accepted") or [])
        rejected: dict[str, RowError] = {}
        for item in doc.get("rejected") or []:
            if isinstance(item, dict) and isinstance(item.get("row_guid"), str):
                rejected[item["row_guid"]] = RowError(
                    str(item.get("code") or "rejected"),
                    str(item.get("reason") or "上级节点拒收"),
                    item.get("column"),
                )
        return Delivery(
            accepted=accepted,
            rejected=rejected,
            peer=str(doc.get("receiver") or "") or None,
            batch_digest=digest,
            receipt_digest=opened.digest,
            duplicate=bool(doc.get("duplicate")),
        )

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()
