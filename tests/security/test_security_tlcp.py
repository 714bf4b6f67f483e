"""The TLCP gateway check (密评 网络和通信层): a TLCP ClientHello to the configured gateway, its first flight
read and judged — version 0x0101, an SM suite, a signing and an encryption SM2 certificate chaining to the
configured CA, valid now — and the product certification recorded and warned about before it expires.

The gateway here is a small in-test server that answers with records built from Tongsuo's SM2 test PKI
(read in place from the shared conformance folder); plain TLS answers come from Python's own ``ssl``.
"""

from __future__ import annotations

import json
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from clikit import cli_node, invoke
from conformance_path import conformance_dir
from zhengwu.kernel.pki import load_certificates
from zhengwu.security import tlcp


def _pki() -> Path:
    return conformance_dir() / "sm2-pki" / "tongsuo" / "sm2"


def _ders(*names: str) -> list[bytes]:
    return [cert.der for name in names for cert in load_certificates((_pki() / name).read_bytes())]


def _sub_ca() -> bytes:
    (sub,) = [
        c.der for c in load_certificates((_pki() / "chain-ca.crt").read_bytes()) if not c.is_self_issued
    ]
    return sub


def flight(version: int, suite: int, certificates: list[bytes]) -> bytes:
    """ServerHello + Certificate + ServerHelloDone, the server hello in its own record as gateways do."""
    hello = struct.pack("!H", version) + b"\x11" * 32 + b"\x20" + b"\x22" * 32 + struct.pack("!HB", suite, 0)
    chain = b"".join(len(der).to_bytes(3, "big") + der for der in certificates)
    rest = tlcp.handshake(11, len(chain).to_bytes(3, "big") + chain) + tlcp.handshake(14, b"")
    return tlcp.record(22, tlcp.handshake(2, hello), version) + tlcp.record(22, rest, version)


