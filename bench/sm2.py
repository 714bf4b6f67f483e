"""SM2 sign/verify rates of zhengwu.kernel.crypto next to `openssl speed sm2`, plus SM3 throughput.

Usage: .venv/bin/python bench/sm2.py [--seconds N] [--backends tongsuopy,gmalglib]

Our figures go through the public API (Z over the default ID, SM3, DER encoding included); OpenSSL's
`speed` signs a fixed digest, so a ratio near 1.0 means our per-call overhead is negligible. All rates
are per CPU-second, as `openssl speed` reports them by default (it divides by user CPU time).
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
    """Calls per CPU-second of fn over about `seconds` of CPU time (after a short warm-up).

    CPU time, like `openssl speed` without -elapsed, so other jobs on a shared host do not skew the ratio.
    """
    for _ in range(20):
        fn()
    n, start = 0, time.process_time()
    deadline = start + seconds
    while True:
        for _ in range(50):
            fn()
        n += 50
        now = time.process_time()
        if now >= deadline:
            return n / (now - start)


class Ours:
    """Our public-API sign/verify on one backend, measured in pieces that bracket openssl's run."""

    def __init__(self, backend: str) -> None:
        self.key = SM2PrivateKey.generate(backend=backend)
        self.msg = os.urandom(64)
        self.sig = self.key.sign(self.msg)
        assert self.key.public_key.verify(self.sig, self.msg)
        self.samples: list[tuple[float, float]] = []

    def measure(self, seconds: float) -> None:
        """Add one (sign/s, verify/s) sample."""
        key, pub, msg, sig = self.key, self.key.public_key, self.msg, self.sig
        self.samples.append(
            (rate(lambda: key.sign(msg), seconds), rate(lambda: pub.verify(sig, msg), seconds))
        )

    def result(self) -> tuple[float, float]:
        """Mean of the samples."""
        n = len(self.samples)
        return sum(s for s, _ in self.samples) / n, sum(v for _, v in self.samples) / n


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


def interleaved_rates(fns: list[Callable[[], object]], seconds: float) -> list[float]:
    """Calls per CPU-second of each fn, measured in alternating 0.1 s slices so load changes hit all alike."""
    calls, spent = [0] * len(fns), [0.0] * len(fns)
    deadline = time.process_time() + seconds
    while time.process_time() < deadline:
        for i, fn in enumerate(fns):
            start = time.process_time()
            while (now := time.process_time()) - start < 0.1:
                for _ in range(10):
                    fn()
                calls[i] += 10
            spent[i] += now - start
    return [c / t for c, t in zip(calls, spent, strict=True)]


def sm3_throughput(seconds: float) -> None:
    """MiB/s on 1 MiB and hashes/s on 64 bytes: our sm3() against hashlib's SM3 directly."""
    big, small = os.urandom(1 << 20), os.urandom(64)
    print(f"\nSM3 ({'hashlib/OpenSSL' if zh_hashes.HASHLIB_SM3 else 'cryptography'} underneath)")
    if not zh_hashes.HASHLIB_SM3:
        mib, ops = rate(lambda: sm3(big), seconds / 2), rate(lambda: sm3(small), seconds / 2)
        print(f"zhengwu sm3(): {mib:.1f} MiB/s (1 MiB), {ops:.0f} hashes/s (64 B); hashlib has no SM3 here")
        return

    def direct(d: bytes) -> bytes:
        return hashlib.new("sm3", d).digest()

    mib = interleaved_rates([lambda: sm3(big), lambda: direct(big)], seconds / 2)
    ops = interleaved_rates([lambda: sm3(small), lambda: direct(small)], seconds / 2)
    print(f"{'':24}{'MiB/s (1 MiB)':>16}{'hashes/s (64 B)':>18}")
    print(f"{'zhengwu sm3()':24}{mib[0]:16.1f}{ops[0]:18.0f}")
    print(f"{'hashlib.new(sm3)':24}{mib[1]:16.1f}{ops[1]:18.0f}")
    print(f"{'ratio zhengwu/hashlib':24}{mib[0] / mib[1]:16.2f}{ops[0] / ops[1]:18.2f}")


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
    load_before = os.getloadavg()[0]
    runs = {name: Ours(name) for name in names}
    # Half of our measurement before and half after openssl's, so a load change on a shared host
    # affects both sides of the ratio alike.
    for run in runs.values():
        run.measure(args.seconds / 2)
    baseline = openssl_speed(args.seconds)
    for run in reversed(runs.values()):
        run.measure(args.seconds / 2)
    results = {name: run.result() for name, run in runs.items()}
    load = f"load average {load_before:.2f} -> {os.getloadavg()[0]:.2f}"
    print(f"SM2 on sm2p256v1, {os.cpu_count()} CPU(s), {args.seconds} s per figure, {load}")
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
