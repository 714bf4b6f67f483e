"""GB/T 36904-2018 e-license identifier (电子证照标识) with its ISO/IEC 7064 MOD 37,36 check character.

Layout: ``1.2.156.3005.2.<type code 21>.<issuer USCC 18>.<serial>.<version 3 digits>.<check>``.
"""

from __future__ import annotations

from dataclasses import dataclass

from zhengwu.kernel.codes import _input
from zhengwu.kernel.codes.uscc import validate_uscc
from zhengwu.kernel.codes.verdict import CodeError, Notice, Verdict, invalid

ROOT = "1.2.156.3005.2"
# standards §5.1: one vendor wrongly issues under 1.2.156.3003.2; accepted with a warning in tolerant mode.
_WRONG_ROOTS = ("1.2.156.3003.2",)
# ISO/IEC 7064 MOD 37,36: alphabet 0-9A-Z valued 0..35.
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
# Precomputed hybrid-system step: next P for (current P, symbol value), so the loop is one lookup per char.
_STEP = tuple(tuple((((p + v) % 36 or 36) * 2) % 37 for v in range(36)) for p in range(37))
TYPE_CODE_LENGTH = 21
ISSUER_LENGTH = 18
VERSION_LENGTH = 3
MAX_SERIAL_LENGTH = 64

_LABEL_ZH = "电子证照标识"
_LABEL_EN = "e-license identifier"


@dataclass(frozen=True, slots=True)
class LicenseId:
    """The parts of an e-license identifier."""

    identifier: str
    type_code: str
    issuer: str
    serial: str
    version: str
    check: str


def mod37_36(data: str) -> str:
    """ISO/IEC 7064 MOD 37,36 check character over ``[0-9A-Z]`` text; KeyError on other characters."""
    p = 36
    step = _STEP
    value = _VALUE
    for ch in data:
        p = step[p][value[ch]]
    return ALPHABET[(37 - p) % 36]


def make_license_id(type_code: str, issuer: str, serial: str, version: int | str = 1) -> str:
    """Build an identifier; checks the type code (21), issuer USCC, serial ([0-9A-Z]) and version (1-999)."""
    version_text = f"{int(version):03d}" if isinstance(version, int) else version
    parts = (type_code.upper(), issuer.upper(), serial.upper(), version_text)
    problem = _structure_problem(*parts)
    if problem is not None:
        raise CodeError(invalid(".".join(parts), *problem))
    if version_text == "000":
        raise CodeError(
            invalid(version_text, "license_id.version", "版本号从001开始", "versions start at 001")
        )
    body = "".join(parts)
    return f"{ROOT}.{'.'.join(parts)}.{mod37_36(body)}"


def _structure_problem(type_code: str, issuer: str, serial: str, version: str) -> tuple[str, str, str] | None:
    """The first strict-layout violation as (code, zh, en), or None."""
    for name_zh, name_en, part in (
        ("证照类型代码", "type code", type_code),
        ("颁发机构代码", "issuer", issuer),
    ):
        if not part or any(ch not in _VALUE for ch in part):
            return (
                "license_id.charset",
                f"{name_zh}只能包含数字和大写字母",
                f"the {name_en} may contain only digits and capital letters",
            )
    if len(type_code) != TYPE_CODE_LENGTH or not type_code[18:].isdigit():
        return (
            "license_id.type_code",
            f"证照类型代码应为21位（定义机构统一社会信用代码18位+3位数字），实为{len(type_code)}位",
            f"the type code has 21 characters (18-char USCC + 3 digits), got {len(type_code)}",
        )
    if not validate_uscc(type_code[:18]).ok:
        return (
            "license_id.type_code",
            "证照类型代码前18位不是有效的统一社会信用代码",
            "the first 18 characters of the type code are not a valid credit code",
        )
    if not validate_uscc(issuer).ok:
        return (
            "license_id.issuer",
            "颁发机构代码不是有效的18位统一社会信用代码",
            "the issuer code is not a valid 18-character credit code",
        )
    if not serial or len(serial) > MAX_SERIAL_LENGTH or any(ch not in _VALUE for ch in serial):
        return (
            "license_id.serial",
            f"流水号应为1–{MAX_SERIAL_LENGTH}位数字或大写字母",
            f"the serial must be 1-{MAX_SERIAL_LENGTH} digits or capital letters",
        )
    if len(version) != VERSION_LENGTH or not (version.isascii() and version.isdigit()):
        return ("license_id.version", "版本号应为3位数字", "the version has three digits")
    return None


def validate_license_id(value: object, *, tolerant: bool = False) -> Verdict:
    """Validate an identifier; ``tolerant`` (existing data) turns check and layout mismatches into warnings."""
    cleaned = _input.clean(value, "license_id", _LABEL_ZH, _LABEL_EN)
    if isinstance(cleaned, Verdict):
        return cleaned
    text, notices = cleaned
    warnings = list(notices)
    root = ROOT
    if not text.startswith(ROOT + "."):
        wrong = next((r for r in _WRONG_ROOTS if text.startswith(r + ".")), None)
        if wrong is None or not tolerant:
            return invalid(
                text,
                "license_id.root",
                f"电子证照标识应以根代码 {ROOT} 开头",
                f"an e-license identifier starts with the root {ROOT}",
                notices,
            )
        root = wrong
        warnings.append(
            Notice(
                "license_id.root",
                f"根代码误用 {wrong}（应为 {ROOT}）",
                f"wrong root {wrong} (should be {ROOT})",
            )
        )
    parts = text[len(root) + 1 :].split(".")
    if len(parts) != 5 or not all(parts):
        return invalid(
            text,
            "license_id.parts",
            "根代码之后应为5段：证照类型代码.颁发机构代码.流水号.版本号.校验位",
            "after the root there must be 5 parts: type.issuer.serial.version.check",
            notices,
        )
    type_code, issuer, serial, version, check = parts
    body = type_code + issuer + serial + version
    if len(check) != 1 or any(ch not in _VALUE for ch in body + check):
        return invalid(
            text,
            "license_id.charset",
            "证照标识各段只能包含数字和大写字母，校验位为1个字符",
            "parts may contain only digits and capital letters; the check is one character",
            notices,
        )
    problem = _structure_problem(type_code, issuer, serial, version)
    if problem is not None:
        if not tolerant:
            return invalid(text, *problem, tuple(notices))
        warnings.append(Notice(*problem))
    expected = mod37_36(body)
    if check != expected:
        zh = f"校验位错误：应为 {expected}，实为 {check}（ISO/IEC 7064 MOD 37,36）"
        en = f"check character should be {expected}, not {check} (ISO/IEC 7064 MOD 37,36)"
        if not tolerant:
            return invalid(text, "license_id.check", zh, en, tuple(notices))
        warnings.append(
            Notice("license_id.check", zh + "；存量数据，需人工核查", en + "; existing data, review it")
        )
    return Verdict(
        text, True, "license_id.ok", "有效的电子证照标识", "valid e-license identifier", tuple(warnings)
    )


def parse_license_id(value: object, *, tolerant: bool = False) -> LicenseId:
    """Split an identifier into its parts; raises CodeError when it is invalid."""
    verdict = validate_license_id(value, tolerant=tolerant)
    if not verdict.ok:
        raise CodeError(verdict)
    type_code, issuer, serial, version, check = verdict.value.split(".")[-5:]
    return LicenseId(verdict.value, type_code, issuer, serial, version, check)
