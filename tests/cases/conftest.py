"""Fixtures of the cases tests (tests/cases_kit.py)."""

from __future__ import annotations

import sys
from pathlib import Path

# The catalog's guide factories (tests/catalog/catalog_kit.py) build the items applied for here.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "catalog"))

from cases_kit import casework  # noqa: F401 - fixture
from licenses_kit import issuing  # noqa: F401 - fixture
from seals_kit import node  # noqa: F401 - fixture
