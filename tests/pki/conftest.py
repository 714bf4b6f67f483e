"""Fixtures for the node PKI tests: a node whose PKI is initialised (from seals_kit; ``clock`` is global)."""

from __future__ import annotations

from seals_kit import node  # noqa: F401 - the fixture the seals tests use too
