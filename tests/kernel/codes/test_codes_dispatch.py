"""The ``validate`` dispatcher and bad input: always a Verdict with a reason, never an exception."""

from __future__ import annotations

import dataclasses

import pytest

from zhengwu.kernel.codes import KINDS, Verdict, validate

GARBAGE: list[object] = [
    "",
    "   ",
    "\u3000",
    "x",
    "\x00\x01\x02",
    "91350100M000100Y43\x00",
    "abc\tdef",
    "你好世界",
    "９１３５０１００Ｍ０００１００Ｙ４３",
    "😀" * 20,
    "9" * 300,
    "1.2.156.3005.2....",
    "1.2.156.3005.2",
    b"\xff\xfe\xfd",
    b"\xc4\xe3\xba\xc3",  # GBK 你好
    b"91350100M000100Y43",
    None,
    12345,
    3.5,
    ["91350100M000100Y43"],
    "٣٣٠١٠٢٢٠١١٠٢٢٠٠٠٣٦",  # Arabic-Indic digits: isdigit() but not ASCII
    "１１０１０５１９４９１２３１００２",
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("value", GARBAGE, ids=lambda v: repr(v)[:30])
@pytest.mark.parametrize("tolerant", [False, True])
def test_garbage_never_raises(kind: str, value: object, tolerant: bool) -> None:
    verdict = validate(kind, value, tolerant=tolerant)
    assert isinstance(verdict, Verdict)
    assert isinstance(verdict.value, str)
    assert verdict.code and verdict.reason_zh and verdict.reason_en
    assert verdict.code.startswith((kind.replace("-", "_") + ".", "input."))
    if not verdict.ok:
        assert "." in verdict.code


def test_bytes_are_decoded() -> None:
    assert validate("uscc", b"91350100M000100Y43").ok
    assert validate("uscc", "91350100M000100Y43".encode("utf-16")).code == "uscc.binary"
    gbk = validate("uscc", "你好".encode("gbk"))
    assert gbk.code == "uscc.length" and gbk.value == "你好"


def test_control_characters_are_reported() -> None:
    verdict = validate("uscc", "91350100M000100Y43\x00")
    assert verdict.code == "uscc.binary"
    assert "\\x00" in verdict.value


def test_unknown_kind() -> None:
    verdict = validate("passport", "E12345678")
    assert not verdict.ok and verdict.code == "kind.unknown"


def test_verdict_is_frozen_and_slotted() -> None:
    verdict = validate("uscc", "91350100M000100Y43")
    with pytest.raises(dataclasses.FrozenInstanceError):
        verdict.ok = False  # type: ignore[misc]
    assert not hasattr(verdict, "__dict__")
    assert verdict.reason == f"{verdict.reason_zh} / {verdict.reason_en}"


def test_status() -> None:
    assert validate("uscc", "91350100M000100Y43").status == "OK"
    assert validate("uscc", "91350100m000100y43").status == "WARN"
    assert validate("uscc", "91350100M000100Y44").status == "INVALID"
