"""The charter: the example loads, and every wrong value is refused naming the field and what is accepted.

A charter is the contract every member accepted beforehand, so a mistake in it must be caught when it
is loaded, with a message that tells the person editing the TOML file what to write instead.
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from accord.examples import CHARTER as CHARTER_FILE
from events.charter import MAX_WINDOW, Charter, load_charter, parse_charter, windows_within_limits
from events.rules import Duration, RefusalKind, Refused, format_duration, parse_duration


def example() -> dict[str, Any]:
    return tomllib.loads(CHARTER_FILE.read_text(encoding="utf-8"))


def refusal(change: Callable[[dict[str, Any]], object]) -> Refused:
    raw = copy.deepcopy(example())
    change(raw)
    with pytest.raises(Refused) as caught:
        parse_charter(raw, source="rivers.toml")
    assert caught.value.kind == RefusalKind.INVALID
    assert caught.value.message.startswith("rivers.toml: "), "the message names the file it came from"
    return caught.value


def test_the_example_charter_loads_with_its_values() -> None:
    charter = load_charter(CHARTER_FILE)

    assert charter.name == "Clean Rivers Alliance"
    assert [p.id for p in charter.principles] == ["non-violence", "independence", "member-autonomy"]
    assert charter.principle("independence") is not None
    assert charter.principle("growth-at-all-costs") is None
    rules = charter.decisions
    assert rules.quorum == 0.6
    assert rules.response_window == timedelta(days=7)
    assert rules.min_response_window == timedelta(hours=1)
    assert rules.max_response_window == timedelta(days=30)
    assert rules.reminder_lead == timedelta(days=2)
    assert rules.escalation_window == timedelta(days=3)
    assert rules.extension == timedelta(days=5)
    assert rules.max_extensions == 2
    assert rules.fallback == "supermajority"
    assert rules.objection_tolerance == 1
    disputes = charter.disputes
    assert disputes.negotiation_window == timedelta(days=14)
    assert disputes.panel_size == 3
    assert disputes.existence_confidential is False
    assert disputes.crisis.mediation_window == timedelta(days=3)


def test_a_charter_round_trips_through_json_with_readable_durations() -> None:
    # Charters are pinned into stored events as JSON: durations must come back as written.
    charter = load_charter(CHARTER_FILE)
    dumped = charter.model_dump(mode="json")

    assert dumped["decisions"]["response_window"] == "7d"
    assert dumped["disputes"]["crisis"]["negotiation_window"] == "2d"
    assert Charter.model_validate(dumped) == charter


@pytest.mark.parametrize(("quorum", "accepted"), [(0, "greater than 0"), (1.5, "less than or equal to 1")])
def test_quorum_outside_zero_to_one_is_refused(quorum: float, accepted: str) -> None:
    refused = refusal(lambda raw: raw["decisions"].update(quorum=quorum))

    assert refused.field == "charter.decisions.quorum"
    assert "decisions.quorum" in refused.message
    assert accepted in refused.message


@pytest.mark.parametrize("lead", ["7d", "8d"])
def test_a_reminder_lead_not_shorter_than_the_response_window_is_refused(lead: str) -> None:
    refused = refusal(lambda raw: raw["decisions"].update(reminder_lead=lead))

    assert refused.field == "charter.decisions"
    assert "reminder_lead must be shorter than response_window" in refused.message


def test_a_response_window_outside_its_bounds_is_refused() -> None:
    refused = refusal(lambda raw: raw["decisions"].update(response_window="31d", reminder_lead="2d"))

    assert "response_window must lie between min_response_window and max_response_window" in refused.message


def test_an_unknown_fallback_rule_is_refused_listing_the_rules() -> None:
    refused = refusal(lambda raw: raw["decisions"].update(fallback="coin-toss"))

    assert refused.field == "charter.decisions.fallback"
    assert "'supermajority' or 'lapse'" in refused.message


def test_an_even_panel_is_refused() -> None:
    refused = refusal(lambda raw: raw["disputes"].update(panel_size=4))

    assert refused.field == "charter.disputes"
    assert "panel_size must be odd" in refused.message


def test_duplicate_principle_ids_are_refused_naming_them() -> None:
    def repeat_first(raw: dict[str, Any]) -> None:
        raw["principles"].append({"id": "non-violence", "text": "Said twice."})

    refused = refusal(repeat_first)

    assert "principle ids must be unique; repeated: non-violence" in refused.message


def test_a_principle_id_that_is_not_a_slug_is_refused() -> None:
    refused = refusal(lambda raw: raw["principles"][0].update(id="Non Violence"))

    assert refused.field == "charter.principles.0.id"
    assert "lowercase letters, digits" in refused.message


@pytest.mark.parametrize("step", ["negotiation_window", "mediation_window", "panel_window", "appeal_window"])
def test_a_crisis_window_longer_than_the_normal_one_is_refused(step: str) -> None:
    refused = refusal(lambda raw: raw["disputes"]["crisis"].update({step: "60d"}))

    assert refused.field == "charter.disputes"
    assert f"crisis.{step} must not be longer than {step}" in refused.message


@pytest.mark.parametrize("written", ["7 days", "7 hours", "1h 30m", "a week", "-1d", "1.5d"])
def test_a_duration_in_another_notation_is_refused_showing_the_notation(written: str) -> None:
    refused = refusal(lambda raw: raw["decisions"].update(response_window=written))

    assert refused.field == "charter.decisions.response_window"
    assert "decisions.response_window" in refused.message
    assert "'7d'" in refused.message and "'36h'" in refused.message, refused.message


@pytest.mark.parametrize("written", ["0s", "P0D"])
def test_a_duration_that_is_not_positive_is_refused(written: str) -> None:
    refused = refusal(lambda raw: raw["decisions"].update(escalation_window=written))

    assert refused.field == "charter.decisions.escalation_window"
    assert "must be a positive duration such as '7d'" in refused.message


@pytest.mark.parametrize("section", ["decisions", "disputes"])
def test_a_missing_section_is_refused_naming_it(section: str) -> None:
    refused = refusal(lambda raw: raw.pop(section))

    assert refused.field == f"charter.{section}"
    assert f"{section}: Field required" in refused.message


def test_a_misspelt_key_is_refused_rather_than_ignored() -> None:
    refused = refusal(lambda raw: raw["decisions"].update(qorum=0.5))

    assert refused.field == "charter.decisions.qorum"
    assert "Extra inputs are not permitted" in refused.message


def test_invalid_toml_is_refused_with_the_parser_position(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('name = "Clean Rivers Alliance"\n[decisions\nquorum = 0.6\n', encoding="utf-8")

    with pytest.raises(Refused) as caught:
        load_charter(path)

    assert caught.value.kind == RefusalKind.INVALID
    assert caught.value.field == "charter"
    assert f"{path} is not valid TOML" in caught.value.message
    assert "line 2" in caught.value.message


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"

    with pytest.raises(Refused) as caught:
        load_charter(path)

    assert caught.value.kind == RefusalKind.INVALID
    assert caught.value.message == f"charter file {path} does not exist"


def test_a_wrong_value_in_a_file_names_the_file_and_the_field(tmp_path: Path) -> None:
    path = tmp_path / "rivers.toml"
    path.write_text(CHARTER_FILE.read_text(encoding="utf-8").replace("quorum = 0.6", "quorum = 0"), encoding="utf-8")

    with pytest.raises(Refused) as caught:
        load_charter(path)

    assert caught.value.message == f"{path}: decisions.quorum: Input should be greater than 0"
    assert caught.value.field == "charter.decisions.quorum"


# --- durations -------------------------------------------------------------------------------------

DURATION = TypeAdapter(Duration)


@pytest.mark.parametrize(
    ("written", "seconds", "formatted"),
    [
        ("1d12h", 129600, "1d12h"),
        ("36h", 129600, "1d12h"),
        ("2w", 1209600, "14d"),
        ("45s", 45, "45s"),
        ("1h30m", 5400, "1h30m"),
        ("90m", 5400, "1h30m"),
        ("1w2d3h4m5s", 788645, "9d3h4m5s"),
        ("P7D", 604800, "7d"),
        ("PT36H", 129600, "1d12h"),
        (3600, 3600, "1h"),
    ],
)
def test_durations_parse_and_format(written: str | int, seconds: int, formatted: str) -> None:
    value = DURATION.validate_python(written)

    assert value == timedelta(seconds=seconds)
    assert DURATION.dump_python(value, mode="json") == formatted
    assert format_duration(value) == formatted
    assert DURATION.validate_python(formatted) == value, "what is written out reads back the same"


def test_parse_duration_leaves_what_it_does_not_know_to_pydantic() -> None:
    assert parse_duration("1d12h") == timedelta(days=1, hours=12)
    assert parse_duration(3600) == 3600
    assert format_duration(timedelta(0)) == "0s"


def test_a_duration_too_long_for_a_date_is_refused_not_overflowed() -> None:
    refused = refusal(lambda raw: raw["decisions"].update(max_response_window="99999999999999999999d"))
    assert "longer than any date accord can hold: at most 999999999d" in refused.message
    assert refused.field == "charter.decisions.max_response_window"


@pytest.mark.parametrize("field", ["decisions.max_response_window", "disputes.panel_window"])
def test_a_new_charter_holds_its_windows_to_ten_years_naming_the_field(field: str) -> None:
    charter = load_charter(CHARTER_FILE)
    windows_within_limits(charter)  # the example is well within
    *sections, name = field.split(".")
    raw = charter.model_dump(mode="json")
    holder = raw
    for section in sections:
        holder = holder[section]
    holder[name] = format_duration(MAX_WINDOW + timedelta(days=1))
    long = Charter.model_validate(raw)  # a charter recorded before the limit still loads
    with pytest.raises(Refused) as refused:
        windows_within_limits(long)
    assert refused.value.field == f"charter.{field}"
    assert "at most 3650d (ten years)" in refused.value.message


def test_a_charter_with_several_mistakes_names_each_of_them() -> None:
    def two_mistakes(raw: dict[str, Any]) -> None:
        raw["decisions"]["quorum"] = 1.5
        raw["disputes"]["panel_size"] = 0

    refused = refusal(two_mistakes)
    assert "decisions.quorum: Input should be less than or equal to 1" in refused.message
    assert "; disputes.panel_size: Input should be greater than or equal to 1" in refused.message
    assert refused.field == "charter.decisions.quorum"
