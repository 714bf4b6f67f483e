"""Fixtures of the cases tests (tests/cases_kit.py)."""

from __future__ import annotations

import sys
from pathlib import Path

# The exchange's in-process nodes (tests/exchange/exchange_nodes.py) carry the case records upward.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "exchange"))

from cases_kit import casework, enterprise  # noqa: F401 - fixture
from licenses_kit import issuing  # noqa: F401 - fixture
from seals_kit import node  # noqa: F401 - fixture
