"""The decision decider, pure and fast: what each command and each timer records, and why a refused
command is refused.

An alliance of five: gw (coordinator, the usual proposer), amber (steering), birch, cedar, dune. Under
the example charter the quorum is 0.6 of 5 = 3, one objection is tolerated, the response window is 7
days, the reminder goes out 2 days before the deadline, coordinators have 3 days to act on a stalled
decision, and up to 2 extensions of 5 days are allowed. Every refusal is checked for its kind (the
HTTP API turns it into a status code) and its exact message; every outcome for its exact value.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from accord.examples import CHARTER as EXAMPLE_CHARTER
from events.charter import DecisionRules, load_charter
from events.decision import (
    AddPoint,
    AmendPoint,
    ApplyFallback,
    CloseDecision,
    DeadlineExtended,
    DecisionClosed,
    DecisionCommand,
    DecisionContext,
    DecisionEscalated,
    DecisionEvent,
    DecisionOpened,
    DecisionOutcome,
    DecisionStalled,
    DecisionState,
    DecisionWithdrawn,
    ExtendDeadline,
    Notice,
    OpenDecision,
    OpenedPoint,
    PointAdded,
    PointAmended,
    PointDraft,
    PointOutcome,
    PointWithdrawn,
    ReminderSent,
    Stage,
    StanceKind,
    StanceTaken,
    TakeStance,
    WithdrawDecision,
    WithdrawPoint,
    decide,
    decision_event,
    evolve,
    next_due,
    notices,
    on_time,
    quorum_needed,
    result_for_alliance,
    tally,
    unattended_close,
)
from events.rules import RefusalKind, Refused, build

RULES = load_charter(EXAMPLE_CHARTER).decisions
PRINCIPLES = ["non-violence", "independence", "member-autonomy"]
ELECTORATE = ["amber", "birch", "cedar", "dune", "gw"]
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
DEADLINE = T0 + timedelta(days=7)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def rules(**changes: Any) -> DecisionRules:
    """The example charter's rules with some changed, validated as a charter would be."""
    return DecisionRules.model_validate({**RULES.model_dump(), **changes})


def context(electorate: Sequence[str] = ELECTORATE, **changes: Any) -> DecisionContext:
    return DecisionContext(
        rules=rules(**changes),
        principles=PRINCIPLES,
        electorate=list(electorate),
        coordinators=["gw"],
        steering=["amber"],
        parked=["d0/p2", "d0/p3"],
    )


def open_command(points: int | list[PointDraft] = 3, *, actor: str = "gw", **fields: Any) -> OpenDecision:
    drafts = [PointDraft(text=f"point {i + 1}") for i in range(points)] if isinstance(points, int) else points
    base: dict[str, Any] = {
        "actor": actor,
        "decision_id": "d1",
        "alliance_id": "rivers",
        "title": "Joint campaign 2027",
        "body": "What we do together next year.",
        "points": drafts,
        "context": context(),
    }
    return OpenDecision(**{**base, **fields})


def apply(state: DecisionState | None, events: Sequence[DecisionEvent]) -> DecisionState:
    for event in events:
        state = evolve(state, event)
    assert state is not None
    return state


def run(state: DecisionState | None, command: DecisionCommand, now: datetime) -> DecisionState:
    """decide then evolve, as the workflow does."""
    return apply(state, decide(state, command, now))


def opened(points: int = 3, *, electorate: Sequence[str] = ELECTORATE, proposer: str = "gw", **rule_changes: Any) -> DecisionState:
    command = open_command(points, actor=proposer, context=context(electorate, **rule_changes))
    return run(None, command, T0)


def stance(member: str, point: str, kind: str, reason: str | None = None, principle: str | None = None) -> TakeStance:
    if kind in ("object", "block") and reason is None:
        reason = f"{member} has doubts"
    return TakeStance(actor=member, point_id=point, stance=StanceKind(kind), reason=reason, principle=principle)


def with_stances(state: DecisionState, stances: dict[str, dict[str, str]], now: datetime = T0 + HOUR) -> DecisionState:
    """{point: {member: kind}}, taken in that order."""
    for point, by_member in stances.items():
        for member, kind in by_member.items():
            state = run(state, stance(member, point, kind), now)
    return state


def stalled(state: DecisionState) -> DecisionState:
    events = on_time(state, state.deadline)
    assert [e.type for e in events] == ["DecisionStalled"]
    return apply(state, events)


def refused(state: DecisionState | None, command: DecisionCommand, now: datetime = T0 + HOUR) -> Refused:
    with pytest.raises(Refused) as caught:
        decide(state, command, now)
    return caught.value


def round_trip(event: DecisionEvent) -> DecisionEvent:
    """An event as it comes back from the store: JSON, then the type adapter."""
    return decision_event.validate_json(decision_event.dump_json(event))


# --- opening ---------------------------------------------------------------------------------------


def test_opening_pins_the_rules_principles_electorate_and_roles_of_the_moment() -> None:
    ctx = context(quorum=0.8, response_window="10d", fallback="lapse")
    events = decide(None, open_command(2, context=ctx, response_window="9d"), T0)

    assert events == [
        DecisionOpened(
            at=T0,
            decision_id="d1",
            alliance_id="rivers",
            title="Joint campaign 2027",
            body="What we do together next year.",
            proposer="gw",
            points=[OpenedPoint(point_id="p1", text="point 1"), OpenedPoint(point_id="p2", text="point 2")],
            context=ctx,
            deadline=T0 + timedelta(days=9),
        )
    ]
    state = evolve(None, round_trip(events[0]))
    assert state.context == ctx
    assert state.rules.quorum == 0.8
    assert state.rules.fallback == "lapse"
    assert state.context.principles == PRINCIPLES
    assert state.context.electorate == ELECTORATE
    assert state.context.coordinators == ["gw"]
    assert state.context.steering == ["amber"]
    assert state.context.parked == ["d0/p2", "d0/p3"]
    assert state.stage == Stage.OPEN
    assert state.opened_at == T0
    assert state.deadline == T0 + timedelta(days=9)
    assert state.reminded_for is None
    assert state.next_point == 3
    assert {pid: (p.text, p.stances) for pid, p in state.points.items()} == {"p1": ("point 1", {}), "p2": ("point 2", {})}
    assert state.pending_members() == ELECTORATE


