"""The costs ledger as a decider: who carried what for the alliance, against the shares it agreed.

Entries are money, staff hours, contributions in kind and expenses paid on the alliance's behalf, each
in minor units of an ISO 4217 currency (events/currency.py); exchange rates to the reporting currency
are entries too, dated and sourced, so that a report can be recomputed exactly later. An entry is never
edited: a correction reverses it, with a reason. A member records its own contributions; a coordinator
records for anyone. The register of responsibilities (who convenes, who holds the budget) has an owner,
a start and a review date per responsibility, a reminder before the review, and hand-overs and releases
as events.

`report` computes, for a period, each member's contributions by kind in the reporting currency, its
share of the total, its agreed share, the difference and whether it exceeds the charter's tolerance.
The arithmetic is decimal throughout; the rounding rule is `report`'s.

`decide` handles people's commands, `on_time` the clock (`next_due` says when), `evolve` folds events.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter

from events.charter import Costs
from events.currency import Currency, digits, to_major, to_minor
from events.rules import DomainEvent, Model, Slug, Text, conflict, forbidden, invalid, not_found

REMINDER_LEAD = timedelta(days=7)
"""How long before a responsibility's review date its owner and the coordinators are reminded."""


class EntryKind(StrEnum):
    MONEY = "money"
    HOURS = "hours"
    IN_KIND = "in_kind"
    EXPENSE = "expense"


class InKind(StrEnum):
    VENUE = "venue"
    MEALS = "meals"
    SUPPLIES = "supplies"
    TRAVEL = "travel"
    OTHER = "other"


class Entry(Model):
    entry_id: str
    kind: EntryKind
    member_id: str
    """Who carried it: contributed the money, the hours or the thing, or paid the expense."""
    recorded_by: str
    on: date
    amount: int = 0
    """Minor units of `currency` (money, in kind, expenses)."""
    currency: str | None = None
    hours: Decimal = Decimal(0)
    category: InKind | None = None
    description: str
    reversed_by: str | None = None
    disputes: list[str] = []
    """The disputes raised on it (the dispute ladder decides them; a correction follows where it should)."""


class Rate(Model):
    currency: str
    rate: Decimal
    """Units of the reporting currency for one unit of `currency`."""
    on: date
    source: str


class Responsibility(Model):
    responsibility_id: str
    what: str
    owner: str
    start: date
    review: date
    reminded: bool = False
    released: bool = False
    coordinators: list[str] = []
    """Reminded of the review with the owner: the coordinators when the responsibility was taken."""


class LedgerState(Model):
    """Entries are never removed (a correction reverses one), so the next entry's id is e<count + 1>."""

    alliance_id: str
    entries: dict[str, Entry] = {}
    rates: list[Rate] = []
    responsibilities: dict[str, Responsibility] = {}


class LedgerContext(Model):
    """The alliance as a command finds it: who may act, and in which currency it reports."""

    members: list[str]
    coordinators: list[str]
    reporting: str


# --- commands -------------------------------------------------------------------------------------------


class LedgerCommandBase(Model):
    """What every ledger command carries: who acts, and the alliance as accord found it."""

    actor: str
    context: LedgerContext | None = None
    """Filled in by accord from the alliance when the command is sent."""


class RecordEntry(LedgerCommandBase):
    type: Literal["record"] = "record"
    kind: EntryKind
    member_id: str
    on: date
    amount: str | None = None
    """In major units, as text ("12.50"): money, in kind and expenses."""
    currency: Currency | None = None
    hours: Decimal | None = Field(default=None, gt=0, le=10_000)
    category: InKind | None = None
    description: Text


class CorrectEntry(LedgerCommandBase):
    type: Literal["correct"] = "correct"
    entry_id: str
    reason: Text


class RecordRate(LedgerCommandBase):
    type: Literal["rate"] = "rate"
    currency: Currency
    rate: Decimal = Field(gt=0)
    on: date
    source: Text


class MarkDisputed(LedgerCommandBase):
    """Sent by accord once a dispute on an entry is raised (accord/costs.py `dispute_entry`)."""

    type: Literal["mark_disputed"] = "mark_disputed"
    entry_id: str
    dispute_id: str


class TakeResponsibility(LedgerCommandBase):
    type: Literal["take"] = "take"
    responsibility_id: Slug
    what: Text
    owner: str
    start: date
    review: date


class HandOver(LedgerCommandBase):
    type: Literal["hand_over"] = "hand_over"
    responsibility_id: str
    to: str


