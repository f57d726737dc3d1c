"""Consensus decisions as a decider: point-by-point consent, quorum, reminders, timed escalation.

A decision pins, at opening, the charter's decision rules, its principles and the electorate (the
active members at that moment), so later charter or membership changes never alter it. Members take a
stance on each point; at the deadline each point is evaluated; a decision where some point lacks
quorum stalls and is escalated, by a coordinator or, when nobody acts in time, by the charter's
fallback rule. A block that cites a core principle is never overridden.

`decide` handles members' commands, `on_time` the timers (`next_due` says when), `evolve` folds events.
"""

from __future__ import annotations

import math
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, TypeAdapter

from events.alliance import AllianceState, DecisionResult, ParkedPoint, Role
from events.charter import MAX_WINDOW, DecisionRules, FallbackRule
from events.rules import DomainEvent, Duration, Model, Slug, Text, conflict, forbidden, format_duration, invalid, not_found
from events.upcast import upcaster

MAX_POINTS = 50
APPEAL_PREFIX = "appeal-"
"""Decision ids an appeal of a dispute uses ('appeal-<dispute id>'); members cannot take them."""


def appealed_dispute(decision_id: str) -> str | None:
    """The dispute whose appeal the decision `decision_id` is; None for any other decision."""
    return decision_id.removeprefix(APPEAL_PREFIX) if decision_id.startswith(APPEAL_PREFIX) else None


class StanceKind(StrEnum):
    AGREE = "agree"
    CONCERNS = "concerns"  # agree, with reservations
    STAND_ASIDE = "stand_aside"
    OBJECT = "object"
    BLOCK = "block"


class Stage(StrEnum):
    OPEN = "open"
    STALLED = "stalled"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"


class PointOutcome(StrEnum):
    ADOPTED = "adopted"
    PARKED = "parked"
    BLOCKED_ON_PRINCIPLE = "blocked_on_principle"
    WITHDRAWN = "withdrawn"


class DecisionOutcome(StrEnum):
    ADOPTED = "adopted"
    PARTIALLY_ADOPTED = "partially_adopted"
    NOT_ADOPTED = "not_adopted"
    WITHDRAWN = "withdrawn"
    LAPSED = "lapsed"


class Stance(Model):
    stance: StanceKind
    reason: str | None = None
    principle: str | None = None
    at: datetime


class Point(Model):
    point_id: str
    text: str
    origin: str | None = None
    withdrawn: bool = False
    stances: dict[str, Stance] = {}


class PointDraft(Model):
    text: Text
    origin: str | None = Field(default=None, description="a parked point this one takes up: '<decision>/<point>'")


class DecisionContext(Model):
    """What the alliance looked like when the decision opened; pinned into the opening event."""

    rules: DecisionRules
    principles: list[str]
    electorate: list[str]
    coordinators: list[str]
    steering: list[str]
    parked: list[str] = []


def pinned_context(alliance: AllianceState) -> DecisionContext:
    """The alliance as a decision opened now pins it: the charter's decision rules and principles, who may
    respond, who coordinates and steers, and the parked points it may take up."""
    return DecisionContext(
        rules=alliance.charter.decisions,
        principles=[p.id for p in alliance.charter.principles],
        electorate=sorted(m.member_id for m in alliance.active_members()),
        coordinators=alliance.with_role(Role.COORDINATOR),
        steering=alliance.with_role(Role.STEERING),
        parked=sorted(alliance.parked),
    )


class DecisionState(Model):
    decision_id: str
    alliance_id: str
    title: str
    body: str
    proposer: str
    context: DecisionContext
    points: dict[str, Point]
    next_point: int
    opened_at: datetime
    deadline: datetime
    reminded_for: datetime | None = None
    stage: Stage = Stage.OPEN
    extensions: int = 0
    stalled_points: list[str] = []
    escalation_deadline: datetime | None = None
    outcomes: dict[str, PointOutcome] = {}
    outcome: DecisionOutcome | None = None
    closed_at: datetime | None = None
    closed_how: str | None = None
    rule_applied: str | None = None

    @property
    def rules(self) -> DecisionRules:
        return self.context.rules

    @property
    def active_points(self) -> list[Point]:
        return [p for p in self.points.values() if not p.withdrawn]

    @property
    def is_live(self) -> bool:
        return self.stage in (Stage.OPEN, Stage.STALLED)

    def pending_members(self) -> list[str]:
        """Members of the electorate without a stance on every active point."""
        return [m for m in self.context.electorate if any(m not in p.stances for p in self.active_points)]