def test_the_default_response_window_is_the_charters() -> None:
    assert opened().deadline == T0 + timedelta(days=7)


def test_a_point_may_take_up_a_parked_point() -> None:
    command = open_command(points=[PointDraft(text="again", origin="d0/p3")])

    state = run(None, command, T0)

    assert state.points["p1"].origin == "d0/p3"


@pytest.mark.parametrize(
    ("window", "message"),
    [
        ("30m", "response window must lie between 1h and 30d under the charter"),
        ("31d", "response window must lie between 1h and 30d under the charter"),
    ],
)
def test_a_response_window_outside_the_charters_limits_is_refused(window: str, message: str) -> None:
    error = refused(None, open_command(response_window=window), T0)

    assert error.kind == RefusalKind.INVALID
    assert error.field == "response_window"
    assert error.message == message


def test_a_window_recorded_before_windows_were_bounded_is_refused_not_overflowed() -> None:
    huge = context(response_window="999999999d", max_response_window="999999999d")
    error = refused(None, open_command(context=huge), T0)
    assert (error.kind, error.field) == (RefusalKind.INVALID, "response_window")
    assert error.message.startswith("response window 999999999d is longer than 3650d: amend the charter's")


def test_the_charters_limits_themselves_are_allowed() -> None:
    assert run(None, open_command(response_window="1h"), T0).deadline == T0 + HOUR
    assert run(None, open_command(response_window="30d"), T0).deadline == T0 + timedelta(days=30)


def test_an_origin_not_on_the_parked_list_is_refused() -> None:
    command = open_command(points=[PointDraft(text="a"), PointDraft(text="b", origin="d9/p1")])

    error = refused(None, command, T0)

    assert error.kind == RefusalKind.INVALID
    assert error.field == "points.1.origin"
    assert error.message == "origin 'd9/p1' is not on the alliance's list of parked points (d0/p2, d0/p3)"


def test_an_origin_when_nothing_is_parked_says_none() -> None:
    ctx = context().model_copy(update={"parked": []})
    error = refused(None, open_command(points=[PointDraft(text="a", origin="d0/p2")], context=ctx), T0)

    assert error.message == "origin 'd0/p2' is not on the alliance's list of parked points (none)"


def test_only_a_member_of_the_electorate_may_open() -> None:
    error = refused(None, open_command(actor="zed"), T0)

    assert error.kind == RefusalKind.FORBIDDEN
    assert error.message == "only active members of 'rivers' may open a decision; 'zed' is not one"


def test_opening_twice_is_a_conflict_and_nothing_else_comes_before_opening() -> None:
    assert refused(opened(), open_command()).kind == RefusalKind.CONFLICT
    assert refused(opened(), open_command()).message == "decision 'd1' is already open"
    before = refused(None, stance("gw", "p1", "agree"))
    assert (before.kind, before.message) == (RefusalKind.NOT_FOUND, "this decision has not been opened")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"decision_id": "Big Decision"}, "decision_id"),
        ({"title": "  "}, "title"),
        ({"points": []}, "points"),
        ({"points": [{"text": f"p{i}"} for i in range(51)]}, "points"),
    ],
)
def test_an_open_command_with_a_bad_field_is_refused_naming_it(fields: dict[str, Any], field: str) -> None:
    base = open_command().model_dump()
    with pytest.raises(Refused) as caught:
        build(OpenDecision, **{**base, **fields})

    assert caught.value.kind == RefusalKind.INVALID
    assert caught.value.field == field


# --- stances ---------------------------------------------------------------------------------------


def test_a_stance_is_recorded_with_its_reason_and_principle() -> None:
    state = opened()
    now = T0 + HOUR
    command = stance("cedar", "p2", "block", reason="  funder pollutes  ", principle="independence")

    events = decide(state, command, now)

    assert events == [
        StanceTaken(at=now, member_id="cedar", point_id="p2", stance=StanceKind.BLOCK, reason="funder pollutes", principle="independence")
    ]
    after = apply(state, [round_trip(events[0])])
    recorded = after.points["p2"].stances["cedar"]
    assert (recorded.stance, recorded.reason, recorded.principle, recorded.at) == (
        StanceKind.BLOCK, "funder pollutes", "independence", now,
    )


def test_a_stance_change_is_kept_and_the_last_one_counts() -> None:
    state = opened()
    first = decide(state, stance("birch", "p1", "object", reason="too costly"), T0 + HOUR)
    state = apply(state, first)
    second = decide(state, stance("birch", "p1", "agree"), T0 + 2 * HOUR)
    state = apply(state, second)

    assert [(e.type, e.stance, e.at) for e in first + second] == [  # type: ignore[union-attr]
        ("StanceTaken", StanceKind.OBJECT, T0 + HOUR),
        ("StanceTaken", StanceKind.AGREE, T0 + 2 * HOUR),
    ]
    kept = state.points["p1"].stances["birch"]
    assert (kept.stance, kept.reason, kept.at) == (StanceKind.AGREE, None, T0 + 2 * HOUR)
    assert tally(state, state.points["p1"]).counts[StanceKind.OBJECT] == 0
    assert tally(state, state.points["p1"]).counts[StanceKind.AGREE] == 1
    assert tally(state, state.points["p1"]).responded == 1


def test_a_member_outside_the_electorate_may_not_take_a_stance() -> None:
    # e.g. admitted after the decision opened: the electorate is the one pinned at opening.
    error = refused(opened(), stance("elm", "p1", "agree"))

    assert error.kind == RefusalKind.FORBIDDEN
    assert error.message == (
        "'elm' is not in the electorate of decision 'd1' (the members who were active when it opened)"
    )


