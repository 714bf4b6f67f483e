"""``zhengwu codes validate``: check national codes in bulk, one output line per input value.

Output per value: ``VALUE<TAB>OK|WARN|INVALID<TAB>code<TAB>中文原因 / English reason`` (or one JSON object
per line with ``--json``). Files are read as bytes line by line (UTF-8, GBK fallback), never whole.
Plain buffered writes, not rich: this path is measured (bench/codes.py).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from enum import StrEnum
from functools import partial
from typing import IO, Annotated

import typer

from zhengwu.kernel.codes import VALIDATORS, Verdict
from zhengwu.kernel.codes._input import decode, display

app = typer.Typer(
    help="国家代码校验 / validate national codes (GB 32100, GB 11643, GB/T 2260, 实施编码, GB/T 36904).",
    no_args_is_help=True,
    add_completion=False,
)

MAX_LINE = 4096  # bytes; longer lines are reported, not validated (no single value is that long)
_BATCH = 2048  # output lines per write when the output is not interactive
_BOM = b"\xef\xbb\xbf"


class CodeKind(StrEnum):
    """The kinds of code the command validates."""

    uscc = "uscc"
    citizen_id = "citizen-id"
    division = "division"
    task_code = "task-code"
    catalog_code = "catalog-code"
    license_id = "license-id"


@app.callback()
def codes() -> None:
    """National code validators (统一社会信用代码, 身份号码, 行政区划代码, 实施编码, 电子证照标识)."""


def _lines(stream: IO[bytes]) -> Iterator[bytes | None]:
    """Yield each line without its end-of-line; ``None`` for a line longer than MAX_LINE (skipped)."""
    first = True
    for raw in iter(partial(stream.readline, MAX_LINE), b""):
        if len(raw) == MAX_LINE and not raw.endswith(b"\n"):
            rest = raw
            while rest and not rest.endswith(b"\n"):
                rest = stream.readline(MAX_LINE)
            yield None
            continue
        if first:
            first = False
            if raw.startswith(_BOM):
                yield raw[3:].rstrip(b"\r\n")
                continue
        yield raw.rstrip(b"\r\n")


def _decode_line(raw: bytes) -> str | bytes:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        text = decode(raw)
        return raw if text is None else text


def _values(args: list[str] | None, stream: IO[bytes] | None) -> Iterator[str | bytes | None]:
    if args:
        yield from args
    if stream is not None:
        yield from (_decode_line(raw) if raw is not None else None for raw in _lines(stream))


def _shown(value: str | bytes) -> str:
    if isinstance(value, str) and value.isprintable():
        return value
    return display(value)


def _text_line(shown: str, verdict: Verdict, cache: dict[tuple[str, str], str]) -> str:
    if verdict.ok and not verdict.warnings:
        suffix = cache.get((verdict.code, verdict.reason_zh))
        if suffix is None:
            suffix = f"\tOK\t{verdict.code}\t{verdict.reason_zh} / {verdict.reason_en}\n"
            cache[(verdict.code, verdict.reason_zh)] = suffix
        return shown + suffix
    if verdict.ok:
        codes = ",".join(w.code for w in verdict.warnings)
        zh = "；".join(w.zh for w in verdict.warnings)
        en = "; ".join(w.en for w in verdict.warnings)
        return f"{shown}\tWARN\t{codes}\t{zh} / {en}\n"
    return f"{shown}\tINVALID\t{verdict.code}\t{verdict.reason_zh} / {verdict.reason_en}\n"


def _json_line(shown: str, verdict: Verdict) -> str:
    record = {
        "input": shown,
        "value": verdict.value,
        "status": verdict.status,
        "ok": verdict.ok,
        "code": verdict.code,
        "reason_zh": verdict.reason_zh,
        "reason_en": verdict.reason_en,
        "warnings": [{"code": w.code, "zh": w.zh, "en": w.en} for w in verdict.warnings],
    }
    return json.dumps(record, ensure_ascii=False) + "\n"


_TOO_LONG = Verdict(
    "", False, "input.too_long", f"该行超过 {MAX_LINE} 字节，未校验", f"line longer than {MAX_LINE} bytes"
)


def run(
    validator: Callable[..., Verdict],
    values: Iterable[str | bytes | None],
    out: IO[bytes],
    *,
    tolerant: bool,
    as_json: bool,
    batch: int = _BATCH,
) -> int:
    """Validate every value, write one line each to ``out``; return the number of invalid values."""
    cache: dict[tuple[str, str], str] = {}
    pending: list[str] = []
    failures = 0
    for value in values:
        if value is None:
            shown, verdict = "…", _TOO_LONG
        else:
            shown = value if type(value) is str and value.isprintable() else _shown(value)
            verdict = validator(value, tolerant=tolerant)
        if not verdict.ok:
            failures += 1
        pending.append(_json_line(shown, verdict) if as_json else _text_line(shown, verdict, cache))
        if len(pending) >= batch:
            out.write("".join(pending).encode("utf-8"))
            pending.clear()
            if batch == 1:
                out.flush()
    if pending:
        out.write("".join(pending).encode("utf-8"))
    out.flush()
    return failures


@app.command()
def validate(
    kind: Annotated[
        CodeKind, typer.Option("--kind", "-k", help="Which code to validate.", case_sensitive=False)
    ],
    values: Annotated[
        list[str] | None, typer.Argument(help="Values to validate.", show_default=False)
    ] = None,
    file: Annotated[
        str | None, typer.Option("--file", "-f", help="Read values line by line from a file ('-' = stdin).")
    ] = None,
    tolerant: Annotated[
        bool, typer.Option("--tolerant", help="Existing data: known anomalies pass with a warning.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Validate codes; one line per value; exit status 1 if any value is invalid."""
    if not values and file is None:
        typer.echo("请给出要校验的值或 --file / give VALUE ... or --file", err=True)
        raise typer.Exit(2)
    with ExitStack() as stack:
        stream: IO[bytes] | None = None
        if file == "-":
            stream = sys.stdin.buffer
        elif file is not None:
            try:
                stream = stack.enter_context(open(file, "rb"))
            except OSError as exc:
                typer.echo(f"无法读取文件 / cannot read {file}: {exc.strerror}", err=True)
                raise typer.Exit(2) from exc
        interactive = file == "-" and sys.stdin.isatty()
        failures = run(
            VALIDATORS[kind.value],
            _values(values, stream),
            sys.stdout.buffer,
            tolerant=tolerant,
            as_json=as_json,
            batch=1 if interactive else _BATCH,
        )
    if failures:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
