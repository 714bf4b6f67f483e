"""The provider on the node (runtime, probe, logout subscriber) and in the app (routers, token shortcut)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from prometheus_client import Counter
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Lifespan, Message, Receive, Scope, Send

from zhengwu.identity import web
from zhengwu.identity.events import UserLoggedOut
from zhengwu.identity.oidc.backchannel import logout_subscriber
from zhengwu.identity.oidc.runtime import OidcRuntime
from zhengwu.identity.oidc.secrets import random_id
from zhengwu.identity.servicekeys import OIDC
from zhengwu.kernel.http import trace_id_from_headers
from zhengwu.kernel.logging import error_origin, get_logger, reset_trace_id, set_trace_id
from zhengwu.kernel.node import Node, node_of

log = get_logger("zhengwu.identity.oidc")


def install(node: Node) -> OidcRuntime:
    """Create the node's provider (service ``OIDC``) and its ``oidc`` health probe."""
    runtime = node.services.put(OIDC, OidcRuntime(node.settings, lambda: node.session_factory))
    node.health_probes["oidc"] = health_probe(runtime)
    return runtime


def mount(app: FastAPI, node: Node) -> None:
    """Include the provider's routers, its token-endpoint shortcut and its start-up/shutdown work."""
    from zhengwu.identity.oidc import api, federation_routes, routes

    runtime = node.services.provide(OIDC)
    app.include_router(routes.router)
    app.include_router(federation_routes.router)
    app.include_router(api.router)
    # The token endpoint answers before the middleware stack and the route table, whose cost exceeds that
    # of a client-credentials request; the shortcut keeps the correlation id and counts its requests.
    build = app.build_middleware_stack
    counter = Counter(
        "zhengwu_oidc_token_requests", "Token endpoint requests", ["status"], registry=node.metrics
    )
    app.build_middleware_stack = lambda: TokenEndpointShortcut(build(), counter)  # type: ignore[method-assign]
    app.router.lifespan_context = _provider_lifespan(app.router.lifespan_context, runtime)
    # The core's login page renders these buttons ("使用国家政务服务平台账号登录").
    web.TEMPLATES.env.globals["federated_login_options"] = federated_login_options


def subscribe(node: Node) -> None:
    """Back-channel logout to clients and logout at federated providers when a user logs out."""
    node.bus.subscribe(UserLoggedOut, logout_subscriber(lambda: node.services.provide(OIDC)))


def _provider_lifespan(inner: Lifespan[Any], runtime: OidcRuntime) -> Lifespan[Any]:
    """At start-up, make sure the node has a signing key before the first request can need one (a code
    exchange must not create it: see keys.py) and load it; at shutdown, finish queued issuance batches and
    chain the rows not yet chained (see issuance.py)."""

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        await run_in_threadpool(prepare_signing_key, runtime)
        async with inner(app) as state:
            yield state
        await run_in_threadpool(runtime.issuance.close)

    return lifespan


def prepare_signing_key(runtime: OidcRuntime) -> None:
    """Ensure and load the signing key; a node whose database cannot do it yet still starts (its other
    capabilities may work) and says so in the log and in ``/_status``."""
    try:
        kid = runtime.ensure_signing_key()
        material = runtime.key_material()
    except Exception as exc:
        log.error("oidc_signing_key_unavailable", error_type=type(exc).__name__, origin=error_origin(exc))
        return
    if kid is not None:
        log.info("oidc_signing_key_created", kid=kid)
    else:
        log.debug("oidc_signing_key_loaded", kid=material.kid)


def health_probe(runtime: OidcRuntime) -> Callable[[], dict[str, Any]]:
    """/_status section: active signing key, active clients, back-channel logout backlog, trusted providers."""

    def probe() -> dict[str, Any]:
        from sqlalchemy import func, select

        from zhengwu.identity.oidc.models import (
            OidcClient,
            OidcFederation,
            OidcLogoutDelivery,
            OidcSigningKey,
        )

        try:
            with runtime.session_factory() as db:
                deliveries = dict(
                    db.execute(
                        select(OidcLogoutDelivery.status, func.count())
                        .where(OidcLogoutDelivery.status.in_(["pending", "dead"]))
                        .group_by(OidcLogoutDelivery.status)
                    ).all()
                )
                clients = db.scalar(select(func.count()).where(OidcClient.status == "active"))
                federations = db.scalar(select(func.count()).where(OidcFederation.enabled.is_(True)))
                signing_kid = db.scalar(
                    select(OidcSigningKey.kid)
                    .where(OidcSigningKey.status == "active")
                    .order_by(OidcSigningKey.created_at.desc())
                    .limit(1)
                )
        except Exception as exc:  # a probe reports, it does not raise
            return {"ok": False, "error": type(exc).__name__}
        return {
            # Without an active key no token can be signed (see keys.py: start-up makes the first one).
            "ok": deliveries.get("dead", 0) == 0 and signing_kid is not None,
            "signing_kid": signing_kid,
            "active_clients": clients,
            "logout_deliveries_pending": deliveries.get("pending", 0),
            "logout_deliveries_dead": deliveries.get("dead", 0),
            "trusted_providers": federations,
        }

    return probe


def federated_login_options(request: Request) -> list[dict[str, str]]:
    """Login-page buttons of the trusted providers of the request's node (cached briefly)."""
    runtime = node_of(request).services.get(OIDC)
    return runtime.login_options() if runtime is not None else []


class TokenEndpointShortcut:
    """Outermost ASGI layer: ``POST /oidc/token`` goes straight to the handler, everything else on."""

    def __init__(self, app: ASGIApp, counter: Counter) -> None:
        self.app = app
        self.counter = counter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/oidc/token" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        from zhengwu.identity.oidc.routes import token_asgi

        headers = {
            k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"] if k in _TRACE_HEADERS
        }
        # The caller's traceparent / X-Request-ID when valid (kernel.http's rule), else a fresh id.
        trace_id = trace_id_from_headers(headers) if headers else random_id()
        token = set_trace_id(trace_id)
        status = [500]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = [*message["headers"], (b"x-request-id", trace_id.encode())]
            await send(message)

        try:
            await token_asgi(scope, receive, send_with_id)
        except Exception as exc:  # the one envelope, like the kernel's handler, but in OAuth form
            log.error("unhandled_error", error_type=type(exc).__name__, origin=error_origin(exc))
            body = json.dumps(
                {"error": "server_error", "detail": "系统内部错误，请稍后再试", "trace_id": trace_id}
            )
            await send_with_id(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send_with_id({"type": "http.response.body", "body": body.encode()})
        finally:
            self.counter.labels(str(status[0])).inc()
            reset_trace_id(token)


_TRACE_HEADERS = (b"traceparent", b"x-request-id")