def test_a_stance_on_an_unknown_point_is_not_found() -> None:
    error = refused(opened(), stance("gw", "p9", "agree"))

    assert error.kind == RefusalKind.NOT_FOUND
    assert error.field == "point_id"
    assert error.message == "decision 'd1' has no point 'p9' (points: p1, p2, p3)"


def test_a_stance_on_a_withdrawn_point_is_a_conflict() -> None:
    state = run(opened(), WithdrawPoint(actor="gw", point_id="p2"), T0 + HOUR)

    error = refused(state, stance("amber", "p2", "agree"))

    assert error.kind == RefusalKind.CONFLICT
    assert error.message == "point 'p2' was withdrawn"


@pytest.mark.parametrize(("kind", "verb"), [("object", "object"), ("block", "block")])
@pytest.mark.parametrize("reason", [None, "", "   "])
def test_objecting_or_blocking_needs_a_reason(kind: str, verb: str, reason: str | None) -> None:
    command = TakeStance(actor="dune", point_id="p1", stance=StanceKind(kind), reason=reason)

    error = refused(opened(), command)

    assert error.kind == RefusalKind.INVALID
    assert error.field == "reason"
    assert error.message == f"a reason is required to {verb}"


@pytest.mark.parametrize("kind", ["agree", "concerns", "stand_aside", "object"])
def test_only_a_block_may_cite_a_principle(kind: str) -> None:
    command = TakeStance(actor="dune", point_id="p1", stance=StanceKind(kind), reason="r", principle="independence")

    error = refused(opened(), command)

    assert error.kind == RefusalKind.INVALID
    assert error.field == "principle"
    assert error.message == "only a block may cite a core principle"


def test_a_block_citing_an_unknown_principle_is_refused_listing_the_charters() -> None:
    error = refused(opened(), stance("dune", "p1", "block", reason="too slow", principle="speed"))

    assert error.kind == RefusalKind.INVALID
    assert error.field == "principle"
    assert error.message == (
        "unknown principle 'speed'; the charter's principles are non-violence, independence, member-autonomy"
    )


def test_no_stance_on_a_closed_decision() -> None:
    state = with_stances(opened(1), {"p1": dict.fromkeys(ELECTORATE, "agree")})
    assert state.stage == Stage.CLOSED

    error = refused(state, stance("gw", "p1", "object", reason="changed my mind"))

    assert error.kind == RefusalKind.CONFLICT
    assert error.message == "decision 'd1' is closed (outcome: adopted)"


def test_no_stance_on_a_withdrawn_decision() -> None:
    state = run(opened(), WithdrawDecision(actor="gw", reason="overtaken by events"), T0 + HOUR)

    error = refused(state, stance("amber", "p1", "agree"))

    assert error.kind == RefusalKind.CONFLICT
    assert error.message == "decision 'd1' was withdrawn"


def test_a_stance_while_stalled_is_still_taken() -> None:
    state = stalled(with_stances(opened(1), {"p1": {"gw": "agree"}}))

    state = run(state, stance("amber", "p1", "agree"), state.deadline + HOUR)

    assert state.stage == Stage.STALLED
    assert sorted(state.points["p1"].stances) == ["amber", "gw"]


# --- changing the proposal -------------------------------------------------------------------------


def test_an_amendment_clears_the_stances_on_that_point_only_and_names_the_cleared_members() -> None:
    state = with_stances(opened(), {"p1": {"dune": "agree", "amber": "object", "gw": "agree"}, "p2": {"birch": "agree"}})
    now = T0 + DAY

    events = decide(state, AmendPoint(actor="gw", point_id="p1", text="point 1, smaller"), now)

    assert events == [
        PointAmended(at=now, point_id="p1", text="point 1, smaller", cleared=["amber", "dune", "gw"], deadline=DEADLINE)
    ]
    after = apply(state, [round_trip(events[0])])
    assert after.points["p1"].text == "point 1, smaller"
    assert after.points["p1"].stances == {}
    assert list(after.points["p2"].stances) == ["birch"]
    # Early enough: the deadline stays, and so does the reminder still to come.
    assert after.deadline == DEADLINE
    assert after.reminded_for is None
    assert next_due(after) == DEADLINE - 2 * DAY


def test_a_late_amendment_moves_the_deadline_to_give_the_reminder_lead() -> None:
    state = with_stances(opened(), {"p1": {"dune": "agree"}})
    now = DEADLINE - 6 * HOUR  # after the reminder time: members need the 2-day lead to respond again

    events = decide(state, AmendPoint(actor="gw", point_id="p1", text="point 1, again"), now)

    assert events == [PointAmended(at=now, point_id="p1", text="point 1, again", cleared=["dune"], deadline=now + 2 * DAY)]
    after = apply(state, events)
    assert after.deadline == now + 2 * DAY
    # The amendment notice stands in for the reminder of the moved deadline.
    assert after.reminded_for == now + 2 * DAY
    assert next_due(after) == now + 2 * DAY


def test_an_amendment_never_moves_the_deadline_earlier() -> None:
    state = opened(response_window="20d")
    events = decide(state, AmendPoint(actor="gw", point_id="p2", text="x"), T0 + HOUR)

    assert events[0].deadline == T0 + timedelta(days=20)  # type: ignore[union-attr]


def test_an_amendment_that_changes_nothing_is_a_conflict() -> None:
    error = refused(opened(), AmendPoint(actor="gw", point_id="p1", text="point 1"))

    assert (error.kind, error.message) == (RefusalKind.CONFLICT, "point 'p1' already reads so")


