"""Portal search relevance: share of everyday queries with an expected item in the first five results.

Loads the demo catalog (``zhengwu seed --demo``'s catalog part) into a scratch SQLite database, or uses
``--database-url`` of a node already seeded, then runs every case of ``tests/portal/relevance.tsv``
through the portal's search (vocabulary + grouped catalog search) and, as the baseline measured in the
same run, through the catalog's own search. Prints both shares, their ratio and every miss.

    .venv/bin/python bench/search_relevance.py [--database-url URL] [--cases tests/portal/relevance.tsv]

Exit status 1 when the portal's share is below the target (90 %).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from zhengwu.kernel.db import make_engine
from zhengwu.kernel.migrate import upgrade
from zhengwu.kernel.session import make_session_factory
from zhengwu.portal import relevance, vocabulary

TARGET = 0.90
ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="")
    parser.add_argument("--cases", type=Path, default=ROOT / "tests" / "portal" / "relevance.tsv")
    parser.add_argument("--scope", default="130000", help="the node's division (place words)")
    args = parser.parse_args()
    cases = relevance.read_cases(args.cases)
    with tempfile.TemporaryDirectory() as scratch:
        url = args.database_url
        if not url:
            from zhengwu.kernel.session import unit_of_work
            from zhengwu.seed import seed_departments
            from zhengwu.seed.catalog import seed_catalog

            url = f"sqlite:///{Path(scratch) / 'relevance.db'}"
            upgrade(url)
            print("载入演示目录 / loading the demo catalog …", file=sys.stderr)
            factory = make_session_factory(make_engine(url))
            with unit_of_work(factory) as session:
                seed_departments(session)
            seed_catalog(factory)
        engine = make_engine(url)
        try:
            with make_session_factory(engine)() as session:
                words = vocabulary.load()
                portal = relevance.measure(cases, relevance.portal_top(session, words, args.scope))
                baseline = relevance.measure(cases, relevance.catalog_top(session, args.scope))
        finally:
            engine.dispose()
    got, base = relevance.share(portal), relevance.share(baseline)
    print(f"cases: {len(cases)}")
    print(f"portal search (vocabulary + grouped): {got:.1%} found in the first {relevance.TOP}")
    print(f"catalog search alone (baseline):      {base:.1%}")
    print(f"ratio portal / baseline: {got / base:.2f}" if base else "ratio: baseline found nothing")
    for outcome in portal:
        if not outcome.found:
            print(f"  miss: {outcome.case.query} → {'、'.join(outcome.top) or '（无结果）'}")
    print(f"target ≥ {TARGET:.0%}: {'met' if got >= TARGET else 'NOT met'}")
    return 0 if got >= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
