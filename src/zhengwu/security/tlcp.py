"""The TLCP gateway in front of the node (密评 网络和通信层, GB/T 38636 / GM/T 0024): is it there, does it
speak TLCP, and are its certificates good.

The node cannot terminate TLCP itself (neither Python's ``ssl`` nor OpenSSL 3 implement it), so a
certified 国密 SSL gateway does, in front of nginx. What the node *can* check is the gateway's first
flight: it sends a TLCP ClientHello (version 0x0101, only SM2/SM4/SM3 suites) and reads the answer up
to ServerHelloDone — ServerHello (version, chosen suite) and Certificate (TLCP's double certificate:
a signing and an encryption SM2 certificate). Nothing more: no key exchange, no session. Both
certificates must chain to the CA the operator configured (SM2 signatures verified by
``kernel.pki``) and be valid now; their expiry is reported ahead of time.

What it does not prove: that the product is certified. Certification (商用密码产品认证证书) is a
document; the operator records its number and expiry in the settings and the check warns before the
expiry. Nor does it check the gateway's cipher configuration beyond what one handshake shows.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.pki import Certificate, PkiError, load_certificate, load_certificates
from zhengwu.kernel.pki.validation import validate_chain

TLCP_VERSION: Final = 0x0101
_HANDSHAKE: Final = 22
_ALERT: Final = 21
_CLIENT_HELLO: Final = 1
_SERVER_HELLO: Final = 2
_CERTIFICATE: Final = 11
_SERVER_HELLO_DONE: Final = 14

#: The SM suites of GM/T 0024 (and GB/T 38636's GCM additions); ECC_* first: they need no client cert.
SUITES: Final = {
    0xE013: "ECC_SM4_CBC_SM3",
    0xE053: "ECC_SM4_GCM_SM3",
    0xE011: "ECDHE_SM4_CBC_SM3",
    0xE051: "ECDHE_SM4_GCM_SM3",
}
_VERSIONS: Final = {0x0101: "TLCP 1.1", 0x0301: "TLS 1.0", 0x0302: "TLS 1.1", 0x0303: "TLS 1.2"}
#: A gateway's first flight is a few kilobytes; more than this is not a handshake we asked for.
_MAX_FLIGHT: Final = 256 * 1024


def record(content_type: int, body: bytes, version: int = TLCP_VERSION) -> bytes:
    """One TLCP/TLS record (the framing is the same)."""
    return struct.pack("!BHH", content_type, version, len(body)) + body


def handshake(kind: int, body: bytes) -> bytes:
    """One handshake message: type and 24-bit length."""
    return struct.pack("!B", kind) + len(body).to_bytes(3, "big") + body


def client_hello(random: bytes | None = None) -> bytes:
    """The ClientHello record we send: TLCP version, the SM suites, no compression, no extensions."""
    random = random or struct.pack("!I", int(time.time())) + os.urandom(28)
    suites = b"".join(struct.pack("!H", s) for s in SUITES)
    body = (
        struct.pack("!H", TLCP_VERSION) + random + b"\x00"
        + struct.pack("!H", len(suites)) + suites + b"\x01\x00"
    )  # fmt: skip
    return record(_HANDSHAKE, handshake(_CLIENT_HELLO, body))


class HandshakeProblem(Exception):
    """The answer is not a TLCP first flight; ``code`` for --json, the message in plain Chinese."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Flight:
    """What the gateway answered: ServerHello fields and the DER certificates, in the order sent."""

    version: int = 0
    suite: int = 0
    certificates: list[bytes] = field(default_factory=list)
    done: bool = False


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise HandshakeProblem("closed", "网关在握手中途关闭了连接")
        data += chunk
    return data


def _parse_server_hello(body: bytes, flight: Flight) -> None:
    if len(body) < 38:
        raise HandshakeProblem("malformed", "网关的 ServerHello 不完整")
    flight.version = struct.unpack("!H", body[:2])[0]
    sid = body[34]
    if len(body) < 35 + sid + 3:
        raise HandshakeProblem("malformed", "网关的 ServerHello 不完整")
    flight.suite = struct.unpack("!H", body[35 + sid : 37 + sid])[0]


def _parse_certificates(body: bytes, flight: Flight) -> None:
    if len(body) < 3 or int.from_bytes(body[:3], "big") != len(body) - 3:
        raise HandshakeProblem("malformed", "网关的证书消息长度不符")
    pos = 3
    while pos < len(body):
        size = int.from_bytes(body[pos : pos + 3], "big")
        der = body[pos + 3 : pos + 3 + size]
        if size == 0 or len(der) != size:
            raise HandshakeProblem("malformed", "网关的证书消息长度不符")
        flight.certificates.append(der)
        pos += 3 + size


