"""Interoperability with the OpenSSL 3 command line: signatures, keys and SM2 encryption, both ways."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from zhengwu.kernel.crypto import DEFAULT_SM2_UID, SM2PrivateKey, SM2PublicKey

DISTID = f"distid:{DEFAULT_SM2_UID.decode()}"
MSG = "政务服务 interop message\n".encode()


def _run(openssl: str, *args: str | Path, ok: bool = True) -> subprocess.CompletedProcess[bytes]:
    result = subprocess.run([openssl, *map(str, args)], capture_output=True, timeout=30, check=False)
    if ok:
        assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result


@pytest.fixture
def files(tmp_path: Path, native_backend: str) -> tuple[Path, SM2PrivateKey]:
    """A key of ours on each native backend, written as key.pem / pub.pem, and the message."""
    key = SM2PrivateKey.generate(backend=native_backend)
    (tmp_path / "key.pem").write_bytes(key.to_pem())
    (tmp_path / "pub.pem").write_bytes(key.public_key.to_pem())
    (tmp_path / "msg").write_bytes(MSG)
    return tmp_path, key


def test_our_signature_verifies_in_openssl(openssl_bin: str, files: tuple[Path, SM2PrivateKey]) -> None:
    d, key = files
    (d / "sig").write_bytes(key.sign(MSG))
    pkeyutl = ["pkeyutl", "-verify", "-rawin", "-digest", "sm3", "-pubin", "-inkey", d / "pub.pem"]
    out = _run(openssl_bin, *pkeyutl, "-pkeyopt", DISTID, "-in", d / "msg", "-sigfile", d / "sig")
    assert b"Signature Verified Successfully" in out.stdout
    _run(
        openssl_bin,
        "dgst",
        "-sm3",
        "-verify",
        d / "pub.pem",
        "-sigopt",
        DISTID,
        "-signature",
        d / "sig",
        d / "msg",
    )
    # without distid OpenSSL 3 uses the empty ID, so our default-ID signature must fail there …
    assert _run(openssl_bin, *pkeyutl, "-in", d / "msg", "-sigfile", d / "sig", ok=False).returncode != 0
    # … and an empty-ID signature of ours passes
    (d / "sig0").write_bytes(key.sign(MSG, uid=b""))
    _run(openssl_bin, *pkeyutl, "-in", d / "msg", "-sigfile", d / "sig0")


def test_openssl_signature_verifies_with_ours(openssl_bin: str, files: tuple[Path, SM2PrivateKey]) -> None:
    d, key = files
    sign = ["pkeyutl", "-sign", "-rawin", "-digest", "sm3", "-inkey", d / "key.pem", "-in", d / "msg"]
    _run(openssl_bin, *sign, "-pkeyopt", DISTID, "-out", d / "sig")
    _run(openssl_bin, *sign, "-out", d / "sig0")
    _run(
        openssl_bin, "dgst", "-sm3", "-sign", d / "key.pem", "-sigopt", DISTID, "-out", d / "sig2", d / "msg"
    )
    pub = key.public_key
    assert pub.verify((d / "sig").read_bytes(), MSG)
    assert pub.verify((d / "sig2").read_bytes(), MSG)
    assert pub.verify((d / "sig0").read_bytes(), MSG, uid=b"")
    assert not pub.verify((d / "sig0").read_bytes(), MSG)


def test_our_keys_load_in_openssl(openssl_bin: str, files: tuple[Path, SM2PrivateKey]) -> None:
    d, key = files
    expected = key.public_key.to_der()
    (d / "sec1.pem").write_bytes(key.to_pem(kind="sec1"))
    (d / "aes.pem").write_bytes(key.to_pem(b"pw", iterations=2048))
    (d / "sm4.pem").write_bytes(key.to_pem(b"pw", cipher="sm4-cbc", iterations=2048))
    for name in ("key.pem", "sec1.pem", "aes.pem", "sm4.pem"):
        out = _run(openssl_bin, "pkey", "-in", d / name, "-passin", "pass:pw", "-pubout", "-outform", "DER")
        assert out.stdout == expected, name
    text = _run(openssl_bin, "pkey", "-pubin", "-in", d / "pub.pem", "-noout", "-text").stdout
    assert b"ASN1 OID: SM2" in text


def test_openssl_keys_load_in_ours(openssl_bin: str, tmp_path: Path, native_backend: str) -> None:
    d = tmp_path
    _run(openssl_bin, "genpkey", "-algorithm", "SM2", "-out", d / "gen.pem")
    _run(openssl_bin, "pkey", "-in", d / "gen.pem", "-pubout", "-out", d / "pub.pem")
    _run(openssl_bin, "ec", "-in", d / "gen.pem", "-out", d / "sec1.pem")
    variants = [("-v2", "aes-256-cbc"), ("-v2", "sm4-cbc"), ("-v2", "des3"), ("-scrypt",)]
    for i, v in enumerate(variants):
        _run(
            openssl_bin,
            "pkcs8",
            "-topk8",
            "-in",
            d / "gen.pem",
            *v,
            "-passout",
            "pass:pw",
            "-out",
            d / f"e{i}.pem",
        )
    pub = SM2PublicKey.from_pem((d / "pub.pem").read_bytes(), backend=native_backend)
    loaded = [
        SM2PrivateKey.from_pem((d / "gen.pem").read_bytes(), backend=native_backend),
        SM2PrivateKey.from_pem((d / "sec1.pem").read_bytes(), backend=native_backend),
        *(
            SM2PrivateKey.from_pem((d / f"e{i}.pem").read_bytes(), b"pw", backend=native_backend)
            for i in range(len(variants))
        ),
    ]
    assert all(k.public_key == pub for k in loaded)
    _run(openssl_bin, "ecparam", "-name", "SM2", "-genkey", "-out", d / "ecparam.pem")
    assert b"PARAMETERS-----" in (d / "ecparam.pem").read_bytes()  # "SM2 PARAMETERS" in OpenSSL 3.0
    key = SM2PrivateKey.from_pem((d / "ecparam.pem").read_bytes(), backend=native_backend)
    assert key.public_key.verify(key.sign(b"x"), b"x")


def test_sm2_encryption_interop(openssl_bin: str, files: tuple[Path, SM2PrivateKey]) -> None:
    d, key = files
    _run(
        openssl_bin,
        "pkeyutl",
        "-encrypt",
        "-pubin",
        "-inkey",
        d / "pub.pem",
        "-in",
        d / "msg",
        "-out",
        d / "ct1",
    )
    assert key.decrypt((d / "ct1").read_bytes()) == MSG
    (d / "ct2").write_bytes(key.public_key.encrypt(MSG))
    out = _run(openssl_bin, "pkeyutl", "-decrypt", "-inkey", d / "key.pem", "-in", d / "ct2")
    assert out.stdout == MSG
