"""OFD sealing and verification rates next to raw SM2 sign/verify of the same backend and `openssl speed sm2`.

Signs a one-page OFD (our writer) with a v4 seal and verifies it with a trusted test root and a CRL,
warm caches. Targets (issue 5): sign >= 0.5x raw SM2 sign, verify >= 0.3x raw SM2 verify.

    .venv/bin/python bench/seals.py [--seconds 2]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta

from harness import rate, report
from zhengwu.kernel.crypto import SM2PrivateKey, SoftwareSigner
from zhengwu.kernel.pki import CertProfile, TrustStore, build_crl, create_root_ca, issue_certificate
from zhengwu.seals.ofd.signer import sign_ofd
from zhengwu.seals.ofd.verifier import verify_ofd
from zhengwu.seals.ofd.writer import DocumentSpec, Paragraph, Table, write_ofd
from zhengwu.seals.picture import render_seal_png
from zhengwu.seals.ses import SealSpec, make_seal, parse_seal
from zhengwu.seals.trust import PkiChainValidator
from zhengwu.seals.verify import Verdict

_SPEED_LINE = re.compile(r"SM2 \(CurveSM2\)\s+[\d.]+s\s+[\d.]+s\s+([\d.]+)\s+([\d.]+)")


def openssl_speed(seconds: int) -> tuple[float, float] | None:
    """(sign/s, verify/s) from `openssl speed -seconds N sm2`, or None when unavailable."""
    exe = shutil.which("openssl")
    if exe is None:
        return None
    out = subprocess.run(
        [exe, "speed", "-seconds", str(seconds), "sm2"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    match = _SPEED_LINE.search(out.stdout)
    return (float(match.group(1)), float(match.group(2))) if match else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    now = datetime.now(UTC)
    root_key = SoftwareSigner(SM2PrivateKey.generate())
    root = create_root_ca(
        subject={"CN": "bench root"},
        signer=root_key,
        not_before=now - timedelta(days=1),
        not_after=now + timedelta(days=9),
    )
    signer, maker = SoftwareSigner(SM2PrivateKey.generate()), SoftwareSigner(SM2PrivateKey.generate())

    def issue(holder: SoftwareSigner, cn: str, profile: CertProfile) -> bytes:
        return issue_certificate(
            issuer=root,
            issuer_signer=root_key,
            subject={"CN": cn},
            public_key=holder.public_key,
            profile=profile,
            not_before=now - timedelta(days=1),
            not_after=now + timedelta(days=8),
        ).der

    signer_cert, maker_cert = (
        issue(signer, "bench signer", CertProfile.SEAL_SIGNER),
        issue(maker, "bench maker", CertProfile.SEAL_MAKER),
    )
    seal = parse_seal(
        make_seal(
            SealSpec(
                es_id="13000000009999",
                name="河北省基准测试专用章",
                seal_type=1,
                certs=[signer_cert],
                valid_start=now - timedelta(days=1),
                valid_end=now + timedelta(days=9),
                picture=render_seal_png("河北省基准测试专用章", size_px=200),
            ),
            maker=maker,
            maker_cert=maker_cert,
        )
    )
    store = TrustStore()
    store.add_anchor(root.der, ["seals"])
    store.add_crl(
        build_crl(
            issuer=root,
            signer=root_key,
            this_update=now - timedelta(hours=1),
            next_update=now + timedelta(days=1),
            crl_number=1,
        )
    )
    trust = PkiChainValidator(store)
    doc = write_ofd(
        DocumentSpec(
            title="行政许可决定书",
            blocks=[
                Paragraph("经审查，申请人提交的申请符合法定条件、标准，决定准予行政许可。" * 3),
                Table([["事项", "结果"], ["许可", "准予"]]),
            ],
        )
    )
    signed = sign_ofd(doc, seal=seal, signer=signer, cert_der=signer_cert, page=1, x=120, y=150)
    assert verify_ofd(signed, trust=trust).verdict is Verdict.VALID
    print(f"one-page OFD: {len(doc):,} bytes unsigned, {len(signed):,} bytes signed")

    msg = os.urandom(64)
    raw_sig = signer.sign(msg)
    raw_sign = rate("raw SM2 sign (64 B)", lambda: signer.sign(msg), seconds=args.seconds)
    raw_verify = rate(
        "raw SM2 verify (64 B)", lambda: signer.public_key.verify(raw_sig, msg), seconds=args.seconds
    )
    ours_sign = rate(
        "sign_ofd (one page)",
        lambda: sign_ofd(doc, seal=seal, signer=signer, cert_der=signer_cert, page=1, x=120, y=150),
        seconds=args.seconds,
    )
    ours_verify = rate(
        "verify_ofd (one page, chain + CRL)", lambda: verify_ofd(signed, trust=trust), seconds=args.seconds
    )
    report([raw_sign, ours_sign], baseline=raw_sign, title="signing (target ratio >= 0.5)")
    report([raw_verify, ours_verify], baseline=raw_verify, title="verification (target ratio >= 0.3)")
    speed = openssl_speed(max(1, round(args.seconds)))
    if speed is None:
        print("openssl speed sm2: not available")
    else:
        print(
            f"openssl speed sm2: sign {speed[0]:,.0f}/s, verify {speed[1]:,.0f}/s; "
            f"sign_ofd {ours_sign.per_second / speed[0]:.3f}x, verify_ofd {ours_verify.per_second / speed[1]:.3f}x of it"
        )


if __name__ == "__main__":
    main()
