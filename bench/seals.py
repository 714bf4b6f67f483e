"""OFD sealing and verification rates next to raw SM2 sign/verify of the same backend and `openssl speed sm2`.

Signs a one-page licence OFD (our writer) with a v4 seal and verifies it with a trusted test root and a CRL,
warm certificate/CRL caches. Targets (issue 5): sign >= 0.5x raw SM2 sign, verify >= 0.3x raw SM2 verify.
Informational rows: signing with a time-stamp token from an in-process TSA (a second SM2 signature, so at
most 0.5x by construction) and verifying that token as well.

Rates are per CPU-second (like `openssl speed`), and each row is measured in short slices interleaved with
its baseline, so that other jobs on a shared host slow both alike and the ratios stay put.

    .venv/bin/python bench/seals.py [--seconds 4]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from harness import Result, report
from zhengwu.kernel.crypto import SM2PrivateKey, SoftwareSigner
from zhengwu.kernel.pki import (
    CertProfile,
    TrustStore,
    build_crl,
    build_timestamp_request,
    create_root_ca,
    issue_certificate,
)
from zhengwu.pki.tstoken import issue_token
from zhengwu.seals.ofd.signer import sign_ofd
from zhengwu.seals.ofd.verifier import verify_ofd
from zhengwu.seals.ofd.writer import DocumentSpec, Paragraph, Table, write_ofd
from zhengwu.seals.picture import render_seal_png
from zhengwu.seals.ses import SealSpec, make_seal, parse_seal
from zhengwu.seals.trust import PkiChainValidator, PkiTimestampVerifier
from zhengwu.seals.verify import Verdict

_SPEED_LINE = re.compile(r"SM2 \(CurveSM2\)\s+[\d.]+s\s+[\d.]+s\s+([\d.]+)\s+([\d.]+)")
SLICE = 0.02  # CPU seconds per slice


def openssl_speed(seconds: int) -> tuple[float, float] | None:
    """(sign/s, verify/s) from `openssl speed -seconds N sm2` (per CPU-second), or None when unavailable."""
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


def interleaved(rows: dict[str, Callable[[], object]], seconds: float) -> dict[str, Result]:
    """Run the callables in alternating CPU-time slices for about `seconds` each; rates per CPU-second."""
    for fn in rows.values():
        for _ in range(5):
            fn()  # warm caches and lazy imports
    ops = dict.fromkeys(rows, 0)
    spent = dict.fromkeys(rows, 0.0)
    while min(spent.values()) < seconds:
        for name, fn in rows.items():
            start = time.process_time()
            n = 0
            while True:
                fn()
                n += 1
                elapsed = time.process_time() - start
                if elapsed >= SLICE:
                    break
            ops[name] += n
            spent[name] += elapsed
    return {
        name: Result(name, ops[name], spent[name], unit="docs" if "ofd" in name else "ops") for name in rows
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=4.0, help="CPU seconds per row")
    args = parser.parse_args()
    now = datetime.now(UTC).replace(microsecond=0)
    root_key = SoftwareSigner(SM2PrivateKey.generate())
    root = create_root_ca(
        subject={"CN": "bench root"},
        signer=root_key,
        not_before=now - timedelta(days=1),
        not_after=now + timedelta(days=9),
    )
    signer, maker, tsa = (SoftwareSigner(SM2PrivateKey.generate()) for _ in range(3))

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

    signer_cert = issue(signer, "bench signer", CertProfile.SEAL_SIGNER)
    maker_cert = issue(maker, "bench maker", CertProfile.SEAL_MAKER)
    tsa_cert = issue(tsa, "bench TSA", CertProfile.TSA)
    seal = parse_seal(
        make_seal(
            SealSpec(
                es_id="13000000009999",
                name="河北省市场监督管理局行政审批专用章",
                seal_type=1,
                certs=[signer_cert],
                valid_start=now - timedelta(days=1),
                valid_end=now + timedelta(days=8),
                picture=render_seal_png("河北省市场监督管理局", center_text="行政审批专用章", size_px=400),
            ),
            maker=maker,
            maker_cert=maker_cert,
        )
    )
    store = TrustStore()
    store.add_anchor(root.der, ["seals", "timestamping"])
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
    timestamps = PkiTimestampVerifier(store)
    from zhengwu.kernel.pki import load_certificate

    tsa_certificate = load_certificate(tsa_cert)

    def stamp(value: bytes) -> bytes:
        # What the node TSA runs (zhengwu.pki.tsa): the direct DER writer, same bytes as the kernel's.
        return issue_token(
            build_timestamp_request(value),
            tsa_certificate=tsa_certificate,
            signer=tsa,
            gen_time=datetime.now(UTC),
            policy="2.25.181027226105316117337520306829016036219",
        )

    doc = write_ofd(
        DocumentSpec(
            title="行政许可决定书",
            blocks=[
                Paragraph("经审查，申请人提交的申请符合法定条件、标准，决定准予行政许可。" * 3),
                Table([["事项", "结果"], ["许可", "准予"]]),
            ],
        )
    )

    def sign() -> bytes:
        return sign_ofd(doc, seal=seal, signer=signer, cert_der=signer_cert, page=1, x=120, y=150)

    def sign_stamped() -> bytes:
        return sign_ofd(
            doc,
            seal=seal,
            signer=signer,
            cert_der=signer_cert,
            page=1,
            x=120,
            y=150,
            timestamp_provider=stamp,
        )

    signed, stamped = sign(), sign_stamped()
    assert verify_ofd(signed, trust=trust).verdict is Verdict.VALID
    assert verify_ofd(stamped, trust=trust, timestamps=timestamps).verdict is Verdict.VALID
    print(
        f"one-page OFD: {len(doc):,} bytes unsigned, {len(signed):,} bytes signed "
        f"(seal {len(seal.der):,} bytes, picture {len(seal.info.picture):,}); backend {signer.public_key.backend}"
    )

    msg = os.urandom(64)
    raw_sig = signer.sign(msg)
    signing = interleaved(
        {
            "raw SM2 sign (64 B)": lambda: signer.sign(msg),
            "sign_ofd (one page)": sign,
            "sign_ofd + TSA token (2 signatures)": sign_stamped,
        },
        args.seconds,
    )
    verifying = interleaved(
        {
            "raw SM2 verify (64 B)": lambda: signer.public_key.verify(raw_sig, msg),
            "verify_ofd (chain + CRL, warm)": lambda: verify_ofd(signed, trust=trust),
            "verify_ofd + time-stamp check": lambda: verify_ofd(stamped, trust=trust, timestamps=timestamps),
        },
        args.seconds,
    )
    raw_sign, raw_verify = signing["raw SM2 sign (64 B)"], verifying["raw SM2 verify (64 B)"]
    report(list(signing.values()), baseline=raw_sign, title="signing (target: sign_ofd ratio >= 0.5)")
    report(
        list(verifying.values()), baseline=raw_verify, title="verification (target: verify_ofd ratio >= 0.3)"
    )
    speed = openssl_speed(max(1, round(args.seconds / 2)))
    if speed is None:
        print("openssl speed sm2: not available")
        return
    ours_sign, ours_verify = signing["sign_ofd (one page)"], verifying["verify_ofd (chain + CRL, warm)"]
    print(
        f"openssl speed sm2: sign {speed[0]:,.0f}/s, verify {speed[1]:,.0f}/s (per CPU-second); "
        f"raw SM2 here {raw_sign.per_second / speed[0]:.3f}x / {raw_verify.per_second / speed[1]:.3f}x of it; "
        f"sign_ofd {ours_sign.per_second / speed[0]:.3f}x, verify_ofd {ours_verify.per_second / speed[1]:.3f}x of it"
    )


if __name__ == "__main__":
    main()