class Release(LedgerCommandBase):
    type: Literal["release"] = "release"
    responsibility_id: str
    reason: Text


LedgerCommand = Annotated[
    RecordEntry | CorrectEntry | RecordRate | TakeResponsibility | HandOver | Release | MarkDisputed, Field(discriminator="type")
]

# --- events ---------------------------------------------------------------------------------------------


class LedgerOpened(DomainEvent):
    type: Literal["LedgerOpened"] = "LedgerOpened"
    alliance_id: str


class EntryRecorded(DomainEvent):
    type: Literal["EntryRecorded"] = "EntryRecorded"
    entry: Entry


class EntryReversed(DomainEvent):
    type: Literal["EntryReversed"] = "EntryReversed"
    entry_id: str
    by: str
    reason: str


class EntryDisputed(DomainEvent):
    type: Literal["EntryDisputed"] = "EntryDisputed"
    entry_id: str
    dispute_id: str
    by: str


class RateRecorded(DomainEvent):
    type: Literal["RateRecorded"] = "RateRecorded"
    rate: Rate
    by: str


class ResponsibilityTaken(DomainEvent):
    type: Literal["ResponsibilityTaken"] = "ResponsibilityTaken"
    responsibility: Responsibility
    by: str


class ResponsibilityHandedOver(DomainEvent):
    type: Literal["ResponsibilityHandedOver"] = "ResponsibilityHandedOver"
    responsibility_id: str
    by: str
    to: str


class ResponsibilityReleased(DomainEvent):
    type: Literal["ResponsibilityReleased"] = "ResponsibilityReleased"
    responsibility_id: str
    by: str
    reason: str


class ReviewReminderSent(DomainEvent):
    type: Literal["ReviewReminderSent"] = "ReviewReminderSent"
    responsibility_id: str
    members: list[str]


LedgerEvent = Annotated[
    LedgerOpened | EntryRecorded | EntryReversed | EntryDisputed | RateRecorded | ResponsibilityTaken | ResponsibilityHandedOver
    | ResponsibilityReleased | ReviewReminderSent,
    Field(discriminator="type"),
]
ledger_event = TypeAdapter(LedgerEvent)

# --- decide ---------------------------------------------------------------------------------------------


def _member(context: LedgerContext, member_id: str, field: str) -> None:
    if member_id not in context.members:
        raise invalid(f"{member_id!r} is not an active member of the alliance", field)


def _for(context: LedgerContext, actor: str, member_id: str, action: str) -> None:
    """A member acts for itself; a coordinator for anyone."""
    if actor not in context.members:
        raise forbidden(f"only active members may {action}")
    if actor != member_id and actor not in context.coordinators:
        raise forbidden(f"a member may {action} only for itself; a coordinator may for anyone")


def _entry(state: LedgerState, command: RecordEntry, now: datetime) -> Entry:
    """The entry a command records: its amount in minor units, or its hours; refused when it is not one."""
    common = Entry(
        entry_id=f"e{len(state.entries) + 1}", kind=command.kind, member_id=command.member_id, recorded_by=command.actor,
        on=command.on, description=command.description,
    )
    if command.on > now.date():
        raise invalid(f"an entry is dated when it was carried, not in the future ({command.on})", "on")
    if command.kind == EntryKind.HOURS:
        if command.hours is None or command.amount is not None or command.currency is not None:
            raise invalid("hours are given as `hours` (more than 0), with no amount or currency", "hours")
        if command.category is not None:
            raise invalid("a category is for contributions in kind", "category")
        return common.model_copy(update={"hours": command.hours})
    if command.amount is None or command.currency is None or command.hours is not None:
        raise invalid(f"{command.kind.value} is given as an `amount` with its `currency`, and no hours", "amount")
    if (command.kind == EntryKind.IN_KIND) != (command.category is not None):
        raise invalid(
            "a contribution in kind names its category (venue, meals, supplies, travel, other); other entries do not",
            "category",
        )
    try:
        minor = to_minor(command.amount, command.currency)
    except ValueError as error:
        raise invalid(str(error), "amount") from None
    return common.model_copy(update={"amount": minor, "currency": command.currency, "category": command.category})


