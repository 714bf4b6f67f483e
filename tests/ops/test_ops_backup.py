"""Off-site backup: a set restores exactly into a clean place; tampering, truncation, a wrong key, a
non-empty target and a target that goes away are refused with nothing half-done; the drill measures RPO
and RTO and fails when data from before the backup is missing."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from dbkit import migrate_fresh
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.config import Settings
from zhengwu.main import import_models
from zhengwu.ops import backup
from zhengwu.ops.models import BackupRun
from zhengwu.ops.sealing import CHUNK, BackupError, derive_key, load_key, open_file, seal_file
from zhengwu.orgs.models import Department


def _node(tmp_path: Path, name: str, url: str | None = None) -> Settings:
    data = tmp_path / name / "data"
    return Settings(
        data_dir=data,
        database_url=url or f"sqlite:///{(tmp_path / name / 'zhengwu.db').as_posix()}",
        node_id="hebei",
    )


def _fill(settings: Settings) -> None:
    """A migrated node with a few rows and a stored file."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate_fresh(settings.database_url)
    engine = create_engine(settings.database_url)
    departments = Department.__table__
    with engine.begin() as conn:
        for i in range(3):
            conn.execute(
                departments.insert().values(  # type: ignore[attr-defined]
                    id=f"d{i}",
                    credit_code=f"11130000MB000000{i}X",
                    name=f"部门{i}",
                    division_code="130000",
                    level=2,
                    created_at=utcnow() - timedelta(minutes=5),
                )
            )
    engine.dispose()
    stored = settings.data_dir / "files" / "ab"
    stored.mkdir(parents=True, exist_ok=True)
    (stored / "abcdef").write_bytes(os.urandom(3000))


def _departments(url: str) -> list[str]:
    engine = create_engine(url)
    with engine.connect() as conn:
        names = [r[0] for r in conn.execute(text("SELECT name FROM orgs_department ORDER BY name"))]
    engine.dispose()
    return names


@pytest.fixture
def key(tmp_path: Path) -> backup.BackupKey:
    return load_key(tmp_path / "keys" / "backup.key", create=True)


def test_a_set_restores_exactly_into_a_clean_node(tmp_path: Path, key: backup.BackupKey) -> None:
    live = _node(tmp_path, "live")
    _fill(live)
    made = backup.create(live, tmp_path / "offsite", key, keep=5)
    assert backup.verify(tmp_path / "offsite", key)["set"] == made["set"]
    # Nothing readable in the target: no SQLite header, no file contents.
    for artifact in Path(made["path"]).iterdir():
        assert b"SQLite format 3" not in artifact.read_bytes()
    clean = _node(tmp_path, "clean")
    restored = backup.restore(clean, tmp_path / "offsite", key)
    assert restored["set"] == made["set"]
    assert _departments(clean.database_url) == ["部门0", "部门1", "部门2"]
    original = (live.data_dir / "files" / "ab" / "abcdef").read_bytes()
    assert (clean.data_dir / "files" / "ab" / "abcdef").read_bytes() == original
    # The restored node carries the record of the backup it came from.
    engine = create_engine(clean.database_url)
    with engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT status FROM ops_backup_run WHERE set_name = :s"), {"s": made["set"]}
            ).scalar()
            == "running"
        )
    engine.dispose()
    engine = create_engine(live.database_url)
    with engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT status FROM ops_backup_run WHERE set_name = :s"), {"s": made["set"]}
            ).scalar()
            == "done"
        )
    engine.dispose()