def test_adding_a_point_numbers_it_and_may_take_up_a_parked_point() -> None:
    state = opened()
    now = DEADLINE - DAY

    events = decide(state, AddPoint(actor="gw", text="point 4", origin="d0/p2"), now)

    assert events == [PointAdded(at=now, point_id="p4", text="point 4", origin="d0/p2", deadline=now + 2 * DAY)]
    after = apply(state, events)
    assert after.points["p4"].origin == "d0/p2"
    assert after.next_point == 5
    assert after.deadline == now + 2 * DAY
    assert after.pending_members() == ELECTORATE


def test_adding_a_point_with_an_origin_not_parked_is_refused() -> None:
    error = refused(opened(), AddPoint(actor="gw", text="x", origin="d7/p1"))

    assert error.kind == RefusalKind.INVALID
    assert error.field == "origin"
    assert error.message == "origin 'd7/p1' is not on the alliance's list of parked points (d0/p2, d0/p3)"


@pytest.mark.parametrize(
    ("command", "action"),
    [
        (AmendPoint(actor="amber", point_id="p1", text="mine"), "amend it"),
        (AddPoint(actor="amber", text="mine"), "add points"),
        (WithdrawPoint(actor="amber", point_id="p1"), "withdraw points"),
        # Not even a coordinator changes someone else's proposal.
        (AmendPoint(actor="gw", point_id="p1", text="mine"), "amend it"),
    ],
    ids=["amend", "add", "withdraw-point", "coordinator-amends"],
)
def test_only_the_proposer_changes_the_proposal(command: DecisionCommand, action: str) -> None:
    state = opened(proposer="birch")

    error = refused(state, command)

    assert error.kind == RefusalKind.FORBIDDEN
    assert error.message == f"only the proposer ('birch') may {action}"


@pytest.mark.parametrize(
    "command",
    [
        AmendPoint(actor="gw", point_id="p1", text="mine"),
        AddPoint(actor="gw", text="mine"),
        WithdrawPoint(actor="gw", point_id="p1"),
    ],
    ids=["amend", "add", "withdraw-point"],
)
def test_the_proposal_does_not_change_while_stalled(command: DecisionCommand) -> None:
    state = stalled(opened())

    error = refused(state, command, state.deadline + HOUR)

    assert error.kind == RefusalKind.CONFLICT
    assert error.message == "decision 'd1' is stalled; proposals change only while it is open"


def test_withdrawing_a_point_and_not_the_last_one() -> None:
    state = opened(2)
    events = decide(state, WithdrawPoint(actor="gw", point_id="p1"), T0 + HOUR)
    assert events == [PointWithdrawn(at=T0 + HOUR, point_id="p1")]
    state = apply(state, events)
    assert [p.point_id for p in state.active_points] == ["p2"]

    error = refused(state, WithdrawPoint(actor="gw", point_id="p2"))

    assert error.kind == RefusalKind.CONFLICT
    assert error.message == "this is the last point: withdraw the decision instead"
    again = refused(state, WithdrawPoint(actor="gw", point_id="p1"))
    assert (again.kind, again.message) == (RefusalKind.CONFLICT, "point 'p1' was withdrawn")


def test_the_proposer_or_a_coordinator_may_withdraw_the_decision_and_nobody_else() -> None:
    state = opened(proposer="amber")
    error = refused(state, WithdrawDecision(actor="birch", reason="I dislike it"))
    assert error.kind == RefusalKind.FORBIDDEN
    assert error.message == "only the proposer ('amber') or a coordinator may withdraw this decision"

    for actor in ("amber", "gw"):
        events = decide(state, WithdrawDecision(actor=actor, reason="overtaken by events"), T0 + HOUR)
        assert events == [DecisionWithdrawn(at=T0 + HOUR, by=actor, reason="overtaken by events")]
        after = apply(state, events)
        assert (after.stage, after.outcome, after.closed_at, after.closed_how) == (
            Stage.WITHDRAWN, DecisionOutcome.WITHDRAWN, T0 + HOUR, "withdrawn",
        )
        assert next_due(after) is None


# --- early close -----------------------------------------------------------------------------------


def test_the_last_missing_stance_closes_the_decision_in_the_same_decide() -> None:
    stances = {
        "p1": dict.fromkeys(ELECTORATE, "agree"),
        "p2": {"gw": "agree", "amber": "agree", "birch": "stand_aside", "cedar": "object", "dune": "object"},
    }
    state = with_stances(opened(2), {"p1": stances["p1"], "p2": {m: stances["p2"][m] for m in ["gw", "amber", "birch", "cedar"]}})
    assert state.pending_members() == ["dune"]
    now = T0 + 2 * HOUR

    events = decide(state, stance("dune", "p2", "object", reason="too risky"), now)

    assert [e.type for e in events] == ["StanceTaken", "DecisionClosed"]
    assert events[1] == DecisionClosed(
        at=now,
        how="all_responded",
        outcomes={"p1": PointOutcome.ADOPTED, "p2": PointOutcome.PARKED},  # two objections, one tolerated
        outcome=DecisionOutcome.PARTIALLY_ADOPTED,
    )
    after = apply(state, events)
    assert (after.stage, after.closed_at, after.closed_how) == (Stage.CLOSED, now, "all_responded")
    assert next_due(after) is None


def test_withdrawing_the_only_point_left_to_answer_closes_the_decision() -> None:
    state = with_stances(opened(2), {"p1": dict.fromkeys(ELECTORATE, "agree")})

    events = decide(state, WithdrawPoint(actor="gw", point_id="p2"), T0 + 2 * HOUR)

    assert [e.type for e in events] == ["PointWithdrawn", "DecisionClosed"]
    closed = events[1]
    assert closed.how == "all_responded"  # type: ignore[union-attr]
    assert closed.outcomes == {"p1": PointOutcome.ADOPTED, "p2": PointOutcome.WITHDRAWN}  # type: ignore[union-attr]
    assert closed.outcome == DecisionOutcome.ADOPTED  # type: ignore[union-attr]


