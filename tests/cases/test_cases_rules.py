"""Rules of cases without a database: the state machine, working days (调休, Spring Festival, overrides,
stopped clock), process definitions, case numbers and query passwords, code mappings."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zhengwu.cases import codes, machine, numbering, process, workdays
from zhengwu.kernel.config import Settings


def test_happy_path_through_the_machine() -> None:
    status = machine.DRAFT
    for action, expected in [
        ("submit", machine.SUBMITTED),
        ("accept", machine.ACCEPTED),
        ("request_supplement", machine.SUPPLEMENT),
    ]:
        after = machine.transition(status, action)
        assert after == expected
        status = str(after)
    # A supplement returns where the case was when it was asked for.
    assert machine.transition(status, "supplement", resume_to=machine.ACCEPTED) == machine.ACCEPTED
    assert machine.transition(machine.ACCEPTED, "start_special") == machine.SPECIAL
    assert machine.transition(machine.SPECIAL, "end_special") == machine.IN_PROCESS
    assert machine.transition(machine.IN_PROCESS, "conclude") == machine.CONCLUDED
    assert machine.transition(machine.CONCLUDED, "deliver") == machine.DELIVERED


def test_supplement_before_acceptance_returns_to_submitted() -> None:
    assert machine.transition(machine.SUBMITTED, "request_supplement") == machine.SUPPLEMENT
    assert (
        machine.transition(machine.SUPPLEMENT, "supplement", resume_to=machine.SUBMITTED) == machine.SUBMITTED
    )


def test_refused_action_names_the_allowed_ones() -> None:
    refused = machine.transition(machine.SUBMITTED, "conclude")
    assert isinstance(refused, machine.Refused)
    assert refused.allowed == ("accept", "reject", "request_supplement")
    assert machine.allowed(machine.CONCLUDED) == ("deliver",)
    assert machine.allowed(machine.SUPPLEMENT) == ()
    with pytest.raises(ValueError):
        machine.transition(machine.SUBMITTED, "approve")


@pytest.mark.parametrize("status", sorted(machine.FINAL - {machine.CONCLUDED}))
def test_nothing_but_nothing_after_the_end(status: str) -> None:
    assert machine.allowed(status) == ()
    assert isinstance(machine.transition(status, "withdraw"), machine.Refused)


def test_withdraw_only_before_conclusion() -> None:
    for status in (machine.SUBMITTED, machine.ACCEPTED, machine.SUPPLEMENT, machine.SPECIAL):
        assert machine.transition(status, "withdraw") == machine.WITHDRAWN
    assert isinstance(machine.transition(machine.CONCLUDED, "withdraw"), machine.Refused)


@given(st.sampled_from(sorted(machine.LABELS)), st.sampled_from(sorted(machine.FROM)))
def test_every_transition_lands_on_a_known_status(status: str, action: str) -> None:
    after = machine.transition(status, action, resume_to=machine.IN_PROCESS)
    if isinstance(after, machine.Refused):
        assert action not in after.allowed
    else:
        assert after in machine.LABELS


CAL = workdays.Calendar()


def test_tiaoxiu_saturday_is_a_working_day() -> None:
    assert CAL.is_workday(date(2026, 2, 14))  # Saturday before the 2026 Spring Festival
    assert CAL.is_workday(date(2026, 2, 28))  # Saturday after it
    assert not CAL.is_workday(date(2026, 3, 1))  # an ordinary Sunday


def test_spring_festival_is_skipped() -> None:
    # Friday 13 February 2026 + 3 working days: Sat 14 (调休), then the holiday 15–23, then Tue 24, Wed 25.
    assert CAL.add_workdays(date(2026, 2, 13), 3) == date(2026, 2, 25)
    assert CAL.workdays_between(date(2026, 2, 13), date(2026, 2, 25)) == 3
    assert all(not CAL.is_workday(date(2026, 2, d)) for d in range(15, 24))


def test_overrides_beat_the_library_and_cover_unknown_years() -> None:
    assert not CAL.known(2031)
    override = workdays.Calendar({date(2031, 1, 1): False, date(2026, 2, 14): False})
    assert override.known(2031)
    assert not override.is_workday(date(2026, 2, 14))
    assert not override.is_workday(date(2031, 1, 1))  # a Wednesday the operator declared a holiday
    assert override.is_workday(date(2031, 1, 2))  # unknown year: weekdays


def test_stopped_days_do_not_count() -> None:
    start = date(2026, 3, 2)  # Monday
    assert CAL.add_workdays(start, 5) == date(2026, 3, 9)
    paused = workdays.days_in(date(2026, 3, 3), date(2026, 3, 4))
    assert CAL.add_workdays(start, 5, skip=paused) == date(2026, 3, 11)


@given(st.dates(date(2024, 1, 1), date(2026, 12, 1)), st.integers(0, 40))
def test_add_then_count_round_trips(start: date, days: int) -> None:
    end = CAL.add_workdays(start, days)
    assert CAL.workdays_between(start, end) == days
    assert days == 0 or CAL.is_workday(end)


def test_override_file() -> None:
    found = workdays.parse_overrides("# 2031\n2031-01-01,holiday\n2031-02-08, workday\n\n")
    assert found == {date(2031, 1, 1): False, date(2031, 2, 8): True}
    with pytest.raises(ValueError, match="line 2"):
        workdays.parse_overrides("2031-01-01,holiday\n2031-13-01,holiday")
    with pytest.raises(ValueError, match="line 1"):
        workdays.parse_overrides("2031-01-01,maybe")


def test_process_definitions_are_validated() -> None:
    good = process.Process.from_json(
        {
            "steps": [
                {"code": "accept", "name": "受理", "role": "case_handler", "days": 1},
                {"code": "decide", "name": "决定", "role": "case_handler", "days": 3},
            ]
        }
    )
    assert good.total_days() == 4 and good.step(9).code == "decide"
    process.check_against(good, 5)
    with pytest.raises(process.ProcessInvalid, match="超过承诺时限"):
        process.check_against(good, 3)
    bad_cases = [
        {},
        {"steps": []},
        {"steps": [{"code": "a b", "name": "x", "role": "case_handler"}]},
        {"steps": [{"code": "a", "name": "x", "role": "wizard"}]},
        {"steps": [{"code": "a", "name": "x", "role": "case_handler", "days": -1}]},
        {
            "steps": [
                {"code": "a", "name": "x", "role": "case_handler"},
                {"code": "a", "name": "y", "role": "admin"},
            ]
        },
    ]
    for raw in bad_cases:
        with pytest.raises(process.ProcessInvalid):
            process.Process.from_json(raw)
    assert process.Process.from_json(process.DEFAULT.as_json()) == process.DEFAULT


def _step(
    code: str, days: int = 1, department: str | None = None, parallel: str | None = None
) -> dict[str, object]:
    raw: dict[str, object] = {"code": code, "name": code, "role": "case_handler", "days": days}
    if department:
        raw["department"] = department
    if parallel:
        raw["parallel"] = parallel
    return raw


def test_parallel_steps_are_groups_of_neighbours_each_of_another_department() -> None:
    from zhengwu.seed import government_credit_code

    water, land = government_credit_code("130000", 901), government_credit_code("130000", 902)
    defined = process.Process.from_json(
        {
            "steps": [
                _step("accept"),
                _step("own", 2, parallel="review"),
                _step("water", 5, water, "review"),
                _step("land", 3, land, "review"),
                _step("decide", 1),
            ]
        }
    )
    assert [list(g) for g in defined.groups()] == [[0], [1, 2, 3], [4]]
    assert defined.group_at(2) == range(1, 4) and not defined.is_last_group(3) and defined.is_last_group(4)
    # The group lasts as long as its longest step: 1 + max(2, 5, 3) + 1.
    assert defined.total_days() == 7
    assert process.Process.from_json(defined.as_json()) == defined
    refused = {
        "相邻": [
            _step("accept"),
            _step("a", 1, water, "g"),
            _step("c", 1, land, "g"),
            _step("b"),
            _step("d", parallel="g"),
        ],
        "至少有两个环节": [_step("accept"), _step("a", 1, water, "g"), _step("b")],
        "只能有一个环节": [_step("accept"), _step("a", 1, water, "g"), _step("b", 1, water, "g")],
        "只能有一个环节 ": [_step("accept"), _step("a", parallel="g"), _step("b", parallel="g")],
        "受理": [_step("accept", parallel="g"), _step("a", 1, water, "g")],
        "并行组名": [_step("accept"), _step("a", 1, water, "g h"), _step("b", 1, land, "g h")],
    }
    for words, steps in refused.items():
        with pytest.raises(process.ProcessInvalid, match=words.strip()):
            process.Process.from_json({"steps": steps})


def test_case_numbers() -> None:
    counters: dict[str, int] = {}

    def serial(scope: str) -> int:
        counters[scope] = counters.get(scope, 0) + 1
        return counters[scope]

    request = numbering.NumberRequest("130100", "1" * 31, date(2026, 12, 5))
    default = numbering.generator(Settings())
    assert default(request, serial) == "13010020261205000001"
    assert default(request, serial) == "13010020261205000002"
    tagged = numbering.DivisionDateSerial(6, "07")
    assert tagged(request, serial) == "1301000720261205000001"
    long = numbering.generator(Settings(cases={"number_scheme": "task_date_serial"}))
    number = long(request, serial)
    assert len(number) == 43 and number.endswith("202612050001")
    tomorrow = numbering.NumberRequest("130100", "1" * 31, date(2026, 12, 5) + timedelta(days=1))
    assert default(tomorrow, serial).endswith("000001")


def test_query_password() -> None:
    password = numbering.new_password()
    assert len(password) == 6 and password.isdigit()
    key = b"k" * 32
    stored = numbering.seal_password(key, "13000020261205000001", password)
    assert password not in stored
    assert numbering.check_password(key, "13000020261205000001", password, stored)
    assert not numbering.check_password(
        key, "13000020261205000001", f"{(int(password) + 1) % 10**6:06d}", stored
    )
    assert not numbering.check_password(key, "13000020261205000002", password, stored)  # bound to the case
    assert not numbering.check_password(
        b"x" * 32, "13000020261205000001", password, stored
    )  # and to the node


def test_code_mappings_are_configurable() -> None:
    assert codes.code(Settings(), "event_name", "accept") == "4"
    settings = Settings(cases={"codes": {"event_name": {"accept": "A1"}}})
    assert codes.code(settings, "event_name", "accept") == "A1"
    assert codes.code(settings, "event_name", "reject") == "3"
    for table in ("apply_type", "event_name", "result_type", "get_type", "special_type", "satisfaction"):
        assert codes.names(table)
