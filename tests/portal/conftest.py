"""Fixtures of the portal tests (the licenses kit issues licenses to the test person)."""

from __future__ import annotations

from licenses_kit import issuing  # noqa: F401 - fixture
from seals_kit import node  # noqa: F401 - fixture
