"""Cleansing of identity input: trim, full-width → half-width, names, phones, e-mail addresses."""

from __future__ import annotations

import re

# Full-width ASCII block U+FF01..U+FF5E maps to U+0021..U+007E; U+3000 is the ideographic space.
_FULLWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_FULLWIDTH[0x3000] = 0x20
# Middle dots used in transliterated minority and foreign names (阿卜杜·热合曼) all become U+00B7.
_DOTS = {ord(c): "·" for c in "•‧∙⋅・･．"}
_NAME_RE = re.compile(
    r"^[\u3400-\u9fff\uf900-\ufaffA-Za-z·][\u3400-\u9fff\uf900-\ufaffA-Za-z· ]{0,48}[\u3400-\u9fff\uf900-\ufaffA-Za-z]$"
)
_PHONE_RE = re.compile(r"^1[3-9]\d{9}$")
_EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+$")


def half_width(text: str) -> str:
    """Convert full-width ASCII and the ideographic space to half-width."""
    return text.translate(_FULLWIDTH) if not text.isascii() else text


def clean(text: object) -> str:
    """Trim and half-width a raw cell (None and non-strings become text or empty)."""
    if text is None:
        return ""
    return half_width(str(text)).strip()


def normalize_name(raw: object) -> str | None:
    """A person's or enterprise representative's name, cleaned; None when it cannot be a name."""
    text = clean(raw).translate(_DOTS)
    text = re.sub(r"\s+", " ", text)
    if not text.isascii():
        # Chinese names carry no spaces; legacy systems often padded them (张 三).
        text = text.replace(" ", "")
    return text if _NAME_RE.match(text) else None


def normalize_phone(raw: object) -> str | None:
    """An 11-digit mainland mobile number (spaces, dashes and +86/0086 removed); None when invalid."""
    text = re.sub(r"[\s\-()]", "", clean(raw))
    for prefix in ("+86", "0086"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    else:
        if len(text) == 13 and text.startswith("86"):
            text = text[2:]
    return text if _PHONE_RE.match(text) else None


def normalize_email(raw: object) -> str | None:
    """A lower-cased e-mail address; None when it does not look like one."""
    text = clean(raw).lower()
    return text if _EMAIL_RE.match(text) else None


def normalize_enterprise_name(raw: object) -> str | None:
    """An enterprise name: trimmed, brackets half-width → full-width as registries print them."""
    text = re.sub(r"\s+", "", clean(raw)).replace("(", "（").replace(")", "）")
    return text if 2 <= len(text) <= 200 else None


PASSWORD_MIN_LENGTH = 8


def password_problem(password: str) -> str | None:
    """Why a new password breaks the policy (等保 8.1.4.1.a complexity), or None."""
    if len(password) < PASSWORD_MIN_LENGTH or len(password) > 128:
        return "length"
    classes = sum(
        (
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        )
    )
    return None if classes >= 3 else "classes"
