"""Backup encryption: the backup key, SM4-GCM in chunks, and the SM3 digests of an artifact.

A backup is only as private as its key, and an off-site copy is exactly where a stolen disk ends up, so
the key lives in a file of its own (``ZHENGWU_BACKUP_KEY_FILE``, mode 600) that is never written into a
target. Artifacts can be gigabytes, so they are encrypted in 4 MiB chunks (sets made before used 1 MiB;
readers take any size up to 16 MiB): each chunk is one SM4-GCM message whose nonce carries the chunk's index and whose associated data binds the backup set, the
artifact and whether the chunk is the last one — a chunk moved, dropped, swapped between artifacts or a
file cut short after a chunk boundary fails authentication instead of restoring a shorter database.

SM4-GCM (``cryptography``) holds the interpreter while it runs; hashlib's SM3 and file writes do not. So
one thread hashes and writes each finished chunk (the sink) while the chunks themselves are encrypted or
decrypted in the calling thread or, when asked for (``ZHENGWU_OPS__BACKUP_PROCESSES``, decided by
``ops.backup.cipher_workers``) and the artifact is large, by a pool of worker processes several at a
time: the chunks are independent GCM messages (nonce and associated data come from the index), so the
file is byte for byte what one process writes, and on N free cores the cipher — about 110 MB/s of a core,
the largest cost — runs N times as fast. Passing 4 MiB chunks through pipes and starting the processes
costs CPU, so on a busy machine it is slower (bench/backup.py).

Each chunk is compressed with zstd before it is encrypted (sets made before sealed the plain chunk; the
manifest says which, per artifact, and readers take both): SQLite pages of catalog text shrink several
times, so SM4-GCM, the SM3 of the sealed file and the writes handle a fraction of the bytes. A chunk
is only decompressed after its tag authenticates, and only when its frame declares a size no larger
than a chunk may be, so a forged frame cannot make a reader allocate without limit.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import stat
import struct
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import zstandard

from zhengwu.kernel.crypto.errors import CryptoError
from zhengwu.kernel.crypto.hashes import Hasher, hmac_sm3, new_sm3, sm3
from zhengwu.kernel.crypto.sm4 import sm4_gcm_decrypt, sm4_gcm_encrypt

CHUNK = 4 << 20
# Larger chunks cost fewer GCM set-ups; a reader still bounds a record so a forged length cannot make
# it allocate without limit.
_MAX_CHUNK = 16 << 20
_MAGIC = b"ZWBK1\n"
_LENGTH = struct.Struct(">I")
_TAG = 16
#: What each chunk is before it is encrypted: ``none`` the plain bytes (sets made before), ``zstd`` one
#: zstd frame of them that declares its size.
COMPRESSIONS = ("none", "zstd")
#: zstd level, chosen by measurement on a real-shaped node (docs/benchmarks.md): level 1 shrank its pages
#: as much as levels 2-3 and was the fastest of the three; level 6 gained a tenth in size at three times the CPU.
ZSTD_LEVEL = 1


class BackupError(Exception):
    """A backup operation refused or failed for a reason a person can act on."""

    def __init__(self, code: str, detail: str, detail_en: str) -> None:
        super().__init__(detail_en)
        self.code = code
        self.detail = detail
        self.detail_en = detail_en


@dataclass(frozen=True)
class BackupKey:
    """The keys derived from the key file: SM4 for artifacts, HMAC-SM3 for the manifest."""

    sm4: bytes
    mac: bytes
    key_id: str


def derive_key(master: bytes) -> BackupKey:
    return BackupKey(
        sm4=hmac_sm3(master, b"zhengwu backup: artifact encryption")[:16],
        mac=hmac_sm3(master, b"zhengwu backup: manifest authentication"),
        key_id=sm3(b"zhengwu backup: key id" + master).hex()[:16],
    )


def load_key(path: Path, *, create: bool) -> BackupKey:
    """Read the backup key file; with ``create`` make one (32 random bytes, mode 600) when absent."""
    if not path.exists():
        if not create:
            raise BackupError(
                "backup_key_missing",
                f"找不到备份密钥文件 {path}，请设置 ZHENGWU_BACKUP_KEY_FILE 指向创建备份时使用的密钥",
                f"backup key file {path} not found; set ZHENGWU_BACKUP_KEY_FILE to the key the backup was made with",
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(os.urandom(32).hex() + "\n")
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise BackupError(
            "backup_key_exposed",
            f"备份密钥文件 {path} 可被其他用户读取，请执行 chmod 600",
            f"backup key file {path} is readable by others; chmod 600 it",
        )
    try:
        master = bytes.fromhex(path.read_text().strip())
    except ValueError:
        master = b""
    if len(master) < 16:
        raise BackupError(
            "backup_key_invalid",
            f"备份密钥文件 {path} 内容无效（应为至少 32 位十六进制字符）",
            f"backup key file {path} is not a hex key of at least 16 bytes",
        )
    return derive_key(master)


@dataclass(frozen=True)
class Sealed:
    """What the manifest records of one encrypted artifact."""

    file: str
    plain_bytes: int
    cipher_bytes: int
    chunks: int
    sm3_plain: str
    sm3_cipher: str
    compression: str = "none"


def _aad(context: bytes, index: int, last: bool) -> bytes:
    return context + struct.pack(">IB", index, 1 if last else 0)


def _nonce(prefix: bytes, index: int) -> bytes:
    return prefix + struct.pack(">I", index)


class _Sink:
    """A second thread that hashes the plain and the sealed text of each chunk and writes one of them,
    in order, while the caller's thread works on the next chunk."""

    def __init__(self, out: BinaryIO | None, write_plain: bool) -> None:
        self.plain = new_sm3()
        self.cipher = new_sm3()
        self._out = out
        self._write_plain = write_plain
        self._queue: queue.Queue[tuple[bytes, bytes] | None] = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="backup-sink", daemon=True)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain after a failure so the producer never blocks
            plain, cipher = item
            try:
                _update(self.plain, plain)
                _update(self.cipher, cipher)
                if self._out is not None:
                    self._out.write(plain if self._write_plain else cipher)
            except BaseException as exc:
                self._error = exc

    def put(self, plain: bytes, cipher: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put((plain, cipher))

    def __enter__(self) -> _Sink:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._queue.put(None)
        self._thread.join()
        if kind is None and self._error is not None:
            raise self._error


def _update(hasher: Hasher, data: bytes) -> None:
    if data:
        hasher.update(data)


#: Artifacts of at least this many chunks are encrypted by worker processes (below it, starting them
#: costs more than it saves).
PARALLEL_MIN_CHUNKS = 8


def parallel_workers() -> int:
    """How many worker processes en- or decrypt a large artifact: the cores this process may use, at most 8."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


def _in_process(fn: Callable[..., Any], *args: Any) -> Future[Any]:
    done: Future[Any] = Future()
    try:
        done.set_result(fn(*args))
    except BaseException as exc:
        done.set_exception(exc)
    return done


@contextmanager
def _cipher_pool(workers: int) -> Iterator[Executor | None]:
    """Worker processes for the cipher (None: work in this process). Spawned, not forked: the caller
    holds threads and database connections a fork would copy."""
    if workers <= 1:
        yield None
        return
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class _Ordered:
    """Chunks handed to the pool in order, their results taken back in the same order, with at most
    two per worker in flight (bounded memory: 2 × workers × CHUNK)."""

    def __init__(self, pool: Executor | None, workers: int) -> None:
        self._pool = pool
        self._limit = 2 * max(workers, 1)
        self._pending: deque[tuple[Future[Any], Any]] = deque()

    def submit(self, tag: Any, fn: Callable[..., Any], *args: Any) -> Iterator[tuple[Any, Any]]:
        """Queue one chunk; yields the results that had to be taken to make room."""
        future = self._pool.submit(fn, *args) if self._pool is not None else _in_process(fn, *args)
        self._pending.append((future, tag))
        while len(self._pending) > self._limit or (self._pool is None and self._pending):
            yield self._take()

    def drain(self) -> Iterator[tuple[Any, Any]]:
        while self._pending:
            yield self._take()

    def _take(self) -> tuple[Any, Any]:
        future, tag = self._pending.popleft()
        return future.result(), tag


_COMPRESSORS: dict[int, zstandard.ZstdCompressor] = {}


def _pack(key: bytes, nonce: bytes, plain: bytes, aad: bytes, compression: str) -> bytes:
    """Compress (per ``compression``) and encrypt one chunk (in a worker process too)."""
    if compression == "zstd":
        compressor = _COMPRESSORS.get(ZSTD_LEVEL)
        if compressor is None:
            compressor = _COMPRESSORS[ZSTD_LEVEL] = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
        plain = compressor.compress(plain)
    return sm4_gcm_encrypt(key, nonce, plain, aad)


def seal_file(
    key: BackupKey, src: Path, dst: Path, context: bytes, *, workers: int = 1, compression: str = "zstd"
) -> Sealed:
    """Compress and encrypt ``src`` into ``dst`` chunk by chunk; ``context`` names the set and the artifact.

    ``workers``: processes for the cipher (1: this process; ``ops.backup.cipher_workers`` decides).
    ``compression``: one of :data:`COMPRESSIONS` (``none`` writes what sets made before held).
    """
    if compression not in COMPRESSIONS:
        raise ValueError(f"unknown compression {compression!r}")
    prefix = os.urandom(8)
    plain_bytes = 0
    cipher_bytes = 0
    chunks = 0
    with src.open("rb") as inp, dst.open("wb") as out, _cipher_pool(workers) as pool:
        with _Sink(out, write_plain=False) as sink:
            head = _MAGIC + prefix
            sink.put(b"", head)
            cipher_bytes += len(head)
            ordered = _Ordered(pool, workers)

            def finish(sealed: bytes, plain: bytes) -> None:
                nonlocal cipher_bytes
                record = _LENGTH.pack(len(sealed)) + sealed
                sink.put(plain, record)
                cipher_bytes += len(record)

            current = inp.read(CHUNK)
            while True:
                following = inp.read(CHUNK) if current else b""
                last = not following
                plain_bytes += len(current)
                nonce, aad = _nonce(prefix, chunks), _aad(context, chunks, last)
                for sealed, plain in ordered.submit(
                    current, _pack, key.sm4, nonce, current, aad, compression
                ):
                    finish(sealed, plain)
                chunks += 1
                if last:
                    break
                current = following
            for sealed, plain in ordered.drain():
                finish(sealed, plain)
        out.flush()
        os.fsync(out.fileno())
    plain_hash, cipher_hash = sink.plain, sink.cipher
    return Sealed(
        file=dst.name,
        plain_bytes=plain_bytes,
        cipher_bytes=cipher_bytes,
        chunks=chunks,
        sm3_plain=plain_hash.digest().hex(),
        sm3_cipher=cipher_hash.digest().hex(),
        compression=compression,
    )


def _unpack(key: bytes, nonce: bytes, sealed: bytes, aad: bytes, compression: str) -> bytes | None:
    """Decrypt and decompress one chunk (in a worker process too); None when it does not authenticate
    or its frame is not one chunk's worth of data."""
    try:
        plain = sm4_gcm_decrypt(key, nonce, sealed, aad)
    except CryptoError:
        return None
    if compression == "none":
        return plain
    # zstandard allocates whatever size the frame declares, so the declared size is checked first.
    try:
        declared = zstandard.frame_content_size(plain)
    except zstandard.ZstdError:
        return None
    if declared < 0 or declared > _MAX_CHUNK:
        return None
    try:
        opened = zstandard.ZstdDecompressor().decompress(plain, max_output_size=_MAX_CHUNK)
    except zstandard.ZstdError:
        return None
    return opened if len(opened) == declared else None


def open_file(
    key: BackupKey,
    src: Path,
    dst: Path | None,
    context: bytes,
    expected: Sealed,
    *,
    workers: int = 1,
) -> None:
    """Decrypt ``src`` (into ``dst``, or only check it when ``dst`` is None) and check it against the
    manifest: every chunk's tag as it comes, then the SM3 of the sealed and of the plain text.
    ``workers`` as for :func:`seal_file`; the chunks are decompressed as ``expected.compression`` says."""
    broken = BackupError(
        "backup_corrupt",
        f"备份文件 {src.name} 已损坏或被篡改",
        f"backup artifact {src.name} is corrupt or was altered",
    )
    if expected.compression not in COMPRESSIONS:
        raise BackupError(
            "backup_format",
            f"备份文件 {src.name} 的压缩方式不受支持",
            f"backup artifact {src.name} has an unsupported compression {expected.compression!r}",
        )
    plain_bytes = 0
    out = dst.open("wb") if dst is not None else None
    try:
        with src.open("rb") as inp, _cipher_pool(workers) as pool, _Sink(out, write_plain=True) as sink:
            head = inp.read(len(_MAGIC) + 8)
            if len(head) != len(_MAGIC) + 8 or not head.startswith(_MAGIC):
                raise broken
            sink.put(b"", head)
            prefix = head[len(_MAGIC) :]
            index = 0
            ordered = _Ordered(pool, workers)

            def finish(plain: bytes | None, record: tuple[bytes, bytes]) -> None:
                nonlocal plain_bytes
                length_bytes, sealed = record
                if plain is None:
                    raise broken
                sink.put(plain, length_bytes + sealed)
                plain_bytes += len(plain)

            while True:
                length_bytes = inp.read(_LENGTH.size)
                if len(length_bytes) != _LENGTH.size:
                    raise broken  # cut short before the chunk marked last
                (length,) = _LENGTH.unpack(length_bytes)
                if length < _TAG or length > _MAX_CHUNK + _TAG:
                    raise broken
                sealed = inp.read(length)
                if len(sealed) != length:
                    raise broken
                last = index + 1 == expected.chunks
                nonce, aad = _nonce(prefix, index), _aad(context, index, last)
                for plain, record in ordered.submit(
                    (length_bytes, sealed), _unpack, key.sm4, nonce, sealed, aad, expected.compression
                ):
                    finish(plain, record)
                index += 1
                if last:
                    break
            for plain, record in ordered.drain():
                finish(plain, record)
            if inp.read(1):
                raise broken  # bytes after the last chunk
        if (
            plain_bytes != expected.plain_bytes
            or sink.plain.digest().hex() != expected.sm3_plain
            or sink.cipher.digest().hex() != expected.sm3_cipher
        ):
            raise broken
        if out is not None:
            out.flush()
            os.fsync(out.fileno())
    finally:
        if out is not None:
            out.close()
