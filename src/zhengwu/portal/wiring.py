"""The portal on the node: nothing to install (it reads the catalog's and licenses' services); its
pages and stylesheet in the app."""

from __future__ import annotations

from fastapi import FastAPI

from zhengwu.kernel.node import Node


def install(node: Node) -> None:
    """The portal's public pages, kept for anonymous visitors (kernel.pagecache); no other service (the
    vocabulary is read per request)."""
    from zhengwu.portal import pages

    pages.keep_public_pages(node)


def mount(app: FastAPI, node: Node) -> None:
    """Include the pages (home at ``/``)."""
    from zhengwu.portal import (
        agentpages,
        apppages,
        casepages,
        licensepages,
        mobile,
        pages,
        privacypages,
        pwa,
        receivedpages,
        routes,
        staffpages,
    )

    app.include_router(pages.router)
    app.include_router(casepages.router)
    app.include_router(staffpages.router)
    app.include_router(receivedpages.router)
    app.include_router(licensepages.router)
    app.include_router(privacypages.router)
    app.include_router(agentpages.router)
    app.include_router(apppages.router)
    app.include_router(pwa.router)
    app.include_router(mobile.router)
    app.include_router(routes.router)
