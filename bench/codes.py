"""Credit-code validation throughput: ``validate_uscc`` and ``zhengwu codes validate`` end to end.

Baselines measured in the same run: a bare loop doing only the GB 32100 check-character arithmetic,
python-stdnum's ``cn.uscc.is_valid`` (when installed) and, for the CLI, a Python process that only
copies the same file line by line to its output (the I/O floor).

    .venv/bin/python bench/codes.py [--codes 200000] [--cli-lines 1000000] [--seconds 2]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from itertools import cycle
from pathlib import Path

from harness import Result, rate, report
from zhengwu.kernel.codes import complete_uscc, validate_uscc
from zhengwu.kernel.codes.uscc import ALPHABET, org_check_digit

TARGET_CLI_RATE = 100_000  # codes/s end to end on one core (issue 2)


def generate(n: int, seed: int = 2) -> list[str]:
    """``n`` valid credit codes (enterprises and sole traders registered in Hebei divisions)."""
    rnd = random.Random(seed)
    divisions = ["130100", "130102", "130181", "130600", "130682", "131100", "130000"]
    codes = []
    for _ in range(n):
        body = "".join(rnd.choices(ALPHABET, k=8))
        codes.append(
            complete_uscc(
                rnd.choice(["91", "92", "93", "12"]) + rnd.choice(divisions) + body + org_check_digit(body)
            )
        )
    return codes


_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
_WEIGHTS = [pow(3, i, 31) for i in range(17)]


def bare_check(code: str) -> bool:
    """Only the check-character arithmetic: no normalisation, structure or Verdict."""
    total = 0
    for ch, w in zip(code, _WEIGHTS, strict=False):
        total += _VALUE[ch] * w
    return ALPHABET[(31 - total % 31) % 31] == code[17]


def in_process(codes: list[str], seconds: float) -> None:
    n = len(codes)
    # The harness checks its deadline every 16 calls: feed it 1,000-code slices in turn.
    chunks = [codes[i : i + 1000] for i in range(0, n, 1000)]

    def over(check: Callable[[str], object]) -> Callable[[], object]:
        turn = cycle(chunks)
        return lambda: [check(c) for c in next(turn)]

    ours = rate(
        "validate_uscc (Verdict, structure, divisions)",
        over(validate_uscc),
        seconds=seconds,
        batch=1000,
        unit="codes",
    )
    bare = rate("bare check-character loop", over(bare_check), seconds=seconds, batch=1000, unit="codes")
    results = [ours, bare]
    try:
        from stdnum.cn import uscc as stdnum_uscc
    except ImportError:
        print("python-stdnum not installed: no stdnum baseline")
    else:
        results.append(
            rate(
                "python-stdnum cn.uscc.is_valid",
                over(stdnum_uscc.is_valid),
                seconds=seconds,
                batch=1000,
                unit="codes",
            )
        )
    if not all(validate_uscc(c).ok for c in codes):
        sys.exit("generated codes did not validate")
    report(results, baseline=bare, title=f"in process, {n:,} generated valid codes")


def _timed(name: str, argv: list[str], lines: int) -> Result:
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{name} failed ({done.returncode}): {done.stderr.decode(errors='replace')[-500:]}")
    return Result(name, lines, elapsed, unit="codes")


def end_to_end(lines: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "codes.txt"
        # Reuse a block of generated codes so that writing the file stays quick.
        block = "\n".join(generate(min(lines, 100_000), seed=3)) + "\n"
        repeats, rest = divmod(lines, min(lines, 100_000))
        with path.open("w", encoding="ascii") as f:
            f.write(block * repeats)
            f.write("\n".join(block.splitlines()[:rest]) + ("\n" if rest else ""))
        copy = (
            "import sys\nout = sys.stdout.buffer\nfor line in open(sys.argv[1], 'rb'):\n    out.write(line)\n"
        )
        floor = _timed("python line copy (I/O floor)", [sys.executable, "-c", copy, str(path)], lines)
        cli = _timed(
            "zhengwu codes validate --kind uscc --file F",
            [
                sys.executable,
                "-m",
                "zhengwu.commands.codes",
                "validate",
                "--kind",
                "uscc",
                "--file",
                str(path),
            ],
            lines,
        )
    report([cli, floor], baseline=floor, title=f"end to end (subprocess incl. start-up), {lines:,} codes")
    verdict = "meets" if cli.per_second >= TARGET_CLI_RATE else "MISSES"
    print(
        f"CLI end-to-end rate {cli.per_second:,.0f} codes/s {verdict} the {TARGET_CLI_RATE:,} codes/s target"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--codes", type=int, default=200_000, help="generated codes for the in-process figures"
    )
    parser.add_argument("--cli-lines", type=int, default=1_000_000, help="lines in the CLI input file")
    parser.add_argument("--seconds", type=float, default=2.0, help="measuring time per in-process figure")
    args = parser.parse_args()
    in_process(generate(args.codes), args.seconds)
    end_to_end(args.cli_lines)


if __name__ == "__main__":
    main()
