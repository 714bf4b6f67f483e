"""Two nodes: one seals a document; another that trusts its root verifies it, fetching CRLs over HTTP.

Node A runs as a real server (`python -m zhengwu serve`) publishing its CRLs and CA certificates; node B
has its own database, adds A's chain with `zhengwu pki trust add --crl-url` and verifies documents sealed by
A (chain, CRLs downloaded through the httpx fetcher, TSA token); a seal revoked on A is refused by A at
once and by B as soon as B's cached CRL of A is due (the test makes it due by starting B's process anew:
those two verifications run in processes of their own, the other commands in the test's process).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from clikit import run_in
from dbkit import migrate_fresh
from zhengwu.seals.ofd.writer import DocumentSpec, Paragraph, write_ofd
from zhengwu.seed import government_credit_code


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(folder: Path, port: int) -> dict[str, str]:
    return dict(
        os.environ,
        ZHENGWU_DATABASE_URL=f"sqlite:///{(folder / 'node.db').as_posix()}",
        ZHENGWU_DATA_DIR=str(folder),
        ZHENGWU_LOG_LEVEL="WARNING",
        ZHENGWU_PUBLIC_URL=f"http://127.0.0.1:{port}",
    )


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``zhengwu <args>`` in this process with the node's environment (an interpreter start per command
    cost this test most of its minute)."""
    return run_in(env, *args)


def _fresh(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``zhengwu <args>`` in a process of its own: a verifier that never fetched a CRL before."""
    return subprocess.run(
        [sys.executable, "-m", "zhengwu", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _verdict(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.e2e
@pytest.mark.slow  # a real server and two fresh verifier processes: handed out first
def test_a_second_node_verifies_with_crls_fetched_over_http(tmp_path: Path) -> None:
    node_a, node_b = tmp_path / "a", tmp_path / "b"
    node_a.mkdir()
    node_b.mkdir()
    port = _free_port()
    env_a, env_b = _env(node_a, port), _env(node_b, _free_port())
    migrate_fresh(env_a["ZHENGWU_DATABASE_URL"])
    migrate_fresh(env_b["ZHENGWU_DATABASE_URL"])
    assert _cli(env_a, "pki", "init").returncode == 0
    code = government_credit_code("130000", 21)
    added = _cli(
        env_a,
        "departments",
        "add",
        "--credit-code",
        code,
        "--name",
        "河北省市场监督管理局",
        "--division",
        "130000",
    )
    assert added.returncode == 0, added.stderr
    seal = json.loads(
        _cli(
            env_a,
            "seals",
            "create",
            "--department",
            code,
            "--name",
            "河北省市场监督管理局行政审批专用章",
            "--json",
        ).stdout
    )
    document = tmp_path / "doc.ofd"
    document.write_bytes(write_ofd(DocumentSpec(title="营业执照", blocks=[Paragraph("准予登记。")])))
    signed = tmp_path / "signed.ofd"
    assert (
        _cli(
            env_a,
            "seals",
            "sign",
            str(document),
            "--seal",
            seal["es_id"],
            "--keyword",
            "准予",
            "-o",
            str(signed),
        ).returncode
        == 0
    )
    chain = tmp_path / "a-chain.pem"
    assert _cli(env_a, "pki", "export-ca", "-o", str(chain)).returncode == 0
    server = subprocess.Popen(
        [sys.executable, "-m", "zhengwu", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env_a,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/_status", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "node A did not start"
            time.sleep(0.3)
        crl = httpx.get(f"http://127.0.0.1:{port}/pki/crl/issuing.crl", timeout=10)
        assert crl.status_code == 200 and crl.headers["content-type"] == "application/pkix-crl"
        # Node B: A's chain trusted, its CRL fetched from the distribution points in A's certificates.
        trusted = _cli(env_b, "pki", "trust", "add", str(chain), "--for", "seals", "--for", "timestamping")
        assert trusted.returncode == 0, trusted.stderr
        before = _cli(env_b, "seals", "verify", str(signed), "--json")
        report = _verdict(before)
        assert before.returncode == 0, report
        assert {r["code"] for r in report["signatures"][0]["reasons"]} == {"seal_not_registered"}
        # A verifier without any node database: only --trust, CRLs over HTTP too.
        offline = _cli(env_b, "seals", "verify", str(signed), "--json", "--offline", "--trust", str(chain))
        assert offline.returncode == 0, _verdict(offline)
        # Revocation on A: A refuses at once; B (a fresh process, so a fresh CRL cache) sees the new CRL.
        time.sleep(1.1)  # one-second resolution of time-stamps and revocation dates
        assert _cli(env_a, "seals", "revoke", seal["es_id"], "--reason", "测试吊销").returncode == 0
        still = _fresh(env_b, "seals", "verify", str(signed), "--json")
        assert still.returncode == 0, _verdict(still)  # time-stamped before the revocation
        assert _cli(env_a, "seals", "verify", str(signed)).returncode == 0
        late = tmp_path / "late.ofd"
        late.write_bytes(_sign_with_revoked_key(env_a, seal["es_id"], document.read_bytes()))
        refused = _fresh(env_b, "seals", "verify", str(late), "--json")
        assert refused.returncode == 1
        codes = {r["code"] for r in _verdict(refused)["signatures"][0]["reasons"]}
        assert "signer_cert_revoked" in codes  # learnt from A's CRL, fetched over HTTP
        assert "seal_revoked" in {
            r["code"]
            for r in _verdict(_cli(env_a, "seals", "verify", str(late), "--json"))["signatures"][0]["reasons"]
        }
    finally:
        server.terminate()
        server.wait(timeout=30)


def _sign_with_revoked_key(env: dict[str, str], es_id: str, document: bytes) -> bytes:
    """What a stolen key (or rogue software) could do after the revocation: sign with A's key and TSA."""
    from zhengwu.kernel.config import Settings
    from zhengwu.kernel.db import make_engine
    from zhengwu.kernel.session import make_session_factory, unit_of_work
    from zhengwu.pki import authority, tsa
    from zhengwu.pki.repository import PkiRepository
    from zhengwu.seals import service
    from zhengwu.seals.ofd.signer import sign_ofd

    settings = Settings(
        database_url=env["ZHENGWU_DATABASE_URL"],
        data_dir=Path(env["ZHENGWU_DATA_DIR"]),
        public_url=env["ZHENGWU_PUBLIC_URL"],
    )
    engine = make_engine(settings.database_url)
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            seal = service.get_seal(session, es_id)
            cert = service.seal_certificate(session, seal)
            key = PkiRepository(session).key(cert.key_id or "")
            assert key is not None
            return sign_ofd(
                document,
                seal=seal.der,
                signer=authority.signer_for_key(settings, key),
                cert_der=cert.der,
                keyword="准予",
                timestamp_provider=lambda value: tsa.timestamp_token(session, settings, value),
            )
    finally:
        engine.dispose()
