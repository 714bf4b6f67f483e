"""Single logout: on ``UserLoggedOut`` every client holding the session gets a back-channel logout token.

The subscriber runs inside the logout transaction and only writes delivery rows (so nothing is sent for a
logout that rolls back); after the commit a worker thread POSTs the tokens (OIDC Back-Channel Logout 1.0
§2.5), retries with exponential backoff and records every outcome on the row.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

import httpx
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from zhengwu.identity.events import UserLoggedOut
from zhengwu.identity.oidc.models import OidcLogoutDelivery, OidcRpSession
from zhengwu.identity.oidc.tokens import logout_token
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.logging import get_logger

if TYPE_CHECKING:
    from zhengwu.identity.oidc.runtime import OidcRuntime

log = get_logger("zhengwu.identity.oidc.backchannel")

# A claimed row is invisible to other workers for this long (it is being delivered).
_LEASE = timedelta(seconds=60)


def schedule_session_logout(
    runtime: OidcRuntime, db: Session, session_id: str, *, skip_client: str | None = None
) -> int:
    """End the RP sessions of a user session, revoke its tokens and queue logout tokens; returns the count."""
    now = utcnow()
    runtime.revoke_session_grants(db, session_id, reason="logout")
    rows = list(
        db.scalars(
            select(OidcRpSession).where(
                OidcRpSession.session_id == session_id, OidcRpSession.ended_at.is_(None)
            )
        )
    )
    queued = 0
    for rp in rows:
        rp.ended_at = now
        if rp.client_id == skip_client:
            continue
        client = runtime.clients.get(db, rp.client_id)
        if client is None or not client.backchannel_logout_uri:
            continue
        db.add(
            OidcLogoutDelivery(
                kind="backchannel",
                rp_session_id=rp.id,
                client_id=rp.client_id,
                uri=client.backchannel_logout_uri,
                sid=rp.sid,
                sub=rp.sub,
                next_attempt_at=now,
            )
        )
        queued += 1
    db.flush()
    return queued


def kick_after_commit(runtime: OidcRuntime, db: Session) -> None:
    """Wake the dispatcher once the caller's transaction has committed."""
    event.listen(db, "after_commit", lambda _s: runtime.dispatcher.kick(), once=True)


def logout_subscriber(get_runtime: Callable[[], OidcRuntime]) -> Callable[[Session, UserLoggedOut], None]:
    """The ``UserLoggedOut`` handler wired by the composition root."""

    def handle(db: Session, evt: UserLoggedOut) -> None:
        runtime = get_runtime()
        queued = schedule_session_logout(runtime, db, evt.session_id)
        from zhengwu.identity.oidc.federation import schedule_federated_logout

        queued += schedule_federated_logout(runtime, db, evt.session_id)
        if queued:
            kick_after_commit(runtime, db)

    return handle


class LogoutDispatcher:
    """Delivers pending logout notifications on a daemon thread (started on first kick)."""

    def __init__(self, runtime: OidcRuntime) -> None:
        self._runtime = runtime
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        # Tests run deliveries synchronously with ``run_once``; serving nodes start the thread.
        self.autostart = True
        self.http: httpx.Client | None = None

    def kick(self) -> None:
        """Deliver due notifications soon."""
        if not self.autostart:
            return
        self._ensure_thread()
        self._wake.set()

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._loop, name="oidc-logout", daemon=True)
                self._thread.start()

    def _client(self) -> httpx.Client:
        if self.http is None:
            self.http = httpx.Client(
                timeout=self._runtime.settings.backchannel_timeout_seconds, follow_redirects=False
            )
        return self.http

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                delay = self.run_once()
            except Exception as exc:  # keep the worker alive; the rows stay pending
                log.error("logout_dispatch_failed", error_type=type(exc).__name__)
                delay = 5.0
            self._wake.wait(timeout=delay)
            self._wake.clear()

    def run_once(self, limit: int = 50) -> float:
        """Deliver every due notification once; returns seconds until the next one is due (max 30)."""
        runtime = self._runtime
        factory = runtime.session_factory
        now = utcnow()
        with factory() as db:
            due = list(
                db.scalars(
                    select(OidcLogoutDelivery.id)
                    .where(OidcLogoutDelivery.status == "pending", OidcLogoutDelivery.next_attempt_at <= now)
                    .order_by(OidcLogoutDelivery.next_attempt_at)
                    .limit(limit)
                )
            )
            claimed = []
            for delivery_id in due:
                result = db.execute(
                    update(OidcLogoutDelivery)
                    .where(
                        OidcLogoutDelivery.id == delivery_id,
                        OidcLogoutDelivery.status == "pending",
                        OidcLogoutDelivery.next_attempt_at <= now,
                    )
                    .values(next_attempt_at=now + _LEASE)
                    .execution_options(synchronize_session=False)
                )
                if result.rowcount == 1:  # type: ignore[attr-defined]
                    claimed.append(delivery_id)
            db.commit()
        for delivery_id in claimed:
            self._deliver(delivery_id)
        with factory() as db:
            upcoming = db.scalar(
                select(OidcLogoutDelivery.next_attempt_at)
                .where(OidcLogoutDelivery.status == "pending")
                .order_by(OidcLogoutDelivery.next_attempt_at)
                .limit(1)
            )
        if upcoming is None:
            return 30.0
        return max(0.05, min(30.0, (upcoming - utcnow()).total_seconds()))

    def _deliver(self, delivery_id: str) -> None:
        runtime = self._runtime
        with runtime.session_factory() as db:
            row = db.get(OidcLogoutDelivery, delivery_id)
            if row is None or row.status != "pending":
                return
            status_code: int | None = None
            error: str | None = None
            try:
                if row.kind == "upstream":
                    from zhengwu.identity.oidc.federation import deliver_upstream_logout

                    status_code = deliver_upstream_logout(runtime, db, row, self._client())
                else:
                    token = logout_token(
                        runtime.key_material(),
                        issuer=runtime.issuer,
                        client_id=row.client_id,
                        subject=row.sub,
                        sid=row.sid,
                        ttl=runtime.settings.logout_token_ttl_seconds,
                    )
                    response = self._client().post(
                        row.uri,
                        data={"logout_token": token},
                        headers={"Cache-Control": "no-store"},
                    )
                    status_code = response.status_code
                ok = status_code in (200, 204)
                if not ok:
                    error = f"HTTP {status_code}"
            except httpx.HTTPError as exc:
                ok = False
                error = type(exc).__name__
            now = utcnow()
            row.attempts += 1
            row.last_status_code = status_code
            row.last_error = error
            if ok:
                row.status = "delivered"
                row.delivered_at = now
            elif row.attempts >= runtime.settings.backchannel_max_attempts:
                row.status = "dead"
            else:
                backoff = runtime.settings.backchannel_backoff_seconds * (2 ** (row.attempts - 1))
                row.next_attempt_at = now + timedelta(seconds=min(backoff, 3600))
            runtime.audit(
                db,
                "logout_delivery",
                success=ok,
                client_id=row.client_id,
                detail={
                    "delivery_id": row.id,
                    "kind": row.kind,
                    "attempt": row.attempts,
                    "status": row.status,
                },
            )
            db.commit()
        log.info("logout_delivery", client_id=row.client_id, kind=row.kind, ok=ok, attempts=row.attempts)

    def close(self) -> None:
        """Stop the worker thread."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