def decide(state: LedgerState | None, command: LedgerCommand, now: datetime, alliance_id: str | None = None) -> list[LedgerEvent]:
    """The events of a command; the first command of an alliance's ledger opens it (`alliance_id`)."""
    context = command.context
    if context is None:
        raise invalid("a ledger command needs the alliance's context, which accord fills in")
    if state is None:
        if alliance_id is None:
            raise not_found("this alliance has no ledger yet")
        opened = LedgerOpened(at=now, alliance_id=alliance_id)
        return [opened, *decide(evolve(None, opened), command, now)]
    match command:
        case RecordEntry():
            _member(context, command.member_id, "member_id")
            _for(context, command.actor, command.member_id, "record contributions")
            return [EntryRecorded(at=now, entry=_entry(state, command, now))]
        case CorrectEntry():
            entry = state.entries.get(command.entry_id)
            if entry is None:
                raise not_found(f"no entry {command.entry_id!r} in the ledger", "entry_id")
            if entry.reversed_by is not None:
                raise conflict(f"entry {command.entry_id!r} was already reversed ({entry.reversed_by})")
            _for(context, command.actor, entry.member_id, "correct entries")
            return [EntryReversed(at=now, entry_id=command.entry_id, by=command.actor, reason=command.reason)]
        case MarkDisputed():
            disputed = disputable(state, command.actor, command.entry_id)
            return [EntryDisputed(at=now, entry_id=disputed.entry_id, dispute_id=command.dispute_id, by=command.actor)]
        case RecordRate():
            if command.actor not in context.coordinators:
                raise forbidden("only a coordinator may record exchange rates")
            if command.currency == context.reporting:
                raise invalid(f"{command.currency} is the reporting currency: it needs no rate", "currency")
            rate = Rate(currency=command.currency, rate=command.rate, on=command.on, source=command.source)
            return [RateRecorded(at=now, rate=rate, by=command.actor)]
        case TakeResponsibility():
            _member(context, command.owner, "owner")
            _for(context, command.actor, command.owner, "take on responsibilities")
            if command.responsibility_id in state.responsibilities:
                raise conflict(f"responsibility {command.responsibility_id!r} is already in the register")
            if command.review <= command.start:
                raise invalid("the review date must come after the start", "review")
            taken = Responsibility(
                responsibility_id=command.responsibility_id, what=command.what, owner=command.owner, start=command.start,
                review=command.review, coordinators=context.coordinators,
            )
            return [ResponsibilityTaken(at=now, responsibility=taken, by=command.actor)]
        case HandOver() | Release():
            held = state.responsibilities.get(command.responsibility_id)
            if held is None or held.released:
                raise not_found(f"no responsibility {command.responsibility_id!r} is held", "responsibility_id")
            _for(context, command.actor, held.owner, "hand over or release a responsibility")
            if isinstance(command, Release):
                return [ResponsibilityReleased(at=now, responsibility_id=held.responsibility_id, by=command.actor, reason=command.reason)]
            _member(context, command.to, "to")
            if command.to == held.owner:
                raise conflict(f"{command.to!r} already holds {held.responsibility_id!r}")
            return [ResponsibilityHandedOver(at=now, responsibility_id=held.responsibility_id, by=command.actor, to=command.to)]
    raise invalid(f"unknown ledger command {type(command).__name__}")


def disputable(state: LedgerState, actor: str, entry_id: str) -> Entry:
    """The entry `actor` may dispute: one that stands, and not the actor's own (that is corrected instead)."""
    entry = state.entries.get(entry_id)
    if entry is None:
        raise not_found(f"no entry {entry_id!r} in the ledger", "entry_id")
    if entry.reversed_by is not None:
        raise conflict(f"entry {entry_id!r} was reversed ({entry.reversed_by}): there is nothing left to dispute")
    if entry.member_id == actor:
        raise conflict(f"entry {entry_id!r} is {actor!r}'s own: correct it instead of disputing it")
    return entry


# --- the clock ------------------------------------------------------------------------------------------


def _reminder_at(held: Responsibility) -> datetime:
    return datetime.combine(held.review, time(0), tzinfo=UTC) - REMINDER_LEAD


def next_due(state: LedgerState) -> datetime | None:
    """The next reminder of a responsibility's review."""
    due = [_reminder_at(r) for r in state.responsibilities.values() if not r.released and not r.reminded]
    return min(due) if due else None


def on_time(state: LedgerState, now: datetime) -> list[LedgerEvent]:
    """The reminders due at `now`: to the owner and the coordinators of when it was taken."""
    return [
        ReviewReminderSent(at=now, responsibility_id=r.responsibility_id, members=sorted({r.owner, *r.coordinators}))
        for r in state.responsibilities.values()
        if not r.released and not r.reminded and now >= _reminder_at(r)
    ]


