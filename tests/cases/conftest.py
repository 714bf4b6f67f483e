"""Fixtures of the cases tests (tests/cases_kit.py)."""

from __future__ import annotations

import sys
from pathlib import Path

# The catalog's guide factories (tests/catalog/catalog_kit.py) build the items applied for here, and the
# exchange's in-process nodes (tests/exchange/exchange_nodes.py) carry the case records upward.
for folder in ("catalog", "exchange"):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / folder))

from cases_kit import casework  # noqa: E402, F401 - fixture
from licenses_kit import issuing  # noqa: E402, F401 - fixture
from seals_kit import node  # noqa: E402, F401 - fixture
