"""Anti-tamper: ``zhengwu security integrity --seal`` signs an SM3 manifest with the node's key; a later
check reports an edited template, an added and a removed file, and a manifest that no longer verifies,
each as a security event."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from clikit import cli_node, invoke
from zhengwu.kernel.session import unit_of_work
from zhengwu.security import integrity
from zhengwu.security.models import SecurityEvent


def test_a_check_finds_changed_added_and_removed_files(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    (root / "templates").mkdir(parents=True)
    (root / "templates" / "a.html").write_text("<p>办事指南</p>", encoding="utf-8")
    (root / "b.py").write_text("x = 1\n", encoding="utf-8")
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "b.cpython-313.pyc").write_bytes(b"\0")
    key = b"k" * 16
    sealed = integrity.seal(root, "hebei", "thumb", lambda data: integrity.sm3(key + data))
    assert set(sealed["files"]) == {"templates/a.html", "b.py"}  # caches are not part of a release
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(sealed), encoding="utf-8")

    def verify(thumbprint: str, signature: bytes, data: bytes) -> bool:
        return thumbprint == "thumb" and signature == integrity.sm3(key + data)

    assert integrity.check(root, manifest, verify).intact
    (root / "templates" / "a.html").write_text("<p>办事指南</p><script>x</script>", encoding="utf-8")
    (root / "c.js").write_text("evil()", encoding="utf-8")
    (root / "b.py").unlink()
    found = integrity.check(root, manifest, verify)
    assert found.manifest_ok and not found.intact
    assert (found.changed, found.added, found.removed) == (["templates/a.html"], ["c.js"], ["b.py"])
    # A manifest edited to match the tampered files no longer verifies.
    forged = {**sealed, "files": integrity.digest_files(root)}
    manifest.write_text(json.dumps(forged), encoding="utf-8")
    refused = integrity.check(root, manifest, verify)
    assert not refused.manifest_ok and "签名无效" in str(refused.problem)
    manifest.write_text("{not json", encoding="utf-8")
    assert integrity.check(root, manifest, verify).problem == "清单格式无效"
    assert "请先执行" in str(integrity.check(root, tmp_path / "none.json", verify).problem)


@pytest.fixture
def node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    yield from cli_node(tmp_path, monkeypatch, ZHENGWU_NODE_ID="hebei")


def test_an_edited_template_is_reported_as_a_security_event(
    node: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A copy of the installed templates stands in for the package: the test never edits the real one.
    root = tmp_path / "installed"
    shutil.copytree(integrity.package_root() / "portal" / "templates", root / "portal" / "templates")
    monkeypatch.setattr(integrity, "package_root", lambda: root)
    manifest = tmp_path / "manifest.json"
    assert invoke("security", "integrity", "--manifest", str(manifest)).exit_code == 1  # nothing sealed yet
    assert invoke("pki", "init").exit_code == 0
    sealed = invoke("security", "integrity", "--seal", "--manifest", str(manifest), "--json")
    assert sealed.exit_code == 0, sealed.output
    clean = invoke("security", "integrity", "--manifest", str(manifest), "--json")
    assert clean.exit_code == 0 and json.loads(clean.output)["intact"]
    template = sorted((root / "portal" / "templates").rglob("*.html"))[0]
    template.write_text(template.read_text(encoding="utf-8") + "<script>alert(1)</script>", encoding="utf-8")
    found = invoke("security", "integrity", "--manifest", str(manifest), "--json")
    assert found.exit_code == 1
    report = json.loads(found.output)
    assert report["changed"] == [template.relative_to(root).as_posix()]
    with unit_of_work(node) as session:
        events = session.scalars(select(SecurityEvent).where(SecurityEvent.source == "integrity")).all()
    types = sorted(e.event_type for e in events)
    assert types == ["integrity.changed", "integrity.manifest_invalid"]  # the unsealed check counted too
