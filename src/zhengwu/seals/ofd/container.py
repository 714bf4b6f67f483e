"""Safe OFD (GB/T 33190) container: zip reading with limits, path resolution, re-packing."""

from __future__ import annotations

import io
import posixpath
import re
import struct
import threading
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from zhengwu.seals.errors import OFDFormatError, OFDLimitError
from zhengwu.seals.ofd.xml import Element, child, child_text, children, parse_xml

_DRIVE = re.compile(r"^[A-Za-z]:")
_ALLOWED_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}
_DENSE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".esl", ".dat", ".ttf", ".otf", ".ttc", ".woff")
#: Parts that recur unchanged from document to document (seals, pictures, fonts): worth remembering digests of.
RECURRING_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".esl", ".ttf", ".otf", ".ttc", ".woff", ".svg")


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
    # Compressed form of entries as read (kept with keep_raw=True): re-packing copies them unchanged.
    _raw: dict[str, _RawEntry] = field(default_factory=dict, repr=False, compare=False)
    _xml: dict[str, tuple[bytes, Element]] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_bytes(
        cls, data: bytes, *, limits: ZipLimits = DEFAULT_LIMITS, keep_raw: bool = False
    ) -> OFDPackage:
        """Read a container, enforcing the limits; raises OFDFormatError / OFDLimitError.

        ``keep_raw`` remembers each entry's compressed bytes so that ``to_bytes`` can copy the entries
        nobody changed instead of deflating them again (what the signer does to add one signature).
        """
        if len(data) > limits.max_input_bytes:
            raise OFDLimitError("OFD 文件过大", detail_en="OFD file too large")
        infos = _plain_directory(data) or _zipfile_directory(data)
        if len(infos) > limits.max_entries:
            raise OFDLimitError("OFD 压缩包条目过多", detail_en=f"too many zip entries ({len(infos)})")
        total = 0
        seen: set[str] = set()
        wanted: list[_Entry] = []
        for info in infos:
            name = check_entry_name(info.filename)
            if name in seen:
                raise OFDFormatError(f"压缩包条目重复：{name}", detail_en=f"duplicate zip entry {name}")
            seen.add(name)
            if info.is_dir():
                continue
            if info.flag_bits & 0x41:  # traditional or strong encryption
                raise OFDFormatError(f"压缩包条目被加密：{name}", detail_en=f"encrypted zip entry {name}")
            if info.flag_bits & 0x20:  # compressed patched data (APPNOTE 4.4.4 bit 5)
                raise OFDFormatError(f"不支持的压缩方法：{name}", detail_en=f"patched data in {name}")
            if info.compress_type not in _ALLOWED_METHODS:
                raise OFDFormatError(
                    f"不支持的压缩方法：{name}", detail_en=f"unsupported compression method in {name}"
                )
            if info.file_size > limits.max_entry_bytes:
                raise OFDLimitError(f"压缩包条目过大：{name}", detail_en=f"zip entry too large: {name}")
            total += info.file_size
            if total > limits.max_total_bytes:
                raise OFDLimitError("解压后总大小超出限制", detail_en="total uncompressed size over limit")
            if info.file_size > limits.ratio_floor_bytes and info.file_size > limits.max_ratio * max(
                info.compress_size, 1
            ):
                raise OFDLimitError(
                    f"压缩比异常（疑似压缩炸弹）：{name}",
                    detail_en=f"suspicious compression ratio (zip bomb?) in {name}",
                )
            wanted.append(info)
        files: dict[str, bytes] = {}
        raw: dict[str, _RawEntry] = {}
        for info in wanted:
            try:
                entry = _read_entry(data, info)
            except (zlib.error, ValueError, struct.error) as exc:
                raise OFDFormatError(
                    f"压缩包条目损坏：{info.filename}",
                    detail_en=f"corrupt zip entry {info.filename}: {exc}",
                ) from exc
            files[info.filename] = entry.content
            if keep_raw:
                raw[info.filename] = entry
        return cls(files, raw)

    def to_bytes(self) -> bytes:
        """Write the files into a new zip (deflate), keeping their order and exact bytes.

        Entries read with ``keep_raw`` whose content is still the very object read are copied in their
        compressed form; only new or replaced entries are compressed.
        """
        entries: list[_RawEntry] = []
        for name, content in self.files.items():
            kept = self._raw.get(name)
            if kept is not None and kept.content is content:
                entries.append(kept)
            else:
                entries.append(_compress(name, content))
        return _write_zip(entries)

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
        """Parse a file of the container as hardened XML (parsed once while the file is unchanged).

        The tree is shared: a caller that modifies it must store the result back into ``files``.
        """
        content = self.read(path)
        cached = self._xml.get(path)
        if cached is not None and cached[0] is content:
            return cached[1]
        root = parse_xml(content, name=path)
        self._xml[path] = (content, root)
        return root

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