class Gateway:
    """A listening socket answering every connection with ``answer`` after reading the ClientHello."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.hellos: list[bytes] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                head = conn.recv(5)
                body = b""
                while len(body) < struct.unpack("!H", head[3:5])[0]:
                    body += conn.recv(4096)
                self.hellos.append(head + body)
                conn.sendall(self.answer)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def gateway() -> Iterator[Callable[[bytes], Gateway]]:
    made: list[Gateway] = []

    def start(answer: bytes) -> Gateway:
        made.append(Gateway(answer))
        return made[-1]

    yield start
    for item in made:
        item.close()


def config(port: int, **extra: Any) -> tlcp.GatewayConfig:
    values: dict[str, Any] = {
        "ca_file": _pki() / "chain-ca.crt",
        "product_certificate": "GM003312220220001",
        "product_certificate_expires": date(2029, 6, 30),
        **extra,
    }
    return tlcp.GatewayConfig(address=f"127.0.0.1:{port}", **values)


GOOD = ("server_sign.crt", "server_enc.crt")


def test_a_tlcp_gateway_with_good_certificates_passes(gateway: Callable[[bytes], Gateway]) -> None:
    server = gateway(flight(0x0101, 0xE013, [*_ders(*GOOD), _sub_ca()]))
    found = tlcp.check(config(server.port))
    assert found["ok"] is True and found["problems"] == [] and found["code"] is None, found
    assert found["version"] == "TLCP 1.1" and found["cipher_suite"] == "ECC_SM4_CBC_SM3"
    sign, enc = found["certificates"]["sign"], found["certificates"]["enc"]
    assert "server sign" in sign["subject"] and "server enc" in enc["subject"]
    assert sign["chain"] == enc["chain"] == "ok" and sign["sm2"] and sign["days_left"] > 30_000
    assert found["product_certificate"]["number"] == "GM003312220220001"
    # What we sent: a TLCP ClientHello offering the SM suites only.
    (hello,) = server.hellos
    assert hello[:3] == b"\x16\x01\x01" and hello[9:11] == b"\x01\x01"
    suites = hello[9 + 2 + 32 + 1 + 2 : 9 + 2 + 32 + 1 + 2 + 8]
    assert {struct.unpack("!H", suites[i : i + 2])[0] for i in range(0, 8, 2)} == set(tlcp.SUITES)


def test_the_enc_certificate_first_and_the_sub_ca_from_the_ca_file(
    gateway: Callable[[bytes], Gateway],
) -> None:
    # Order does not decide the roles (key usage does); the sub-CA may come from the configured file.
    server = gateway(flight(0x0101, 0xE053, _ders("server_enc.crt", "server_sign.crt")))
    found = tlcp.check(config(server.port))
    assert found["ok"] is True, found
    assert found["cipher_suite"] == "ECC_SM4_GCM_SM3"


def test_a_plain_tls_answer_is_not_tlcp(gateway: Callable[[bytes], Gateway]) -> None:
    server = gateway(flight(0x0303, 0xC02F, _ders(*GOOD)))
    found = tlcp.check(config(server.port))
    assert found["ok"] is False and found["code"] == "not_tlcp"
    assert found["version"] == "TLS 1.2" and "不是 TLCP" in found["problems"][0]


def test_an_sm_version_with_a_foreign_suite_is_refused(gateway: Callable[[bytes], Gateway]) -> None:
    server = gateway(flight(0x0101, 0x002F, _ders(*GOOD)))
    found = tlcp.check(config(server.port))
    assert found["code"] == "not_sm_suite" and "不是国密套件" in found["problems"][0]


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return cert_path, key_path


@pytest.mark.parametrize("minimum", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_a_real_tls_server_refuses_the_tlcp_hello(tmp_path: Path, minimum: ssl.TLSVersion) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = minimum
    context.load_cert_chain(*_self_signed(tmp_path))
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            pass
        finally:
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        found = tlcp.check(config(port))
    finally:
        thread.join(timeout=5)
        listener.close()
    assert found["ok"] is False and found["code"] in ("alert", "closed"), found["problems"]
    assert "TLCP" in found["problems"][0] or "关闭" in found["problems"][0]


def test_expired_certificates_fail(gateway: Callable[[bytes], Gateway]) -> None:
    server = gateway(flight(0x0101, 0xE013, _ders("server_sign_expire.crt", "server_enc_expire.crt")))
    found = tlcp.check(config(server.port))
    assert found["ok"] is False and found["code"] == "certificate"
    assert (
        found["certificates"]["sign"]["chain"] == "expired"
        and found["certificates"]["enc"]["chain"] == "expired"
    )
    assert sum("已过期" in p for p in found["problems"]) == 2


def test_certificates_of_another_ca_fail(gateway: Callable[[bytes], Gateway]) -> None:
    server = gateway(flight(0x0101, 0xE013, _ders(*GOOD)))
    other = (
        conformance_dir()
        / "sm2-pki"
        / "openhitls-crl"
        / "sm2_with_userid"
        / "crl_verify"
        / "certs"
        / "root.crt"
    )
    found = tlcp.check(config(server.port, ca_file=other))
    assert found["ok"] is False and found["code"] == "certificate"
    assert found["certificates"]["sign"]["chain"] == "issuer_not_found"


def test_a_single_certificate_is_not_tlcp_double_certificates(gateway: Callable[[bytes], Gateway]) -> None:
    server = gateway(flight(0x0101, 0xE013, _ders("server_sign.crt")))
    found = tlcp.check(config(server.port))
    assert found["code"] == "certificate" and "加密证书" in found["problems"][0]


def test_a_closed_port_is_unreachable() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    found = tlcp.check(config(port))
    assert found["ok"] is False and found["code"] == "unreachable" and found["reachable"] is False
    assert "连不上网关" in found["problems"][0]


def test_the_product_certification_is_warned_about_then_refused(gateway: Callable[[bytes], Gateway]) -> None:
    server = gateway(flight(0x0101, 0xE013, _ders(*GOOD)))
    today = (datetime.now(UTC) + timedelta(hours=8)).date()
    soon = tlcp.check(config(server.port, product_certificate_expires=today + timedelta(days=10)))
    assert soon["ok"] is True and soon["product_certificate"]["days_left"] == 10
    assert any("10 天后到期" in w for w in soon["warnings"])
    gone = tlcp.check(config(server.port, product_certificate_expires=today - timedelta(days=1)))
    assert gone["ok"] is False and gone["code"] == "product_certificate" and "已过期" in gone["problems"][0]
    unrecorded = tlcp.check(config(server.port, product_certificate="", product_certificate_expires=None))
    assert unrecorded["ok"] is True and unrecorded["product_certificate"] == {"recorded": False}
    assert "未登记" in unrecorded["warnings"][0]


def test_status_reuses_the_last_check(gateway: Callable[[bytes], Gateway]) -> None:
    server = gateway(flight(0x0101, 0xE013, _ders(*GOOD)))
    probe = tlcp.CachedProbe(config(server.port), minutes=10)
    assert probe()["ok"] is True and probe()["ok"] is True
    assert len(server.hellos) == 1


def test_the_cli_and_the_security_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gateway: Callable[[bytes], Gateway]
) -> None:
    good = gateway(flight(0x0101, 0xE013, _ders(*GOOD)))
    expired = gateway(flight(0x0101, 0xE013, _ders("server_sign_expire.crt", "server_enc_expire.crt")))
    yield_node = cli_node(tmp_path, monkeypatch, ZHENGWU_NODE_ID="hebei",
                          ZHENGWU_SECURITY__TLCP_CA_FILE=str(_pki() / "chain-ca.crt"))  # fmt: skip
    next(yield_node)
    missing = invoke("security", "tlcp-check")
    assert missing.exit_code == 1 and "未配置 TLCP" in missing.output
    report = json.loads(invoke("security", "report", "--json").output)
    assert report["controls"]["transport"]["tlcp_gateway"]["configured"] is False

    monkeypatch.setenv("ZHENGWU_SECURITY__TLCP_GATEWAY", f"127.0.0.1:{good.port}")
    monkeypatch.setenv("ZHENGWU_SECURITY__TLCP_PRODUCT_CERTIFICATE", "GM003312220220001")
    monkeypatch.setenv("ZHENGWU_SECURITY__TLCP_PRODUCT_CERTIFICATE_EXPIRES", "2029-06-30")
    passed = invoke("security", "tlcp-check")
    assert passed.exit_code == 0 and "通过" in passed.output and "ECC_SM4_CBC_SM3" in passed.output
    shown = json.loads(invoke("security", "report", "--json").output)["controls"]["transport"]["tlcp_gateway"]
    assert shown["ok"] is True and shown["certificates"]["enc"]["chain"] == "ok"

    failed = invoke("security", "tlcp-check", "--gateway", f"127.0.0.1:{expired.port}", "--json")
    assert failed.exit_code == 1 and json.loads(failed.output)["code"] == "certificate"
    text = invoke("security", "tlcp-check", "--gateway", f"127.0.0.1:{expired.port}")
    assert "已过期" in text.output and "未通过" in text.output


def test_status_shows_the_gateway_and_degrades_when_it_fails(
    tmp_path: Path, gateway: Callable[[bytes], Gateway]
) -> None:
    from fastapi.testclient import TestClient

    from dbkit import migrate_fresh
    from zhengwu.kernel.config import SecuritySettings, Settings
    from zhengwu.kernel.node import node_of
    from zhengwu.main import create_app

    url = f"sqlite:///{(tmp_path / 'status.db').as_posix()}"
    migrate_fresh(url)
    for answer, ok in (
        (_ders(*GOOD), True),
        (_ders("server_sign_expire.crt", "server_enc_expire.crt"), False),
    ):
        server = gateway(flight(0x0101, 0xE013, answer))
        security = SecuritySettings(
            tlcp_gateway=f"127.0.0.1:{server.port}", tlcp_ca_file=_pki() / "chain-ca.crt"
        )
        app = create_app(Settings(data_dir=tmp_path, database_url=url, security=security))
        try:
            with TestClient(app) as client:
                body = client.get("/_status").json()
        finally:
            node_of(app).engine.dispose()
        shown = body["dependencies"]["tlcp_gateway"]
        assert shown["ok"] is ok and shown["gateway"] == f"127.0.0.1:{server.port}", shown
        # A failing gateway degrades the node's status (other probes may too on this bare node).
        assert ok or (body["status"] == "degraded" and any("已过期" in p for p in shown["problems"]))