# --- commands -------------------------------------------------------------------------------------


class OpenDecision(Model):
    type: Literal["open"] = "open"
    actor: str
    decision_id: Slug
    alliance_id: str
    title: Text
    body: str = ""
    points: list[PointDraft] = Field(min_length=1, max_length=MAX_POINTS)
    response_window: Duration | None = None
    context: DecisionContext
    appeal_of: str | None = None
    """The dispute whose ruling this decision decides on appeal; opened by accord, not by a member."""


class TakeStance(Model):
    type: Literal["stance"] = "stance"
    actor: str
    point_id: str
    stance: StanceKind
    reason: str | None = None
    principle: str | None = None


class AmendPoint(Model):
    type: Literal["amend"] = "amend"
    actor: str
    point_id: str
    text: Text


class AddPoint(Model):
    type: Literal["add_point"] = "add_point"
    actor: str
    text: Text
    origin: str | None = None


class WithdrawPoint(Model):
    type: Literal["withdraw_point"] = "withdraw_point"
    actor: str
    point_id: str


class WithdrawDecision(Model):
    type: Literal["withdraw"] = "withdraw"
    actor: str
    reason: Text


class ExtendDeadline(Model):
    type: Literal["extend"] = "extend"
    actor: str


class ApplyFallback(Model):
    type: Literal["fallback"] = "fallback"
    actor: str


class CloseDecision(Model):
    type: Literal["close"] = "close"
    actor: str


DecisionCommand = Annotated[
    OpenDecision
    | TakeStance
    | AmendPoint
    | AddPoint
    | WithdrawPoint
    | WithdrawDecision
    | ExtendDeadline
    | ApplyFallback
    | CloseDecision,
    Field(discriminator="type"),
]

# --- events ---------------------------------------------------------------------------------------


class OpenedPoint(Model):
    point_id: str
    text: str
    origin: str | None = None


class DecisionOpened(DomainEvent):
    type: Literal["DecisionOpened"] = "DecisionOpened"
    decision_id: str
    alliance_id: str
    title: str
    body: str
    proposer: str
    points: list[OpenedPoint]
    context: DecisionContext
    deadline: datetime


class StanceTaken(DomainEvent):
    type: Literal["StanceTaken"] = "StanceTaken"
    member_id: str
    point_id: str
    stance: StanceKind
    reason: str | None = None
    principle: str | None = None


class ReminderSent(DomainEvent):
    type: Literal["ReminderSent"] = "ReminderSent"
    deadline: datetime
    members: list[str]


class PointAmended(DomainEvent):
    type: Literal["PointAmended"] = "PointAmended"
    point_id: str
    text: str
    cleared: list[str]
    deadline: datetime


class PointAdded(DomainEvent):
    type: Literal["PointAdded"] = "PointAdded"
    point_id: str
    text: str
    origin: str | None = None
    deadline: datetime


class PointWithdrawn(DomainEvent):
    type: Literal["PointWithdrawn"] = "PointWithdrawn"
    point_id: str


class DecisionStalled(DomainEvent):
    """Schema version 2 renamed `points` to `without_quorum`, saying why those points stalled."""

    schema_version: ClassVar[int] = 2
    type: Literal["DecisionStalled"] = "DecisionStalled"
    without_quorum: list[str]
    escalation_deadline: datetime


