"""Fixtures for the node PKI tests: a frozen clock and a node whose PKI is initialised (from seals_kit)."""

from __future__ import annotations

from seals_kit import clock, node  # noqa: F401 - the fixtures the seals tests use too
