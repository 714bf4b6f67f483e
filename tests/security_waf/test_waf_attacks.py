"""The attack corpus (attacks.jsonl, over 200 requests) through nginx + ModSecurity + CRS at paranoia level 2:
every request is refused with 403 before it reaches the node, and the node ingests the refusals from the
WAF's JSON audit log as typed security events, one per request, nothing lost."""

from __future__ import annotations

import collections
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from corpus import load, send

from nodekit import Node, eventually
from waf_kit import refused, render, require_waf

pytestmark = pytest.mark.e2e


def test_the_corpus_is_large_and_covers_every_kind_of_attack() -> None:
    attacks = load()
    kinds = collections.Counter(a.category for a in attacks)
    assert len(attacks) >= 200 and len({a.id for a in attacks}) == len(attacks)
    assert {"sqli", "xss", "traversal", "rce", "ssti", "scanner", "protocol"} <= set(kinds)


def test_the_rendered_configuration_loads_in_nginx_at_paranoia_level_2(tmp_path: Path) -> None:
    require_waf()
    rendered = render.render(tmp_path / "nginx", listen="127.0.0.1:1", upstream="127.0.0.1:2")
    checked = render.check(rendered)
    assert checked.returncode == 0, checked.stderr
    setup = (rendered.root / "modsecurity" / "crs-setup.conf").read_text()
    assert "setvar:tx.paranoia_level=2" in setup
    engine = (rendered.root / "modsecurity" / "modsecurity.conf").read_text()
    assert "SecRuleEngine On" in engine and "SecAuditLogFormat JSON" in engine


def test_every_attack_is_refused_and_ingested_as_a_security_event(waf_node: Node) -> None:
    host, port = urlsplit(waf_node.url).hostname or "", urlsplit(waf_node.url).port or 0
    # A clean request passes first: the refusals below are the WAF's judgement, not a broken proxy.
    # (the first search warms the node up: a loaded host can take more than httpx's default 5 s)
    assert (
        httpx.get(f"{waf_node.url}/api/v1/catalog/search", params={"q": "护照"}, timeout=60).status_code
        == 200
    )
    statuses = {a.id: send(host, port, a.request("zwfw.example.gov.cn")) for a in load()}
    passed = {k: v for k, v in statuses.items() if v != 403}
    assert passed == {}, passed
    audit_log = waf_node.waf.rendered.audit_log
    # nginx writes a transaction's audit line after answering it: wait for the last one.
    assert eventually(lambda: len(refused(audit_log)) == len(statuses)), len(refused(audit_log))

    report = waf_node.cli("security", "ingest-waf", str(audit_log))
    assert report["malformed"] == 0 and report["records"] >= len(statuses)
    listed = waf_node.cli("security", "events", "list", "--type", "waf.blocked", "--limit", "1000")
    # One event per refusal, or a summary counting the refusals of one address past the allowance.
    assert sum(e["count"] for e in listed["events"]) == len(statuses)
    assert any(e["count"] > 1 and e["detail"]["summarised"] for e in listed["events"])
    assert all(e["peer"] == "127.0.0.1" for e in listed["events"])
    kinds = {a for e in listed["events"] for a in e["detail"]["attacks"]}
    assert {"attack-sqli", "attack-xss", "attack-lfi", "attack-rce"} <= kinds
    # Ingesting again stores nothing twice.
    again = waf_node.cli("security", "ingest-waf", str(audit_log))
    assert again["lines"] == 0 and again["stored"] == 0
