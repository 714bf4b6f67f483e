"""The upload hook with a real ClamAV daemon: the test starts its own clamd on a unix socket with a
signature database it writes (one body signature for the EICAR test string; signature downloads are not
possible offline). An infected upload is refused with a Chinese problem and nothing is stored, a clean
one passes; a scanner that is down or hangs refuses uploads (503) unless the node fails open."""

from __future__ import annotations

import hashlib
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cases_kit import Casework, login
from seals_kit import assert_envelope
from zhengwu.cases.clamav import ClamdScanner
from zhengwu.cases.servicekeys import SCANNER
from zhengwu.kernel.config import CasesSettings, Settings
from zhengwu.kernel.node import node_of

UPLOAD = "/api/v1/cases/uploads"
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
PDF = {"Content-Type": "application/pdf"}


@pytest.fixture(scope="module")
def clamd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A clamd of the test's own, its database one signature; the socket path."""
    binary = shutil.which("clamd") or (Path("/usr/sbin/clamd") if Path("/usr/sbin/clamd").exists() else None)
    if binary is None:
        pytest.skip("clamd is not installed (apt-get install clamav-daemon)")
    root = tmp_path_factory.mktemp("clamd")
    (root / "db").mkdir()
    (root / "db" / "zhengwu-test.ndb").write_text(f"Zhengwu.Test.EICAR:0:*:{EICAR.hex()}\n")
    sock = root / "clamd.sock"
    (root / "clamd.conf").write_text(
        f"LocalSocket {sock}\nDatabaseDirectory {root / 'db'}\nForeground yes\nLogFile {root / 'clamd.log'}\n"
        "Bytecode no\n"
    )
    proc = subprocess.Popen([str(binary), f"--config-file={root / 'clamd.conf'}"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if ClamdScanner(str(sock), timeout=5).ask(b"clean") == "stream: OK":
                    break
            except OSError:
                time.sleep(0.2)
        else:
            log = (root / "clamd.log").read_text() if (root / "clamd.log").exists() else ""
            pytest.fail(f"clamd did not start: {log[-500:]}")
        yield sock
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def settings(tmp_path: Path, database_url: str, clamd: Path) -> Settings:
    """The node scans with the test's clamd (``ZHENGWU_CASES__CLAMD_SOCKET``)."""
    return Settings(
        data_dir=tmp_path / "data", database_url=database_url, log_json=True, log_level="DEBUG",
        cases=CasesSettings(clamd_socket=str(clamd), clamd_timeout_seconds=10),
    )  # fmt: skip


def _stored(client: Any, data: bytes) -> bool:
    return bool(node_of(client.app).files.exists(hashlib.new("sm3", data).hexdigest()))


def test_an_infected_upload_is_refused_and_not_stored(client: Any, casework: Casework) -> None:
    scanner = node_of(client.app).services.get(SCANNER)
    assert isinstance(scanner, ClamdScanner)
    login(client, casework.citizen_token)
    infected = b"%PDF-1.7\n% a form with a payload\n" + EICAR + b"\n%%EOF\n"
    problem = assert_envelope(
        client.post(UPLOAD, content=infected, headers=PDF), 422, "cases.material_infected"
    )
    assert problem["detail"] == "文件未通过安全检查：检测到病毒或恶意代码，文件未保存"
    assert "EICAR" not in problem["detail"]
    assert not _stored(client, infected)
    clean = b"%PDF-1.7\n% the signed application form\n%%EOF\n"
    stored = client.post(UPLOAD, content=clean, headers=PDF)
    assert stored.status_code == 201, stored.text
    assert _stored(client, clean) and stored.json()["file_sm3"] == hashlib.new("sm3", clean).hexdigest()
    # Larger than one INSTREAM chunk: the signature across the chunk boundary is still found.
    padded = b"%PDF-1.7\n" + b"0" * (64 * 1024 - 20) + EICAR
    assert_envelope(client.post(UPLOAD, content=padded, headers=PDF), 422, "cases.material_infected")
    assert not _stored(client, padded)


def test_an_unreachable_scanner_refuses_uploads_unless_failing_open(
    client: Any, casework: Casework, tmp_path: Path
) -> None:
    login(client, casework.citizen_token)
    services = node_of(client.app).services
    data = b"%PDF-1.7\n% scanned later\n"
    services.replace(SCANNER, ClamdScanner(str(tmp_path / "no-such.sock"), timeout=1))
    problem = assert_envelope(
        client.post(UPLOAD, content=data, headers=PDF), 503, "cases.scanner_unavailable"
    )
    assert problem["detail"] == "文件安全检查服务暂时不可用，请稍后再上传"
    assert not _stored(client, data)
    # A daemon that takes the connection and never answers: one timeout, then the same refusal.
    hung = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    hung.bind(str(tmp_path / "hung.sock"))
    hung.listen(1)
    held: list[socket.socket] = []
    accepter = threading.Thread(target=lambda: held.append(hung.accept()[0]), daemon=True)
    accepter.start()
    try:
        services.replace(SCANNER, ClamdScanner(str(tmp_path / "hung.sock"), timeout=0.5))
        assert_envelope(client.post(UPLOAD, content=data, headers=PDF), 503, "cases.scanner_unavailable")
        assert not _stored(client, data)
    finally:
        for conn in held:
            conn.close()
        hung.close()
    # The operator's choice: take files unscanned while the scanner is down.
    services.replace(SCANNER, ClamdScanner(str(tmp_path / "no-such.sock"), timeout=1, fail_open=True))
    assert client.post(UPLOAD, content=data, headers=PDF).status_code == 201
    assert _stored(client, data)