def test_no_early_close_while_one_member_misses_one_point() -> None:
    state = with_stances(opened(2), {"p1": dict.fromkeys(ELECTORATE, "agree"), "p2": dict.fromkeys(ELECTORATE[:-1], "agree")})

    assert state.stage == Stage.OPEN
    assert state.pending_members() == ["gw"]


# --- tally and outcomes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quorum", "electorate", "needed"),
    [
        (0.6, 5, 3),
        (0.5, 4, 2),
        (0.51, 4, 3),
        (1.0, 5, 5),
        (0.1, 3, 1),
        (0.01, 1, 1),
        # Products a float rounds just above a whole number: 0.56 * 25 == 14.000000000000002.
        (0.56, 25, 14),
        (0.28, 25, 7),
        (0.14, 50, 7),
    ],
)
def test_quorum_needed(quorum: float, electorate: int, needed: int) -> None:
    assert quorum_needed(rules(quorum=quorum), electorate) == needed


def test_a_tally_counts_each_kind_and_says_what_the_deadline_would_bring() -> None:
    state = with_stances(opened(), {"p1": {"gw": "agree", "amber": "concerns"}})
    two = tally(state, state.points["p1"])
    assert two.model_dump() == {
        "point_id": "p1",
        "counts": {"agree": 1, "concerns": 1, "stand_aside": 0, "object": 0, "block": 0},
        "responded": 2,
        "electorate": 5,
        "quorum_needed": 3,
        "quorum_met": False,
        "principle_blocks": [],
        "objections": 0,
        "verdict": "no_quorum",
    }

    state = with_stances(state, {"p1": {"birch": "stand_aside"}})
    three = tally(state, state.points["p1"])
    assert (three.responded, three.quorum_met, three.verdict) == (3, True, "adopted")


def test_a_quorum_of_half_of_four_is_two() -> None:
    state = with_stances(opened(electorate=["amber", "birch", "cedar", "gw"], quorum=0.5), {"p1": {"gw": "agree"}})
    assert tally(state, state.points["p1"]).verdict == "no_quorum"

    state = with_stances(state, {"p1": {"cedar": "agree"}})
    assert (tally(state, state.points["p1"]).quorum_needed, tally(state, state.points["p1"]).verdict) == (2, "adopted")


@pytest.mark.parametrize(
    ("tolerance", "objections", "outcome"),
    [(1, 1, PointOutcome.ADOPTED), (1, 2, PointOutcome.PARKED), (0, 1, PointOutcome.PARKED), (2, 2, PointOutcome.ADOPTED)],
)
def test_objection_tolerance(tolerance: int, objections: int, outcome: PointOutcome) -> None:
    objectors = ["birch", "cedar"][:objections]
    stances = {m: ("object" if m in objectors else "agree") for m in ELECTORATE}
    state = with_stances(opened(1, objection_tolerance=tolerance), {"p1": stances})

    assert state.stage == Stage.CLOSED
    assert state.outcomes == {"p1": outcome}


def test_the_deadline_closes_a_decision_with_quorum_on_every_point() -> None:
    state = with_stances(
        opened(3),
        {
            "p1": {"gw": "agree", "amber": "concerns", "birch": "stand_aside"},
            "p2": {"gw": "agree", "amber": "block", "birch": "agree", "cedar": "agree"},  # an ordinary block
            "p3": {"gw": "agree", "birch": "object", "dune": "object"},
        },
    )

    events = on_time(state, DEADLINE)

    assert events == [
        DecisionClosed(
            at=DEADLINE,
            how="deadline",
            outcomes={"p1": PointOutcome.ADOPTED, "p2": PointOutcome.PARKED, "p3": PointOutcome.PARKED},
            outcome=DecisionOutcome.PARTIALLY_ADOPTED,
        )
    ]


def test_nothing_adopted_at_the_deadline_is_not_adopted() -> None:
    state = with_stances(opened(1), {"p1": {"gw": "block", "amber": "agree", "birch": "agree"}})

    assert on_time(state, DEADLINE)[0].outcome == DecisionOutcome.NOT_ADOPTED  # type: ignore[union-attr]


def test_a_point_without_quorum_stalls_the_decision() -> None:
    state = with_stances(opened(3), {"p1": {"gw": "agree", "amber": "agree", "birch": "agree"}, "p2": {"gw": "agree"}})

    events = on_time(state, DEADLINE)

    assert events == [DecisionStalled(at=DEADLINE, without_quorum=["p2", "p3"], escalation_deadline=DEADLINE + 3 * DAY)]
    after = apply(state, events)
    assert (after.stage, after.stalled_points, after.escalation_deadline) == (
        Stage.STALLED, ["p2", "p3"], DEADLINE + 3 * DAY,
    )


def stalled_with(stances: dict[str, dict[str, str]], **rule_changes: Any) -> DecisionState:
    return stalled(with_stances(opened(len(stances), **rule_changes), stances))


def test_the_fallback_adopts_a_stalled_point_exactly_at_the_supermajority() -> None:
    # Quorum of all five, so four stances stall; 3 agree of 3 agree + 1 object is exactly 0.75.
    state = stalled_with(
        {
            "p1": {"gw": "agree", "amber": "agree", "birch": "concerns", "cedar": "object"},
            "p2": {"gw": "agree", "amber": "agree", "cedar": "object", "dune": "stand_aside"},
        },
        quorum=1.0,
        supermajority=0.75,
    )
    now = state.deadline + HOUR

    events = decide(state, ApplyFallback(actor="gw"), now)

    assert events == [
        DecisionEscalated(at=now, rule="supermajority", automatic=False, by="gw"),
        DecisionClosed(
            at=now,
            how="fallback",
            rule="supermajority",
            by="gw",
            outcomes={"p1": PointOutcome.ADOPTED, "p2": PointOutcome.PARKED},  # 0.75 adopted; 2/3 is not
            outcome=DecisionOutcome.PARTIALLY_ADOPTED,
        ),
    ]
    after = apply(state, events)
    assert (after.stage, after.rule_applied, after.closed_how) == (Stage.CLOSED, "supermajority", "fallback")


