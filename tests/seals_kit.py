"""A throw-away SM2 PKI with an electronic seal, and a node with its PKI initialised (seals and pki tests)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from clockkit import FakeClock
from zhengwu.kernel.config import Settings
from zhengwu.kernel.crypto import SM2PrivateKey, SoftwareSigner
from zhengwu.kernel.pki import (
    Certificate,
    CertProfile,
    RevokedCertificate,
    TrustStore,
    build_crl,
    create_root_ca,
    issue_certificate,
)
from zhengwu.seals.picture import render_seal_png
from zhengwu.seals.ses import SealSpec, make_seal
from zhengwu.seals.trust import PkiChainValidator

NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass
class SealKit:
    """A throw-away PKI with a seal: root CA, seal maker, signer, the v4 seal and a trust store with a CRL."""

    root: Certificate
    root_signer: SoftwareSigner
    signer: SoftwareSigner
    signer_cert: bytes
    maker: SoftwareSigner
    maker_cert: bytes
    seal: bytes
    store: TrustStore

    @property
    def trust(self) -> PkiChainValidator:
        return PkiChainValidator(self.store)

    def publish_crl(self, revoked: Iterable[RevokedCertificate] = (), *, number: int = 1) -> None:
        self.store.add_crl(
            build_crl(
                issuer=self.root,
                signer=self.root_signer,
                this_update=NOW - timedelta(days=3),
                next_update=NOW + timedelta(days=30),
                crl_number=number,
                revoked=revoked,
            )
        )


def make_kit(name: str = "河北省测试局电子政务办公室") -> SealKit:
    root_signer = SoftwareSigner(SM2PrivateKey.generate())
    root = create_root_ca(
        subject={"C": "CN", "O": "zhengwu test", "CN": "zhengwu test root"},
        signer=root_signer,
        not_before=NOW - timedelta(days=10),
        not_after=NOW + timedelta(days=3650),
    )

    def issue(holder: SoftwareSigner, cn: str, profile: CertProfile) -> bytes:
        cert = issue_certificate(
            issuer=root,
            issuer_signer=root_signer,
            subject={"C": "CN", "O": name, "CN": cn},
            public_key=holder.public_key,
            profile=profile,
            not_before=NOW - timedelta(days=5),
            not_after=NOW + timedelta(days=365),
        )
        return cert.der

    signer = SoftwareSigner(SM2PrivateKey.generate())
    maker = SoftwareSigner(SM2PrivateKey.generate())
    signer_cert = issue(signer, f"{name}签章人", CertProfile.SEAL_SIGNER)
    maker_cert = issue(maker, "电子印章制作系统", CertProfile.SEAL_MAKER)
    seal = make_seal(
        SealSpec(
            es_id="13000000000001",
            name=name,
            seal_type=1,
            certs=[signer_cert],
            valid_start=NOW - timedelta(days=1),
            valid_end=NOW + timedelta(days=300),
            picture=render_seal_png(name, center_text="业务专用章", size_px=200),
        ),
        maker=maker,
        maker_cert=maker_cert,
    )
    store = TrustStore()
    store.add_anchor(root.der, ["seals", "timestamping"])
    kit = SealKit(root, root_signer, signer, signer_cert, maker, maker_cert, seal, store)
    kit.publish_crl()
    return kit


# --- the node registry (database tests): conftest.py of tests/seals and tests/pki import the fixture ---


@dataclass
class Node:
    """A node with its PKI initialised and one department."""

    session: Session
    settings: Settings
    department: Any
    credit_code: str


@pytest.fixture
def node(session: Session, settings: Settings, clock: FakeClock) -> Node:
    """`pki init` done and 河北省市场监督管理局 registered, in the per-test transaction."""
    from zhengwu.orgs import service as orgs
    from zhengwu.orgs.schemas import DepartmentCreate
    from zhengwu.pki import authority
    from zhengwu.seed import government_credit_code

    authority.init_pki(session, settings)
    code = government_credit_code("130000", 777)
    department = orgs.add_department(
        session, DepartmentCreate(credit_code=code, name="河北省市场监督管理局", division_code="130000")
    )
    session.flush()
    return Node(session, settings, department, code)


def assert_envelope(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is the error envelope (ADR 3) with ``status`` (and ``code``); its body."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert {"error", "code", "detail", "status", "trace_id"} <= set(body)
    assert body["status"] == status
    if code is not None:
        assert body["code"] == code
    return body
