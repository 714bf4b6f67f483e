"""Lookups the licenses lend to lower capabilities through ``main.bridge`` (they never import licenses)."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from sqlalchemy.orm import Session

from zhengwu.licenses.datarepo import DataRepository


def type_names(session: Session, codes: Collection[str]) -> Mapping[str, str]:
    """code → name of the license types among ``codes`` (the catalog's materials name them)."""
    return DataRepository(session).type_names(codes)
