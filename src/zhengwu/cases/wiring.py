"""Cases on the node: the license port (``cases.servicekeys.LICENSES``, licenses' own service by
default) and the API. The outbox topics are declared in ``cases.topics`` and collected by
``main.exchange_topics``."""

from __future__ import annotations

from fastapi import FastAPI

from zhengwu.kernel.node import Node


def install(node: Node) -> None:
    """Put the default license port on the node."""
    from zhengwu.cases.licensing import LocalLicenses
    from zhengwu.cases.servicekeys import LICENSES

    node.services.put(LICENSES, LocalLicenses())


def mount(app: FastAPI, node: Node) -> None:
    """Include the cases API."""
    from zhengwu.cases import routes

    app.include_router(routes.router)
