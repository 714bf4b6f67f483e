"""Real Chinese CA certificates carry GBK/UTF-8 bytes in TeletexString names; they must still load."""

from __future__ import annotations

import zipfile

from conformance_path import conformance_dir
from zhengwu.kernel.pki import load_certificate
from zhengwu.seals.ses import parse_signature


def test_ynca_certificate_with_teletex_names_loads() -> None:
    path = conformance_dir() / "ofd" / "documents" / "ofdrw-converter__zsbk.ofd"
    with zipfile.ZipFile(path) as zf:
        names = [n for n in zf.namelist() if n.endswith("SignedValue.dat")]
        assert names
        signature = parse_signature(zf.read(names[0]))
    cert = load_certificate(signature.cert)
    text = str(cert.subject) + str(cert.issuer)
    assert "\ufffd" not in text
    assert any("\u4e00" <= ch <= "\u9fff" for ch in text) or "YNCA" in text
    assert cert.subject == load_certificate(signature.cert).subject
