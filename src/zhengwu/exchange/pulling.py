"""The signed pull a lower node makes of what its upper node keeps for it, page after page: the feed of
downward rows (``exchange.downward``) and the refusals of rows it passed up (``exchange.tiers``).

Both ask the same way: a signed request naming the sender, the last sequence taken (a watermark of this
node) and a fresh nonce; the upper node answers with a signed page of the same ``type`` + ``.page``
echoing the nonce and ``after``. Each page is taken in one unit of work together with the new watermark
and its line in the exchange log, so a crash takes a page again at most (the takers are idempotent).
A page's signer is checked against the upper node's current CRL, as a receipt's is.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import httpx
from sqlalchemy.orm import Session

from zhengwu.exchange import exlog
from zhengwu.exchange.errors import UpstreamFailed
from zhengwu.exchange.models import ExchangeWatermark
from zhengwu.exchange.runtime import ExchangeRuntime
from zhengwu.exchange.signing import seal
from zhengwu.exchange.transports import TransportError
from zhengwu.exchange.transports.http import API, open_from_upstream, post_json, raise_for_answer
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.db import dialect_insert
from zhengwu.kernel.errors import DomainError
from zhengwu.kernel.session import unit_of_work

PAGE: Final = 1_000

#: Takes one page's records in the page's unit of work; ``after`` is the watermark the page follows.
Taker = Callable[[Session, list[dict[str, Any]], int], None]


@dataclass(frozen=True, slots=True)
class PullKind:
    """One kind of signed pull: the request type (also the path under ``/exchange/v1``), the
    watermark it advances, its log line and its failure messages."""

    request_type: str
    mark: str
    log_kind: str
    failed: str
    invalid: str


def watermark(session: Session, name: str) -> int:
    """The last sequence taken under ``name`` (0 before the first)."""
    mark = session.get(ExchangeWatermark, name)
    return mark.last_id if mark is not None else 0


def set_watermark(session: Session, name: str, last: int) -> None:
    """Advance (or set) the watermark ``name``."""
    stmt = dialect_insert(session, ExchangeWatermark).values(
        name=name, cd_time="00000000000000", last_id=last, updated_at=utcnow()
    )
    session.execute(
        stmt.on_conflict_do_update(index_elements=["name"], set_={"last_id": last, "updated_at": utcnow()})
    )


def pull_pages(
    runtime: ExchangeRuntime,
    client: httpx.Client | None,
    kind: PullKind,
    take: Taker,
    *,
    usable: Callable[[Mapping[str, Any]], bool] = lambda _r: True,
) -> int:
    """Fetch and take every page the upper node has after our watermark; the number of records taken.
    Nothing happens on a node without an upper node or before it joined."""
    credential = runtime.credentials.uplink()
    if credential is None or not runtime.settings.upstream_url:
        return 0
    http = client or httpx.Client(timeout=runtime.settings.exchange.request_timeout_seconds)
    taken = 0
    try:
        while True:
            with unit_of_work(runtime.session_factory) as session:
                after = watermark(session, kind.mark)
            nonce = secrets.token_hex(16)
            request = {"type": kind.request_type, "sender": runtime.node_id, "after": after, "limit": PAGE,
                       "sent_at": utcnow().isoformat(), "nonce": nonce}  # fmt: skip
            body = json.dumps(seal(request, credential), ensure_ascii=False).encode()
            url = f"{runtime.settings.upstream_url}{API}/{kind.request_type}"
            try:
                response = post_json(http, url, body, None)
                raise_for_answer(response)
                opened = open_from_upstream(
                    runtime.credentials, http, runtime.settings.upstream_url, response.json()
                )
            except (TransportError, ValueError, DomainError) as exc:
                raise UpstreamFailed(kind.failed, detail_en=f"{kind.request_type}: {exc}") from exc
            page = opened.document
            if (
                page.get("type") != f"{kind.request_type}.page"
                or page.get("nonce") != nonce
                or page.get("after") != after
            ):
                raise UpstreamFailed(kind.invalid, detail_en=f"{kind.request_type} page does not answer")
            records = [r for r in page.get("records") or [] if isinstance(r, dict) and usable(r)]
            if not records:
                return taken
            with unit_of_work(runtime.session_factory) as session:
                exlog.write_first(session)
                take(session, records, after)
                set_watermark(session, kind.mark, max(int(r.get("seq") or 0) for r in records))
                exlog.append(session, direction="in", kind=kind.log_kind, peer="upstream", ref=str(after),
                             digest=opened.digest, detail={"rows": len(records)})  # fmt: skip
            taken += len(records)
            if len(records) < PAGE:
                return taken
    finally:
        if client is None:
            http.close()
