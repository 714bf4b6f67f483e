"""The catalog on the node: the import runner; the catalog API, imports and their lifespan in the app."""

from __future__ import annotations

from fastapi import FastAPI

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
