"""The `zhengwu pki` and `zhengwu seals` commands end to end on a node database (SQLite file)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from zhengwu.seals.ofd.writer import DocumentSpec, Paragraph, Table, write_ofd
from zhengwu.seed import government_credit_code

runner = CliRunner()
SEAL_NAME = "河北省市场监督管理局行政审批专用章"


@pytest.fixture(scope="module")
def node_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    from dbkit import migrate_fresh

    folder = tmp_path_factory.mktemp("cli-node")
    url = f"sqlite:///{(folder / 'node.db').as_posix()}"
    migrate_fresh(url)
    return {"ZHENGWU_DATABASE_URL": url, "ZHENGWU_DATA_DIR": str(folder), "ZHENGWU_LOG_LEVEL": "WARNING"}


def run(env: dict[str, str], *args: str) -> Any:
    from zhengwu.cli import app

    return runner.invoke(app, list(args), env=env, catch_exceptions=False)


def json_of(result: Any) -> Any:
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def seal(node_env: dict[str, str]) -> dict[str, Any]:
    first = run(node_env, "pki", "init", "--json")
    assert first.exit_code == 0, first.output
    assert set(json_of(first)["created"]) == {"root-ca", "issuing-ca", "seal-maker", "tsa"}
    second = run(node_env, "pki", "init", "--json")
    assert json_of(second)["created"] == []
    assert json_of(second)["certificates"] == json_of(first)["certificates"]
    code = government_credit_code("130000", 13)
    added = run(
        node_env,
        "departments",
        "add",
        "--credit-code",
        code,
        "--name",
        "河北省市场监督管理局",
        "--division",
        "130000",
    )
    assert added.exit_code == 0, added.output
    made = run(node_env, "seals", "create", "--department", code, "--name", SEAL_NAME, "--json")
    assert made.exit_code == 0, made.output
    out: dict[str, Any] = json_of(made)
    out["credit_code"] = code
    return out


@pytest.fixture
def document(tmp_path: Path) -> Path:
    path = tmp_path / "license.ofd"
    path.write_bytes(
        write_ofd(
            DocumentSpec(
                title="营业执照",
                blocks=[
                    Paragraph("登记机关：河北省市场监督管理局。准予登记。"),
                    Table([["名称", "演示有限公司"]]),
                ],
            )
        )
    )
    return path


def test_create_and_list(node_env: dict[str, str], seal: dict[str, Any]) -> None:
    assert seal["es_id"] == "13000000000001" and seal["name"] == SEAL_NAME and seal["status"] == "active"
    assert seal["department_name"] == "河北省市场监督管理局" and seal["picture_type"] == "PNG"
    listed = run(node_env, "seals", "list", "--json")
    assert listed.exit_code == 0
    rows = [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]
    assert [r["es_id"] for r in rows] == [seal["es_id"]]
    assert run(node_env, "seals", "list").exit_code == 0
    missing = run(node_env, "seals", "create", "--department", "91130100MA0000000X", "--name", "某某专用章")
    assert missing.exit_code == 1


def test_sign_and_verify(
    node_env: dict[str, str], seal: dict[str, Any], document: Path, tmp_path: Path
) -> None:
    out = tmp_path / "signed.ofd"
    signed = run(
        node_env, "seals", "sign", str(document), "--seal", seal["es_id"], "--keyword", "准予", "-o", str(out)
    )
    assert signed.exit_code == 0, signed.output
    verified = run(node_env, "seals", "verify", str(out), "--json")
    assert verified.exit_code == 0, verified.output
    report = json_of(verified)
    assert set(report) == {"verdict", "signatures", "reasons"} and report["verdict"] == "VALID"
    sig = report["signatures"][0]
    assert set(sig) == {
        "id", "verdict", "crypto_valid", "reasons", "signer", "seal_name", "es_id", "algorithm", "signed_at",
    }  # fmt: skip
    assert sig["es_id"] == seal["es_id"] and sig["crypto_valid"] is True
    text = run(node_env, "seals", "verify", str(out))
    assert text.exit_code == 0 and "VALID" in text.stdout
    # at a page position, as a second seal on the same document
    twice = tmp_path / "twice.ofd"
    again = run(
        node_env, "seals", "sign", str(out), "--seal", seal["es_id"], "--page", "1", "--x", "20", "--y", "200",
        "-o", str(twice),
    )  # fmt: skip
    assert again.exit_code == 0
    assert [
        s["verdict"] for s in json_of(run(node_env, "seals", "verify", str(twice), "--json"))["signatures"]
    ] == [
        "VALID",
        "VALID",
    ]
    both = run(
        node_env,
        "seals",
        "sign",
        str(document),
        "--seal",
        seal["es_id"],
        "--page",
        "1",
        "--keyword",
        "x",
        "-o",
        "-",
    )
    assert both.exit_code == 1


def test_verify_exit_codes(node_env: dict[str, str], tmp_path: Path, document: Path) -> None:
    unsigned = run(node_env, "seals", "verify", str(document), "--json")
    assert unsigned.exit_code == 1 and json_of(unsigned)["verdict"] == "INVALID"
    junk = tmp_path / "junk.ofd"
    junk.write_bytes(b"%PDF-1.7")
    assert run(node_env, "seals", "verify", str(junk)).exit_code == 1
    assert run(node_env, "seals", "verify", str(tmp_path / "missing.ofd")).exit_code == 1


def test_conformance_document_with_trust_and_cert(node_env: dict[str, str]) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("_cp", Path(__file__).parent.parent / "conformance_path.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ofd_dir = module.conformance_dir() / "ofd"
    bare = run(
        node_env, "seals", "verify", str(ofd_dir / "documents" / "ofdrw-sign__DigitalSign.ofd"), "--json"
    )
    assert bare.exit_code == 2  # no certificate: INDETERMINATE
    with_cert = run(
        node_env, "seals", "verify", str(ofd_dir / "documents" / "ofdrw-sign__DigitalSign.ofd"), "--json",
        "--cert", str(ofd_dir / "keys" / "derived__ofdrw_USER_cert.pem"),
    )  # fmt: skip
    assert json_of(with_cert)["signatures"][0]["crypto_valid"] is True


def test_status_changes_and_revocation(
    node_env: dict[str, str], seal: dict[str, Any], document: Path, tmp_path: Path
) -> None:
    made = run(
        node_env,
        "seals",
        "create",
        "--department",
        seal["credit_code"],
        "--name",
        "河北省市场监督管理局合同专用章",
        "--json",
    )
    es_id = json_of(made)["es_id"]
    before = tmp_path / "before.ofd"
    signed = run(node_env, "seals", "sign", str(document), "--seal", es_id, "--page", "1", "-o", str(before))
    assert signed.exit_code == 0
    # Time-stamps and revocation dates have one-second resolution, and a change in the same second as a
    # signature counts against it (the safe side): let the clock move on.
    time.sleep(1.1)
    assert (
        json_of(run(node_env, "seals", "suspend", es_id, "--reason", "核查", "--json"))["status"]
        == "suspended"
    )
    refused = run(
        node_env,
        "seals",
        "sign",
        str(document),
        "--seal",
        es_id,
        "--page",
        "1",
        "-o",
        str(tmp_path / "x.ofd"),
    )
    assert refused.exit_code == 1 and "挂起" in refused.stderr
    assert json_of(run(node_env, "seals", "resume", es_id, "--json"))["status"] == "active"
    revoked = run(node_env, "seals", "revoke", es_id, "--reason", "机构撤销", "--json")
    assert json_of(revoked)["status"] == "revoked" and json_of(revoked)["certificate_status"] == "revoked"
    assert run(node_env, "seals", "revoke", es_id).exit_code == 1
    history = json_of(run(node_env, "seals", "status", es_id, "--json"))["history"]
    assert [h["status"] for h in history] == ["active", "suspended", "active", "revoked"]
    assert history[-1]["reason"] == "机构撤销" and history[-1]["actor"].startswith("cli")
    # Signed (and time-stamped) before the revocation: still valid afterwards.
    assert run(node_env, "seals", "verify", str(before)).exit_code == 0
    crl = tmp_path / "issuing.crl"
    assert run(node_env, "pki", "crl", "--ca", "issuing", "-o", str(crl)).exit_code == 0
    if shutil.which("openssl"):
        text = subprocess.run(
            ["openssl", "crl", "-inform", "DER", "-in", str(crl), "-noout", "-text"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        assert "Cessation Of Operation" in text and int(json_of(revoked)["certificate_serial"], 16) in {
            int(line.split(":")[1], 16) for line in text.splitlines() if "Serial Number:" in line
        }


def _has_cjk_font() -> bool:
    if shutil.which("fc-list") is None:
        return False
    out = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True, check=False).stdout
    return bool(out.strip())


@pytest.mark.skipif(
    shutil.which("pdftoppm") is None or not _has_cjk_font(),
    reason="needs pdftoppm and a CJK font (fc-list :lang=zh)",
)
def test_preview_page_one(
    node_env: dict[str, str], seal: dict[str, Any], document: Path, tmp_path: Path
) -> None:
    from PIL import Image

    signed = tmp_path / "signed.ofd"
    assert (
        run(
            node_env,
            "seals",
            "sign",
            str(document),
            "--seal",
            seal["es_id"],
            "--keyword",
            "准予",
            "-o",
            str(signed),
        ).exit_code
        == 0
    )
    png = tmp_path / "page1.png"
    result = run(node_env, "seals", "preview", str(signed), "-o", str(png))
    assert result.exit_code == 0, result.output
    with Image.open(png) as image:
        rgb = image.convert("RGB")
        width, height = rgb.size
        assert width > 500 and height > 700
        red = sum(1 for r, g, b in rgb.get_flattened_data() if r > 180 and g < 90 and b < 90)
    assert red > 500  # the stamp is drawn
