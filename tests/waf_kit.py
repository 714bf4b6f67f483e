"""nginx + ModSecurity + OWASP CRS in front of test nodes, from the operators' configuration in deploy/nginx.

Tests skip when the Debian packages are missing locally, and fail instead under ``ZHENGWU_CI=1``
(``.ci/run`` installs them). ``ZHENGWU_TEST_WAF=1`` makes ``nodekit.start_node`` put every node it
starts behind its own nginx, so any end-to-end test can run through the WAF unchanged; a module that uses
the ``behind_the_waf`` fixture runs that way wherever the WAF is installed.
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load_render() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "zhengwu_nginx_render", ROOT / "deploy" / "nginx" / "render.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


render = _load_render()

_running: list[Any] = []


def require_waf() -> None:
    """Skip (fail under ZHENGWU_CI=1) when nginx, the ModSecurity module or the CRS is missing."""
    reason = render.missing()
    if reason is None:
        return
    if os.environ.get("ZHENGWU_CI") == "1":
        pytest.fail(f"ZHENGWU_CI=1 but {reason}")
    pytest.skip(reason)


def front(root: Path, host: str, port: int, upstream_port: int) -> Any:
    """Render the deploy/nginx configuration into ``root`` and start nginx on ``host:port`` in front of
    ``host:upstream_port``; stopped at interpreter exit at the latest."""
    rendered = render.render(root, listen=f"{host}:{port}", upstream=f"{host}:{upstream_port}")
    proxy = render.Proxy(rendered, f"http://{host}:{port}").start()
    _running.append(proxy)
    return proxy


@atexit.register
def _stop_all() -> None:
    for proxy in _running:
        proxy.stop()


def audit_entries(audit_log: Path) -> list[dict[str, Any]]:
    """The transactions of a ModSecurity JSON audit log."""
    if not audit_log.exists():
        return []
    text = audit_log.read_bytes().decode("utf-8", errors="replace")  # ModSecurity copies raw request bytes
    # Each entry ends with "\n"; what follows the last one is an entry nginx is still writing (read half
    # written, it failed to parse under load), so a poll sees it on its next read.
    complete = text.rpartition("\n")[0]
    # "\n" only: str.splitlines() would also split at the control characters an attack may carry.
    return [json.loads(line)["transaction"] for line in complete.split("\n") if line.strip()]


BLOCKING_RULES = frozenset({"949110", "1000003", "1000004", "1000005", "1000006", "1000007"})


def refused(audit_log: Path) -> list[str]:
    """``METHOD URI: rule ids`` of every request the WAF refused, for assertion messages.

    A 403 the node answered itself (a forged callback, a missing right) is logged too but carries no
    blocking rule: it is not the WAF's refusal.
    """
    out = []
    for t in audit_entries(audit_log):
        rules = sorted({m["details"]["ruleId"] for m in t.get("messages", [])})
        if BLOCKING_RULES.intersection(rules):
            out.append(f"{t['request']['method']} {t['request']['uri'][:160]}: {','.join(rules)}")
    return out


@pytest.fixture(scope="module")
def behind_the_waf() -> Iterator[None]:
    """Every node the module starts is reached through its own nginx + ModSecurity + CRS where they are
    installed (always in CI), and when the module ends no audit log may show a WAF refusal: the suite's
    end-to-end flows are the false-positive corpus, run once and through the WAF rather than twice.
    Without the packages (a developer's machine) the module runs directly against the nodes."""
    if render.missing() is not None:
        if os.environ.get("ZHENGWU_CI") == "1":
            require_waf()  # fails: CI must run these flows through the WAF
        yield
        return
    before = len(_running)
    previous = os.environ.get("ZHENGWU_TEST_WAF")
    os.environ["ZHENGWU_TEST_WAF"] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("ZHENGWU_TEST_WAF", None)
        else:
            os.environ["ZHENGWU_TEST_WAF"] = previous
    proxies = _running[before:]
    assert proxies, "the module started no node behind the WAF"
    assert all(p.rendered.access_log.stat().st_size > 0 for p in proxies), "no traffic went through nginx"
    blocked = [line for p in proxies for line in refused(p.rendered.audit_log)]
    assert blocked == [], f"the WAF refused the suite's own traffic: {blocked}"
