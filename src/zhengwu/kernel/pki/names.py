"""Distinguished names: building (UTF8String, Chinese allowed), comparing (RFC 5280 §7.1) and printing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from asn1crypto import x509

from zhengwu.kernel.pki._der import parsing
from zhengwu.kernel.pki.errors import PkiError

# Short labels (RFC 4514 / OpenSSL) → attribute type OIDs.
_SHORT: Final[dict[str, str]] = {
    "C": "2.5.4.6",
    "ST": "2.5.4.8",
    "L": "2.5.4.7",
    "O": "2.5.4.10",
    "OU": "2.5.4.11",
    "CN": "2.5.4.3",
    "SERIALNUMBER": "2.5.4.5",
    "STREET": "2.5.4.9",
    "T": "2.5.4.12",
    "EMAILADDRESS": "1.2.840.113549.1.9.1",
    "E": "1.2.840.113549.1.9.1",
    "DC": "0.9.2342.19200300.100.1.25",
    "UID": "0.9.2342.19200300.100.1.1",
    "ORGANIZATIONIDENTIFIER": "2.5.4.97",
}
_LABEL: Final[dict[str, str]] = {
    "2.5.4.6": "C",
    "2.5.4.8": "ST",
    "2.5.4.7": "L",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.3": "CN",
    "2.5.4.5": "serialNumber",
    "2.5.4.9": "street",
    "2.5.4.12": "title",
    "1.2.840.113549.1.9.1": "emailAddress",
    "0.9.2342.19200300.100.1.25": "DC",
    "0.9.2342.19200300.100.1.1": "UID",
    "2.5.4.97": "organizationIdentifier",
}
# X.520 / RFC 5280: these attribute types are PrintableString or IA5String, not DirectoryString.
_PRINTABLE: Final = frozenset({"2.5.4.6", "2.5.4.5", "2.5.4.46"})
_IA5: Final = frozenset({"1.2.840.113549.1.9.1", "0.9.2342.19200300.100.1.25"})

NameInput = Mapping[str, str] | Sequence[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class DistinguishedName:
    """An X.501 name: original DER, a normalised comparison key and a readable form."""

    der: bytes
    key: str
    attributes: tuple[tuple[str, str], ...]

    def get(self, label: str) -> str | None:
        """The first value of an attribute given by short label ("CN", "O", ...) or dotted OID."""
        oid = _SHORT.get(label.upper(), label)
        for attr_oid, value in self.attributes:
            if attr_oid == oid:
                return value
        return None

    @property
    def common_name(self) -> str | None:
        """The CN attribute, if any."""
        return self.get("CN")

    def __str__(self) -> str:
        return ", ".join(f"{_LABEL.get(oid, oid)}={value}" for oid, value in self.attributes)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DistinguishedName) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)


def _attribute_text(value: Any) -> tuple[str, bool]:
    """The text of an attribute value and whether asn1crypto could decode it itself.

    Real Chinese CA certificates (e.g. YNCA) put GBK or UTF-8 bytes into TeletexString, which
    asn1crypto decodes as ISO-8859-1-ish "teletex" and fails on; read the raw contents instead.
    """
    try:
        native = value.native
    except (ValueError, UnicodeDecodeError):
        raw = bytes(value.chosen.contents if hasattr(value, "chosen") else value.contents)
        for encoding in ("utf-8", "gb18030"):
            try:
                return raw.decode(encoding), False
            except UnicodeDecodeError:
                continue
        return raw.decode("latin-1"), False
    return (native if isinstance(native, str) else repr(native)), True


def name_from_asn1(name: Any) -> DistinguishedName:
    """Wrap a parsed asn1crypto Name."""
    with parsing("distinguished name", "名称"):
        attributes: list[tuple[str, str]] = []
        decoded_natively = True
        for rdn in name.chosen:
            for type_and_value in rdn:
                oid = str(type_and_value["type"].dotted)
                text, ok = _attribute_text(type_and_value["value"])
                decoded_natively = decoded_natively and ok
                attributes.append((oid, text))
        if decoded_natively:
            key = str(name.hashable)
        else:
            # RFC 5280 §7.1-style comparison key built from our own decoding.
            key = "|".join(f"{oid}={' '.join(text.casefold().split())}" for oid, text in attributes)
        return DistinguishedName(der=bytes(name.dump()), key=key, attributes=tuple(attributes))


def _oid_for(label: str) -> str:
    oid = _SHORT.get(label.upper())
    if oid is not None:
        return oid
    mapped = x509.NameType._map
    for dotted, long_name in mapped.items():
        if long_name == label:
            return str(dotted)
    if all(part.isdigit() for part in label.split(".")) and label.count(".") >= 2:
        return label
    raise PkiError(f"unknown name attribute {label!r}", f"未知的名称属性：{label}")


def to_asn1_name(value: NameInput | DistinguishedName) -> Any:
    """Build an asn1crypto Name keeping the given attribute order (UTF8String for text attributes)."""
    if isinstance(value, DistinguishedName):
        with parsing("distinguished name", "名称"):
            return x509.Name.load(value.der)
    items = list(value.items()) if isinstance(value, Mapping) else list(value)
    if not items:
        raise PkiError("a distinguished name needs at least one attribute", "名称至少需要一个属性")
    rdns = []
    for label, text in items:
        if not isinstance(text, str) or not text:
            raise PkiError(
                f"name attribute {label!r} must be a non-empty string", f"名称属性 {label} 不能为空"
            )
        oid = _oid_for(label)
        attr_value: Any
        if oid in _PRINTABLE:
            if oid == "2.5.4.6" and (len(text) != 2 or not text.isascii()):
                raise PkiError("country must be a 2-letter ISO 3166 code", "国家必须是两位字母代码")
            attr_value = x509.DirectoryString(name="printable_string", value=x509.PrintableString(text))
        elif oid in _IA5:
            attr_value = x509.EmailAddress(text) if oid == "1.2.840.113549.1.9.1" else x509.DNSName(text)
        else:
            attr_value = x509.DirectoryString(name="utf8_string", value=x509.UTF8String(text))
        rdns.append(
            x509.RelativeDistinguishedName([x509.NameTypeAndValue({"type": oid, "value": attr_value})])
        )
    with parsing("distinguished name", "名称"):
        name = x509.Name(name="", value=x509.RDNSequence(rdns))
        name.dump()
        return name


def build_name(value: NameInput) -> DistinguishedName:
    """A DistinguishedName from ``{"C": "CN", "O": "河北省…", "CN": "…"}`` or a list of (label, value) pairs."""
    return name_from_asn1(to_asn1_name(value))
