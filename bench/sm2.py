"""SM2 sign/verify rates of zhengwu.kernel.crypto next to `openssl speed sm2`, plus SM3 throughput.

Usage: .venv/bin/python bench/sm2.py [--seconds N] [--backends tongsuopy,gmalglib]

Our figures go through the public API (Z over the default ID, SM3, DER encoding included); OpenSSL's
`speed` signs a fixed digest, so a ratio near 1.0 means our per-call overhead is negligible.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable

from zhengwu.kernel.crypto import SM2PrivateKey, available_backends, sm3
from zhengwu.kernel.crypto import hashes as zh_hashes


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of fn over about `seconds` (after a short warm-up)."""
    for _ in range(20):
        fn()
    n, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(50):
            fn()
        n += 50
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start)


def ours(backend: str, seconds: float) -> tuple[float, float]:
    """(sign/s, verify/s) of SM2PrivateKey.sign / SM2PublicKey.verify on a 64-byte message."""
    key = SM2PrivateKey.generate(backend=backend)
    pub = key.public_key
    msg = os.urandom(64)
    sig = key.sign(msg)
    assert pub.verify(sig, msg)
    return rate(lambda: key.sign(msg), seconds), rate(lambda: pub.verify(sig, msg), seconds)


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
        timeout=60 + 4 * seconds,
    )
    match = _SPEED_LINE.search(out.stdout)
    return (float(match.group(1)), float(match.group(2))) if match else None


def sm3_throughput(seconds: float) -> None:
    """MiB/s on 1 MiB and hashes/s on 64 bytes: our sm3() against hashlib's SM3 directly."""
    big, small = os.urandom(1 << 20), os.urandom(64)
    rows = [("zhengwu sm3()", sm3)]
    if zh_hashes.HASHLIB_SM3:
        rows.append(("hashlib.new('sm3')", lambda d: hashlib.new("sm3", d).digest()))
    print(f"\nSM3 ({'hashlib/OpenSSL' if zh_hashes.HASHLIB_SM3 else 'cryptography'} underneath)")
    print(f"{'':24}{'MiB/s (1 MiB)':>16}{'hashes/s (64 B)':>18}")
    base: tuple[float, float] | None = None
    for name, fn in rows:
        mib = rate(lambda fn=fn: fn(big), seconds / 2)
        ops = rate(lambda fn=fn: fn(small), seconds / 2)
        print(f"{name:24}{mib:16.1f}{ops:18.0f}")
        base = base or (mib, ops)
    if len(rows) > 1 and base is not None:
        print(f"{'ratio zhengwu/hashlib':24}{base[0] / mib:16.2f}{base[1] / ops:18.2f}")


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=3, help="seconds per measurement (default 3)")
    parser.add_argument(
        "--backends", default=None, help="comma-separated SM2 backends (default: native ones)"
    )
    args = parser.parse_args()
    names = (
        args.backends.split(",") if args.backends else [b for b in available_backends() if b != "reference"]
    )
    results = {name: ours(name, args.seconds) for name in names}
    baseline = openssl_speed(args.seconds)
    print(f"SM2 on sm2p256v1, {os.cpu_count()} CPU(s), {args.seconds} s per figure")
    header = f"{'':22}{'sign/s':>10}{'verify/s':>10}"
    if baseline:
        header += f"{'sign vs openssl':>17}{'verify vs openssl':>19}"
    print(header)
    for name, (s, v) in results.items():
        line = f"{'zhengwu[' + name + ']':22}{s:10.0f}{v:10.0f}"
        if baseline:
            line += f"{s / baseline[0]:17.2f}{v / baseline[1]:19.2f}"
        print(line)
    if baseline:
        print(f"{'openssl speed sm2':22}{baseline[0]:10.0f}{baseline[1]:10.0f}{1:17.2f}{1:19.2f}")
    else:
        print("openssl speed sm2: not available (no openssl executable or unparsable output)")
    sm3_throughput(args.seconds)


if __name__ == "__main__":
    main()
