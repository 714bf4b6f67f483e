"""A sealed license's SM2 signature values verify with OpenSSL 3 alone (no code of ours on the path):
the signer's public key is taken from the certificate in the OFD by ``openssl x509``, the signature value
and the signed TBS_Sign bytes from the SES_Signature, and ``openssl pkeyutl`` checks them with SM3 and
the GM/T 0009 distinguishing identifier 1234567812345678; the seal maker's signature over the seal the
same way. A flipped byte of the signed bytes makes OpenSSL refuse (the test can fail)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from asn1crypto.core import Integer, Sequence

from licenses_kit import BUSINESS_FACE, COMPANY, Issuing
from zhengwu.licenses import service
from zhengwu.seals.ofd.container import OFDPackage
from zhengwu.seals.ses import parse_signature

DIST_ID = "1234567812345678"


def _openssl_with_sm2() -> str | None:
    binary = shutil.which("openssl")
    if binary is None:
        return None
    listed = subprocess.run(
        [binary, "list", "-public-key-algorithms"], capture_output=True, text=True, check=False
    )
    return binary if "SM2" in listed.stdout else None


OPENSSL = _openssl_with_sm2()
pytestmark = pytest.mark.skipif(
    OPENSSL is None, reason="no openssl binary with SM2 (OpenSSL 3 built with SM2)"
)


class _SM2Signature(Sequence):
    _fields = [("r", Integer), ("s", Integer)]  # noqa: RUF012 - asn1crypto's declaration style


def _der_signature(value: bytes) -> bytes:
    """The signature as DER SM2Signature (GB/T 38540 stores it so; a raw r‖s is converted)."""
    if len(value) == 64:
        return bytes(_SM2Signature({"r": int.from_bytes(value[:32]), "s": int.from_bytes(value[32:])}).dump())
    return value


def _verify(
    tmp: Path, name: str, cert_der: bytes, signed: bytes, signature: bytes
) -> subprocess.CompletedProcess[str]:
    assert OPENSSL is not None
    (tmp / f"{name}.cer").write_bytes(cert_der)
    pem = subprocess.run([OPENSSL, "x509", "-inform", "DER", "-in", str(tmp / f"{name}.cer"), "-pubkey", "-noout"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    (tmp / f"{name}.pem").write_text(pem)
    (tmp / f"{name}.bin").write_bytes(signed)
    (tmp / f"{name}.sig").write_bytes(_der_signature(signature))
    return subprocess.run(
        [OPENSSL, "pkeyutl", "-verify", "-pubin", "-inkey", str(tmp / f"{name}.pem"), "-rawin", "-digest", "sm3",
         "-in", str(tmp / f"{name}.bin"), "-sigfile", str(tmp / f"{name}.sig"), "-pkeyopt", f"distid:{DIST_ID}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_the_signature_values_verify_with_openssl(issuing: Issuing, tmp_path: Path) -> None:
    lic = service.issue_license(issuing.session, issuing.settings, type_code=issuing.type_code("营业执照"),
                                department_id=issuing.department.id, holder_name="石家庄演示科技有限公司",
                                holder_code=COMPANY, face=dict(BUSINESS_FACE), actor="test")  # fmt: skip
    package = OFDPackage.from_bytes(service.license_file(issuing.settings, lic))
    [name] = [n for n in package.files if n.endswith("SignedValue.dat")]
    ses = parse_signature(package.read(name))
    signed = _verify(tmp_path, "signature", ses.cert, ses.tbs_der, ses.signature)
    assert signed.returncode == 0 and "Signature Verified Successfully" in signed.stdout, (
        signed.stdout + signed.stderr
    )
    seal = ses.seal
    made = _verify(tmp_path, "seal", seal.maker_cert, seal.maker_signed_der, seal.signed_value)
    assert made.returncode == 0 and "Signature Verified Successfully" in made.stdout, (
        made.stdout + made.stderr
    )
    tampered = bytearray(ses.tbs_der)
    tampered[-1] ^= 0x01
    refused = _verify(tmp_path, "tampered", ses.cert, bytes(tampered), ses.signature)
    assert refused.returncode != 0 and "Signature Verified Successfully" not in refused.stdout
