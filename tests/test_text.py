"""Text a command carries from a person: clean and bounded before anything is decided or recorded."""

from __future__ import annotations

from datetime import timedelta

import pytest

from accord.examples import CHARTER
from events.alliance import AmendCharter
from events.charter import load_charter
from events.decision import MAX_POINTS, OpenDecision, PointDraft, StanceKind, TakeStance
from events.rules import RefusalKind, Refused
from events.text import LIMITS, MAX_ITEMS, TEXT_LIMIT, clean_command


def refused(command: object) -> Refused:
    with pytest.raises(Refused) as caught:
        clean_command(command)  # type: ignore[type-var]
    assert caught.value.kind == RefusalKind.INVALID
    return caught.value


def stance(reason: str) -> TakeStance:
    return TakeStance(actor="amber", point_id="p1", stance=StanceKind.OBJECT, reason=reason)


@pytest.mark.parametrize(
    ("reason", "says"),
    [
        ("we object\x00", "reason: holds NUL (U+0000) at character 10"),
        ("\ud800", "reason: holds half of a UTF-16 surrogate pair (U+D800) at character 1"),
        ("red \x1b[31malert", "reason: holds ESC (U+001B) at character 5"),
        ("bell\x07", "reason: holds a control character (U+0007) at character 5"),
        ("\x85next line", "reason: holds a control character (U+0085) at character 1"),
    ],
)
def test_what_is_not_text_is_refused_naming_the_field_and_the_place(reason: str, says: str) -> None:
    error = refused(stance(reason))
    assert error.field == "reason" and error.message.startswith(says), error.message
    assert "letters" in error.message or "whole character" in error.message  # and what would be accepted


def test_text_is_normalised_newlines_nfc_and_trimmed_and_a_clean_command_is_itself() -> None:
    cleaned = clean_command(stance("  Cafe\u0301 costs\r\ntoo much\rfor us\t(see notes)  "))
    assert cleaned.reason == "Caf\u00e9 costs\ntoo much\nfor us\t(see notes)"
    assert cleaned.stance is StanceKind.OBJECT  # a choice, left as the domain's value
    clean = stance("fine as it is")
    assert clean_command(clean) is clean


@pytest.mark.parametrize(("field", "limit"), [("title", LIMITS["title"]), ("body", LIMITS["body"])])
def test_each_kind_of_field_has_its_length(field: str, limit: int) -> None:
    def opening(**text: str) -> OpenDecision:
        fields = {"title": "Spring march", "body": "", **text}
        return OpenDecision.model_construct(
            actor="gw", decision_id="d1", alliance_id="rivers", points=[PointDraft(text="march")], context=None, **fields
        )

    assert clean_command(opening(**{field: "x" * limit}))
    error = refused(opening(**{field: "x" * (limit + 1)}))
    assert (error.field, error.message) == (field, f"{field}: is {limit + 1} characters long; at most {limit} are accepted")


def test_a_list_entry_is_named_by_its_place_and_lists_are_bounded() -> None:
    points = [PointDraft(text="march"), PointDraft(text="x" * (TEXT_LIMIT + 1))]
    error = refused(OpenDecision.model_construct(actor="gw", decision_id="d1", alliance_id="rivers", title="t", points=points))
    assert error.field == "points.1.text"
    many = OpenDecision.model_construct(
        actor="gw", decision_id="d1", alliance_id="rivers", title="t", points=[PointDraft(text="p")] * (MAX_ITEMS + 1)
    )
    assert refused(many).message == f"points: holds {MAX_ITEMS + 1} entries; at most {MAX_ITEMS} are accepted"
    assert MAX_POINTS < MAX_ITEMS  # the domain's own bound on points is the tighter one


def test_a_charter_is_input_and_a_pinned_context_is_not() -> None:
    charter = load_charter(CHARTER)
    bad = charter.model_copy(update={"name": "Rivers\x00"})
    assert refused(AmendCharter(actor="gw", charter=bad, reason="rename")).field == "charter.name"
    assert clean_command(AmendCharter(actor="gw", charter=charter, reason="same")).charter == charter
    assert charter.decisions.response_window == timedelta(days=7)  # durations pass untouched
