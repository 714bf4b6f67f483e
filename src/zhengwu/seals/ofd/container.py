"""Safe OFD (GB/T 33190) container: zip reading with limits, path resolution, re-packing."""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from zhengwu.seals.errors import OFDFormatError, OFDLimitError
from zhengwu.seals.ofd.xml import Element, child, child_text, children, parse_xml

_DRIVE = re.compile(r"^[A-Za-z]:")
_ALLOWED_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}
_DENSE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".esl", ".dat", ".ttf", ".otf", ".ttc", ".woff")


@dataclass(frozen=True)
class ZipLimits:
    """Limits that bound the memory and time spent on one uploaded container."""

    max_input_bytes: int = 256 * 1024 * 1024
    max_entries: int = 10_000
    max_entry_bytes: int = 128 * 1024 * 1024
    max_total_bytes: int = 512 * 1024 * 1024
    # Deflate reaches ~1032:1 on degenerate input; real OFD XML compresses ~5-20:1.
    max_ratio: float = 200.0
    ratio_floor_bytes: int = 1024 * 1024


DEFAULT_LIMITS = ZipLimits()


def check_entry_name(name: str) -> str:
    """Reject zip entry names that could escape the container or be read two ways; return the name."""
    if not name or "\x00" in name:
        raise OFDFormatError("压缩包条目名称为空或含空字符", detail_en="empty or NUL entry name")
    if "\\" in name:
        raise OFDFormatError(
            f"压缩包条目名称含反斜杠：{name!r}", detail_en=f"backslash in entry name {name!r}"
        )
    if name.startswith("/") or _DRIVE.match(name):
        raise OFDFormatError(f"压缩包条目为绝对路径：{name!r}", detail_en=f"absolute entry name {name!r}")
    parts = name.rstrip("/").split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise OFDFormatError(
            f"压缩包条目路径不规范（可能路径穿越）：{name!r}",
            detail_en=f"non-canonical entry name (path traversal?) {name!r}",
        )
    return name


@dataclass
class OFDPackage:
    """The files of an OFD container by normalised path (no leading slash), in original order."""

    files: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def from_bytes(cls, data: bytes, *, limits: ZipLimits = DEFAULT_LIMITS) -> OFDPackage:
        """Read a container, enforcing the limits; raises OFDFormatError / OFDLimitError."""
        if len(data) > limits.max_input_bytes:
            raise OFDLimitError("OFD 文件过大", detail_en="OFD file too large")
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
            raise OFDFormatError(
                "不是有效的 OFD 文件（ZIP 结构损坏或被截断）",
                detail_en=f"not a valid OFD container (corrupt or truncated zip): {exc}",
            ) from exc
        with archive:
            infos = archive.infolist()
            if len(infos) > limits.max_entries:
                raise OFDLimitError("OFD 压缩包条目过多", detail_en=f"too many zip entries ({len(infos)})")
            total = 0
            seen: set[str] = set()
            wanted: list[zipfile.ZipInfo] = []
            for info in infos:
                name = check_entry_name(info.filename)
                if name in seen:
                    raise OFDFormatError(f"压缩包条目重复：{name}", detail_en=f"duplicate zip entry {name}")
                seen.add(name)
                if info.is_dir():
                    continue
                if info.flag_bits & 0x1:
                    raise OFDFormatError(f"压缩包条目被加密：{name}", detail_en=f"encrypted zip entry {name}")
                if info.compress_type not in _ALLOWED_METHODS:
                    raise OFDFormatError(
                        f"不支持的压缩方法：{name}", detail_en=f"unsupported compression method in {name}"
                    )
                if info.file_size > limits.max_entry_bytes:
                    raise OFDLimitError(f"压缩包条目过大：{name}", detail_en=f"zip entry too large: {name}")
                total += info.file_size
                if total > limits.max_total_bytes:
                    raise OFDLimitError(
                        "解压后总大小超出限制", detail_en="total uncompressed size over limit"
                    )
                if info.file_size > limits.ratio_floor_bytes and info.file_size > limits.max_ratio * max(
                    info.compress_size, 1
                ):
                    raise OFDLimitError(
                        f"压缩比异常（疑似压缩炸弹）：{name}",
                        detail_en=f"suspicious compression ratio (zip bomb?) in {name}",
                    )
                wanted.append(info)
            files: dict[str, bytes] = {}
            for info in wanted:
                try:
                    # zipfile stops at the declared size and checks the CRC, so the limits above bound memory.
                    files[info.filename] = archive.read(info)
                except (zipfile.BadZipFile, zlib.error, OSError, ValueError, EOFError, RuntimeError) as exc:
                    raise OFDFormatError(
                        f"压缩包条目损坏：{info.filename}",
                        detail_en=f"corrupt zip entry {info.filename}: {exc}",
                    ) from exc
        return cls(files)

    def to_bytes(self) -> bytes:
        """Write the files into a new zip (deflate), keeping their order and exact bytes."""
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            for name, content in self.files.items():
                info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
                # Pictures, seals and signed values are already dense: deflating them only costs time.
                stored = name.lower().endswith(_DENSE_SUFFIXES) or len(content) < 64
                info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, content, compresslevel=None if stored else 6)
        return out.getvalue()

    def get(self, path: str) -> bytes | None:
        """Bytes of a file by container path ('/Doc_0/x' or 'Doc_0/x'), or None."""
        return self.files.get(path.lstrip("/"))

    def read(self, path: str) -> bytes:
        """Bytes of a file by container path; raises OFDFormatError when missing."""
        content = self.get(path)
        if content is None:
            raise OFDFormatError(f"OFD 缺少文件：{path}", detail_en=f"missing file in OFD: {path}")
        return content

    def xml(self, path: str) -> Element:
        """Parse a file of the container as hardened XML."""
        return parse_xml(self.read(path), name=path)

    def resolve(self, ref: str, base: str) -> str:
        """Resolve a path found in file `base` (GB/T 33190 §7.5) to a container path without leading slash.

        Absolute references start at the container root; relative ones are relative to the folder of
        the referencing file. Producers in the wild also write paths relative to the document root or
        the container root, so when the strict result names no file those readings are tried too.
        """
        candidates = _candidates(ref, base)
        for candidate in candidates:
            if candidate in self.files:
                return candidate
        return candidates[0]


