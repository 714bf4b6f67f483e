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


def test_own_reports_go_on_only_when_declared_relayed_and_the_node_can_pass_them() -> None:
    from types import SimpleNamespace

    from zhengwu.exchange.topics import Topic, TopicRegistry

    registry = TopicRegistry()
    relayed = registry.register("ops.node_status", table="ops_node_status", relayed=True)
    kept = registry.register("exchange.progress_report", table="exchange_progress_report")
    national = registry.get("cases.up_pro_result")
    assert isinstance(national, Topic)
    assert tiers.belongs_upward(relayed, reports=True) and not tiers.belongs_upward(relayed)
    assert not tiers.belongs_upward(kept, reports=True)
    assert tiers.belongs_upward(national) and tiers.belongs_upward(national, reports=True)

    def runtime(**values: object) -> object:
        base = {"tier": Tier.CITY, "division_code": "130100", "node_id": "sjz",
                "upstream_url": "http://hebei.test"}  # fmt: skip
        return SimpleNamespace(settings=Settings(**{**base, **values}))

    assert tiers.relays_reports(runtime())  # type: ignore[arg-type]
    # A 前置库 has no table for them; a node with no upper node has nobody to pass them to.
    assert not tiers.relays_reports(runtime(exchange={"transport": "frontdb"}))  # type: ignore[arg-type]
    assert not tiers.relays_reports(runtime(upstream_url=None))  # type: ignore[arg-type]
    top = runtime(tier=Tier.NATIONAL, division_code="000000", node_id="national", upstream_url=None)
    assert not tiers.relays_reports(top)  # type: ignore[arg-type]
