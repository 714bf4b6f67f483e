"""Licenses on the node: nothing kept between requests (seals, files and the bus are the node's); the API
in the app. The outbox topic is declared in ``licenses.topics`` and collected by ``main.exchange_topics``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from starlette.types import Lifespan

from zhengwu.kernel.node import Node

if TYPE_CHECKING:
    from zhengwu.licenses.fastverify import LoopVerifier


def install(node: Node) -> None:
    """Licenses keeps nothing on the node but its usage counter: its services take the session, settings and
    bus they need."""
    from zhengwu.kernel.metrics import register
    from zhengwu.licenses.fastverify import FAST_VERIFY
    from zhengwu.licenses.service import LICENSE_USES

    register(node, LICENSE_USES, FAST_VERIFY)


def mount(app: FastAPI, node: Node) -> None:
    """Include the license types, issuance, verification and holder API."""
    from zhengwu.licenses import routes, routes_data, routes_grants, routes_shares, share_page

    app.include_router(share_page.router)
    # Before /{license_id}, which would otherwise take /abnormal, /shares/redeem and /downloads.
    app.include_router(routes_data.router)
    app.include_router(routes_data.status_router)
    app.include_router(routes_grants.router)
    app.include_router(routes_shares.router)
    app.include_router(routes.router)
    # Clean public verifications by identifier are answered before the route table (ADR 17).
    from zhengwu.kernel import fastpath
    from zhengwu.licenses import fastverify

    verifier = fastverify.LoopVerifier(node, lambda: routes.verify_rate(node.settings))
    fastpath.routes_of(node).register("POST", fastverify.PATH, fastverify.VerifyHandler(verifier))
    app.router.lifespan_context = _closing(app.router.lifespan_context, verifier)


def _closing(inner: Lifespan[Any], verifier: LoopVerifier) -> Lifespan[Any]:
    """Give the fast path's connection back when the app stops."""

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        async with inner(app) as state:
            yield state
        verifier.close()

    return lifespan
