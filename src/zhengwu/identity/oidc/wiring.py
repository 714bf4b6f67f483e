"""How the composition root plugs the provider into an app (routers, runtime, logout subscriber)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from sqlalchemy.orm import Session

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
    return runtime


def logout_subscriber(app: FastAPI) -> Callable[[Session, DomainEvent], None]:
    """The ``UserLoggedOut`` handler: back-channel logout to clients, logout at federated providers."""
    return _subscriber(lambda: app.state.oidc)
