"""Fixtures of the ops tests: the cases kit (a department, an item, a citizen and a handler) for the case
metrics."""

from __future__ import annotations

import sys
from pathlib import Path

for folder in ("catalog", "exchange"):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / folder))

from cases_kit import casework  # noqa: E402, F401 - fixture
from licenses_kit import issuing  # noqa: E402, F401 - fixture
from seals_kit import node  # noqa: E402, F401 - fixture
