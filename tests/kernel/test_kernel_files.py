from pathlib import Path

import pytest

from zhengwu.kernel.files import FileStore


def test_content_addressed_store(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    digest = store.put(b"abc")
    # GB/T 32905 example 1
    assert digest == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    assert store.put(b"abc") == digest
    assert store.get(digest) == b"abc"
    (tmp_path / digest[:2] / digest[2:4] / digest).write_bytes(b"tampered")
    with pytest.raises(ValueError, match="corrupt"):
        store.get(digest)
    with pytest.raises(ValueError):
        store.get("../../etc/passwd")