def read_flight(sock: socket.socket) -> Flight:
    """Read records until ServerHelloDone; an alert or a non-handshake record is a problem."""
    flight = Flight()
    pending = b""
    total = 0
    while not flight.done:
        kind, version, length = struct.unpack("!BHH", _recv_exact(sock, 5))
        total += 5 + length
        if total > _MAX_FLIGHT or length > 18432:
            raise HandshakeProblem("malformed", "网关的应答不是 TLCP 握手")
        fragment = _recv_exact(sock, length)
        if kind == _ALERT:
            level_desc = fragment[1] if len(fragment) > 1 else -1
            name = _VERSIONS.get(version, f"0x{version:04x}")
            raise HandshakeProblem(
                "alert",
                f"网关以告警（{level_desc}）拒绝了 TLCP 握手（记录版本 {name}）：它不支持 TLCP 或国密套件",
            )
        if kind != _HANDSHAKE:
            raise HandshakeProblem("malformed", "网关的应答不是 TLCP 握手")
        pending += fragment
        while len(pending) >= 4:
            size = int.from_bytes(pending[1:4], "big")
            if len(pending) < 4 + size:
                break
            message, body, pending = pending[0], pending[4 : 4 + size], pending[4 + size :]
            if message == _SERVER_HELLO:
                _parse_server_hello(body, flight)
            elif message == _CERTIFICATE:
                _parse_certificates(body, flight)
            elif message == _SERVER_HELLO_DONE:
                flight.done = True
    return flight


def handshake_with(host: str, port: int, timeout: float) -> Flight:
    """Connect, send the TLCP ClientHello, read the first flight, close (no session is completed)."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        try:
            sock.sendall(client_hello())
            return read_flight(sock)
        except OSError as exc:
            # Reached but dropped mid-handshake: TLS stacks reset a connection whose hello they refuse.
            reason = "超时" if isinstance(exc, TimeoutError) else (exc.strerror or type(exc).__name__)
            raise HandshakeProblem(
                "closed", f"网关在握手中途断开了连接（{reason}）：它不像 TLCP 网关"
            ) from exc


def split_address(address: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` too); the port defaults to 443."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "]" in port:
        return address.strip("[]"), 443
    return host.strip("[]"), int(port)


def _role(cert: Certificate) -> str:
    """TLCP's two server certificates are told apart by key usage, not by their order on the wire."""
    return "sign" if cert.has_key_usage("digital_signature") else "enc"


def _describe(cert: Certificate, anchors: list[Certificate], pool: list[Certificate], now: datetime,
              warn_days: int) -> tuple[dict[str, Any], list[str], list[str]]:  # fmt: skip
    verdict = validate_chain(cert, pool, anchors, at=now, check_revocation="none")
    days = (cert.not_after - now).days
    found = {
        "subject": str(cert.subject),
        "issuer": str(cert.issuer),
        "sm2": cert.is_sm2,
        "not_after": cert.not_after.isoformat(),
        "days_left": days,
        "chain": verdict.status.value,
    }
    problems: list[str] = []
    warnings: list[str] = []
    if not cert.is_sm2:
        problems.append(f"网关证书“{cert.subject.common_name or cert.subject}”不是 SM2 证书")
    if not verdict.ok:
        problems.append(verdict.reason_zh)
    elif days < warn_days:
        warnings.append(f"网关证书“{cert.subject.common_name or cert.subject}”将在 {days} 天后到期")
    return found, problems, warnings


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """What the operator configured (``ZHENGWU_SECURITY__TLCP_*``)."""

    address: str
    ca_file: Path | None
    product_certificate: str = ""
    product_certificate_expires: date | None = None
    warn_days: int = 30
    timeout: float = 5.0


def _product(config: GatewayConfig, today: date) -> tuple[dict[str, Any], list[str], list[str]]:
    """The certification is a document: its number and expiry as recorded, and a warning before expiry."""
    if not config.product_certificate or config.product_certificate_expires is None:
        return ({"recorded": False}, [],
                ["未登记网关的商用密码产品认证证书编号和有效期（ZHENGWU_SECURITY__TLCP_PRODUCT_CERTIFICATE、"
                 "ZHENGWU_SECURITY__TLCP_PRODUCT_CERTIFICATE_EXPIRES）"])  # fmt: skip
    days = (config.product_certificate_expires - today).days
    found = {"recorded": True, "number": config.product_certificate,
             "expires": config.product_certificate_expires.isoformat(), "days_left": days}  # fmt: skip
    if days < 0:
        return found, [f"网关的商用密码产品认证证书（{config.product_certificate}）已过期"], []
    if days < config.warn_days:
        return found, [], [f"网关的商用密码产品认证证书（{config.product_certificate}）将在 {days} 天后到期"]
    return found, [], []