def _candidates(ref: str, base: str) -> tuple[str, ...]:
    # Documents repeat the same few references; only short ones are remembered (hostile input is long).
    if len(ref) + len(base) <= 512:
        return _candidates_cached(ref, base)
    return _compute_candidates(ref, base)


@lru_cache(maxsize=4096)
def _candidates_cached(ref: str, base: str) -> tuple[str, ...]:
    return _compute_candidates(ref, base)


def _compute_candidates(ref: str, base: str) -> tuple[str, ...]:
    cleaned = ref.strip().replace("\\", "/")
    if not cleaned or "\x00" in cleaned:
        raise OFDFormatError("OFD 内部路径为空", detail_en="empty path reference")
    if cleaned.startswith("/"):
        return (_join("", cleaned.lstrip("/")),)
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
    return tuple(result)


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


class _Entry:
    """The central-directory facts of one entry (the subset of zipfile.ZipInfo this module reads)."""

    __slots__ = (
        "CRC", "compress_size", "compress_type", "file_size", "filename", "flag_bits", "header_offset",
        "orig_filename",
    )  # fmt: skip

    def __init__(
        self, name: str, flags: int, method: int, crc: int, compressed: int, size: int, offset: int
    ) -> None:
        self.filename = self.orig_filename = name
        self.flag_bits, self.compress_type, self.CRC = flags, method, crc
        self.compress_size, self.file_size, self.header_offset = compressed, size, offset

    def is_dir(self) -> bool:
        """Directory entries end with a slash."""
        return self.filename.endswith("/")


_EOCD = b"PK\x05\x06"
_CENTRAL_SIG = b"PK\x01\x02"


def _plain_directory(data: bytes) -> list[_Entry] | None:
    """The central directory of an ordinary archive read directly; None sends anything else to zipfile.

    Ordinary: no archive comment, one disk, no zip64 values, nothing before the first entry. Every OFD
    producer writes such archives, and zipfile's general reader costs more than the rest of a signature.
    """
    if len(data) < 22 or data[-22:-18] != _EOCD:
        return None
    _sig, disk, cd_disk, on_disk, count, size, offset, comment = _END.unpack_from(data, len(data) - 22)
    if comment or disk or cd_disk or on_disk != count or count == 0xFFFF or offset + size != len(data) - 22:
        return None
    entries: list[_Entry] = []
    pos = offset
    for _ in range(count):
        if data[pos : pos + 4] != _CENTRAL_SIG or pos + 46 > offset + size:
            return None
        fields = _CENTRAL.unpack_from(data, pos)
        flags, method, crc, compressed, length = fields[3], fields[4], fields[7], fields[8], fields[9]
        name_len, extra_len, comment_len, local = fields[10], fields[11], fields[12], fields[16]
        if _ZIP32_LIMIT in (compressed, length, local) or fields[13] != 0:
            return None  # zip64 or multi-disk values: zipfile knows those
        end = pos + 46 + name_len + extra_len + comment_len
        if end > offset + size:
            return None
        raw_name = data[pos + 46 : pos + 46 + name_len]
        try:
            name = raw_name.decode("utf-8" if flags & _UTF8_FLAG else "cp437")
        except UnicodeDecodeError:
            return None
        entries.append(_Entry(name, flags, method, crc, compressed, length, local))
        pos = end
    return entries if pos == offset + size else None


def _zipfile_directory(data: bytes) -> list[_Entry]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise OFDFormatError(
            "不是有效的 OFD 文件（ZIP 结构损坏或被截断）",
            detail_en=f"not a valid OFD container (corrupt or truncated zip): {exc}",
        ) from exc
    return [
        _Entry(i.filename, i.flag_bits, i.compress_type, i.CRC, i.compress_size, i.file_size, i.header_offset)
        for i in infos
    ]


@dataclass(frozen=True, slots=True)
class _RawEntry:
    """One zip entry ready to be written: name, content, method, CRC-32 and the bytes to store."""

    name: str
    content: bytes
    method: int
    crc: int
    payload: bytes


_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_END = struct.Struct("<IHHHHIIH")
# DOS date/time of 2020-01-01 00:00:00: fixed, so that signing the same input twice gives the same bytes.
_DOS_DATE = ((2020 - 1980) << 9) | (1 << 5) | 1
_DOS_TIME = 0
_MADE_BY = (3 << 8) | 20  # Unix, zip 2.0 (so that external_attr carries the 0644 mode)
_UTF8_FLAG = 0x800
_STORE_BELOW = 2048
_ZIP32_LIMIT = 0xFFFFFFFF


