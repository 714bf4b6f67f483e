"""Cases on the node: the license port (``cases.servicekeys.LICENSES``, licenses' own service by
default), the applicant's notices (``subscribe``) and the API. The outbox topics are declared in ``cases.topics`` and collected by
``main.exchange_topics``."""

from __future__ import annotations

from fastapi import FastAPI

from zhengwu.kernel.node import Node


def install(node: Node) -> None:
    """Put the default license port on the node, and the ClamAV scanner when one is configured."""
    from zhengwu.cases.licensing import LocalLicenses
    from zhengwu.cases.servicekeys import LICENSES, SCANNER

    node.services.put(LICENSES, LocalLicenses())
    config = node.settings.cases
    if config.clamd_socket:
        from zhengwu.cases.clamav import ClamdScanner

        node.services.put(
            SCANNER,
            ClamdScanner(
                config.clamd_socket, timeout=config.clamd_timeout_seconds, fail_open=config.scan_fail_open
            ),
        )


def subscribe(node: Node) -> None:
    """The applicant hears of their case's progress: a notice queued in the transition's transaction,
    sent by the worker through identity's notifier (main.subscribe)."""
    from sqlalchemy.orm import Session

    from zhengwu.cases.events import CaseSubmitted, CaseTransitioned
    from zhengwu.cases.notify import queue_notice

    def handler(session: Session, event: CaseSubmitted | CaseTransitioned) -> None:
        queue_notice(session, event)

    node.bus.subscribe(CaseSubmitted, handler)
    node.bus.subscribe(CaseTransitioned, handler)
    # The department systems' webhooks: event and delivery rows in the transition's own transaction.
    from zhengwu.cases.events import CaseEvaluated
    from zhengwu.cases.webhooks.service import subscriber

    for kind in (CaseSubmitted, CaseTransitioned, CaseEvaluated):
        node.bus.subscribe(kind, subscriber)


def mount(app: FastAPI, node: Node) -> None:
    """Include the cases API."""
    from zhengwu.cases import routes
    from zhengwu.cases.webhooks import routes as webhooks

    # Before the cases router: its ``/{case_no}`` would otherwise take ``/events``.
    app.include_router(webhooks.router)
    app.include_router(webhooks.admin_router)
    app.include_router(routes.router)
