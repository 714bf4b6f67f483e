"""Materials that an electronic license satisfies (可替代的电子证照): the material names a license type code;
the catalog checks the code exists and shows the type's name in the guide.

The license types belong to ``zhengwu.licenses``, a layer above the catalog, so the catalog declares what
it needs (``LicenseTypes``) under a ``ServiceKey`` and ``main.bridge`` plugs in the licenses' lookup. A node
built without licenses has no lookup: codes are then kept as given (the national column is free text).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy.orm import Session

from zhengwu.kernel.node import ServiceKey, service_in


class LicenseTypes(Protocol):
    """The names of the license types among ``codes`` that exist (unknown codes are left out)."""

    def __call__(self, session: Session, codes: Collection[str]) -> Mapping[str, str]: ...


#: Bridge: license type code → name (main.bridge wires the licenses' lookup).
LICENSE_TYPES: ServiceKey[LicenseTypes] = ServiceKey("catalog.license_types")


def _lookup(session: Session) -> LicenseTypes | None:
    return service_in(session, LICENSE_TYPES)  # none outside a node (scripts, some tests): nothing to ask


def names(session: Session, codes: Collection[str]) -> Mapping[str, str] | None:
    """code → type name of the known codes; None when this node has no license types."""
    lookup = _lookup(session)
    wanted = {c for c in codes if c}
    if lookup is None or not wanted:
        return None if lookup is None else {}
    return lookup(session, wanted)


def unknown(session: Session, materials: Sequence[Mapping[str, Any]]) -> list[tuple[int, str]]:
    """(position, code) of every material naming a license type this node does not define."""
    codes = [str(m.get("license_type_code") or "") for m in materials]
    known = names(session, codes)
    if known is None:
        return []
    return [(index, code) for index, code in enumerate(codes, 1) if code and code not in known]


def with_type_names(session: Session, guide: dict[str, Any]) -> dict[str, Any]:
    """The guide with ``license_type_name`` beside each material's ``license_type_code``."""
    materials = guide.get("materials") or []
    known = names(session, [str(m.get("license_type_code") or "") for m in materials]) or {}
    guide["materials"] = [
        {**m, "license_type_name": known.get(str(m.get("license_type_code") or ""))} for m in materials
    ]
    return guide
