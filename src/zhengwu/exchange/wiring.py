"""The exchange on the node (runtime, probe, client authoriser) and in the app; the topic registry built
from the declarations of every capability (``kernel.topics``), which main collects."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhengwu.exchange import applying, progress, routes, verification
from zhengwu.exchange.models import ExchangeCredential, ExchangeFeedback
from zhengwu.exchange.runtime import ExchangeRuntime
from zhengwu.exchange.servicekeys import AUTHORIZER, RUNTIME
from zhengwu.exchange.topics import TopicRegistry
from zhengwu.identity.servicekeys import OIDC
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.codes import validate_license_id, validate_uscc
from zhengwu.kernel.config import Settings
from zhengwu.kernel.node import Node
from zhengwu.kernel.session import unit_of_work
from zhengwu.kernel.topics import (
    Census,
    CodeCheck,
    Declaration,
    RefusalHook,
    RowError,
    TableHook,
    TopicDeclaration,
)


def declarations(settings: Settings) -> list[Declaration]:
    """The exchange's own: the license registry index it answers verification queries from, and the
    national code checks of the license rows feeding it."""
    return [
        CodeCheck("up_lic_data", "certificate_source_id", validate_license_id, "电子证照标识"),
        CodeCheck("up_lic_data", "issue_dept_code", validate_uscc, "证照颁发机构代码"),
        CodeCheck("dn_lic_share", "certificate_source_id", validate_license_id, "电子证照标识"),
        CodeCheck("dn_lic_share", "issue_dept_code", validate_uscc, "证照颁发机构代码"),
        TableHook("up_lic_data", verification.license_registry_apply(settings)),
        # Connection progress (应上尽上): what each lower node says it holds, kept by the upper node.
        TopicDeclaration(
            progress.TOPIC, table=progress.TABLE, key_column="report_key", label="接入进度 / counts"
        ),
        TableHook(progress.TABLE, progress.apply_reports),
        # Licenses an upper node issued for this node's area (licenses.dn_lic_share, up_lic_data columns).
        TableHook("dn_lic_share", verification.license_registry_apply(settings)),
        *applying.declarations(settings),
    ]


def registry_of(declared: Iterable[Declaration]) -> TopicRegistry:
    """The topic registry of the declarations collected by the composition root from every capability
    (national tables not declared by anybody still resolve by convention)."""
    registry = TopicRegistry()
    for item in declared:
        if isinstance(item, CodeCheck):
            registry.check_table(item.table, _code_check(item))
        elif isinstance(item, TableHook):
            registry.on_table(item.table, item.apply)
        elif isinstance(item, RefusalHook):
            registry.on_refused(item.table, item.on_refused)
            if item.on_settled is not None:
                registry.on_settled(item.table, item.on_settled)
        elif isinstance(item, Census):
            registry.count(item.kind, item.count)
        else:
            registry.register(
                item.name,
                table=item.table,
                key_column=item.key_column,
                refresh=item.refresh,
                label=item.label,
                route_column=item.route_column,
                relayed=item.relayed,
            )
    return registry


def _code_check(declared: CodeCheck) -> Callable[[Mapping[str, Any]], Iterable[RowError]]:
    column, label = declared.column, declared.label

    def check(row: Mapping[str, Any]) -> Iterable[RowError]:
        value = row.get(column)
        if value in (None, ""):
            return []
        verdict = declared.check(value)
        if verdict.ok:
            return []
        return [RowError(f"invalid_{column}", f"{label}（{column}）无效：{verdict.reason_zh}", column)]

    return check


def health(runtime: ExchangeRuntime) -> Callable[[], dict[str, Any]]:
    """``/_status`` probe: uplink certificate and expiry, open abnormal feedback."""

    def probe() -> dict[str, Any]:
        with unit_of_work(runtime.session_factory) as session:
            uplink = session.scalars(
                select(ExchangeCredential)
                .where(ExchangeCredential.purpose == "uplink", ExchangeCredential.status == "active")
                .limit(1)
            ).first()
            open_feedback = session.scalar(
                select(func.count()).select_from(ExchangeFeedback).where(ExchangeFeedback.status == "open")
            )
        days = (uplink.not_after - utcnow()).days if uplink is not None and uplink.not_after else None
        needs_uplink = bool(runtime.settings.upstream_url) and runtime.settings.exchange.transport == "http"
        return {
            "ok": (not needs_uplink or uplink is not None) and (days is None or days > 0),
            "transport": runtime.settings.exchange.transport,
            "joined": uplink is not None,
            "certificate_days_left": days,
            "open_feedback": int(open_feedback or 0),
        }

    return probe


def install(node: Node, registry: TopicRegistry) -> ExchangeRuntime:
    """Register the runtime, its health probe and, when the node has a provider, the client authoriser."""
    runtime = node.services.put(
        RUNTIME, ExchangeRuntime.create(node.settings, node.session_factory, registry)
    )
    node.health_probes["exchange"] = health(runtime)
    oidc = node.services.get(OIDC)
    if oidc is not None:
        from zhengwu.exchange.auth import oidc_authorizer

        node.services.put(AUTHORIZER, oidc_authorizer(oidc))
    return runtime


def subscribe(node: Node) -> None:
    """A refusal its owner settled (licenses' abnormal queue) closes in the feedback list too."""
    from zhengwu.exchange.service import settle_feedback
    from zhengwu.kernel.topics import RefusalSettled

    def settle(session: Session, event: RefusalSettled) -> None:
        settle_feedback(session, event)

    node.bus.subscribe(RefusalSettled, settle)


def mount(app: FastAPI, node: Node) -> None:
    """Include the node-to-node, operator, verification and page routers."""
    app.include_router(routes.node_router)
    app.include_router(routes.api_router)
    app.include_router(routes.verify_router)
    app.include_router(routes.page_router)