def _join(folder: str, ref: str) -> str:
    joined = posixpath.normpath(posixpath.join("/", folder, ref))
    # normpath clamps "/.." to "/": detect escapes by counting instead of trusting the clamp.
    depth = 0
    for part in [p for p in folder.split("/") if p] + ref.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                raise OFDFormatError(
                    f"OFD 内部路径越界：{ref}", detail_en=f"path escapes the container: {ref}"
                )
        elif part not in ("", "."):
            depth += 1
    return joined.lstrip("/")


def _candidates(ref: str, base: str) -> list[str]:
    cleaned = ref.strip().replace("\\", "/")
    if not cleaned or "\x00" in cleaned:
        raise OFDFormatError("OFD 内部路径为空", detail_en="empty path reference")
    if cleaned.startswith("/"):
        return [_join("", cleaned.lstrip("/"))]
    folder = posixpath.dirname(base.lstrip("/"))
    result = [_join(folder, cleaned)]
    top = folder.split("/", 1)[0] if folder else ""
    for alt in (top, ""):
        try:
            candidate = _join(alt, cleaned)
        except OFDFormatError:
            continue
        if candidate not in result:
            result.append(candidate)
    return result


@dataclass(frozen=True)
class SignatureEntry:
    """One `Signature` element of Signatures.xml."""

    id: str
    type: str
    base_loc: str  # resolved container path of Signature.xml


@dataclass(frozen=True)
class DocumentLayout:
    """Where the parts of the first document live (OFD.xml → DocBody → DocRoot, Signatures)."""

    doc_root: str
    signatures_path: str | None
    signatures: tuple[SignatureEntry, ...]
    max_sign_ids: tuple[str, ...]


def read_layout(pkg: OFDPackage) -> DocumentLayout:
    """Follow OFD.xml to the document root and the signature list."""
    root = pkg.xml("OFD.xml")
    body = child(root, "DocBody")
    if body is None:
        raise OFDFormatError("OFD.xml 缺少 DocBody", detail_en="OFD.xml has no DocBody")
    doc_ref = child_text(body, "DocRoot")
    if not doc_ref:
        raise OFDFormatError("OFD.xml 缺少 DocRoot", detail_en="OFD.xml has no DocRoot")
    doc_root = pkg.resolve(doc_ref, "OFD.xml")
    sig_ref = child_text(body, "Signatures")
    if not sig_ref:
        return DocumentLayout(doc_root, None, (), ())
    sig_path = pkg.resolve(sig_ref, "OFD.xml")
    entries, max_ids = read_signature_list(pkg, sig_path)
    return DocumentLayout(doc_root, sig_path, entries, max_ids)


def read_signature_list(pkg: OFDPackage, sig_path: str) -> tuple[tuple[SignatureEntry, ...], tuple[str, ...]]:
    """Parse Signatures.xml; tolerates a missing Type (= Seal) and repeated MaxSignId."""
    sroot = pkg.xml(sig_path)
    entries: list[SignatureEntry] = []
    for el in children(sroot, "Signature"):
        base_loc = el.get("BaseLoc")
        if not base_loc:
            raise OFDFormatError("Signatures.xml 中签名缺少 BaseLoc", detail_en="Signature without BaseLoc")
        entries.append(
            SignatureEntry(
                id=el.get("ID", ""),
                type=el.get("Type") or "Seal",
                base_loc=pkg.resolve(base_loc, sig_path),
            )
        )
    max_ids = tuple((el.text or "").strip() for el in children(sroot, "MaxSignId"))
    return tuple(entries), max_ids


def pages(pkg: OFDPackage, doc_root: str) -> list[tuple[str, str]]:
    """(page ID, Content.xml path) for each page of the document, in order."""
    droot = pkg.xml(doc_root)
    pages_el = child(droot, "Pages")
    result: list[tuple[str, str]] = []
    if pages_el is None:
        return result
    for page in children(pages_el, "Page"):
        loc = page.get("BaseLoc")
        if loc:
            result.append((page.get("ID", ""), pkg.resolve(loc, doc_root)))
    return result


def files_under(names: Iterable[str], folder: str) -> list[str]:
    """Container paths inside a folder."""
    prefix = folder.rstrip("/") + "/"
    return [n for n in names if n.startswith(prefix)]
