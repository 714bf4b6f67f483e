"""Fixtures for the PKI tests: a throw-away SM2 PKI built per session, conformance material, openssl."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conformance_path import conformance_dir
from zhengwu.kernel.crypto import SM2PrivateKey
from zhengwu.kernel.pki import (
    EKU_TIME_STAMPING,
    Certificate,
    CertProfile,
    create_root_ca,
    issue_certificate,
)

NOT_BEFORE = datetime(2025, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(2045, 1, 1, tzinfo=UTC)
LEAF_NOT_AFTER = datetime(2030, 1, 1, tzinfo=UTC)
CRL_URL = "http://ca.example.gov.cn/crl/issuing.crl"


@pytest.fixture(scope="session")
def sm2_pki_dir() -> Path:
    """shared/conformance/sm2-pki."""
    return conformance_dir() / "sm2-pki"


@pytest.fixture(scope="session")
def ofd_keys_dir() -> Path:
    """shared/conformance/ofd/keys (the ofdrw test PKI)."""
    return conformance_dir() / "ofd" / "keys"


@dataclass(frozen=True)
class PkiFixture:
    """Root → issuing CA → end entities, with their keys."""

    root_key: SM2PrivateKey
    root: Certificate
    ca_key: SM2PrivateKey
    ca: Certificate
    signer_key: SM2PrivateKey
    seal_signer: Certificate
    maker_key: SM2PrivateKey
    seal_maker: Certificate
    node_key: SM2PrivateKey
    node: Certificate
    tsa_key: SM2PrivateKey
    tsa: Certificate


@pytest.fixture(scope="session")
def pki() -> PkiFixture:
    """A complete PKI with Chinese names, shared by the tests that only read it."""
    root_key = SM2PrivateKey.generate()
    root = create_root_ca(
        subject={"C": "CN", "O": "河北省政务服务管理办公室", "CN": "河北省政务服务根CA"},
        signer=root_key,
        not_before=NOT_BEFORE,
        not_after=NOT_AFTER,
    )
    ca_key = SM2PrivateKey.generate()
    ca = issue_certificate(
        issuer=root,
        issuer_signer=root_key,
        subject={"C": "CN", "O": "河北省政务服务管理办公室", "CN": "河北省电子印章签发CA"},
        public_key=ca_key.public_key,
        profile=CertProfile.ISSUING_CA,
        not_before=NOT_BEFORE,
        not_after=NOT_AFTER,
        crl_urls=["http://ca.example.gov.cn/crl/root.crl"],
    )

    def leaf(cn: str, profile: CertProfile, **extra: object) -> tuple[SM2PrivateKey, Certificate]:
        key = SM2PrivateKey.generate()
        cert = issue_certificate(
            issuer=ca,
            issuer_signer=ca_key,
            subject={"C": "CN", "O": "石家庄市行政审批局", "CN": cn},
            public_key=key.public_key,
            profile=profile,
            not_before=NOT_BEFORE,
            not_after=LEAF_NOT_AFTER,
            crl_urls=[CRL_URL],
            **extra,  # type: ignore[arg-type]
        )
        return key, cert

    signer_key, seal_signer = leaf("张三", CertProfile.SEAL_SIGNER)
    maker_key, seal_maker = leaf("石家庄市行政审批局制章者", CertProfile.SEAL_MAKER)
    node_key, node = leaf("node.130000", CertProfile.NODE_EXCHANGE, dns_names=["node.hebei.example"])
    tsa_key, tsa = leaf("河北省时间戳服务", CertProfile.TSA, extended_key_usage=[EKU_TIME_STAMPING])
    return PkiFixture(
        root_key,
        root,
        ca_key,
        ca,
        signer_key,
        seal_signer,
        maker_key,
        seal_maker,
        node_key,
        node,
        tsa_key,
        tsa,
    )


OpenSSL = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def openssl() -> OpenSSL:
    """Run the openssl CLI (skip when it is not installed)."""
    binary = shutil.which("openssl")
    if binary is None:
        pytest.skip("openssl CLI not installed")

    def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [binary, *map(str, args)], capture_output=True, text=True, timeout=60, check=False
        )

    return run
