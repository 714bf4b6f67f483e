"""How the composition root plugs the provider into an app (routers, runtime, logout subscriber)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI, Request
from sqlalchemy.orm import Session
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from zhengwu.identity import web
from zhengwu.identity.oidc.backchannel import logout_subscriber as _subscriber
from zhengwu.identity.oidc.runtime import OidcRuntime
from zhengwu.kernel.events import DomainEvent


def install(app: FastAPI) -> OidcRuntime:
    """Create the node's provider at ``app.state.oidc`` and include its routers."""
    from zhengwu.identity.oidc import api, federation_routes, routes

    runtime = OidcRuntime(app.state.settings, lambda: app.state.session_factory)
    app.state.oidc = runtime
    app.include_router(routes.router)
    app.include_router(federation_routes.router)
    app.include_router(api.router)
    # Innermost user middleware (inside the correlation/metrics middleware): the token endpoint skips
    # the route table, whose matching costs more than the rest of a client-credentials request.
    app.user_middleware.append(Middleware(TokenEndpointShortcut))
    # The core's login page renders these buttons ("使用国家政务服务平台账号登录").
    web.TEMPLATES.env.globals["federated_login_options"] = federated_login_options
    return runtime


def federated_login_options(request: Request) -> list[dict[str, str]]:
    """Login-page buttons of the trusted providers of the request's node (cached briefly)."""
    runtime: OidcRuntime | None = getattr(request.app.state, "oidc", None)
    return runtime.login_options() if runtime is not None else []


class TokenEndpointShortcut:
    """Dispatches ``POST /oidc/token`` straight to its handler."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/oidc/token" and scope["method"] == "POST":
            from zhengwu.identity.oidc.routes import token_endpoint

            response = await token_endpoint(Request(scope, receive))
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def logout_subscriber(app: FastAPI) -> Callable[[Session, DomainEvent], None]:
    """The ``UserLoggedOut`` handler: back-channel logout to clients, logout at federated providers."""
    return _subscriber(lambda: app.state.oidc)
