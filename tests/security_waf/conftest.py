"""A province node behind nginx + ModSecurity + OWASP CRS (deploy/nginx), shared by the WAF tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nodekit import Node, database_urls, start_node
from waf_kit import require_waf


@pytest.fixture(scope="module")
def waf_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """A real node reached only through the WAF (skips without nginx and the module, unless in CI)."""
    require_waf()
    tmp = tmp_path_factory.mktemp("waf")
    url = database_urls(tmp, ["province"])["province"]
    node = start_node("province", "127.0.0.1", tmp, url, None, False, waf=True)
    try:
        yield node
    finally:
        node.proc.terminate()
        node.proc.wait(timeout=30)
        node.waf.stop()
