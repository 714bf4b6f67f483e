"""Turn raw input (str or bytes, possibly full-width, lower-case or binary) into a clean code string."""

from __future__ import annotations

from zhengwu.kernel.codes.verdict import Notice, Verdict, invalid

# Full-width ASCII block U+FF01..U+FF5E maps to U+0021..U+007E; U+3000 is the ideographic space.
_FULLWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_FULLWIDTH[0x3000] = 0x20

FULLWIDTH = Notice("input.fullwidth", "全角字符已转换为半角", "full-width characters converted to half-width")
LOWERCASE = Notice("input.lowercase", "小写字母已转换为大写", "lower-case letters converted to upper case")
WHITESPACE = Notice("input.whitespace", "已去除中间的空白字符", "whitespace inside the value removed")

MAX_LENGTH = 256


def decode(raw: bytes) -> str | None:
    """Decode UTF-8 (with or without BOM), falling back to GBK; ``None`` when neither fits."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gbk")
    except UnicodeDecodeError:
        return None


def display(raw: object) -> str:
    """A printable one-line rendering of any input (for verdict values of unusable input)."""
    if isinstance(raw, bytes):
        text = raw.decode("utf-8", "backslashreplace")
    elif isinstance(raw, str):
        text = raw
    else:
        text = type(raw).__name__
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)
    return text[:MAX_LENGTH]


def clean(raw: object, prefix: str, label_zh: str, label_en: str) -> tuple[str, tuple[Notice, ...]] | Verdict:
    """Normalise input to an upper-case half-width string, or say why it is unusable."""
    notices: list[Notice] = []
    if isinstance(raw, bytes):
        decoded = decode(raw)
        if decoded is None:
            return invalid(
                display(raw),
                f"{prefix}.binary",
                f"{label_zh}含有无法识别的二进制数据（既非 UTF-8 也非 GBK）",
                f"{label_en} contains undecodable bytes (neither UTF-8 nor GBK)",
            )
        raw = decoded
    if not isinstance(raw, str):
        return invalid(display(raw), f"{prefix}.type", f"{label_zh}必须是文本", f"{label_en} must be text")
    text = raw.strip()
    if not text:
        return invalid("", f"{prefix}.empty", f"{label_zh}为空", f"{label_en} is empty")
    if len(text) > MAX_LENGTH:
        return invalid(
            display(text),
            f"{prefix}.length",
            f"{label_zh}过长（{len(text)} 个字符）",
            f"{label_en} is far too long ({len(text)} characters)",
        )
    if not text.isascii():
        converted = text.translate(_FULLWIDTH)
        if converted != text:
            notices.append(FULLWIDTH)
            text = converted.strip()
    parts = text.split()
    if len(parts) > 1:
        text = "".join(parts)
        notices.append(WHITESPACE)
    if not text.isprintable():
        return invalid(
            display(text),
            f"{prefix}.binary",
            f"{label_zh}含有控制字符或二进制数据",
            f"{label_en} contains control characters or binary data",
            tuple(notices),
        )
    upper = text.upper()
    if upper != text:
        notices.append(LOWERCASE)
    return upper, tuple(notices)