def test_two_of_three_meets_a_two_thirds_supermajority() -> None:
    state = stalled_with({"p1": {"gw": "agree", "amber": "concerns", "cedar": "object"}}, quorum=1.0, supermajority=2 / 3)

    closed = decide(state, ApplyFallback(actor="gw"), state.deadline)[1]

    assert closed.outcomes == {"p1": PointOutcome.ADOPTED}  # type: ignore[union-attr]


def test_the_fallback_parks_a_stalled_point_nobody_agreed_to() -> None:
    state = stalled_with({"p1": {"amber": "stand_aside"}, "p2": {}})

    closed = decide(state, ApplyFallback(actor="gw"), state.deadline)[1]

    assert closed.outcomes == {"p1": PointOutcome.PARKED, "p2": PointOutcome.PARKED}  # type: ignore[union-attr]
    assert closed.outcome == DecisionOutcome.NOT_ADOPTED  # type: ignore[union-attr]


def test_under_the_lapse_rule_a_decision_adopting_nothing_lapses() -> None:
    state = stalled_with({"p1": {"gw": "agree", "amber": "agree"}, "p2": {"gw": "agree"}}, fallback="lapse")
    now = state.escalation_deadline
    assert now is not None

    events = on_time(state, now)

    assert events == [
        DecisionEscalated(at=now, rule="lapse", automatic=True),
        DecisionClosed(
            at=now, how="automatic", rule="lapse",
            outcomes={"p1": PointOutcome.PARKED, "p2": PointOutcome.PARKED}, outcome=DecisionOutcome.LAPSED,
        ),
    ]


def test_under_the_lapse_rule_a_point_with_quorum_is_still_adopted() -> None:
    state = stalled_with({"p1": {"gw": "agree", "amber": "agree", "birch": "agree"}, "p2": {"gw": "agree"}}, fallback="lapse")

    closed = decide(state, ApplyFallback(actor="gw"), state.deadline)[1]

    assert closed.outcomes == {"p1": PointOutcome.ADOPTED, "p2": PointOutcome.PARKED}  # type: ignore[union-attr]
    assert closed.outcome == DecisionOutcome.PARTIALLY_ADOPTED  # type: ignore[union-attr]


def test_a_principle_block_is_never_overridden_by_the_fallback() -> None:
    # p1 stalls (two stances); p2 carries a principle block against four agreements.
    state = stalled_with(
        {
            "p1": {"gw": "agree", "amber": "agree"},
            "p2": {"gw": "agree", "amber": "agree", "birch": "agree", "dune": "agree"},
        }
    )
    state = run(state, stance("cedar", "p2", "block", reason="funder pollutes", principle="independence"), state.deadline)
    assert tally(state, state.points["p2"]).principle_blocks == ["independence"]

    closed = on_time(state, state.escalation_deadline)[1]  # type: ignore[arg-type]

    assert closed.outcomes == {"p1": PointOutcome.ADOPTED, "p2": PointOutcome.BLOCKED_ON_PRINCIPLE}  # type: ignore[union-attr]


def test_a_principle_block_without_quorum_settles_the_point_at_the_deadline() -> None:
    state = with_stances(opened(1), {})
    state = run(state, stance("cedar", "p1", "block", reason="violent", principle="non-violence"), T0 + HOUR)

    events = on_time(state, DEADLINE)

    assert [e.type for e in events] == ["DecisionClosed"]
    assert events[0].outcomes == {"p1": PointOutcome.BLOCKED_ON_PRINCIPLE}  # type: ignore[union-attr]
    assert events[0].outcome == DecisionOutcome.NOT_ADOPTED  # type: ignore[union-attr]


def test_an_ordinary_block_parks_the_point_even_under_the_fallback() -> None:
    state = stalled_with({"p1": {"gw": "agree", "amber": "agree"}, "p2": {"gw": "agree"}})
    state = run(state, stance("dune", "p2", "block", reason="not now"), state.deadline)

    closed = decide(state, ApplyFallback(actor="gw"), state.deadline + HOUR)[1]

    assert closed.outcomes == {"p1": PointOutcome.ADOPTED, "p2": PointOutcome.PARKED}  # type: ignore[union-attr]


# --- escalation by a coordinator -----------------------------------------------------------------


def test_a_coordinator_extends_a_stalled_decision_up_to_the_charters_limit() -> None:
    state = stalled(opened(1))
    first = state.deadline + HOUR

    events = decide(state, ExtendDeadline(actor="gw"), first)

    assert events == [DeadlineExtended(at=first, by="gw", deadline=first + 5 * DAY, extensions=1)]
    state = apply(state, events)
    assert (state.stage, state.deadline, state.extensions, state.stalled_points, state.escalation_deadline) == (
        Stage.OPEN, first + 5 * DAY, 1, [], None,
    )
    # A new reminder for the new deadline.
    assert next_due(state) == first + 3 * DAY

    state = stalled(state)
    state = run(state, ExtendDeadline(actor="gw"), state.deadline)
    assert state.extensions == 2
    state = stalled(state)

    error = refused(state, ExtendDeadline(actor="gw"), state.deadline)

    assert error.kind == RefusalKind.CONFLICT
    assert error.message == (
        "the charter allows at most 2 extension(s) and all are used; apply the fallback or close the decision"
    )


def test_a_charter_without_extensions_refuses_the_first() -> None:
    state = stalled(opened(1, max_extensions=0))

    error = refused(state, ExtendDeadline(actor="gw"), state.deadline)

    assert error.message == (
        "the charter allows at most 0 extension(s) and all are used; apply the fallback or close the decision"
    )