def test_the_key_file_is_private_and_never_inside_the_target(tmp_path: Path) -> None:
    path = tmp_path / "k" / "backup.key"
    load_key(path, create=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    live = _node(tmp_path, "live")
    _fill(live)
    with pytest.raises(BackupError) as refused:
        backup.create(live, tmp_path / "k", load_key(path, create=False), key_file=path)
    assert refused.value.code == "backup_key_in_target"
    path.chmod(0o644)
    with pytest.raises(BackupError) as exposed:
        load_key(path, create=False)
    assert exposed.value.code == "backup_key_exposed"
    with pytest.raises(BackupError) as missing:
        load_key(tmp_path / "nowhere.key", create=False)
    assert missing.value.code == "backup_key_missing"


def test_a_key_kept_inside_the_data_directory_is_not_backed_up(tmp_path: Path) -> None:
    live = _node(tmp_path, "live")
    _fill(live)
    inside = live.data_dir / "secrets" / "backup.key"
    key = load_key(inside, create=True)
    made = backup.create(live, tmp_path / "offsite", key, key_file=inside)
    clean = _node(tmp_path, "clean")
    backup.restore(clean, tmp_path / "offsite", key, made["set"])
    assert not (clean.data_dir / "secrets" / "backup.key").exists()


@pytest.mark.parametrize("damage", ["flip_database", "truncate_files", "edit_manifest", "drop_mac"])
def test_a_tampered_or_truncated_set_fails_verification(
    tmp_path: Path, key: backup.BackupKey, damage: str
) -> None:
    live = _node(tmp_path, "live")
    _fill(live)
    made = Path(backup.create(live, tmp_path / "offsite", key)["path"])
    if damage == "flip_database":
        data = bytearray((made / "database.sm4").read_bytes())
        data[len(data) // 2] ^= 0x01
        (made / "database.sm4").write_bytes(bytes(data))
    elif damage == "truncate_files":
        data = (made / "files.sm4").read_bytes()
        (made / "files.sm4").write_bytes(data[:-100])
    elif damage == "edit_manifest":
        manifest = json.loads((made / "manifest.json").read_text())
        manifest["snapshot_at"] = "2030-01-01T00:00:00+00:00"
        (made / "manifest.json").write_text(json.dumps(manifest))
    else:
        (made / "manifest.sm3mac").unlink()
    with pytest.raises(BackupError) as failed:
        backup.verify(tmp_path / "offsite", key)
    assert failed.value.code in {"backup_corrupt", "backup_tampered"}
    assert "篡改" in failed.value.detail or "损坏" in failed.value.detail
    # And the restore refuses before touching the clean node.
    clean = _node(tmp_path, "clean")
    with pytest.raises(BackupError):
        backup.restore(clean, tmp_path / "offsite", key)
    assert not Path(clean.database_url.removeprefix("sqlite:///")).exists()


def test_the_wrong_key_is_named_as_such(tmp_path: Path, key: backup.BackupKey) -> None:
    live = _node(tmp_path, "live")
    _fill(live)
    backup.create(live, tmp_path / "offsite", key)
    with pytest.raises(BackupError) as wrong:
        backup.verify(tmp_path / "offsite", derive_key(os.urandom(32)))
    assert wrong.value.code == "backup_wrong_key"


def test_chunks_cannot_be_dropped_at_a_boundary_or_reordered(tmp_path: Path) -> None:
    key = derive_key(os.urandom(32))
    plain = tmp_path / "plain"
    plain.write_bytes(os.urandom(2 * CHUNK + 77))
    # Uncompressed chunks have fixed record sizes to cut at; zstd chunks are framed the same way.
    sealed = seal_file(key, plain, tmp_path / "sealed", b"ctx", compression="none")
    assert sealed.chunks == 3
    open_file(key, tmp_path / "sealed", tmp_path / "back", b"ctx", sealed)
    assert (tmp_path / "back").read_bytes() == plain.read_bytes()
    # Cut after the second chunk and claim two chunks: the second is not marked last, so it fails.
    data = (tmp_path / "sealed").read_bytes()
    head = 6 + 8
    first_two = head + 2 * (4 + CHUNK + 16)
    (tmp_path / "cut").write_bytes(data[:first_two])
    shorter = type(sealed)(**{**sealed.__dict__, "chunks": 2, "plain_bytes": 2 * CHUNK})
    with pytest.raises(BackupError):
        open_file(key, tmp_path / "cut", None, b"ctx", shorter)
    # Another artifact's context (a swapped file) fails too.
    with pytest.raises(BackupError):
        open_file(key, tmp_path / "sealed", None, b"other", sealed)


def test_worker_processes_seal_and_open_the_same_format(tmp_path: Path) -> None:
    """Chunks en- and decrypted by two worker processes: the file opens in one process and the other way
    round, a tampered or reordered chunk is refused on the parallel path, and what went wrong in a worker
    stops the whole artifact."""
    key = derive_key(os.urandom(32))
    plain = tmp_path / "plain"
    plain.write_bytes(os.urandom(5 * CHUNK + 1234))
    parallel = seal_file(key, plain, tmp_path / "parallel", b"ctx", workers=2, compression="none")
    single = seal_file(key, plain, tmp_path / "single", b"ctx", workers=1, compression="none")
    assert parallel.chunks == single.chunks == 6 and parallel.sm3_plain == single.sm3_plain
    assert parallel.cipher_bytes == single.cipher_bytes
    open_file(key, tmp_path / "parallel", tmp_path / "back1", b"ctx", parallel, workers=1)
    open_file(key, tmp_path / "single", tmp_path / "back2", b"ctx", single, workers=2)
    assert (tmp_path / "back1").read_bytes() == (tmp_path / "back2").read_bytes() == plain.read_bytes()
    data = bytearray((tmp_path / "parallel").read_bytes())
    record = 4 + CHUNK + 16
    third = 6 + 8 + 2 * record
    data[third + 100] ^= 1  # a bit of the third chunk
    (tmp_path / "tampered").write_bytes(bytes(data))
    with pytest.raises(BackupError):
        open_file(key, tmp_path / "tampered", tmp_path / "nope", b"ctx", parallel, workers=2)
    original = (tmp_path / "parallel").read_bytes()
    swapped = (
        original[: 6 + 8] + original[6 + 8 + record : 6 + 8 + 2 * record] + original[6 + 8 : 6 + 8 + record]
    )
    (tmp_path / "swapped").write_bytes(swapped + original[6 + 8 + 2 * record :])
    with pytest.raises(BackupError):
        open_file(key, tmp_path / "swapped", None, b"ctx", parallel, workers=2)


def test_a_restore_into_a_node_with_data_is_refused_and_changes_nothing(
    tmp_path: Path, key: backup.BackupKey
) -> None:
    live = _node(tmp_path, "live")
    _fill(live)
    backup.create(live, tmp_path / "offsite", key)
    with pytest.raises(BackupError) as refused:
        backup.restore(live, tmp_path / "offsite", key)
    assert refused.value.code == "restore_target_not_empty"
    assert _departments(live.database_url) == ["部门0", "部门1", "部门2"]
    other = _node(tmp_path, "other")
    other.data_dir.mkdir(parents=True)
    (other.data_dir / "files").mkdir()
    (other.data_dir / "files" / "x").write_text("someone's file")
    with pytest.raises(BackupError):
        backup.restore(other, tmp_path / "offsite", key)
    assert (other.data_dir / "files" / "x").read_text() == "someone's file"


def test_a_target_that_is_not_there_is_reported_and_leaves_nothing(
    tmp_path: Path, key: backup.BackupKey
) -> None:
    live = _node(tmp_path, "live")
    _fill(live)
    blocker = tmp_path / "mounted"
    blocker.write_text("not a directory: the off-site mount went away")
    with pytest.raises(BackupError) as gone:
        backup.create(live, blocker / "offsite", key)
    assert gone.value.code == "backup_target_unavailable"
    assert "运行中的节点不受影响" in gone.value.detail
    assert not [p for p in live.data_dir.iterdir() if p.name.startswith(".backup-scratch-")]
    assert _departments(live.database_url) == ["部门0", "部门1", "部门2"]


def test_retention_keeps_the_newest_sets(tmp_path: Path, key: backup.BackupKey) -> None:
    live = _node(tmp_path, "live")
    _fill(live)
    names = [backup.create(live, tmp_path / "offsite", key, keep=2)["set"] for _ in range(4)]
    assert [s.name for s in backup.list_sets(tmp_path / "offsite")] == names[:1:-1]


def test_the_drill_measures_rpo_and_rto(tmp_path: Path, key: backup.BackupKey) -> None:
    live = _node(tmp_path, "live")
    _fill(live)
    report = backup.drill(live, tmp_path / "offsite", key, import_models().tables.values())
    assert report.ok, report
    assert report.marker_before_restored and report.marker_after_absent
    assert report.rpo_seconds >= 0 and report.rto_seconds > 0
    assert report.tables_checked >= 5


def test_the_drill_fails_when_data_from_before_the_backup_is_missing(
    tmp_path: Path, key: backup.BackupKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = _node(tmp_path, "live")
    _fill(live)
    real = backup._snapshot_sqlite

    def losing(place: backup.Place, out: Path) -> object:
        at = real(place, out)
        engine = create_engine(f"sqlite:///{out.as_posix()}")
        with engine.begin() as conn:  # a snapshot that silently lost rows
            conn.execute(text("DELETE FROM orgs_department WHERE id = 'd1'"))
        engine.dispose()
        return at

    monkeypatch.setattr(backup, "_snapshot_sqlite", losing)
    report = backup.drill(live, tmp_path / "offsite", key, import_models().tables.values())
    assert not report.ok
    assert report.missing == {"orgs_department": 1}


# --- on the suite's database (PostgreSQL in the second CI pass) ------------------------------------


@pytest.fixture
def two_databases(database_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    if not database_url.startswith("postgresql"):
        yield (
            f"sqlite:///{(tmp_path / 'src.db').as_posix()}",
            f"sqlite:///{(tmp_path / 'dst.db').as_posix()}",
        )
        return
    server, _, name = database_url.rpartition("/")
    names = [f"{name}_bksrc", f"{name}_bkdst"]
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for db in names:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{db}"'))
    yield f"{server}/{names[0]}", f"{server}/{names[1]}"
    with admin.connect() as conn:
        for db in names:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
    admin.dispose()


def test_create_verify_restore_and_drill_on_the_suite_database(
    tmp_path: Path, key: backup.BackupKey, two_databases: tuple[str, str]
) -> None:
    source, destination = two_databases
    live = _node(tmp_path, "live", source)
    _fill(live)
    made = backup.create(live, tmp_path / "offsite", key)
    assert made["database"]["kind"] in {"sqlite-online-backup", "pg_dump-custom"}
    backup.verify(tmp_path / "offsite", key)
    clean = _node(tmp_path, "clean", destination)
    backup.restore(clean, tmp_path / "offsite", key)
    assert _departments(destination) == ["部门0", "部门1", "部门2"]
    with pytest.raises(BackupError) as refused:  # now it holds data
        backup.restore(clean, tmp_path / "offsite", key)
    assert refused.value.code == "restore_target_not_empty"
    report = backup.drill(live, tmp_path / "offsite", key, import_models().tables.values())
    assert report.ok, report


def test_the_status_page_shows_the_last_backup(client: Any, session: Session) -> None:
    assert client.get("/_status").json()["backup"] is None
    session.add(
        BackupRun(
            kind="backup", set_name="hebei-x", status="done", snapshot_at=utcnow() - timedelta(seconds=90)
        )
    )
    session.flush()
    shown = client.get("/_status").json()["backup"]
    assert shown["set"] == "hebei-x" and 80 < shown["age_seconds"] < 600


def test_sets_sealed_in_the_earlier_1_mib_chunks_still_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks grew to 4 MiB; a reader bounds a record's length, not to the writer's current size."""
    from zhengwu.ops import sealing

    key = derive_key(os.urandom(32))
    plain = tmp_path / "plain"
    plain.write_bytes(os.urandom(3 * (1 << 20) + 5))
    monkeypatch.setattr(sealing, "CHUNK", 1 << 20)
    sealed = seal_file(key, plain, tmp_path / "sealed", b"ctx")
    monkeypatch.undo()
    assert sealed.chunks == 4 and sealing.CHUNK == 4 << 20
    open_file(key, tmp_path / "sealed", tmp_path / "back", b"ctx", sealed)
    assert (tmp_path / "back").read_bytes() == plain.read_bytes()


def test_the_setting_decides_the_cipher_processes() -> None:
    from zhengwu.ops.backup import cipher_workers
    from zhengwu.ops.sealing import PARALLEL_MIN_CHUNKS, parallel_workers

    def node(processes: int) -> Settings:
        return Settings(ops={"backup_processes": processes})

    big = PARALLEL_MIN_CHUNKS
    assert cipher_workers(None, 10 * big) == 1  # verify without settings: this process
    assert cipher_workers(node(1), 10 * big) == 1  # the default
    assert cipher_workers(node(3), 10 * big) == 3
    assert cipher_workers(node(0), 10 * big) == parallel_workers() >= 1
    assert cipher_workers(node(3), big - 1) == 1  # too small to pay for starting processes


def _records(path: Path) -> list[tuple[int, int]]:
    """(offset, length) of each sealed record of an artifact."""
    data = path.read_bytes()
    at, found = 6 + 8, []
    while at < len(data):
        length = int.from_bytes(data[at : at + 4], "big")
        found.append((at, 4 + length))
        at += 4 + length
    return found


def test_compressed_chunks_shrink_text_and_open_in_worker_processes(tmp_path: Path) -> None:
    """Text-like pages shrink several times; the same plain text comes back in one process or two, and a
    tampered or swapped compressed chunk is refused."""
    key = derive_key(os.urandom(32))
    plain = tmp_path / "plain"
    rows = "".join(
        f"{i:08d}|行政许可事项实施清单|河北省市场监督管理局|{i * 7919 % 100003}\n" for i in range(400_000)
    )
    plain.write_bytes(rows.encode())
    assert plain.stat().st_size > 4 * CHUNK
    sealed = seal_file(key, plain, tmp_path / "sealed", b"ctx", workers=2)
    assert sealed.compression == "zstd" and sealed.chunks >= 5
    assert sealed.cipher_bytes * 3 < sealed.plain_bytes
    open_file(key, tmp_path / "sealed", tmp_path / "back1", b"ctx", sealed, workers=1)
    open_file(key, tmp_path / "sealed", tmp_path / "back2", b"ctx", sealed, workers=2)
    assert (tmp_path / "back1").read_bytes() == (tmp_path / "back2").read_bytes() == plain.read_bytes()
    records = _records(tmp_path / "sealed")
    assert len(records) == sealed.chunks
    data = bytearray((tmp_path / "sealed").read_bytes())
    at, length = records[2]
    data[at + length // 2] ^= 1
    (tmp_path / "tampered").write_bytes(bytes(data))
    with pytest.raises(BackupError):
        open_file(key, tmp_path / "tampered", None, b"ctx", sealed, workers=2)
    original = (tmp_path / "sealed").read_bytes()
    (a, la), (b, lb) = records[0], records[1]
    (tmp_path / "swapped").write_bytes(
        original[:a] + original[b : b + lb] + original[a : a + la] + original[b + lb :]
    )
    with pytest.raises(BackupError):
        open_file(key, tmp_path / "swapped", None, b"ctx", sealed)
    # A manifest that names an unknown compression is refused as a format, not opened.
    with pytest.raises(BackupError) as unknown:
        open_file(
            key, tmp_path / "sealed", None, b"ctx", type(sealed)(**{**sealed.__dict__, "compression": "lz4"})
        )
    assert unknown.value.code == "backup_format"


def test_a_chunk_declaring_more_than_a_chunk_is_refused_before_it_expands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A frame that decompresses to more than a reader's largest chunk (here 17 MiB of zeros, a few
    hundred bytes compressed, properly encrypted under the key) or that does not declare its size is
    refused, not expanded."""
    import zstandard

    from zhengwu.ops import sealing

    key = derive_key(os.urandom(32))
    plain = tmp_path / "plain"
    plain.write_bytes(bytes(17 << 20))
    monkeypatch.setattr(sealing, "CHUNK", 17 << 20)
    sealed = seal_file(key, plain, tmp_path / "bomb", b"ctx")
    monkeypatch.undo()
    assert sealed.chunks == 1 and sealed.cipher_bytes < 4096
    with pytest.raises(BackupError) as refused:
        open_file(key, tmp_path / "bomb", None, b"ctx", sealed)
    assert refused.value.code == "backup_corrupt"
    # Without a declared size: one chunk's frame, written by hand with the key, is refused too.
    frame = zstandard.ZstdCompressor(write_content_size=False).compress(b"x" * 1000)
    prefix = os.urandom(8)
    record = sealing.sm4_gcm_encrypt(key.sm4, sealing._nonce(prefix, 0), frame, sealing._aad(b"ctx", 0, True))
    (tmp_path / "undeclared").write_bytes(b"ZWBK1\n" + prefix + len(record).to_bytes(4, "big") + record)
    from zhengwu.kernel.crypto.hashes import sm3

    written = (tmp_path / "undeclared").read_bytes()
    # Everything else in the manifest matches, so only the missing size can refuse it.
    undeclared = type(sealed)(
        file="undeclared",
        plain_bytes=1000,
        cipher_bytes=len(written),
        chunks=1,
        sm3_plain=sm3(b"x" * 1000).hex(),
        sm3_cipher=sm3(written).hex(),
        compression="zstd",
    )
    with pytest.raises(BackupError):
        open_file(key, tmp_path / "undeclared", None, b"ctx", undeclared)


def _as_format_1(set_path: Path, key: backup.BackupKey) -> None:
    """Rewrite a set as the code before compression wrote it: format /1, plain chunks sealed under the /1
    context, no ``compression`` in the manifest, the manifest's HMAC made again with the key."""
    from zhengwu.kernel.crypto.hashes import hmac_sm3

    manifest = json.loads((set_path / backup.MANIFEST).read_text())
    artifacts = {}
    for name, entry in manifest["artifacts"].items():
        sealed = backup.Sealed(**entry)
        raw = set_path / f"{name}.raw"
        open_file(key, set_path / sealed.file, raw, backup._context(set_path.name, name), sealed)
        old = seal_file(
            key, raw, set_path / sealed.file, backup._context(set_path.name, name, "zhengwu-backup/1"),
            compression="none",
        )  # fmt: skip
        raw.unlink()
        artifacts[name] = {k: v for k, v in old.__dict__.items() if k != "compression"}
    manifest.update(format="zhengwu-backup/1", artifacts=artifacts, cipher="SM4-GCM, 4 MiB chunks")
    data = json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True).encode()
    (set_path / backup.MANIFEST).write_bytes(data)
    (set_path / backup.MANIFEST_MAC).write_text(hmac_sm3(key.mac, data).hex() + "\n")


def test_a_set_made_before_compression_verifies_and_restores(tmp_path: Path, key: backup.BackupKey) -> None:
    live = _node(tmp_path, "live")
    _fill(live)
    made = backup.create(live, tmp_path / "offsite", key)
    assert made["format"] == "zhengwu-backup/2"
    assert {a["compression"] for a in made["artifacts"].values()} == {"zstd"}
    set_path = Path(made["path"])
    _as_format_1(set_path, key)
    old = json.loads((set_path / backup.MANIFEST).read_text())
    assert old["format"] == "zhengwu-backup/1" and "compression" not in old["artifacts"]["database"]
    assert backup.verify(tmp_path / "offsite", key)["set"] == made["set"]
    clean = _node(tmp_path, "clean")
    backup.restore(clean, tmp_path / "offsite", key)
    assert _departments(clean.database_url) == ["部门0", "部门1", "部门2"]
    original = (live.data_dir / "files" / "ab" / "abcdef").read_bytes()
    assert (clean.data_dir / "files" / "ab" / "abcdef").read_bytes() == original
    # A /1 set claiming compressed chunks fails: its manifest no longer authenticates.
    forged = json.loads((set_path / backup.MANIFEST).read_text())
    forged["artifacts"]["database"]["compression"] = "zstd"
    (set_path / backup.MANIFEST).write_text(json.dumps(forged))
    with pytest.raises(BackupError) as tampered:
        backup.verify(tmp_path / "offsite", key)
    assert tampered.value.code == "backup_tampered"