# --- evolve ---------------------------------------------------------------------------------------------


def audit_summary(state: LedgerState) -> tuple[Any, Any]:
    """What an audit report shows of a ledger beside its events: its entries standing and reversed, and the
    responsibilities held (its rules are the charter's [costs], in the alliance's own report)."""
    held = [r.responsibility_id for r in state.responsibilities.values() if not r.released]
    live = [e for e in state.entries.values() if e.reversed_by is None]
    return None, {"entries": len(live), "reversed": len(state.entries) - len(live), "responsibilities": held}


def evolve(state: LedgerState | None, event: LedgerEvent) -> LedgerState:
    if isinstance(event, LedgerOpened):
        return LedgerState(alliance_id=event.alliance_id)
    if state is None:
        raise ValueError(f"{event.type} before LedgerOpened: the stream is corrupt")
    match event:
        case EntryRecorded():
            entries = {**state.entries, event.entry.entry_id: event.entry}
            return state.model_copy(update={"entries": entries})
        case EntryReversed():
            reversed_ = state.entries[event.entry_id].model_copy(update={"reversed_by": event.by})
            return state.model_copy(update={"entries": {**state.entries, event.entry_id: reversed_}})
        case EntryDisputed():
            entry = state.entries[event.entry_id]
            disputed = entry.model_copy(update={"disputes": [*entry.disputes, event.dispute_id]})
            return state.model_copy(update={"entries": {**state.entries, event.entry_id: disputed}})
        case RateRecorded():
            return state.model_copy(update={"rates": [*state.rates, event.rate]})
        case ResponsibilityTaken():
            held = event.responsibility
            return state.model_copy(update={"responsibilities": {**state.responsibilities, held.responsibility_id: held}})
        case ResponsibilityHandedOver():
            return _holding(state, event.responsibility_id, owner=event.to)
        case ResponsibilityReleased():
            return _holding(state, event.responsibility_id, released=True)
        case ReviewReminderSent():
            return _holding(state, event.responsibility_id, reminded=True)
    raise ValueError(f"unknown ledger event {event.type}")


class LedgerNotice(Model):
    member_id: str
    kind: str
    message: str


def told(after: LedgerState, event: LedgerEvent) -> list[LedgerNotice]:
    """Who is told of an event: a member whose entry someone else reversed; whoever is reminded of a review;
    the new holder of a responsibility handed over."""
    match event:
        case EntryReversed() if after.entries[event.entry_id].member_id != event.by:
            entry = after.entries[event.entry_id]
            message = f"{event.by} reversed entry {entry.entry_id}: {event.reason}"
            return [LedgerNotice(member_id=entry.member_id, kind="entry_reversed", message=message)]
        case ReviewReminderSent():
            held = after.responsibilities[event.responsibility_id]
            message = f"the responsibility {held.what!r} ({held.owner}) is due for review on {held.review}"
            return [LedgerNotice(member_id=m, kind="responsibility_review", message=message) for m in event.members]
        case ResponsibilityHandedOver():
            held = after.responsibilities[event.responsibility_id]
            message = f"{event.by} handed {held.what!r} over to you"
            return [LedgerNotice(member_id=event.to, kind="responsibility_handed_over", message=message)]
        case _:
            return []


def _holding(state: LedgerState, responsibility_id: str, **change: object) -> LedgerState:
    held = state.responsibilities[responsibility_id].model_copy(update=change)
    return state.model_copy(update={"responsibilities": {**state.responsibilities, responsibility_id: held}})


# --- the report -----------------------------------------------------------------------------------------

SHARE_PLACES = Decimal("0.0001")
"""Shares and differences are reported to four decimals (0.2500 is 25%)."""


class MemberLine(Model):
    member_id: str
    by_kind: dict[str, Decimal]
    """Value carried per kind of entry, in the reporting currency."""
    total: Decimal
    share: Decimal
    agreed: Decimal
    difference: Decimal
    """share - agreed: more than 0 carries more than agreed."""
    flagged: bool


class Report(Model):
    alliance_id: str
    start: date
    end: date
    currency: str
    members: list[MemberLine]
    total: Decimal
    by_currency: dict[str, Decimal]
    """What was carried in each currency, in that currency (hours not included)."""
    hours: Decimal
    rates: list[Rate]
    """The rates the report converted with."""
    tolerance: Decimal


