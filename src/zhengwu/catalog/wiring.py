"""The catalog on the node: the import runner; the catalog API, imports and their lifespan in the app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.types import Lifespan

from zhengwu.catalog import jobs
from zhengwu.kernel.node import Node


def install(node: Node) -> None:
    """Register the import runner (its thread starts with the first job)."""
    node.services.put(jobs.IMPORT_RUNNER, jobs.ImportRunner(lambda: node.session_factory))


def mount(app: FastAPI, node: Node) -> None:
    """Include the catalog and import routes; mark orphaned imports at start-up, finish at shutdown."""
    from zhengwu.catalog import routes

    app.include_router(routes.router)
    app.include_router(jobs.router)
    app.router.lifespan_context = jobs.lifespan_hook(app.router.lifespan_context, node)
    if node.settings.portal.warm_search:
        app.router.lifespan_context = _warm_search(app.router.lifespan_context)


def _warm_search(inner: Lifespan[Any]) -> Lifespan[Any]:
    """Load the search tokenizer before the node answers (and before start-up's objects are frozen out of
    the collector's walks, kernel.gcpolicy): once per process."""

    @asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        from zhengwu.catalog.search.tokens import tokenizer

        await run_in_threadpool(tokenizer)
        async with inner(application) as state:
            yield state

    return lifespan