def test_a_coordinator_closes_a_stalled_decision_parking_the_stalled_points() -> None:
    state = stalled_with({"p1": {"gw": "agree", "amber": "agree", "birch": "agree"}, "p2": {"gw": "agree", "amber": "agree"}})
    now = state.deadline + DAY

    events = decide(state, CloseDecision(actor="gw"), now)

    assert events == [
        DecisionClosed(
            at=now, how="coordinator", by="gw",
            outcomes={"p1": PointOutcome.ADOPTED, "p2": PointOutcome.PARKED}, outcome=DecisionOutcome.PARTIALLY_ADOPTED,
        )
    ]


@pytest.mark.parametrize(
    ("command", "what"),
    [
        (ExtendDeadline(actor="gw"), "extended"),
        (ApplyFallback(actor="gw"), "escalated"),
        (CloseDecision(actor="gw"), "closed by a coordinator"),
    ],
    ids=["extend", "fallback", "close"],
)
def test_only_a_stalled_decision_is_extended_escalated_or_closed_by_a_coordinator(command: DecisionCommand, what: str) -> None:
    error = refused(opened(), command)

    assert error.kind == RefusalKind.CONFLICT
    assert error.message == f"decision 'd1' is open; only a stalled decision can be {what}"


@pytest.mark.parametrize(
    ("command", "action"),
    [
        (ExtendDeadline(actor="amber"), "extend a stalled decision"),
        (ApplyFallback(actor="amber"), "apply the fallback rule"),
        (CloseDecision(actor="amber"), "close a stalled decision"),
    ],
    ids=["extend", "fallback", "close"],
)
def test_only_a_coordinator_escalates(command: DecisionCommand, action: str) -> None:
    # amber is steering: told of the stall, but not allowed to resolve it.
    state = stalled(opened())

    error = refused(state, command, state.deadline)

    assert error.kind == RefusalKind.FORBIDDEN
    assert error.message == f"only a coordinator may {action}; 'amber' is not one"


def test_a_closed_decision_refuses_every_command() -> None:
    state = stalled(opened(1))
    state = run(state, CloseDecision(actor="gw"), state.deadline)

    for command in (ExtendDeadline(actor="gw"), ApplyFallback(actor="gw"), WithdrawDecision(actor="gw", reason="r")):
        error = refused(state, command, state.deadline)
        assert (error.kind, error.message) == (RefusalKind.CONFLICT, "decision 'd1' is closed (outcome: not_adopted)")


# --- timers ----------------------------------------------------------------------------------------


def test_reminder_then_deadline_then_escalation_window() -> None:
    state = with_stances(opened(2), {"p1": {"gw": "agree", "amber": "agree"}, "p2": dict.fromkeys(ELECTORATE[:-1], "agree")})
    remind_at = DEADLINE - 2 * DAY

    assert next_due(state) == remind_at
    assert on_time(state, remind_at - timedelta(seconds=1)) == []
    reminder = on_time(state, remind_at)
    assert reminder == [ReminderSent(at=remind_at, deadline=DEADLINE, members=["birch", "cedar", "dune", "gw"])]
    state = apply(state, reminder)
    assert state.reminded_for == DEADLINE

    assert next_due(state) == DEADLINE
    assert on_time(state, DEADLINE - timedelta(seconds=1)) == []  # no second reminder
    stall = on_time(state, DEADLINE)
    assert stall == [DecisionStalled(at=DEADLINE, without_quorum=["p1"], escalation_deadline=DEADLINE + 3 * DAY)]
    state = apply(state, stall)

    assert next_due(state) == DEADLINE + 3 * DAY
    assert on_time(state, DEADLINE + 3 * DAY - timedelta(seconds=1)) == []
    escalation = on_time(state, DEADLINE + 3 * DAY)
    assert escalation == [
        DecisionEscalated(at=DEADLINE + 3 * DAY, rule="supermajority", automatic=True),
        DecisionClosed(
            at=DEADLINE + 3 * DAY, how="automatic", rule="supermajority",
            outcomes={"p1": PointOutcome.ADOPTED, "p2": PointOutcome.ADOPTED}, outcome=DecisionOutcome.ADOPTED,
        ),
    ]
    state = apply(state, escalation)
    assert next_due(state) is None
    assert on_time(state, DEADLINE + 30 * DAY) == []


def test_a_late_timer_skips_the_reminder_and_goes_straight_to_the_deadline() -> None:
    # The worker was down through both the reminder time and the deadline.
    state = opened(1)

    events = on_time(state, DEADLINE + HOUR)

    assert [e.type for e in events] == ["DecisionStalled"]


def test_a_window_shorter_than_the_reminder_lead_reminds_at_once() -> None:
    state = opened(1, response_window="7d")
    short = run(None, open_command(1, response_window="1h"), T0)

    assert next_due(state) == DEADLINE - 2 * DAY
    assert next_due(short) == T0


# --- who is told -----------------------------------------------------------------------------------


def told(state: DecisionState | None, event: DecisionEvent) -> list[tuple[str, str]]:
    return [(n.member_id, n.kind) for n in notices(state, event)]


def test_the_electorate_is_told_of_an_opening() -> None:
    opening = decide(None, open_command(), T0)[0]

    assert notices(None, opening) == [
        Notice(
            member_id=m,
            kind="decision_opened",
            message="gw proposes 'Joint campaign 2027' (d1); respond by 2025-03-08 09:00 UTC",
        )
        for m in ELECTORATE
    ]


def test_a_reminder_goes_to_the_pending_members_only() -> None:
    state = with_stances(opened(1), {"p1": {"gw": "agree", "birch": "agree"}})
    reminder = on_time(state, DEADLINE - 2 * DAY)[0]

    assert notices(state, reminder) == [
        Notice(
            member_id=m,
            kind="reminder",
            message="'Joint campaign 2027' (d1) closes at 2025-03-08 09:00 UTC; you have not responded on every point",
        )
        for m in ["amber", "cedar", "dune"]
    ]