def agreed_shares(costs: Costs, members: list[str]) -> dict[str, Decimal]:
    """Each member's agreed share: equal among `members`, or the charter's fixed shares or weights."""
    if costs.shares == "fixed":
        missing = sorted(set(members) - set(costs.share))
        if missing:
            raise conflict(f"the charter's shares name no share for {', '.join(missing)}: amend [costs.share]")
        return {m: costs.share[m] for m in members}
    if costs.shares == "weighted":
        missing = sorted(set(members) - set(costs.weight))
        if missing:
            raise conflict(f"the charter's weights name no weight for {', '.join(missing)}: amend [costs.weight]")
        total = sum(costs.weight[m] for m in members)
        return {m: costs.weight[m] / total for m in members}
    return {m: Decimal(1) / len(members) for m in members}


def _rate_on(rates: list[Rate], currency: str, on: date) -> Rate | None:
    """The rate of `currency` in force on `on`: the latest dated on or before it (of one date, the last recorded)."""
    known = [r for r in rates if r.currency == currency and r.on <= on]
    return max(known, key=lambda r: r.on) if known else None


def report(state: LedgerState, costs: Costs, members: list[str], start: date, end: date) -> Report:
    """The ledger from `start` to `end` (both included) for `members` (the active members), in the
    charter's reporting currency.

    Rounding: each entry's value is converted exactly (its amount times the rate in force on its date, or
    its hours times the member's hour value) and rounded once, half to even, to the reporting currency's
    minor unit; totals are sums of those. Shares are each member's total over the alliance's, agreed
    shares the charter's, both rounded half to even to four decimals, and the difference is taken of the
    rounded figures. A member is flagged when the difference's size exceeds the tolerance."""
    if end < start:
        raise invalid(f"a report's period ends ({end}) before it starts ({start})", "end")
    if not members:
        raise conflict("the alliance has no active members to report on")
    reporting, cent = costs.currency, Decimal(1).scaleb(-digits(costs.currency))
    carried = [
        e for e in state.entries.values()
        if e.reversed_by is None and start <= e.on <= end and e.member_id in members
    ]
    values: dict[str, dict[str, Decimal]] = {m: {k.value: Decimal(0) for k in EntryKind} for m in members}
    by_currency: dict[str, Decimal] = {}
    used: dict[tuple[str, date], Rate] = {}
    hours = Decimal(0)
    for entry in sorted(carried, key=lambda e: (e.on, int(e.entry_id[1:]))):
        if entry.kind == EntryKind.HOURS:
            value = entry.hours * costs.hour_values.get(entry.member_id, costs.hour_value)
            hours += entry.hours
        else:
            assert entry.currency is not None
            amount = to_major(entry.amount, entry.currency)
            by_currency[entry.currency] = by_currency.get(entry.currency, Decimal(0)) + amount
            if entry.currency == reporting:
                value = amount
            else:
                rate = _rate_on(state.rates, entry.currency, entry.on)
                if rate is None:
                    raise conflict(
                        f"no rate of {entry.currency} to {reporting} is in force on {entry.on} (entry {entry.entry_id}): "
                        f"record one dated on or before it"
                    )
                used[(rate.currency, rate.on)] = rate
                value = amount * rate.rate
        values[entry.member_id][entry.kind.value] += value.quantize(cent, rounding=ROUND_HALF_EVEN)
    totals = {m: sum(kinds.values(), Decimal(0)) for m, kinds in values.items()}
    total = sum(totals.values(), Decimal(0))
    agreed = agreed_shares(costs, members)
    lines: list[MemberLine] = []
    for m in sorted(members):
        share = (totals[m] / total if total else Decimal(0)).quantize(SHARE_PLACES, rounding=ROUND_HALF_EVEN)
        owed = agreed[m].quantize(SHARE_PLACES, rounding=ROUND_HALF_EVEN)
        difference = share - owed
        lines.append(
            MemberLine(
                member_id=m, by_kind=values[m], total=totals[m], share=share, agreed=owed, difference=difference,
                flagged=bool(total) and abs(difference) > costs.tolerance,
            )
        )
    return Report(
        alliance_id=state.alliance_id, start=start, end=end, currency=reporting, members=lines, total=total,
        by_currency=dict(sorted(by_currency.items())), hours=hours,
        rates=sorted(used.values(), key=lambda r: (r.currency, r.on)), tolerance=costs.tolerance,
    )
