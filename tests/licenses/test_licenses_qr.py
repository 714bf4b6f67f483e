"""The license's QR encoder makes segno's symbol, module for module, for every version and mask."""

from __future__ import annotations

import random

import pytest
import segno

from zhengwu.licenses import qr

CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-_.#/:ABC"


def _segno(content: str, mask: int) -> list[str]:
    code = segno.make_qr(content, error="m", mask=mask, boost_error=False)
    return ["".join("1" if module else "0" for module in row) for row in code.matrix]


@pytest.mark.parametrize("version", range(1, 41))
def test_every_version_and_mask_matches_segno(version: int) -> None:
    rnd = random.Random(version)
    # The longest content of this version, and one just past the previous version's capacity.
    header = 2 if version < 10 else 3
    longest = qr._capacity(version) - header
    shortest = qr._capacity(version - 1) - (2 if version - 1 < 10 else 3) + 1 if version > 1 else 1
    # Every mask where the layout changes shape (first version, alignment patterns, version information,
    # longer counts, the license's usual size, the last); two masks elsewhere, to keep segno's time down.
    masks = range(8) if version in (1, 2, 7, 10, 17, 27, 40) else (2, version % 8)
    for length in sorted({longest, shortest, (longest + shortest) // 2}):
        content = "h" + "".join(rnd.choice(CHARS) for _ in range(length - 1))
        for mask in masks:
            ours = qr.rows(content, mask)
            assert len(ours) == 17 + 4 * version
            assert ours == _segno(content, mask), (version, length, mask)


@pytest.mark.parametrize(
    "content",
    ["HTTP://A.B/C", "0123456789", "https://例子.中国/licenses/verify#x", "x" * 2400],
    ids=["alphanumeric", "numeric", "non-ascii", "too-long-for-level-m"],
)
def test_content_in_other_modes_is_segnos_symbol(content: str) -> None:
    if len(content) > 2331:  # past version 40-M in byte mode: segno refuses too
        with pytest.raises(segno.DataOverflowError):
            qr.rows(content, 2)
        return
    assert qr.rows(content, 2) == _segno(content, 2)