def test_a_stall_is_told_to_coordinators_and_steering() -> None:
    state = opened(1)
    stall = on_time(state, DEADLINE)[0]

    assert notices(state, stall) == [
        Notice(
            member_id=m,
            kind="decision_stalled",
            message="'Joint campaign 2027' (d1) stalled: no quorum on p1; act by 2025-03-11 09:00 UTC or the "
            "supermajority rule applies",
        )
        for m in ["amber", "gw"]
    ]


def test_an_amendment_is_told_to_the_members_whose_stance_it_cleared() -> None:
    state = with_stances(opened(), {"p1": {"dune": "agree", "amber": "agree"}, "p2": {"birch": "agree"}})
    amended = decide(state, AmendPoint(actor="gw", point_id="p1", text="new"), T0 + DAY)[0]

    assert notices(state, amended) == [
        Notice(
            member_id=m,
            kind="stance_cleared",
            message="point p1 of 'Joint campaign 2027' (d1) was amended; your stance was cleared, respond again by "
            "2025-03-08 09:00 UTC",
        )
        for m in ["amber", "dune"]
    ]


def test_a_close_is_told_to_the_electorate_and_the_escalation_to_nobody() -> None:
    state = stalled(opened(1))
    escalated, closed = decide(state, ApplyFallback(actor="gw"), state.deadline)

    assert notices(state, escalated) == []
    after = apply(state, [escalated])
    assert notices(after, closed) == [
        Notice(member_id=m, kind="decision_closed", message="'Joint campaign 2027' (d1) closed: not_adopted")
        for m in ELECTORATE
    ]


def test_who_is_told_of_the_other_events() -> None:
    state = opened()
    added = decide(state, AddPoint(actor="gw", text="p4"), T0 + HOUR)[0]
    taken = decide(state, stance("gw", "p1", "agree"), T0 + HOUR)[0]
    withdrawn = decide(state, WithdrawDecision(actor="gw", reason="no"), T0 + HOUR)[0]
    stall = on_time(state, DEADLINE)[0]
    extended = decide(apply(state, [stall]), ExtendDeadline(actor="gw"), DEADLINE)[0]

    assert told(state, added) == [(m, "point_added") for m in ELECTORATE]
    assert told(state, taken) == []
    assert told(state, withdrawn) == [(m, "decision_withdrawn") for m in ELECTORATE]
    assert told(apply(state, [stall]), extended) == [(m, "deadline_extended") for m in ELECTORATE]


# --- evolve ----------------------------------------------------------------------------------------


def test_every_event_survives_the_json_round_trip_and_folds_the_same() -> None:
    state = opened()
    events: list[DecisionEvent] = []
    for command, now in [
        (stance("gw", "p1", "agree"), T0 + HOUR),
        (AmendPoint(actor="gw", point_id="p1", text="changed"), T0 + 2 * HOUR),
        (AddPoint(actor="gw", text="p4", origin="d0/p2"), T0 + 3 * HOUR),
        (WithdrawPoint(actor="gw", point_id="p3"), T0 + 4 * HOUR),
    ]:
        new = decide(apply(state, events), command, now)
        events += new
    events += on_time(apply(state, events), DEADLINE - 2 * DAY)
    events += on_time(apply(state, events), DEADLINE)
    events += decide(apply(state, events), ExtendDeadline(actor="gw"), DEADLINE + HOUR)
    after = apply(state, events)
    events += on_time(after, after.deadline)
    after = apply(state, events)
    events += on_time(after, after.escalation_deadline)  # type: ignore[arg-type]

    assert [e.type for e in events] == [
        "StanceTaken", "PointAmended", "PointAdded", "PointWithdrawn", "ReminderSent", "DecisionStalled",
        "DeadlineExtended", "DecisionStalled", "DecisionEscalated", "DecisionClosed",
    ]
    assert apply(state, [round_trip(e) for e in events]) == apply(state, events)


def test_an_event_before_the_opening_means_a_corrupt_stream() -> None:
    with pytest.raises(ValueError, match="StanceTaken before DecisionOpened: the stream is corrupt"):
        evolve(None, StanceTaken(at=T0, member_id="gw", point_id="p1", stance=StanceKind.AGREE))


# --- the domain rules the workflows and the audit apply ----------------------------------------------


def test_unattended_close_is_what_the_clock_records_when_nobody_acts() -> None:
    state = with_stances(opened(2, fallback="lapse"), {"p1": dict.fromkeys(ELECTORATE, "agree"), "p2": {"amber": "agree"}})
    by_clock = apply(stalled(state), on_time(stalled(state), stalled(state).escalation_deadline))

    closed = unattended_close(state, state.deadline)

    assert (closed.how, closed.rule, closed.outcomes) == ("automatic", "lapse", by_clock.outcomes)
    assert closed.outcome == by_clock.outcome == "partially_adopted"


def test_unattended_close_lapses_only_when_the_fallback_applies() -> None:
    everyone_blocks = with_stances(opened(1, fallback="lapse"), {"p1": dict.fromkeys(ELECTORATE, "block")})
    nobody_answers = opened(1, fallback="lapse")

    assert unattended_close(everyone_blocks, DEADLINE).outcome == "not_adopted"  # quorum met: closed at the deadline
    assert unattended_close(nobody_answers, DEADLINE).outcome == "lapsed"


def test_a_closed_decision_tells_its_alliance_what_it_parked_and_took_up() -> None:
    state = with_stances(opened(2), {"p1": dict.fromkeys(ELECTORATE, "agree"), "p2": {"amber": "block", **dict.fromkeys(ELECTORATE[1:], "agree")}})
    assert state.stage == Stage.CLOSED

    result = result_for_alliance(state, DEADLINE)

    assert result is not None and [p.ref for p in result.parked] == [f"{state.decision_id}/p2"]
    assert result.parked[0].parked_at == state.closed_at and result.taken_up == []
    assert result_for_alliance(opened(2), DEADLINE) is None  # still open: nothing to tell
