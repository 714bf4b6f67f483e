"""Fixtures of the portal tests (the licenses kit issues licenses to the test person; the cases kit makes
an item to apply for, with a held license and a handler)."""

from __future__ import annotations

from cases_kit import casework, enterprise  # noqa: F401 - fixture
from licenses_kit import issuing  # noqa: F401 - fixture
from seals_kit import node  # noqa: F401 - fixture
