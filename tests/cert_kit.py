"""A certificate authority outside the platform for the identity tests (数字证书登录, 窗口核验)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from asn1crypto import core

from zhengwu.kernel.crypto import SM2PrivateKey
from zhengwu.kernel.pki import Certificate
from zhengwu.kernel.pki.crl import RevokedCertificate, build_crl
from zhengwu.kernel.pki.issuance import CertProfile, create_root_ca, issue_certificate

API = "/api/v1/identity"
START = (datetime.now(UTC) - timedelta(days=30)).replace(microsecond=0)
END = (datetime.now(UTC) + timedelta(days=3650)).replace(microsecond=0)
IDENTIFY_CODE = "1.2.156.10260.4.1.1"  # GM/T 0015 个人身份标识码
CREDIT_CODE = "1.2.156.10260.4.1.4"


def identify_code(number: str) -> bytes:
    """GM/T 0015 IdentifyCode, residenterCardNumber [0] PrintableString."""
    return core.PrintableString(number, implicit=0).dump()


@dataclass
class Ca:
    """A certificate authority outside the platform (e.g. 河北CA) that issues people's UKey certificates."""

    key: SM2PrivateKey
    cert: Certificate
    revoked: list[RevokedCertificate]

    def issue(
        self,
        cn: str,
        *,
        extensions: dict[str, bytes] | None = None,
        subject: dict[str, str] | None = None,
        not_after: datetime = END,
        not_before: datetime = START,
        profile: CertProfile = CertProfile.PERSON_AUTH,
        crl_urls: tuple[str, ...] = (),
    ) -> tuple[SM2PrivateKey, Certificate]:
        key = SM2PrivateKey.generate()
        cert = issue_certificate(
            issuer=self.cert,
            issuer_signer=self.key,
            subject={"C": "CN", "CN": cn, **(subject or {})},
            public_key=key.public_key,
            profile=profile,
            not_before=not_before,
            not_after=not_after,
            identity_extensions=extensions or {},
            crl_urls=crl_urls,
        )
        return key, cert

    def crl(self, number: int = 1) -> bytes:
        return build_crl(
            issuer=self.cert,
            signer=self.key,
            this_update=datetime.now(UTC) - timedelta(hours=1),
            next_update=datetime.now(UTC) + timedelta(days=7),
            crl_number=number,
            revoked=self.revoked,
        ).der


def make_ca(name: str = "河北省数字证书认证中心") -> Ca:
    key = SM2PrivateKey.generate()
    cert = create_root_ca(
        subject={"C": "CN", "O": name, "CN": f"{name}根证书"}, signer=key, not_before=START, not_after=END
    )
    return Ca(key, cert, [])


def b64(data: bytes) -> str:
    """Standard base64, as the API takes certificates and signatures."""
    return base64.b64encode(data).decode()


def answer_challenge(
    client: Any,
    key: SM2PrivateKey,
    cert: Certificate,
    *,
    path: str = "/login/certificate",
    challenge: dict[str, Any] | None = None,
    raw: bool = False,
    chain: tuple[Certificate, ...] = (),
    sign: Callable[[bytes], bytes] | None = None,
) -> Any:
    """Answer a fresh (or the given) challenge with ``key`` and ``cert`` at ``path``."""
    got = challenge or client.post(f"{API}/certificate/challenge", json={}).json()
    data = got["message"].encode()
    signature = sign(data) if sign is not None else key.sign(data, raw=raw)
    return client.post(
        f"{API}{path}",
        json={
            "challenge": got["challenge"],
            "certificate": b64(cert.der),
            "chain": [b64(c.der) for c in chain],
            "signature": b64(signature),
        },
    )
