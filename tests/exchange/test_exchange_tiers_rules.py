"""Rules of passing rows through the tiers: division containment and origin claims (no database)."""

from __future__ import annotations

import pytest

from zhengwu.exchange import tiers
from zhengwu.kernel.config import Settings, Tier
from zhengwu.kernel.topics import RowError


@pytest.mark.parametrize(
    ("code", "parent", "inside"),
    [
        ("130102", "130100", True),
        ("130100", "130000", True),
        ("130181", "130000", True),
        ("140100", "130000", False),
        ("130202", "130100", False),
        ("130100", "130100", True),
        ("440300", "000000", True),
    ],
)
def test_division_containment(code: str, parent: str, inside: bool) -> None:
    assert tiers.within(code, parent) is inside


def test_a_row_without_origin_comes_from_its_sender() -> None:
    origin = tiers.origin_of(None, sender="sjz", division="130100", tier="city")
    assert origin == tiers.Origin(("sjz",), "130100", "city")
    assert origin.onward("hebei") == {"path": ["sjz", "hebei"], "division": "130100", "tier": "city"}


def test_a_claimed_origin_ends_with_the_sender_inside_its_division() -> None:
    good = tiers.origin_of(
        {"path": ["xinji", "sjz"], "division": "130181", "tier": "county"},
        sender="sjz", division="130100", tier="city",
    )  # fmt: skip
    assert isinstance(good, tiers.Origin) and (good.node, good.route) == ("xinji", "xinji/sjz")

    def code(raw: object) -> str:
        verdict = tiers.origin_of(raw, sender="sjz", division="130100", tier="city")
        assert isinstance(verdict, RowError)
        return verdict.code

    assert code({"path": ["xinji", "other"], "division": "130181"}) == "origin_mismatch"
    assert code({"path": ["taiyuan", "sjz"], "division": "140100"}) == "origin_outside_division"
    assert code({"path": ["sjz", "sjz"], "division": "130100"}) == "origin_invalid"
    assert code({"path": ["Bad Name", "sjz"], "division": "130100"}) == "origin_invalid"
    assert code({"path": ["a", "b", "c", "d", "e", "f", "sjz"], "division": "130100"}) == "origin_invalid"
    assert code({"path": ["xinji", "sjz"], "division": "13018"}) == "origin_invalid"
    assert code(["xinji", "sjz"]) == "origin_invalid"


def test_relay_message_ids_fit_the_outbox() -> None:
    assert tiers.relay_message_id("0123456789abcdef0123456789abcdef") == "0123456789abcdef0123456789abcdef"
    long = tiers.relay_message_id("x" * 50)
    assert len(long) == 32 and long == tiers.relay_message_id("x" * 50)


def test_a_national_node_has_no_upstream() -> None:
    with pytest.raises(ValueError, match="no upstream"):
        Settings(tier=Tier.NATIONAL, division_code="000000", node_id="national",
                 upstream_url="http://elsewhere.test")  # fmt: skip
