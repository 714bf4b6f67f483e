"""Anti-tamper on a running node: a static asset or page template whose bytes are not the sealed
release's is not served or rendered (and the refusal is a security event), and the worker's periodic
check reports a changed file."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from clikit import cli_node, invoke
from zhengwu.commands.node import open_node
from zhengwu.kernel.assets import GuardedLoader
from zhengwu.kernel.config import Settings
from zhengwu.kernel.node import node_of
from zhengwu.kernel.pagecache import PAGE_CACHE
from zhengwu.kernel.session import unit_of_work
from zhengwu.main import create_app
from zhengwu.portal import pages
from zhengwu.security import integrity, tamper
from zhengwu.security.models import SecurityEvent

CSS = "/portal/static/portal.css"


@pytest.fixture
def release(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A node with its PKI, and a copy of the portal's static files standing in for the installed package
    (the test never edits the real one)."""
    yield from _nodes(tmp_path, monkeypatch)


def _nodes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for _ in cli_node(tmp_path, monkeypatch, ZHENGWU_NODE_ID="hebei"):
        root = tmp_path / "installed"
        for part in ("static", "templates"):
            shutil.copytree(integrity.package_root() / "portal" / part, root / "portal" / part)
        monkeypatch.setattr(integrity, "package_root", lambda root=root: root)
        monkeypatch.setattr(pages, "_STATIC", root / "portal" / "static")
        monkeypatch.setattr(pages.TEMPLATES.env, "loader", GuardedLoader(str(root / "portal" / "templates")))
        pages.TEMPLATES.env.cache.clear()  # type: ignore[union-attr]
        assert invoke("pki", "init").exit_code == 0
        yield root


def _events(settings: Settings, event_type: str) -> list[SecurityEvent]:
    node = open_node(settings)
    try:
        with unit_of_work(node.session_factory) as session:
            return list(session.scalars(select(SecurityEvent).where(SecurityEvent.event_type == event_type)))
    finally:
        node.close()


def test_a_tampered_stylesheet_is_refused_until_it_is_restored(release: Path) -> None:
    sealed = invoke("security", "integrity", "--seal", "--json")
    assert sealed.exit_code == 0, sealed.output
    css = release / "portal" / "static" / "portal.css"
    original = css.read_bytes()
    settings = Settings()
    with TestClient(create_app(settings)) as client:
        served = client.get(CSS)
        assert served.status_code == 200 and served.content == original
        css.write_bytes(original + b"\nbody{background:url(https://evil.example/x)}")
        for _ in range(2):
            refused = client.get(CSS)
            assert refused.status_code == 503
            problem = refused.json()
            assert problem["code"] == "asset_integrity_failed" and "完整性校验" in problem["detail"]
            assert b"evil" not in refused.content
        css.write_bytes(original)
        assert client.get(CSS).status_code == 200
    events = _events(settings, "integrity.asset_refused")
    assert len(events) == 1  # once per tampered version, not per request
    assert events[0].detail["file"] == "portal/static/portal.css" and events[0].severity == "high"


def test_an_edited_template_is_reported_and_refused_by_the_portal(release: Path) -> None:
    assert invoke("security", "integrity", "--seal").exit_code == 0
    home = release / "portal" / "templates" / "portal" / "home.html"
    original = home.read_bytes()
    settings = Settings()
    app = create_app(settings)
    now = [time.monotonic() + 3600]  # a driven clock for the kept anonymous pages' one-second bound
    with TestClient(app) as client:  # its start built the middleware, the page cache among them
        node_of(app).services.provide(PAGE_CACHE).view.clock = lambda: now[0]
        assert client.get("/").status_code == 200
        home.write_bytes(original + b"<script>steal()</script>")
        # Within the bound a visitor without a session may still get the page kept from the released
        # template — never the edited bytes; past it the page is rendered again and the guard refuses.
        kept = client.get("/")
        assert kept.status_code == 200 and "steal()" not in kept.text
        now[0] += 2
        refused = client.get("/")
        assert refused.status_code == 503 and "steal()" not in refused.text
        assert refused.json()["code"] == "asset_integrity_failed"
        found = invoke("security", "integrity", "--json")
        assert found.exit_code == 1 and json.loads(found.output)["changed"] == [
            "portal/templates/portal/home.html"
        ]
        home.write_bytes(original)
        now[0] += 2
        assert client.get("/").status_code == 200
    [event] = _events(settings, "integrity.asset_refused")
    assert event.detail["file"] == "portal/templates/portal/home.html"


def test_a_forged_manifest_refuses_every_asset_and_no_manifest_serves_them(release: Path) -> None:
    settings = Settings()
    with TestClient(create_app(settings)) as client:
        assert client.get(CSS).status_code == 200  # never sealed: nothing to compare with
    assert invoke("security", "integrity", "--seal").exit_code == 0
    manifest = tamper.manifest_path(settings)
    forged = json.loads(manifest.read_text(encoding="utf-8"))
    forged["files"]["portal/static/portal.css"] = "0" * 64
    manifest.write_text(json.dumps(forged), encoding="utf-8")
    with TestClient(create_app(settings)) as client:
        assert client.get(CSS).status_code == 503


def test_the_workers_periodic_check_reports_a_changed_file(release: Path, monkeypatch: Any) -> None:
    settings = Settings()
    assert tamper.periodic_check(open_node(settings).session_factory, settings) is None  # nothing sealed
    assert invoke("security", "integrity", "--seal").exit_code == 0
    node = open_node(settings)
    try:
        report = tamper.periodic_check(node.session_factory, settings)
        assert report is not None and report.intact
        (release / "portal" / "static" / "portal.css").write_text("body{}", encoding="utf-8")
        report = tamper.periodic_check(node.session_factory, settings)
        assert report is not None and report.changed == ["portal/static/portal.css"]
        off = settings.model_copy(
            update={"security": settings.security.model_copy(update={"integrity_minutes": 0})}
        )
        assert tamper.periodic_check(node.session_factory, off) is None
    finally:
        node.close()
    assert [e.detail["changed"] for e in _events(settings, "integrity.changed")] == [
        ["portal/static/portal.css"]
    ]


def test_a_stylesheet_accepted_once_is_checked_again_when_the_manifest_changes(release: Path) -> None:
    assert invoke("security", "integrity", "--seal").exit_code == 0
    settings = Settings()
    manifest = tamper.manifest_path(settings)
    with TestClient(create_app(settings)) as client:
        for _ in range(3):  # read once, then answered from the kept bytes the guard accepted
            assert client.get(CSS).status_code == 200
        forged = json.loads(manifest.read_text(encoding="utf-8"))
        forged["files"]["portal/static/portal.css"] = "0" * 64
        manifest.write_text(json.dumps(forged), encoding="utf-8")
        assert client.get(CSS).status_code == 503
        assert invoke("security", "integrity", "--seal").exit_code == 0
        assert client.get(CSS).status_code == 200
