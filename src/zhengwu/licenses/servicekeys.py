"""Ports the licenses expect to be bridged in by ``main.bridge`` (they sit beside the exchange and never
import it)."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.orm import Session

from zhengwu.kernel.node import ServiceKey


class ReportedArea(Protocol):
    """The ``certificate_area_code`` a lower node reported a license with (None: never reported)."""

    def __call__(self, session: Session, identifier: str) -> str | None: ...


#: Bridge: where a license held only by a lower node lives (the exchange's aggregate of received rows).
REPORTED_AREA: ServiceKey[ReportedArea] = ServiceKey("licenses.reported_area")