def check(config: GatewayConfig, *, now: datetime | None = None) -> dict[str, Any]:
    """Handshake with the gateway and judge its answer and certificates; never raises for the gateway's
    faults — they are the report (``ok`` false, ``problems`` in plain Chinese, ``code`` for machines)."""
    now = now or utcnow()
    host, port = split_address(config.address)
    result: dict[str, Any] = {"configured": True, "gateway": f"{host}:{port}", "ok": False, "code": None}
    problems: list[str] = []
    warnings: list[str] = []
    product, bad, warned = _product(config, (now + timedelta(hours=8)).date())
    result["product_certificate"] = product
    problems += bad
    warnings += warned
    anchors: list[Certificate] = []
    pool: list[Certificate] = []
    try:
        if config.ca_file is None:
            raise PkiError("no CA file", "未配置网关证书的 CA 文件（ZHENGWU_SECURITY__TLCP_CA_FILE）")
        for cert in load_certificates(config.ca_file.read_bytes()):
            (anchors if cert.is_self_issued else pool).append(cert)
    except (OSError, PkiError) as exc:
        zh = getattr(exc, "message_zh", None) or f"无法读取网关证书的 CA 文件：{exc}"
        result.update(code="ca_file", problems=[zh, *problems], warnings=warnings)
        return result
    started = time.perf_counter()
    try:
        flight = handshake_with(host, port, config.timeout)
    except HandshakeProblem as exc:
        result.update(code=exc.code, reachable=True, problems=[str(exc), *problems], warnings=warnings)
        return result
    except OSError as exc:
        reason = "超时" if isinstance(exc, TimeoutError) else (exc.strerror or type(exc).__name__)
        result.update(code="unreachable", reachable=False,
                      problems=[f"连不上网关 {host}:{port}（{reason}）", *problems], warnings=warnings)  # fmt: skip
        return result
    result["reachable"] = True
    result["handshake_ms"] = round((time.perf_counter() - started) * 1000, 1)
    result["version"] = _VERSIONS.get(flight.version, f"0x{flight.version:04x}")
    result["cipher_suite"] = SUITES.get(flight.suite, f"0x{flight.suite:04x}")
    code = None
    if flight.version != TLCP_VERSION:
        code = "not_tlcp"
        problems.insert(0, f"网关以 {result['version']} 应答，不是 TLCP（0x0101）")
    elif flight.suite not in SUITES:
        code = "not_sm_suite"
        problems.insert(0, f"网关选择的密码套件 {result['cipher_suite']} 不是国密套件")
    certificates: dict[str, Any] = {}
    wrong: list[str] = []
    try:
        sent = [load_certificate(der) for der in flight.certificates]
    except PkiError as exc:
        sent = []
        wrong.append(f"网关的证书无法解析：{exc.message_zh}")
    roles = {role: [c for c in sent[:2] if _role(c) == role] for role in ("sign", "enc")}
    for role, label in (("sign", "签名"), ("enc", "加密")):
        if not wrong and len(roles[role]) != 1:
            wrong.append(f"网关没有发送一张{label}证书（TLCP 要求签名证书和加密证书各一张）")
            continue
        if roles[role]:
            found, bad, warned = _describe(roles[role][0], anchors, [*pool, *sent[2:]], now, config.warn_days)
            certificates[role] = found
            wrong += bad
            warnings += warned
    if code is None and wrong:
        code = "certificate"
    elif code is None and problems:
        code = "product_certificate"
    problems = (
        [*problems[:1], *wrong, *problems[1:]]
        if code in ("not_tlcp", "not_sm_suite")
        else [*wrong, *problems]
    )
    result.update(certificates=certificates, problems=problems, warnings=warnings, code=code,
                  ok=not problems)  # fmt: skip
    return result


def configured(settings: Any) -> GatewayConfig | None:
    """The gateway the settings name (None: none configured)."""
    sec = settings.security
    if not sec.tlcp_gateway:
        return None
    return GatewayConfig(
        address=sec.tlcp_gateway,
        ca_file=sec.tlcp_ca_file,
        product_certificate=sec.tlcp_product_certificate,
        product_certificate_expires=sec.tlcp_product_certificate_expires,
        warn_days=sec.tlcp_warn_days,
    )


def not_configured() -> dict[str, Any]:
    """What the report says when no gateway is configured: TLCP is then not observable from the node."""
    return {"configured": False, "ok": True,
            "note": "未配置 TLCP 网关（ZHENGWU_SECURITY__TLCP_GATEWAY）：节点无法确认前置国密网关是否存在"}  # fmt: skip


class CachedProbe:
    """``/_status``'s view: the last check, repeated at most every ``minutes`` (a handshake per status
    call would let anyone who can read /_status make the node open connections at will)."""

    def __init__(self, config: GatewayConfig, minutes: int) -> None:
        self.config = config
        self.seconds = minutes * 60
        self._last: tuple[float, dict[str, Any]] | None = None

    def __call__(self) -> dict[str, Any]:
        now = time.monotonic()
        if self._last is None or now - self._last[0] >= self.seconds:
            found = check(self.config)
            self._last = (now, {k: found[k] for k in ("ok", "code", "gateway", "problems", "warnings")
                                if k in found} | {"checked_at": utcnow().isoformat()})  # fmt: skip
        return self._last[1]
