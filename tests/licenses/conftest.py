"""Fixtures of the licenses tests (tests/licenses/licenses_kit.py)."""

from __future__ import annotations

from licenses_kit import issuing  # noqa: F401 - fixture
from seals_kit import node  # noqa: F401 - fixture