def _read_entry(data: bytes, info: _Entry) -> _RawEntry:
    """Read and check one entry straight from the archive bytes (what zipfile checks, without its overhead).

    The central directory (parsed by zipfile) is authoritative for sizes; the local header must name the
    same file; inflation stops one byte past the declared size, so a lying header cannot blow up memory;
    the CRC-32 must match.
    """
    offset = info.header_offset
    if offset < 0 or offset + 30 > len(data) or data[offset : offset + 4] != b"PK\x03\x04":
        raise ValueError("bad local file header")
    fields = _LOCAL.unpack_from(data, offset)
    flags, name_len, extra_len = fields[2], fields[9], fields[10]
    name_bytes = data[offset + 30 : offset + 30 + name_len]
    name = name_bytes.decode("utf-8" if flags & _UTF8_FLAG else "cp437")
    if name != info.orig_filename:
        # Two names for one entry is how zip confusion attacks start (zipfile refuses this too).
        raise ValueError("file name in the directory and the local header differ")
    start = offset + 30 + name_len + extra_len
    payload = data[start : start + info.compress_size]
    if len(payload) != info.compress_size:
        raise ValueError("entry data truncated")
    if info.compress_type == zipfile.ZIP_STORED:
        content = payload
    else:
        inflate = zlib.decompressobj(-15)
        content = inflate.decompress(payload, info.file_size + 1)
        if not inflate.eof and len(content) <= info.file_size:
            raise ValueError("deflate stream truncated")
    if len(content) != info.file_size:
        raise ValueError("entry size differs from the directory")
    if zlib.crc32(content) != info.CRC:
        raise ValueError("CRC-32 mismatch")
    return _RawEntry(info.filename, content, info.compress_type, info.CRC, payload)


_crcs: OrderedDict[bytes, int] = OrderedDict()
_crc_lock = threading.Lock()


def _crc(content: bytes) -> int:
    """CRC-32, remembered for the mid-sized entries that recur (the same seal goes into every document)."""
    if not 4096 <= len(content) <= 256 * 1024:
        return zlib.crc32(content)
    with _crc_lock:
        found = _crcs.get(content)
    if found is None:
        found = zlib.crc32(content)
        with _crc_lock:
            _crcs[content] = found
            if len(_crcs) > 32:
                _crcs.popitem(last=False)
    return found


def _compress(name: str, content: bytes) -> _RawEntry:
    # Pictures, seals and signed values are already dense, and deflating a part of a few hundred bytes saves a
    # few hundred bytes: both only cost time.
    lower = name.lower()
    if lower.endswith(_DENSE_SUFFIXES) or len(content) < _STORE_BELOW:
        crc = _crc(content) if lower.endswith(RECURRING_SUFFIXES) else zlib.crc32(content)
        return _RawEntry(name, content, zipfile.ZIP_STORED, crc, content)
    # A window (and hash table) no larger than the entry compresses exactly as well, and zlib spends most of
    # the time on small parts initialising the default 32 KiB window and 256 KiB of hash chains.
    bits = min(15, max(9, (len(content) - 1).bit_length()))
    deflate = zlib.compressobj(6, zlib.DEFLATED, -bits, max(1, min(8, bits - 6)))
    payload = deflate.compress(content) + deflate.flush()
    return _RawEntry(name, content, zipfile.ZIP_DEFLATED, zlib.crc32(content), payload)


def _write_zip(entries: list[_RawEntry]) -> bytes:
    """A plain (non-zip64) archive of the entries, or zipfile's writer when zip64 would be needed."""
    # Names are at most 64 KiB each: a generous allowance keeps this check cheap.
    total = len(entries) * (76 + 2 * 65536)
    for entry in entries:
        total += len(entry.payload) + len(entry.content)
    if len(entries) >= 0xFFFF or total >= _ZIP32_LIMIT:
        return _write_zip64(entries)
    out: list[bytes] = []
    central: list[bytes] = []
    offset = 0
    for entry in entries:
        name = entry.name.encode()
        flags = 0 if len(name) == len(entry.name) else _UTF8_FLAG  # non-ASCII names are flagged UTF-8
        method = entry.method
        version = 20 if method == zipfile.ZIP_DEFLATED else 10
        stored, size = len(entry.payload), len(entry.content)
        out.append(
            _LOCAL.pack(
                0x04034B50,
                version,
                flags,
                method,
                _DOS_TIME,
                _DOS_DATE,
                entry.crc,
                stored,
                size,
                len(name),
                0,
            )
        )
        out.append(name)
        out.append(entry.payload)
        entry_header = _CENTRAL.pack(
            0x02014B50, _MADE_BY, version, flags, method, _DOS_TIME, _DOS_DATE, entry.crc,
            stored, size, len(name), 0, 0, 0, 0, 0o644 << 16, offset,
        )  # fmt: skip
        central.append(entry_header)
        central.append(name)
        offset += 30 + len(name) + stored
    directory_size = sum(map(len, central))
    out += central
    out.append(_END.pack(0x06054B50, 0, 0, len(entries), len(entries), directory_size, offset, 0))
    return b"".join(out)


def _write_zip64(entries: list[_RawEntry]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", allowZip64=True) as archive:
        for entry in entries:
            info = zipfile.ZipInfo(entry.name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = entry.method
            info.external_attr = 0o644 << 16
            archive.writestr(
                info, entry.content, compresslevel=6 if entry.method == zipfile.ZIP_DEFLATED else None
            )
    return out.getvalue()
