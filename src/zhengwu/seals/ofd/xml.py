"""Hardened XML parsing for OFD parts and namespace-tolerant element lookup."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import TypeAlias

from lxml import etree

from zhengwu.seals.errors import OFDFormatError, OFDLimitError

OFD_NS = "http://www.ofdspec.org/2016"
MAX_XML_BYTES = 32 * 1024 * 1024

# A DTD is never needed in OFD; refusing it outright closes XXE and entity-expansion attacks
# (billion laughs) before libxml2 sees the document.
_DOCTYPE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")

Element: TypeAlias = etree._Element


_local = threading.local()


def _parser() -> etree.XMLParser:
    # One parser per thread: lxml parsers must not be shared between threads, and making one per call costs.
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_blank_text=False,
        )
    return parser


def parse_xml(data: bytes, *, name: str = "XML") -> Element:
    """Parse an OFD XML part safely and return its root element; raises OFDFormatError."""
    if len(data) > MAX_XML_BYTES:
        raise OFDLimitError(f"XML 文件过大：{name}", detail_en=f"XML part too large: {name}")
    probe = data
    if data.startswith(_UTF16_BOMS):
        try:
            probe = data.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError as exc:
            raise OFDFormatError(f"XML 编码错误：{name}", detail_en=f"bad XML encoding: {name}") from exc
    if _DOCTYPE.search(probe):
        raise OFDFormatError(
            f"XML 含有 DOCTYPE/ENTITY 声明，已拒绝：{name}",
            detail_en=f"XML with a DOCTYPE/ENTITY declaration refused: {name}",
        )
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise OFDFormatError(f"XML 格式错误：{name}", detail_en=f"malformed XML in {name}: {exc}") from exc
    if root is None:
        raise OFDFormatError(f"XML 为空：{name}", detail_en=f"empty XML: {name}")
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise OFDFormatError(f"XML 含有 DOCTYPE：{name}", detail_en=f"XML with a DOCTYPE refused: {name}")
    return root


def local(el: Element) -> str:
    """Local name of an element, whatever namespace (or none) the producer used."""
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def children(el: Element, name: str) -> Iterator[Element]:
    """Direct child elements with the given local name."""
    for child in el:
        if isinstance(child.tag, str) and local(child) == name:
            yield child


def child(el: Element, name: str) -> Element | None:
    """First direct child element with the given local name."""
    return next(children(el, name), None)


def descendants(el: Element, name: str) -> Iterator[Element]:
    """All descendant elements with the given local name, in document order."""
    for node in el.iter():
        if isinstance(node.tag, str) and local(node) == name:
            yield node


def child_text(el: Element, name: str) -> str | None:
    """Stripped text of the first direct child with that local name (None when absent)."""
    found = child(el, name)
    if found is None:
        return None
    return (found.text or "").strip()


def ofd(name: str) -> str:
    """Clark-notation tag in the OFD namespace, for writing."""
    return f"{{{OFD_NS}}}{name}"


def serialize(root: Element) -> bytes:
    """Serialize an element tree as UTF-8 with an XML declaration (how OFD parts are stored)."""
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def new_root(name: str) -> Element:
    """A new root element in the OFD namespace with the conventional `ofd` prefix."""
    return etree.Element(ofd(name), nsmap={"ofd": OFD_NS})


def sub(parent: Element, name: str, text: str | None = None, **attrs: str) -> Element:
    """Append an OFD-namespace child element with optional text and attributes."""
    el = etree.SubElement(parent, ofd(name), attrib=attrs)
    if text is not None:
        el.text = text
    return el
