"""The costs ledger's decider on its own: a realistic ledger and its report against figures worked out by
hand, every refusal (kind and message, nothing recorded), corrections, rates in force, agreed shares, and
the register of responsibilities with its review reminders."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from events.charter import Costs
from events.currency import to_major, to_minor
from events.ledger import (
    CorrectEntry,
    EntryKind,
    HandOver,
    InKind,
    LedgerContext,
    LedgerEvent,
    LedgerState,
    RecordEntry,
    RecordRate,
    Release,
    TakeResponsibility,
    agreed_shares,
    decide,
    evolve,
    next_due,
    on_time,
    report,
)
from events.rules import RefusalKind, Refused

NOW = datetime(2026, 4, 10, 12, 0, tzinfo=UTC)
CONTEXT = LedgerContext(members=["anglers", "birders", "canoeists", "divers"], coordinators=["anglers"], reporting="EUR")
COSTS = Costs(
    currency="EUR", shares="fixed",
    share={"anglers": Decimal("0.40"), "birders": Decimal("0.30"), "canoeists": Decimal("0.20"), "divers": Decimal("0.10")},
    tolerance=Decimal("0.05"), hour_value=Decimal("20.00"), hour_values={"canoeists": Decimal("30.00")},
)
Q1 = (date(2026, 1, 1), date(2026, 3, 31))


def apply(state: LedgerState | None, command: Any, now: datetime = NOW) -> tuple[LedgerState, list[LedgerEvent]]:
    events = decide(state, command, now, "rivers")
    for event in events:
        state = evolve(state, event)
    assert state is not None
    return state, events


def refused(state: LedgerState, command: Any) -> Refused:
    with pytest.raises(Refused) as caught:
        decide(state, command, NOW)
    return caught.value


def entry(actor: str, member: str, kind: EntryKind, on: date, **fields: Any) -> RecordEntry:
    return RecordEntry(actor=actor, context=CONTEXT, kind=kind, member_id=member, on=on, description=fields.pop("description", "x"), **fields)


def quarter() -> LedgerState:
    """Four members, three currencies with rates, hours at two values, in kind, an expense and a correction."""
    state: LedgerState | None = None
    for command in [
        RecordRate(actor="anglers", context=CONTEXT, currency="USD", rate=Decimal("0.92"), on=date(2026, 1, 1), source="ECB"),
        RecordRate(actor="anglers", context=CONTEXT, currency="USD", rate=Decimal("0.90"), on=date(2026, 2, 1), source="ECB"),
        RecordRate(actor="anglers", context=CONTEXT, currency="GBP", rate=Decimal("1.17"), on=date(2026, 1, 1), source="ECB"),
        entry("anglers", "anglers", EntryKind.MONEY, date(2026, 1, 10), amount="500.00", currency="EUR"),  # e1
        entry("birders", "birders", EntryKind.MONEY, date(2026, 1, 20), amount="300", currency="USD"),  # e2: at 0.92
        entry("birders", "birders", EntryKind.MONEY, date(2026, 2, 15), amount="100.00", currency="USD"),  # e3: at 0.90
        entry("canoeists", "canoeists", EntryKind.HOURS, date(2026, 2, 1), hours=Decimal("12.5")),  # e4: at 30.00
        entry("anglers", "divers", EntryKind.IN_KIND, date(2026, 2, 10), amount="250.00", currency="GBP", category=InKind.VENUE),  # e5
        entry("anglers", "anglers", EntryKind.EXPENSE, date(2026, 3, 1), amount="80.15", currency="GBP"),  # e6
        entry("divers", "divers", EntryKind.MONEY, date(2026, 3, 5), amount="1000.00", currency="EUR"),  # e7: corrected below
        entry("canoeists", "canoeists", EntryKind.HOURS, date(2026, 4, 2), hours=Decimal(3)),  # e8: after the quarter
        CorrectEntry(actor="divers", context=CONTEXT, entry_id="e7", reason="it was 100.00, not 1000.00"),
        entry("divers", "divers", EntryKind.MONEY, date(2026, 3, 5), amount="100.00", currency="EUR", description="corrected"),  # e9
    ]:
        state, _ = apply(state, command)
    assert state is not None
    return state


def test_the_quarter_report_against_figures_worked_out_by_hand() -> None:
    got = report(quarter(), COSTS, CONTEXT.members, *Q1)
    lines = {line.member_id: line for line in got.members}
    # anglers: 500.00 EUR + 80.15 GBP x 1.17 = 93.7755, rounded half to even to 93.78 -> 593.78
    # birders: 300 USD x 0.92 = 276.00 (January's rate) + 100 USD x 0.90 = 90.00 (February's) -> 366.00
    # canoeists: 12.5 hours x 30.00 (their own hour value) -> 375.00
    # divers: a venue worth 250.00 GBP x 1.17 = 292.50, and 100.00 EUR (the corrected entry) -> 392.50
    assert {m: line.total for m, line in lines.items()} == {
        "anglers": Decimal("593.78"), "birders": Decimal("366.00"), "canoeists": Decimal("375.00"), "divers": Decimal("392.50"),
    }
    assert got.total == Decimal("1727.28")
    assert lines["anglers"].by_kind == {"money": Decimal("500.00"), "hours": 0, "in_kind": 0, "expense": Decimal("93.78")}
    assert lines["divers"].by_kind == {"money": Decimal("100.00"), "hours": 0, "in_kind": Decimal("292.50"), "expense": 0}
    # shares of 1727.28: 593.78 -> 0.34376.. -> 0.3438; 366 -> 0.2119; 375 -> 0.2171; 392.50 -> 0.22723.. -> 0.2272
    assert [(line.share, line.agreed, line.difference, line.flagged) for line in got.members] == [
        (Decimal("0.3438"), Decimal("0.4000"), Decimal("-0.0562"), True),
        (Decimal("0.2119"), Decimal("0.3000"), Decimal("-0.0881"), True),
        (Decimal("0.2171"), Decimal("0.2000"), Decimal("0.0171"), False),
        (Decimal("0.2272"), Decimal("0.1000"), Decimal("0.1272"), True),
    ]
    assert got.by_currency == {"EUR": Decimal("600.00"), "GBP": Decimal("330.15"), "USD": Decimal("400.00")}
    assert got.hours == Decimal("12.5")
    assert [(r.currency, r.on, r.rate) for r in got.rates] == [
        ("GBP", date(2026, 1, 1), Decimal("1.17")), ("USD", date(2026, 1, 1), Decimal("0.92")), ("USD", date(2026, 2, 1), Decimal("0.90")),
    ]
    # A period of one month takes only its entries and the rate in force then.
    january = report(quarter(), COSTS, CONTEXT.members, date(2026, 1, 1), date(2026, 1, 31))
    assert january.total == Decimal("776.00") and [(r.currency, r.rate) for r in january.rates] == [("USD", Decimal("0.92"))]


def test_agreed_shares_equal_fixed_and_weighted() -> None:
    members = ["anglers", "birders", "canoeists"]
    assert agreed_shares(Costs(), members) == {m: Decimal(1) / 3 for m in members}
    weighted = Costs(shares="weighted", weight={"anglers": Decimal(3), "birders": Decimal(1), "canoeists": Decimal(1)})
    assert agreed_shares(weighted, members) == {"anglers": Decimal("0.6"), "birders": Decimal("0.2"), "canoeists": Decimal("0.2")}
    with pytest.raises(Refused, match="the charter's weights name no weight for divers"):
        agreed_shares(weighted, [*members, "divers"])
    got = report(quarter(), Costs(), CONTEXT.members, *Q1)  # equal: a quarter each, to four decimals
    assert {line.agreed for line in got.members} == {Decimal("0.2500")}


@pytest.mark.parametrize(
    ("costs", "message"),
    [
        ({"shares": "fixed", "share": {"a": "0.5", "b": "0.4"}}, "the shares must sum to exactly 1; they sum to 0.9"),
        ({"shares": "fixed"}, "shares = 'fixed' needs a share per member"),
        ({"shares": "fixed", "share": {"a": "1.5", "b": "-0.5"}}, "every share must be more than 0"),
        ({"shares": "equal", "share": {"a": "1"}}, "`share` is for shares = 'fixed', not 'equal'"),
        ({"shares": "weighted", "weight": {"a": "0"}}, "every weight must be more than 0"),
        ({"currency": "EUX"}, "'EUX' is not an ISO 4217 currency code"),
        ({"currency": "JPY", "hour_value": "1500.5"}, "an hour value must be an amount of JPY of at most 0 decimal(s)"),
    ],
)
def test_a_charter_whose_shares_do_not_add_up_is_refused(costs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Costs.model_validate(costs)


@pytest.mark.parametrize(
    ("command", "kind", "message"),
    [
        (entry("anglers", "anglers", EntryKind.MONEY, date(2026, 4, 1), amount="0", currency="EUR"), "invalid", "an amount must be more than zero, not 0"),
        (entry("anglers", "anglers", EntryKind.MONEY, date(2026, 4, 1), amount="-5", currency="EUR"), "invalid", "an amount must be more than zero, not -5"),
        (entry("anglers", "anglers", EntryKind.MONEY, date(2026, 4, 1), amount="12.345", currency="EUR"), "invalid",
         "12.345 EUR has more decimals than EUR allows (at most 2 decimal(s))"),
        (entry("anglers", "anglers", EntryKind.MONEY, date(2026, 4, 1), amount="1500.5", currency="JPY"), "invalid",
         "1500.5 JPY has more decimals than JPY allows (no decimals)"),
        (entry("anglers", "anglers", EntryKind.MONEY, date(2026, 4, 1), amount="a lot", currency="EUR"), "invalid",
         "'a lot' is not an amount: write it in EUR as digits, such as 12.50"),
        (entry("anglers", "oilco", EntryKind.MONEY, date(2026, 4, 1), amount="5", currency="EUR"), "invalid",
         "'oilco' is not an active member of the alliance"),
        (entry("oilco", "oilco", EntryKind.MONEY, date(2026, 4, 1), amount="5", currency="EUR"), "invalid",
         "'oilco' is not an active member of the alliance"),
        (entry("birders", "divers", EntryKind.MONEY, date(2026, 4, 1), amount="5", currency="EUR"), "forbidden",
         "a member may record contributions only for itself; a coordinator may for anyone"),
        (entry("birders", "birders", EntryKind.MONEY, date(2026, 5, 1), amount="5", currency="EUR"), "invalid",
         "an entry is dated when it was carried, not in the future (2026-05-01)"),
        (entry("birders", "birders", EntryKind.IN_KIND, date(2026, 4, 1), amount="5", currency="EUR"), "invalid",
         "a contribution in kind names its category (venue, meals, supplies, travel, other); other entries do not"),
        (entry("birders", "birders", EntryKind.HOURS, date(2026, 4, 1), amount="5", currency="EUR"), "invalid",
         "hours are given as `hours` (more than 0), with no amount or currency"),
        (entry("birders", "birders", EntryKind.EXPENSE, date(2026, 4, 1), hours=Decimal(2)), "invalid",
         "expense is given as an `amount` with its `currency`, and no hours"),
        (CorrectEntry(actor="anglers", context=CONTEXT, entry_id="e99", reason="typo"), "not_found", "no entry 'e99' in the ledger"),
        (CorrectEntry(actor="anglers", context=CONTEXT, entry_id="e7", reason="again"), "conflict", "entry 'e7' was already reversed (divers)"),
        (CorrectEntry(actor="birders", context=CONTEXT, entry_id="e1", reason="not mine"), "forbidden",
         "a member may correct entries only for itself; a coordinator may for anyone"),
        (RecordRate(actor="birders", context=CONTEXT, currency="USD", rate=Decimal(1), on=date(2026, 4, 1), source="x"), "forbidden",
         "only a coordinator may record exchange rates"),
        (RecordRate(actor="anglers", context=CONTEXT, currency="EUR", rate=Decimal(1), on=date(2026, 4, 1), source="x"), "invalid",
         "EUR is the reporting currency: it needs no rate"),
    ],
)
def test_every_refusal_says_what_is_wrong_and_records_nothing(command: Any, kind: str, message: str) -> None:
    error = refused(quarter(), command)
    assert (error.kind, error.message) == (RefusalKind(kind), message)


def test_an_unknown_currency_or_a_negative_rate_is_refused_as_the_command_is_read() -> None:
    with pytest.raises(ValidationError, match="'XYZ' is not an ISO 4217 currency code"):
        entry("anglers", "anglers", EntryKind.MONEY, date(2026, 4, 1), amount="5", currency="XYZ")
    with pytest.raises(ValidationError, match="greater than 0"):
        RecordRate(actor="anglers", context=CONTEXT, currency="USD", rate=Decimal("-1"), on=date(2026, 4, 1), source="x")


def test_a_report_in_a_currency_without_a_rate_in_force_is_refused() -> None:
    state, _ = apply(quarter(), entry("anglers", "anglers", EntryKind.MONEY, date(2026, 3, 9), amount="1000", currency="JPY"))
    with pytest.raises(Refused) as caught:
        report(state, COSTS, CONTEXT.members, *Q1)
    assert caught.value.message == "no rate of JPY to EUR is in force on 2026-03-09 (entry e10): record one dated on or before it"
    with pytest.raises(Refused, match="ends \\(2026-01-01\\) before it starts \\(2026-03-31\\)"):
        report(state, COSTS, CONTEXT.members, date(2026, 3, 31), date(2026, 1, 1))


def test_minor_units_are_exact() -> None:
    assert to_minor("12.50", "EUR") == 1250 and to_minor("1500", "JPY") == 1500 and to_minor("1.234", "KWD") == 1234
    assert to_major(1250, "EUR") == Decimal("12.50") and to_major(1500, "JPY") == Decimal(1500)
    assert to_minor("0.1", "EUR") + to_minor("0.2", "EUR") == to_minor("0.3", "EUR")  # never floats
    with pytest.raises(ValueError, match=r"an amount must be less than 10000000000000\.00 EUR, not 1e300"):
        to_minor("1e300", "EUR")


def test_responsibilities_are_taken_handed_over_released_and_reviewed_with_a_reminder() -> None:
    take = TakeResponsibility(
        actor="birders", context=CONTEXT, responsibility_id="monthly-meeting", what="Convene the monthly meeting",
        owner="birders", start=date(2026, 4, 1), review=date(2026, 7, 1),
    )
    state, opened = apply(None, take)  # the first command opens the alliance's ledger
    assert [e.type for e in opened] == ["LedgerOpened", "ResponsibilityTaken"]
    assert refused(state, take).message == "responsibility 'monthly-meeting' is already in the register"
    early = take.model_copy(update={"responsibility_id": "budget", "review": date(2026, 3, 1)})
    assert refused(state, early).message == "the review date must come after the start"
    other = take.model_copy(update={"responsibility_id": "budget", "owner": "divers"})
    assert refused(state, other).kind == RefusalKind.FORBIDDEN

    due = next_due(state)
    assert due == datetime(2026, 6, 24, tzinfo=UTC)  # a week before the review
    assert on_time(state, due - timedelta(seconds=1)) == []
    [reminder] = on_time(state, due)
    assert reminder.members == ["anglers", "birders"]
    state = evolve(state, reminder)
    assert next_due(state) is None

    hand = HandOver(actor="birders", context=CONTEXT, responsibility_id="monthly-meeting", to="canoeists")
    state, _ = apply(state, hand)
    assert state.responsibilities["monthly-meeting"].owner == "canoeists"
    assert refused(state, hand).kind == RefusalKind.FORBIDDEN  # birders no longer hold it
    release = Release(actor="anglers", context=CONTEXT, responsibility_id="monthly-meeting", reason="meetings moved online")
    state, _ = apply(state, release)  # a coordinator may release anyone's
    assert state.responsibilities["monthly-meeting"].released
    assert refused(state, release).message == "no responsibility 'monthly-meeting' is held"


def test_the_chart_is_valid_svg_with_a_pair_of_bars_per_member_and_its_numbers_beside_them() -> None:
    import xml.etree.ElementTree as ET

    from accord.costs import chart_svg

    got = report(quarter(), COSTS, CONTEXT.members, *Q1)
    svg = ET.fromstring(chart_svg(got))
    ns = {"svg": "http://www.w3.org/2000/svg"}
    assert svg.get("role") == "img" and svg.get("aria-labelledby") == "costs-title-rivers costs-desc-rivers"
    assert svg.findtext("svg:title", namespaces=ns) == "Agreed and actual shares of the costs of rivers, 2026-01-01 to 2026-03-31"
    members = svg.findall("svg:g[@class='member']", ns)
    assert len(members) == 4
    for group, line in zip(members, got.members, strict=True):
        agreed, actual = group.findall("svg:rect", ns)
        assert agreed.get("class") == "agreed" and actual.get("class") == ("actual flagged" if line.flagged else "actual")
        assert float(agreed.get("width") or 0) == float(line.agreed) * 300 and float(actual.get("width") or 0) == float(line.share) * 300
        assert group.findtext("svg:text", namespaces=ns) == line.member_id
    rows = svg.findall("svg:g[@class='table']/svg:g[@class='row']", ns)
    assert [t.text for t in rows[0].findall("svg:text", ns)] == ["anglers *", "593.78", "0.3438", "0.4000", "-0.0562"]
    assert len(rows) == 4
    # A member's name is text, never markup.
    odd = got.model_copy(update={"members": [got.members[0].model_copy(update={"member_id": "a<b>&c"})]})
    assert ET.fromstring(chart_svg(odd)).find("svg:g[@class='member']/svg:text", ns).text == "a<b>&c"  # type: ignore[union-attr]