@upcaster("DecisionStalled", 1)
def _stalled_v1(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 called the points that lacked quorum `points`."""
    data = dict(data)
    data["without_quorum"] = data.pop("points")
    return data


class DeadlineExtended(DomainEvent):
    type: Literal["DeadlineExtended"] = "DeadlineExtended"
    by: str
    deadline: datetime
    extensions: int


class DecisionEscalated(DomainEvent):
    """A stalled decision resolved by the charter's fallback: by a coordinator, or by itself."""

    type: Literal["DecisionEscalated"] = "DecisionEscalated"
    rule: FallbackRule
    automatic: bool
    by: str | None = None


ClosedHow = Literal["all_responded", "deadline", "fallback", "automatic", "coordinator"]
"""What closed a decision: everyone responded, its deadline, a fallback rule (applied by a coordinator or
by itself at the end of the escalation window), or a coordinator."""


class DecisionClosed(DomainEvent):
    type: Literal["DecisionClosed"] = "DecisionClosed"
    how: ClosedHow
    rule: str | None = None
    outcomes: dict[str, PointOutcome]
    outcome: DecisionOutcome
    by: str | None = None


class DecisionWithdrawn(DomainEvent):
    type: Literal["DecisionWithdrawn"] = "DecisionWithdrawn"
    by: str
    reason: str


DecisionEvent = Annotated[
    DecisionOpened
    | StanceTaken
    | ReminderSent
    | PointAmended
    | PointAdded
    | PointWithdrawn
    | DecisionStalled
    | DeadlineExtended
    | DecisionEscalated
    | DecisionClosed
    | DecisionWithdrawn,
    Field(discriminator="type"),
]
decision_event = TypeAdapter(DecisionEvent)

# --- evaluation -----------------------------------------------------------------------------------


class Tally(Model):
    """The count on one point, and what the rules make of it now."""

    point_id: str
    counts: dict[StanceKind, int]
    responded: int
    electorate: int
    quorum_needed: int
    quorum_met: bool
    principle_blocks: list[str]
    objections: int
    verdict: str
    """What would happen at the deadline now: adopted, parked, blocked_on_principle, or no_quorum."""


def quorum_needed(rules: DecisionRules, electorate: int) -> int:
    # A small epsilon keeps float error (0.56 * 25 = 14.000000000000002) from demanding one more member.
    return max(1, math.ceil(rules.quorum * electorate - 1e-9))


def tally(state: DecisionState, point: Point) -> Tally:
    counts = dict.fromkeys(StanceKind, 0)
    for stance in point.stances.values():
        counts[stance.stance] += 1
    needed = quorum_needed(state.rules, len(state.context.electorate))
    principle_blocks = sorted(
        {s.principle for s in point.stances.values() if s.stance == StanceKind.BLOCK and s.principle}
    )
    result = Tally(
        point_id=point.point_id,
        counts=counts,
        responded=len(point.stances),
        electorate=len(state.context.electorate),
        quorum_needed=needed,
        quorum_met=len(point.stances) >= needed,
        principle_blocks=principle_blocks,
        objections=counts[StanceKind.OBJECT],
        verdict="",
    )
    verdict = evaluate(state.rules, result)
    return result.model_copy(update={"verdict": verdict.value if verdict else "no_quorum"})


def evaluate(rules: DecisionRules, t: Tally) -> PointOutcome | None:
    """A point's outcome at the deadline, or None when it lacks quorum (and so stalls the decision)."""
    if t.principle_blocks:
        return PointOutcome.BLOCKED_ON_PRINCIPLE
    if t.counts[StanceKind.BLOCK] or t.objections > rules.objection_tolerance:
        return PointOutcome.PARKED
    if not t.quorum_met:
        return None
    return PointOutcome.ADOPTED


def fallback_outcome(rules: DecisionRules, rule: FallbackRule, t: Tally) -> PointOutcome:
    """A stalled point under the fallback: a principle block or any other block is never overridden."""
    settled = evaluate(rules, t)
    if settled is not None:
        return settled
    if rule == "supermajority":
        agree = t.counts[StanceKind.AGREE] + t.counts[StanceKind.CONCERNS]
        cast = agree + t.objections
        if agree and agree / cast >= rules.supermajority - 1e-9:
            return PointOutcome.ADOPTED
    return PointOutcome.PARKED


def _outcomes(state: DecisionState, per_point: dict[str, PointOutcome | None], unresolved: PointOutcome) -> dict[str, PointOutcome]:
    outcomes = {pid: PointOutcome.WITHDRAWN for pid, p in state.points.items() if p.withdrawn}
    outcomes.update({pid: o if o is not None else unresolved for pid, o in per_point.items()})
    return outcomes


def decision_outcome(outcomes: dict[str, PointOutcome], *, lapsed: bool = False) -> DecisionOutcome:
    decided = [o for o in outcomes.values() if o != PointOutcome.WITHDRAWN]
    adopted = sum(o == PointOutcome.ADOPTED for o in decided)
    if decided and adopted == len(decided):
        return DecisionOutcome.ADOPTED
    if adopted:
        return DecisionOutcome.PARTIALLY_ADOPTED
    return DecisionOutcome.LAPSED if lapsed else DecisionOutcome.NOT_ADOPTED


def _evaluated(state: DecisionState) -> dict[str, PointOutcome | None]:
    return {p.point_id: evaluate(state.rules, tally(state, p)) for p in state.active_points}


def _close(
    state: DecisionState, how: ClosedHow, now: datetime, *, rule: FallbackRule | None = None, by: str | None = None
) -> DecisionClosed:
    per_point: dict[str, PointOutcome | None]
    if rule is not None:
        per_point = {p.point_id: fallback_outcome(state.rules, rule, tally(state, p)) for p in state.active_points}
    else:
        per_point = _evaluated(state)
    outcomes = _outcomes(state, per_point, PointOutcome.PARKED)
    return DecisionClosed(
        at=now, how=how, rule=rule, outcomes=outcomes, by=by,
        outcome=decision_outcome(outcomes, lapsed=rule == "lapse"),
    )


def unattended_close(state: DecisionState, now: datetime) -> DecisionClosed:
    """How an open decision closes when nobody acts after its deadline: at the deadline when every point
    has quorum, otherwise by its fallback rule once the escalation window ends (the clock's two steps in
    one; what-if asks it under other rules)."""
    if any(outcome is None for outcome in _evaluated(state).values()):
        return _close(state, "automatic", now, rule=state.rules.fallback)
    return _close(state, "deadline", now)


def result_for_alliance(state: DecisionState, now: datetime) -> DecisionResult | None:
    """What a closed decision tells its alliance: the points it parked (blocked, or blocked on a principle)
    for more discussion, and the parked points it took up; None when there is nothing to tell."""
    if state.stage != Stage.CLOSED:
        return None
    parked = [
        ParkedPoint(
            ref=f"{state.decision_id}/{pid}", decision_id=state.decision_id, point_id=pid,
            text=state.points[pid].text, outcome=outcome.value, parked_at=state.closed_at or now,
        )
        for pid, outcome in state.outcomes.items()
        if outcome in (PointOutcome.PARKED, PointOutcome.BLOCKED_ON_PRINCIPLE)
    ]
    taken_up = sorted({p.origin for p in state.points.values() if p.origin and not p.withdrawn})
    if not (parked or taken_up):
        return None
    return DecisionResult(decision_id=state.decision_id, parked=parked, taken_up=taken_up, closed_at=state.closed_at)


# --- decide ---------------------------------------------------------------------------------------


def _live(state: DecisionState) -> None:
    if state.stage == Stage.CLOSED:
        raise conflict(f"decision {state.decision_id!r} is closed (outcome: {state.outcome})")
    if state.stage == Stage.WITHDRAWN:
        raise conflict(f"decision {state.decision_id!r} was withdrawn")


def _voter(state: DecisionState, actor: str) -> None:
    if actor not in state.context.electorate:
        raise forbidden(
            f"{actor!r} is not in the electorate of decision {state.decision_id!r} "
            "(the members who were active when it opened)"
        )


def _coordinator(state: DecisionState, actor: str, action: str) -> None:
    if actor not in state.context.coordinators:
        raise forbidden(f"only a coordinator may {action}; {actor!r} is not one")


def _point(state: DecisionState, point_id: str) -> Point:
    point = state.points.get(point_id)
    if point is None:
        raise not_found(
            f"decision {state.decision_id!r} has no point {point_id!r} (points: {', '.join(state.points)})", "point_id"
        )
    if point.withdrawn:
        raise conflict(f"point {point_id!r} was withdrawn")
    return point


def _origin(context: DecisionContext, origin: str | None, field: str) -> None:
    if origin is not None and origin not in context.parked:
        listed = ", ".join(context.parked) or "none"
        raise invalid(f"origin {origin!r} is not on the alliance's list of parked points ({listed})", field)


def _moved_deadline(state: DecisionState, now: datetime) -> datetime:
    """Members get at least the reminder lead time to respond to a changed proposal."""
    return max(state.deadline, now + state.rules.reminder_lead)


def _all_responded(state: DecisionState, now: datetime, events: list[DecisionEvent]) -> list[DecisionEvent]:
    after = state
    for event in events:
        after = evolve(after, event)
    if after.is_live and not after.pending_members():
        return [*events, _close(after, "all_responded", now)]
    return events


def open_decision(command: OpenDecision, now: datetime) -> list[DecisionEvent]:
    context = command.context
    if command.appeal_of is None and command.decision_id.startswith(APPEAL_PREFIX):
        raise invalid(f"decision ids starting with {APPEAL_PREFIX!r} are kept for the appeals of disputes", "decision_id")
    if command.appeal_of is None and command.actor not in context.electorate:
        raise forbidden(f"only active members of {command.alliance_id!r} may open a decision; {command.actor!r} is not one")
    window = command.response_window or context.rules.response_window
    if not context.rules.min_response_window <= window <= context.rules.max_response_window:
        raise invalid(
            f"response window must lie between {format_duration(context.rules.min_response_window)} and "
            f"{format_duration(context.rules.max_response_window)} under the charter",
            "response_window",
        )
    if window > MAX_WINDOW:  # a charter recorded before windows were held to MAX_WINDOW
        raise invalid(
            f"response window {format_duration(window)} is longer than {format_duration(MAX_WINDOW)}: amend the charter's "
            "decisions.response_window and max_response_window",
            "response_window",
        )
    for index, draft in enumerate(command.points):
        _origin(context, draft.origin, f"points.{index}.origin")
    points = [OpenedPoint(point_id=f"p{i + 1}", text=d.text, origin=d.origin) for i, d in enumerate(command.points)]
    return [
        DecisionOpened(
            at=now,
            decision_id=command.decision_id,
            alliance_id=command.alliance_id,
            title=command.title,
            body=command.body,
            proposer=command.actor,
            points=points,
            context=context,
            deadline=now + window,
        )
    ]


def decide(state: DecisionState | None, command: DecisionCommand, now: datetime) -> list[DecisionEvent]:
    if state is None:
        if not isinstance(command, OpenDecision):
            raise not_found("this decision has not been opened")
        return open_decision(command, now)
    if isinstance(command, OpenDecision):
        raise conflict(f"decision {state.decision_id!r} is already open")
    _live(state)
    match command:
        case TakeStance():
            _voter(state, command.actor)
            _point(state, command.point_id)
            reason = (command.reason or "").strip() or None
            if command.stance in (StanceKind.OBJECT, StanceKind.BLOCK) and reason is None:
                raise invalid(f"a reason is required to {command.stance.value.replace('_', ' ')}", "reason")
            if command.principle is not None:
                if command.stance != StanceKind.BLOCK:
                    raise invalid("only a block may cite a core principle", "principle")
                if command.principle not in state.context.principles:
                    raise invalid(
                        f"unknown principle {command.principle!r}; the charter's principles are "
                        + ", ".join(state.context.principles),
                        "principle",
                    )
            taken = StanceTaken(
                at=now, member_id=command.actor, point_id=command.point_id, stance=command.stance,
                reason=reason, principle=command.principle,
            )
            return _all_responded(state, now, [taken])
        case AmendPoint():
            _proposer(state, command.actor, "amend it")
            point = _point(state, command.point_id)
            if command.text == point.text:
                raise conflict(f"point {command.point_id!r} already reads so")
            return [
                PointAmended(
                    at=now, point_id=point.point_id, text=command.text,
                    cleared=sorted(point.stances), deadline=_moved_deadline(state, now),
                )
            ]
        case AddPoint():
            _proposer(state, command.actor, "add points")
            if len(state.points) >= MAX_POINTS:
                raise conflict(f"a decision has at most {MAX_POINTS} points")
            _origin(state.context, command.origin, "origin")
            return [
                PointAdded(
                    at=now, point_id=f"p{state.next_point}", text=command.text, origin=command.origin,
                    deadline=_moved_deadline(state, now),
                )
            ]
        case WithdrawPoint():
            _proposer(state, command.actor, "withdraw points")
            _point(state, command.point_id)
            if len(state.active_points) == 1:
                raise conflict("this is the last point: withdraw the decision instead")
            return _all_responded(state, now, [PointWithdrawn(at=now, point_id=command.point_id)])
        case WithdrawDecision():
            if command.actor != state.proposer and command.actor not in state.context.coordinators:
                raise forbidden(f"only the proposer ({state.proposer!r}) or a coordinator may withdraw this decision")
            return [DecisionWithdrawn(at=now, by=command.actor, reason=command.reason)]
        case ExtendDeadline():
            _coordinator(state, command.actor, "extend a stalled decision")
            _stalled(state, "extended")
            if state.extensions >= state.rules.max_extensions:
                raise conflict(
                    f"the charter allows at most {state.rules.max_extensions} extension(s) and all are used; "
                    "apply the fallback or close the decision"
                )
            return [
                DeadlineExtended(
                    at=now, by=command.actor, deadline=now + state.rules.extension, extensions=state.extensions + 1
                )
            ]
        case ApplyFallback():
            _coordinator(state, command.actor, "apply the fallback rule")
            _stalled(state, "escalated")
            rule = state.rules.fallback
            return [
                DecisionEscalated(at=now, rule=rule, automatic=False, by=command.actor),
                _close(state, "fallback", now, rule=rule, by=command.actor),
            ]
        case CloseDecision():
            _coordinator(state, command.actor, "close a stalled decision")
            _stalled(state, "closed by a coordinator")
            return [_close(state, "coordinator", now, by=command.actor)]
    raise invalid(f"unknown decision command {type(command).__name__}")


def _proposer(state: DecisionState, actor: str, action: str) -> None:
    if actor != state.proposer:
        raise forbidden(f"only the proposer ({state.proposer!r}) may {action}")
    if state.stage != Stage.OPEN:
        raise conflict(f"decision {state.decision_id!r} is {state.stage}; proposals change only while it is open")


def _stalled(state: DecisionState, what: str) -> None:
    if state.stage != Stage.STALLED:
        raise conflict(f"decision {state.decision_id!r} is {state.stage}; only a stalled decision can be {what}")


# --- timers ---------------------------------------------------------------------------------------


def reminder_at(state: DecisionState) -> datetime:
    return max(state.opened_at, state.deadline - state.rules.reminder_lead)


def next_due(state: DecisionState) -> datetime | None:
    """When the decision next needs the clock: reminder, deadline, or end of the escalation window."""
    if state.stage == Stage.OPEN:
        if state.reminded_for != state.deadline:
            return min(reminder_at(state), state.deadline)
        return state.deadline
    if state.stage == Stage.STALLED:
        return state.escalation_deadline
    return None


def on_time(state: DecisionState, now: datetime) -> list[DecisionEvent]:
    """The events that are due at `now` (none if nothing is: the state may have moved on)."""
    if state.stage == Stage.OPEN:
        if now >= state.deadline:
            per_point = _evaluated(state)
            stalled = [pid for pid, outcome in per_point.items() if outcome is None]
            if stalled:
                return [DecisionStalled(at=now, without_quorum=stalled, escalation_deadline=now + state.rules.escalation_window)]
            return [_close(state, "deadline", now)]
        if state.reminded_for != state.deadline and now >= reminder_at(state):
            return [ReminderSent(at=now, deadline=state.deadline, members=state.pending_members())]
    if state.stage == Stage.STALLED and state.escalation_deadline and now >= state.escalation_deadline:
        rule = state.rules.fallback
        return [
            DecisionEscalated(at=now, rule=rule, automatic=True),
            _close(state, "automatic", now, rule=rule),
        ]
    return []


# --- evolve ---------------------------------------------------------------------------------------


def _with_point(state: DecisionState, point: Point, **changes: object) -> DecisionState:
    return state.model_copy(update={"points": {**state.points, point.point_id: point}, **changes})


def audit_summary(state: DecisionState) -> tuple[Any, Any]:
    """What an audit report shows of a decision beside its events: the rules pinned, and how it ended."""
    return state.context.rules, {
        "outcome": state.outcome, "closed_how": state.closed_how, "rule_applied": state.rule_applied, "points": state.outcomes,
    }


def evolve(state: DecisionState | None, event: DecisionEvent) -> DecisionState:
    if isinstance(event, DecisionOpened):
        return DecisionState(
            decision_id=event.decision_id,
            alliance_id=event.alliance_id,
            title=event.title,
            body=event.body,
            proposer=event.proposer,
            context=event.context,
            points={p.point_id: Point(point_id=p.point_id, text=p.text, origin=p.origin) for p in event.points},
            next_point=len(event.points) + 1,
            opened_at=event.at,
            deadline=event.deadline,
        )
    if state is None:
        raise ValueError(f"{event.type} before DecisionOpened: the stream is corrupt")
    match event:
        case StanceTaken():
            point = state.points[event.point_id]
            stance = Stance(stance=event.stance, reason=event.reason, principle=event.principle, at=event.at)
            return _with_point(state, point.model_copy(update={"stances": {**point.stances, event.member_id: stance}}))
        case ReminderSent():
            return state.model_copy(update={"reminded_for": event.deadline})
        case PointAmended():
            point = state.points[event.point_id].model_copy(update={"text": event.text, "stances": {}})
            return _with_point(state, point, **_deadline_moved(state, event.deadline))
        case PointAdded():
            point = Point(point_id=event.point_id, text=event.text, origin=event.origin)
            return _with_point(state, point, next_point=state.next_point + 1, **_deadline_moved(state, event.deadline))
        case PointWithdrawn():
            return _with_point(state, state.points[event.point_id].model_copy(update={"withdrawn": True}))
        case DecisionStalled():
            return state.model_copy(
                update={"stage": Stage.STALLED, "stalled_points": event.without_quorum, "escalation_deadline": event.escalation_deadline}
            )
        case DeadlineExtended():
            return state.model_copy(
                update={
                    "stage": Stage.OPEN, "deadline": event.deadline, "extensions": event.extensions,
                    "stalled_points": [], "escalation_deadline": None,
                }
            )
        case DecisionEscalated():
            return state.model_copy(update={"rule_applied": event.rule})
        case DecisionClosed():
            return state.model_copy(
                update={
                    "stage": Stage.CLOSED, "outcomes": event.outcomes, "outcome": event.outcome,
                    "closed_at": event.at, "closed_how": event.how,
                }
            )
        case DecisionWithdrawn():
            return state.model_copy(
                update={
                    "stage": Stage.WITHDRAWN, "outcome": DecisionOutcome.WITHDRAWN, "closed_at": event.at,
                    "closed_how": "withdrawn",
                }
            )
    raise ValueError(f"unknown decision event {event.type}")


def _deadline_moved(state: DecisionState, deadline: datetime) -> dict[str, object]:
    # The change notice itself tells members the new deadline, so it stands in for that reminder
    # when the deadline had to move to give them the reminder lead.
    if deadline != state.deadline:
        return {"deadline": deadline, "reminded_for": deadline}
    return {}


# --- notifications --------------------------------------------------------------------------------


class Notice(Model):
    """Someone who should hear of an event: one outbox row per recipient."""

    member_id: str
    kind: str
    message: str


def notices(state: DecisionState | None, event: DecisionEvent) -> list[Notice]:
    """Who is told of an event, given the state before it (pure: the outbox rows follow from the log)."""
    return told(evolve(state, event), event)


def told(after: DecisionState, event: DecisionEvent) -> list[Notice]:
    """Who is told of an event, given the state it leads to."""
    title = f"{after.title!r} ({after.decision_id})"
    everyone = after.context.electorate
    escalation = sorted(set(after.context.coordinators) | set(after.context.steering))

    def to(members: list[str], kind: str, message: str) -> list[Notice]:
        return [Notice(member_id=m, kind=kind, message=message) for m in members]

    match event:
        case DecisionOpened():
            return to(everyone, "decision_opened", f"{after.proposer} proposes {title}; respond by {after.deadline:%Y-%m-%d %H:%M} UTC")
        case ReminderSent():
            return to(
                event.members, "reminder", f"{title} closes at {event.deadline:%Y-%m-%d %H:%M} UTC; you have not responded on every point"
            )
        case PointAmended():
            return to(
                event.cleared, "stance_cleared",
                f"point {event.point_id} of {title} was amended; your stance was cleared, "
                f"respond again by {event.deadline:%Y-%m-%d %H:%M} UTC",
            )
        case PointAdded():
            return to(
                everyone, "point_added", f"point {event.point_id} was added to {title}; respond by {event.deadline:%Y-%m-%d %H:%M} UTC"
            )
        case DecisionStalled():
            return to(
                escalation, "decision_stalled",
                f"{title} stalled: no quorum on {', '.join(event.without_quorum)}; "
                f"act by {event.escalation_deadline:%Y-%m-%d %H:%M} UTC or the {after.rules.fallback} rule applies",
            )
        case DeadlineExtended():
            return to(everyone, "deadline_extended", f"{title} was extended to {event.deadline:%Y-%m-%d %H:%M} UTC")
        case DecisionClosed():
            return to(everyone, "decision_closed", f"{title} closed: {event.outcome}")
        case DecisionWithdrawn():
            return to(everyone, "decision_withdrawn", f"{title} was withdrawn by {event.by}: {event.reason}")
        case _:
            return []


# --- read model -------------------------------------------------------------------------------------


class DecisionRow(Model):
    """A decision as the alliance's list shows it (the `decisions` read model)."""

    decision_id: str
    alliance_id: str
    title: str
    proposer: str
    opened_at: datetime
    deadline: datetime
    """The response deadline; while stalled, the end of the escalation window."""
    stage: Stage
    outcome: str | None = None


def decision_row(row: DecisionRow | None, event: DecisionEvent) -> DecisionRow | None:
    """The list's row after an event (only the events of DECISION_ROW_EVENTS change it)."""
    match event:
        case DecisionOpened():
            return DecisionRow(
                decision_id=event.decision_id, alliance_id=event.alliance_id, title=event.title, proposer=event.proposer,
                opened_at=event.at, deadline=event.deadline, stage=Stage.OPEN,
            )
        case _ if row is None:
            return None
        case PointAmended() | PointAdded():
            return row.model_copy(update={"deadline": event.deadline})
        case DecisionStalled():
            return row.model_copy(update={"stage": Stage.STALLED, "deadline": event.escalation_deadline})
        case DeadlineExtended():
            return row.model_copy(update={"stage": Stage.OPEN, "deadline": event.deadline})
        case DecisionClosed():
            return row.model_copy(update={"stage": Stage.CLOSED, "outcome": event.outcome.value})
        case DecisionWithdrawn():
            return row.model_copy(update={"stage": Stage.WITHDRAWN, "outcome": "withdrawn"})
        case _:
            return row


DECISION_ROW_EVENTS = frozenset(
    {"DecisionOpened", "PointAmended", "PointAdded", "DecisionStalled", "DeadlineExtended", "DecisionClosed", "DecisionWithdrawn"}
)
