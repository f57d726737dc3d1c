"""The decision workflow end to end: real Temporal, real PostgreSQL, the application layer.

The ladder (reminder, stall, escalation) runs on the time-skipping server, where days pass in
milliseconds; what needs real concurrency, real HTTP and the server's visibility store runs on the
dev server. After every step the decision's stream in PostgreSQL holds exactly what happened, the
outbox holds who was told, and after every refused command nothing at all is recorded.

The alliance (see decision_support): gw (coordinator), amber (steering), birch, cedar, dune; quorum
0.6 of 5 = 3, one objection tolerated, 7-day window, reminder 2 days before the deadline, 3 days to
act on a stall, at most 2 extensions of 5 days, fallback 'supermajority'.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import pytest
from decision_support import (
    DAY,
    ELECTORATE,
    alliance_with_members,
    charter,
    event_types,
    eventually,
    final_state,
    in_stage,
    no_activity_in_flight,
    notified,
    skip_to,
    stance,
    unique,
    worker_without_cache,
)
from temporal_fixtures import end_running_processes
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from accord.app import Accord
from accord.worker import build_worker
from events.alliance import AdmitMember, FoundAlliance, SuspendMember
from events.decision import (
    AddPoint,
    AmendPoint,
    ApplyFallback,
    CloseDecision,
    DecisionCommand,
    ExtendDeadline,
    StanceKind,
    TakeStance,
    WithdrawDecision,
    WithdrawPoint,
)
from events.processes import DECISION
from events.rules import RefusalKind, Refused
from events.store import EventStore
from workflows import search
from workflows.decision import OPENING_TIMEOUT

HOUR = timedelta(hours=1)
SECOND = timedelta(seconds=1)


async def opened(app: Accord, points: int = 2, **rules: Any) -> tuple[str, str]:
    """A fresh alliance and a decision gw proposes with `points` points; returns (alliance, decision)."""
    alliance_id = await alliance_with_members(app, unique("rivers"), **rules)
    decision_id = unique("d")
    await app.open_decision(
        alliance_id, "gw", decision_id, "Joint campaign 2027", [{"text": f"point {i + 1}"} for i in range(points)]
    )
    return alliance_id, decision_id


async def stage_attribute(app: Accord, workflow_id: str) -> str | None:
    description = await app.client.get_workflow_handle(workflow_id).describe()
    return description.typed_search_attributes.get(search.STAGE)


# --- the ladder on the time-skipping server ------------------------------------------------------


async def test_the_reminder_goes_to_exactly_the_members_without_a_stance_on_every_point(
    skipping_app: Accord, time_skipping_env: WorkflowEnvironment, store: EventStore, pool: asyncpg.Pool
) -> None:
    app = skipping_app
    alliance_id, decision_id = await opened(app)
    stream = DECISION.stream_name(decision_id, alliance_id)
    for member in ("gw", "birch"):
        for point in ("p1", "p2"):
            await stance(app, decision_id, member, point, "agree")
    await stance(app, decision_id, "amber", "p1", "agree")  # amber has not answered p2
    state = (await app.decision(decision_id)).state
    remind_at = state.deadline - 2 * DAY
    assert state.deadline == state.opened_at + 7 * DAY
    assert (await app.decision(decision_id)).next_due == remind_at

    await skip_to(time_skipping_env, remind_at - HOUR)
    assert "ReminderSent" not in await event_types(store, stream)
    await skip_to(time_skipping_env, remind_at + HOUR)

    view = await in_stage(app, decision_id, "open", reminded_for=state.deadline)
    reminder = (await store.read_stream(stream))[-1]
    assert reminder.event_type == "ReminderSent"
    assert reminder.data["members"] == ["amber", "cedar", "dune"]
    assert remind_at <= datetime.fromisoformat(reminder.data["at"]) < remind_at + SECOND  # the timer's tick
    assert reminder.metadata["actor"] == "accord"
    assert reminder.metadata["causation_id"] == "timer"
    rows = await notified(pool, stream, "reminder")
    assert [r["member_id"] for r in rows] == ["amber", "cedar", "dune"]
    assert {r["event_id"] for r in rows} == {reminder.event_id}
    assert rows[0]["message"] == (
        f"'Joint campaign 2027' ({decision_id}) closes at {state.deadline:%Y-%m-%d %H:%M} UTC; "
        "you have not responded on every point"
    )
    assert view.next_due == state.deadline
    assert view.pending_members == ["amber", "cedar", "dune"]
    # Told once: nothing more until the deadline.
    await skip_to(time_skipping_env, state.deadline - HOUR)
    assert (await event_types(store, stream)).count("ReminderSent") == 1


async def test_a_stalled_decision_is_extended_by_a_coordinator_until_the_charter_allows_no_more(
    skipping_app: Accord, time_skipping_env: WorkflowEnvironment, store: EventStore, pool: asyncpg.Pool
) -> None:
    app = skipping_app
    alliance_id, decision_id = await opened(app, points=1, max_extensions=1)
    stream = DECISION.stream_name(decision_id, alliance_id)
    await stance(app, decision_id, "gw", "p1", "agree")
    state = (await app.decision(decision_id)).state
    assert await stage_attribute(app, DECISION.stream_name(decision_id, alliance_id)) == "open"

    await skip_to(time_skipping_env, state.deadline + HOUR)

    stalled = await in_stage(app, decision_id, "stalled")
    assert stalled.state.stalled_points == ["p1"]
    stalled_at = datetime.fromisoformat((await store.read_stream(stream))[-1].data["at"])
    assert state.deadline <= stalled_at < state.deadline + SECOND
    assert stalled.state.escalation_deadline == stalled_at + 3 * DAY
    assert await eventually(lambda: stage_attribute(app, DECISION.stream_name(decision_id, alliance_id)), lambda v: v == "stalled") == "stalled"
    assert [r["member_id"] for r in await notified(pool, stream, "decision_stalled")] == ["amber", "gw"]
    (listed,) = await app.decisions(alliance_id)
    assert (listed.decision_id, listed.stage, listed.deadline, listed.outcome) == (
        decision_id, "stalled", stalled.state.escalation_deadline, None,
    )
    version = (await store.head(stream)).version

    with pytest.raises(Refused) as steering:
        await app.decision_command(decision_id, ExtendDeadline(actor="amber"))
    assert (steering.value.kind, steering.value.message) == (
        RefusalKind.FORBIDDEN, "only a coordinator may extend a stalled decision; 'amber' is not one",
    )
    assert (await store.head(stream)).version == version

    now = await time_skipping_env.get_current_time()
    await app.decision_command(decision_id, ExtendDeadline(actor="gw"))
    extended = (await store.read_stream(stream))[-1]
    assert extended.event_type == "DeadlineExtended"
    assert extended.data["by"] == "gw" and extended.data["extensions"] == 1
    view = await app.decision(decision_id)
    assert (view.state.stage, view.state.extensions, view.state.escalation_deadline) == ("open", 1, None)
    assert now + 5 * DAY <= view.state.deadline < now + 5 * DAY + timedelta(minutes=1)
    assert await eventually(lambda: stage_attribute(app, DECISION.stream_name(decision_id, alliance_id)), lambda v: v == "open") == "open"
    assert len(await notified(pool, stream, "deadline_extended")) == 5
    (listed,) = await app.decisions(alliance_id)
    assert (listed.stage, listed.deadline) == ("open", view.state.deadline)

    # It stalls again at the new deadline, and the one extension the charter allows is used.
    await skip_to(time_skipping_env, view.state.deadline + HOUR)
    await in_stage(app, decision_id, "stalled")
    version = (await store.head(stream)).version
    with pytest.raises(Refused) as used_up:
        await app.decision_command(decision_id, ExtendDeadline(actor="gw"))
    assert (used_up.value.kind, used_up.value.message) == (
        RefusalKind.CONFLICT,
        "the charter allows at most 1 extension(s) and all are used; apply the fallback or close the decision",
    )
    assert (await store.head(stream)).version == version
    assert (await event_types(store, stream)).count("DecisionStalled") == 2


async def test_a_coordinator_applies_the_fallback_to_a_stalled_decision(
    skipping_app: Accord, time_skipping_env: WorkflowEnvironment, store: EventStore
) -> None:
    app = skipping_app
    alliance_id, decision_id = await opened(app)
    stream = DECISION.stream_name(decision_id, alliance_id)
    for member in ("gw", "amber", "birch"):
        await stance(app, decision_id, member, "p1", "agree")
    await stance(app, decision_id, "gw", "p2", "agree")
    await stance(app, decision_id, "amber", "p2", "object", reason="too loud")  # 1 of 2: below 2/3
    deadline = (await app.decision(decision_id)).state.deadline
    await skip_to(time_skipping_env, deadline + HOUR)
    await in_stage(app, decision_id, "stalled")

    await app.decision_command(decision_id, ApplyFallback(actor="gw"))

    final = await final_state(time_skipping_env, DECISION.stream_name(decision_id, alliance_id))
    escalated, closed = (await store.read_stream(stream))[-2:]
    assert escalated.event_type == "DecisionEscalated"
    assert {k: escalated.data[k] for k in ("rule", "automatic", "by")} == {"rule": "supermajority", "automatic": False, "by": "gw"}
    assert escalated.metadata["actor"] == "gw"
    assert closed.event_type == "DecisionClosed"
    assert {k: closed.data[k] for k in ("how", "rule", "by", "outcomes", "outcome")} == {
        "how": "fallback", "rule": "supermajority", "by": "gw",
        "outcomes": {"p1": "adopted", "p2": "parked"}, "outcome": "partially_adopted",
    }
    assert (final.stage, final.closed_how, final.rule_applied) == ("closed", "fallback", "supermajority")
    assert final.outcomes == {"p1": "adopted", "p2": "parked"}
    parked = await eventually(lambda: app.alliance(alliance_id), lambda a: bool(a.parked))
    assert list(parked.parked) == [f"{decision_id}/p2"]


async def test_a_coordinator_closes_a_stalled_decision_and_a_later_decision_takes_the_parked_points_up(
    skipping_app: Accord, time_skipping_env: WorkflowEnvironment, store: EventStore
) -> None:
    app = skipping_app
    alliance_id, decision_id = await opened(app, points=3)
    for member in ("gw", "amber", "birch"):
        await stance(app, decision_id, member, "p1", "agree")
    await stance(app, decision_id, "gw", "p2", "agree")
    await stance(app, decision_id, "gw", "p3", "agree")
    await stance(app, decision_id, "amber", "p3", "agree")
    deadline = (await app.decision(decision_id)).state.deadline
    await skip_to(time_skipping_env, deadline + HOUR)
    await in_stage(app, decision_id, "stalled")

    await app.decision_command(decision_id, CloseDecision(actor="gw"))

    final = await final_state(time_skipping_env, DECISION.stream_name(decision_id, alliance_id))
    closed = (await store.read_stream(DECISION.stream_name(decision_id, alliance_id)))[-1]
    assert {k: closed.data[k] for k in ("how", "rule", "by", "outcome")} == {
        "how": "coordinator", "rule": None, "by": "gw", "outcome": "partially_adopted",
    }
    assert final.outcomes == {"p1": "adopted", "p2": "parked", "p3": "parked"}
    alliance = await eventually(lambda: app.alliance(alliance_id), lambda a: len(a.parked) == 2)
    assert sorted(alliance.parked) == [f"{decision_id}/p2", f"{decision_id}/p3"]
    assert alliance.parked[f"{decision_id}/p3"].text == "point 3"
    assert alliance.parked[f"{decision_id}/p3"].outcome == "parked"

    # A new decision takes p2 up; once it closes (everyone answered), p2 leaves the list, p3 stays.
    again = unique("d")
    await app.open_decision(
        alliance_id, "gw", again, "Point 2, again", [{"text": "point 2, smaller", "origin": f"{decision_id}/p2"}]
    )
    assert (await app.decision(again)).state.points["p1"].origin == f"{decision_id}/p2"
    assert list((await app.alliance(alliance_id)).parked) == [f"{decision_id}/p2", f"{decision_id}/p3"]
    for member in ELECTORATE:
        await stance(app, again, member, "p1", "agree")
    assert (await final_state(time_skipping_env, DECISION.stream_name(again, alliance_id))).outcome == "adopted"
    alliance = await eventually(lambda: app.alliance(alliance_id), lambda a: len(a.parked) == 1)
    assert list(alliance.parked) == [f"{decision_id}/p3"]
    assert (await event_types(store, f"alliance-{alliance_id}"))[-2:] == ["PointsParked", "ParkedPointsTakenUp"]


async def test_nobody_acts_on_a_stall_and_the_lapse_rule_applies_by_itself(
    skipping_app: Accord, time_skipping_env: WorkflowEnvironment, store: EventStore, pool: asyncpg.Pool
) -> None:
    app = skipping_app
    alliance_id, decision_id = await opened(app, fallback="lapse")
    stream = DECISION.stream_name(decision_id, alliance_id)
    await stance(app, decision_id, "gw", "p1", "agree")
    await stance(app, decision_id, "amber", "p2", "agree")
    state = (await app.decision(decision_id)).state

    final = await final_state(time_skipping_env, DECISION.stream_name(decision_id, alliance_id))

    events = await store.read_stream(stream)
    assert [e.event_type for e in events][-4:] == ["ReminderSent", "DecisionStalled", "DecisionEscalated", "DecisionClosed"]
    stalled, escalated, closed = events[-3:]
    stalled_at = datetime.fromisoformat(stalled.data["at"])
    assert state.deadline <= stalled_at < state.deadline + SECOND
    assert datetime.fromisoformat(stalled.data["escalation_deadline"]) == stalled_at + 3 * DAY
    assert {k: escalated.data[k] for k in ("rule", "automatic", "by")} == {"rule": "lapse", "automatic": True, "by": None}
    escalated_at = datetime.fromisoformat(escalated.data["at"])
    assert stalled_at + 3 * DAY <= escalated_at < stalled_at + 3 * DAY + SECOND
    assert escalated.metadata["actor"] == "accord"
    assert {k: closed.data[k] for k in ("how", "rule", "outcomes", "outcome")} == {
        "how": "automatic", "rule": "lapse", "outcomes": {"p1": "parked", "p2": "parked"}, "outcome": "lapsed",
    }
    assert (final.outcome, final.rule_applied) == ("lapsed", "lapse")
    assert [r["member_id"] for r in await notified(pool, stream, "decision_closed")] == ELECTORATE
    assert await stage_attribute(app, DECISION.stream_name(decision_id, alliance_id)) == "closed"
    (listed,) = await app.decisions(alliance_id)
    assert (listed.stage, listed.outcome) == ("closed", "lapsed")


async def test_an_amendment_clears_stances_on_its_point_and_moves_a_close_deadline(
    skipping_app: Accord, time_skipping_env: WorkflowEnvironment, store: EventStore, pool: asyncpg.Pool
) -> None:
    app = skipping_app
    alliance_id, decision_id = await opened(app)
    stream = DECISION.stream_name(decision_id, alliance_id)
    for member in ("amber", "birch", "cedar"):
        await stance(app, decision_id, member, "p1", "agree")
    await stance(app, decision_id, "dune", "p2", "agree")
    deadline = (await app.decision(decision_id)).state.deadline
    await skip_to(time_skipping_env, deadline - DAY)  # after the reminder

    now = await time_skipping_env.get_current_time()
    await app.decision_command(decision_id, AmendPoint(actor="gw", point_id="p1", text="point 1, smaller"))

    amended = (await store.read_stream(stream))[-1]
    assert amended.event_type == "PointAmended"
    assert amended.data["cleared"] == ["amber", "birch", "cedar"]
    state = (await app.decision(decision_id)).state
    assert state.points["p1"].stances == {}
    assert list(state.points["p2"].stances) == ["dune"]
    new_deadline = state.deadline
    assert now + 2 * DAY <= new_deadline < now + 2 * DAY + timedelta(minutes=1)
    assert [r["member_id"] for r in await notified(pool, stream, "stance_cleared")] == ["amber", "birch", "cedar"]

    # The old deadline passes without effect: the timer follows the state.
    await skip_to(time_skipping_env, deadline + HOUR)
    assert (await app.decision(decision_id)).state.stage == "open"
    await skip_to(time_skipping_env, new_deadline + HOUR)
    stalled = await in_stage(app, decision_id, "stalled")
    assert stalled.state.stalled_points == ["p1", "p2"]
    assert (await event_types(store, stream)).count("ReminderSent") == 1


async def test_the_alliances_list_of_decisions_shows_a_deadline_moved_by_an_amendment(
    skipping_app: Accord, time_skipping_env: WorkflowEnvironment
) -> None:
    app = skipping_app
    alliance_id, decision_id = await opened(app)
    deadline = (await app.decision(decision_id)).state.deadline
    await skip_to(time_skipping_env, deadline - DAY)
    await app.decision_command(decision_id, AmendPoint(actor="gw", point_id="p1", text="point 1, smaller"))
    moved = (await app.decision(decision_id)).state.deadline
    assert moved > deadline

    (listed,) = await app.decisions(alliance_id)

    assert (listed.stage, listed.deadline) == ("open", moved)


async def test_a_withdrawn_point_leaves_the_parked_point_it_took_up_on_the_list(
    skipping_app: Accord, time_skipping_env: WorkflowEnvironment
) -> None:
    app = skipping_app
    alliance_id, first = await opened(app, points=1)
    assert (await final_state(time_skipping_env, DECISION.stream_name(first, alliance_id))).outcomes == {"p1": "parked"}  # nobody answered
    await eventually(lambda: app.alliance(alliance_id), lambda a: list(a.parked) == [f"{first}/p1"])

    second = unique("d")
    await app.open_decision(
        alliance_id, "gw", second, "Again",
        [{"text": "point 1, again", "origin": f"{first}/p1"}, {"text": "something else"}, {"text": "a third"}],
    )
    await app.decision_command(second, WithdrawPoint(actor="gw", point_id="p1"))
    await stance(app, second, "cedar", "p3", "block", reason="not now")  # parks p3, so the alliance hears back
    for member in ELECTORATE:
        await stance(app, second, member, "p2", "agree")
    for member in ELECTORATE:
        if member != "cedar":
            await stance(app, second, member, "p3", "agree")
    assert (await final_state(time_skipping_env, DECISION.stream_name(second, alliance_id), step=timedelta(seconds=1))).outcomes == {
        "p1": "withdrawn", "p2": "adopted", "p3": "parked",
    }
    alliance = await eventually(lambda: app.alliance(alliance_id), lambda a: f"{second}/p3" in a.parked)

    assert sorted(alliance.parked) == sorted([f"{first}/p1", f"{second}/p3"])


async def test_the_last_missing_stance_closes_the_decision_at_once(
    skipping_app: Accord, time_skipping_env: WorkflowEnvironment, store: EventStore
) -> None:
    app = skipping_app
    alliance_id, decision_id = await opened(app)
    for member in ELECTORATE:
        await stance(app, decision_id, member, "p1", "agree")
    for member in ELECTORATE[:-1]:
        await stance(app, decision_id, member, "p2", "concerns")
    assert (await app.decision(decision_id)).state.stage == "open"

    result = await stance(app, decision_id, "gw", "p2", "stand_aside")

    assert len(result.receipts) == 2
    stream = await store.read_stream(DECISION.stream_name(decision_id, alliance_id))
    assert [e.event_type for e in stream][-2:] == ["StanceTaken", "DecisionClosed"]
    assert stream[-1].data["how"] == "all_responded"
    assert [r.stream_version for r in result.receipts] == [stream[-2].stream_version, stream[-1].stream_version]
    final = await final_state(time_skipping_env, DECISION.stream_name(decision_id, alliance_id), step=timedelta(seconds=1))
    assert (final.outcome, final.closed_how) == ("adopted", "all_responded")
    assert "ReminderSent" not in [e.event_type for e in stream]


async def test_every_refused_command_raises_refused_and_records_nothing(
    skipping_app: Accord, time_skipping_env: WorkflowEnvironment, store: EventStore
) -> None:
    app = skipping_app
    alliance_id, decision_id = await opened(app, points=1)
    stream = DECISION.stream_name(decision_id, alliance_id)
    # Admitted after the opening: not in the decision's electorate.
    await app.alliance_command(alliance_id, AdmitMember(actor="gw", member_id="elm", name="Elm"))
    await stance(app, decision_id, "birch", "p1", "agree")
    version = (await store.head(stream)).version
    head = await app.client.get_workflow_handle(stream).query("head")

    cases: list[tuple[DecisionCommand, RefusalKind, str]] = [
        (
            TakeStance(actor="elm", point_id="p1", stance=StanceKind.AGREE),
            RefusalKind.FORBIDDEN,
            f"'elm' is not in the electorate of decision '{decision_id}' (the members who were active when it opened)",
        ),
        (
            TakeStance(actor="amber", point_id="p7", stance=StanceKind.AGREE),
            RefusalKind.NOT_FOUND,
            f"decision '{decision_id}' has no point 'p7' (points: p1)",
        ),
        (TakeStance(actor="amber", point_id="p1", stance=StanceKind.OBJECT), RefusalKind.INVALID, "a reason is required to object"),
        (TakeStance(actor="amber", point_id="p1", stance=StanceKind.BLOCK, reason=" "), RefusalKind.INVALID, "a reason is required to block"),
        (
            TakeStance(actor="amber", point_id="p1", stance=StanceKind.CONCERNS, reason="r", principle="independence"),
            RefusalKind.INVALID,
            "only a block may cite a core principle",
        ),
        (
            TakeStance(actor="amber", point_id="p1", stance=StanceKind.BLOCK, reason="r", principle="speed"),
            RefusalKind.INVALID,
            "unknown principle 'speed'; the charter's principles are non-violence, independence, member-autonomy",
        ),
        (AmendPoint(actor="amber", point_id="p1", text="mine"), RefusalKind.FORBIDDEN, "only the proposer ('gw') may amend it"),
        (AddPoint(actor="amber", text="mine"), RefusalKind.FORBIDDEN, "only the proposer ('gw') may add points"),
        (AddPoint(actor="gw", text="more", origin="d0/p1"), RefusalKind.INVALID, "origin 'd0/p1' is not on the alliance's list of parked points (none)"),
        (WithdrawPoint(actor="gw", point_id="p1"), RefusalKind.CONFLICT, "this is the last point: withdraw the decision instead"),
        (
            WithdrawDecision(actor="amber", reason="no"),
            RefusalKind.FORBIDDEN,
            "only the proposer ('gw') or a coordinator may withdraw this decision",
        ),
        (ExtendDeadline(actor="gw"), RefusalKind.CONFLICT, f"decision '{decision_id}' is open; only a stalled decision can be extended"),
        (ApplyFallback(actor="gw"), RefusalKind.CONFLICT, f"decision '{decision_id}' is open; only a stalled decision can be escalated"),
        (CloseDecision(actor="gw"), RefusalKind.CONFLICT, f"decision '{decision_id}' is open; only a stalled decision can be closed by a coordinator"),
        (
            TakeStance(actor="zed", point_id="p1", stance=StanceKind.AGREE),
            RefusalKind.FORBIDDEN,
            f"'zed' is not a member of alliance '{alliance_id}'",
        ),
    ]
    for command, kind, message in cases:
        with pytest.raises(Refused) as caught:
            await app.decision_command(decision_id, command)
        assert (caught.value.kind, caught.value.message) == (kind, message), command

    assert (await store.head(stream)).version == version
    assert await app.client.get_workflow_handle(stream).query("head") == head
    with pytest.raises(Refused) as unknown:
        await app.decision_command("no-such-decision", TakeStance(actor="gw", point_id="p1", stance=StanceKind.AGREE))
    assert (unknown.value.kind, unknown.value.message) == (RefusalKind.NOT_FOUND, "no decision 'no-such-decision'")


async def test_a_suspended_members_stance_is_refused(
    skipping_app: Accord, time_skipping_env: WorkflowEnvironment, store: EventStore
) -> None:
    app = skipping_app
    alliance_id, decision_id = await opened(app, points=1)
    stream = DECISION.stream_name(decision_id, alliance_id)
    await app.alliance_command(alliance_id, SuspendMember(actor="gw", member_id="dune", reason="dues unpaid"))
    version = (await store.head(stream)).version

    with pytest.raises(Refused) as caught:
        await stance(app, decision_id, "dune", "p1", "agree")

    assert caught.value.kind == RefusalKind.FORBIDDEN
    assert caught.value.message == f"'dune' is suspended in alliance '{alliance_id}' and cannot act"
    assert (await store.head(stream)).version == version
    # Still in the electorate pinned at opening: the quorum does not shrink.
    assert (await app.decision(decision_id)).tallies[0].electorate == 5


async def test_commands_to_a_closed_decision_are_refused_as_closed(
    skipping_app: Accord, time_skipping_env: WorkflowEnvironment, store: EventStore
) -> None:
    app = skipping_app
    alliance_id, decision_id = await opened(app, points=1)
    for member in ELECTORATE:
        await stance(app, decision_id, member, "p1", "agree")
    await final_state(time_skipping_env, DECISION.stream_name(decision_id, alliance_id), step=timedelta(seconds=1))
    version = (await store.head(DECISION.stream_name(decision_id, alliance_id))).version

    with pytest.raises(Refused) as caught:
        await stance(app, decision_id, "gw", "p1", "object", reason="too late")

    assert (caught.value.kind, caught.value.message) == (
        RefusalKind.CONFLICT, f"decision '{decision_id}' is closed (outcome: adopted)",
    )
    assert (await store.head(DECISION.stream_name(decision_id, alliance_id))).version == version


async def test_a_withdrawn_decision_refuses_stances(
    skipping_app: Accord, time_skipping_env: WorkflowEnvironment, store: EventStore
) -> None:
    app = skipping_app
    alliance_id, decision_id = await opened(app, points=1)
    await app.decision_command(decision_id, WithdrawDecision(actor="gw", reason="overtaken by events"))
    final = await final_state(time_skipping_env, DECISION.stream_name(decision_id, alliance_id), step=timedelta(seconds=1))
    assert (final.stage, final.outcome) == ("withdrawn", "withdrawn")

    with pytest.raises(Refused) as caught:
        await stance(app, decision_id, "amber", "p1", "agree")

    assert (caught.value.kind, caught.value.message) == (RefusalKind.CONFLICT, f"decision '{decision_id}' was withdrawn")


async def test_timers_survive_a_worker_restart(
    time_skipping_env: WorkflowEnvironment, pool: asyncpg.Pool, task_queue: str, store: EventStore
) -> None:
    env = time_skipping_env
    app = Accord(client=env.client, pool=pool, task_queue=task_queue)
    try:
        await restarting_workers(env, app, pool, task_queue, store)
    finally:
        await end_running_processes(env.client, pool)


async def restarting_workers(
    env: WorkflowEnvironment, app: Accord, pool: asyncpg.Pool, task_queue: str, store: EventStore
) -> None:
    # The workers stopped while a timer is pending keep no workflow cache (see worker_without_cache),
    # and are stopped only between deliveries (see no_activity_in_flight): both for the test server.
    async with worker_without_cache(env.client, pool, task_queue):
        alliance_id, decision_id = await opened(app)
        for member in ("gw", "amber", "birch"):
            await stance(app, decision_id, member, "p1", "agree")
        await stance(app, decision_id, "gw", "p2", "agree")
        deadline = (await app.decision(decision_id)).state.deadline
        await no_activity_in_flight(env.client, DECISION.stream_name(decision_id, alliance_id))
    stream = DECISION.stream_name(decision_id, alliance_id)
    before = await event_types(store, stream)

    # Each new worker knows nothing of the decision but what the server's history and timers hold.
    async with worker_without_cache(env.client, pool, task_queue):
        await skip_to(env, deadline + HOUR)
        stalled = await in_stage(app, decision_id, "stalled")
        assert stalled.state.stalled_points == ["p2"]
        assert await event_types(store, stream) == [*before, "ReminderSent", "DecisionStalled"]
        await no_activity_in_flight(env.client, DECISION.stream_name(decision_id, alliance_id))

    async with build_worker(env.client, pool, task_queue):
        final = await final_state(env, DECISION.stream_name(decision_id, alliance_id))
    assert (final.closed_how, final.outcomes) == ("automatic", {"p1": "adopted", "p2": "adopted"})
    assert (await event_types(store, stream))[-2:] == ["DecisionEscalated", "DecisionClosed"]
    assert (await store.verify(stream_prefix=stream)).ok


# --- the dev server ------------------------------------------------------------------------------


@pytest.fixture
async def app(app: Accord, pool: asyncpg.Pool) -> AsyncIterator[Accord]:
    """The dev-server app, leaving no process running behind (a stalled one would escalate unattended)."""
    yield app
    await end_running_processes(app.client, pool)


async def test_fifty_members_answering_at_once_are_each_recorded_once_in_fewer_appends(
    app: Accord, store: EventStore, pool: asyncpg.Pool
) -> None:
    alliance_id = unique("many")
    await app.found_alliance(
        FoundAlliance(alliance_id=alliance_id, charter=charter(), founder_id="m00", founder_name="Founder")
    )
    members = [f"m{i:02d}" for i in range(50)]
    for member in members[1:]:
        await app.alliance_command(alliance_id, AdmitMember(actor="m00", member_id=member, name=member.upper()))
    decision_id = unique("d")
    await app.open_decision(alliance_id, "m00", decision_id, "Everyone at once", [{"text": "the one point"}])
    stream = DECISION.stream_name(decision_id, alliance_id)

    results = await asyncio.gather(
        *(stance(app, decision_id, m, "p1", "agree" if i % 3 else "concerns") for i, m in enumerate(members))
    )

    events = await store.read_stream(stream)
    stances = [e for e in events if e.event_type == "StanceTaken"]
    assert len(stances) == 50
    assert sorted(e.data["member_id"] for e in stances) == members
    assert [e.event_type for e in events] == ["DecisionOpened", *["StanceTaken"] * 50, "DecisionClosed"]
    assert events[-1].data["how"] == "all_responded"
    versions = sorted(r.stream_version for result in results for r in result.receipts)
    assert versions == list(range(2, 53))  # each stance its own version; the last also the close
    report = await store.verify()
    assert report.ok and report.events_checked >= 52
    # The group commit: stances that arrived together shared one append (one transaction).
    transactions = await pool.fetchval(
        "SELECT count(DISTINCT transaction_id::text) FROM accord.events WHERE stream_id = $1 AND event_type = 'StanceTaken'",
        stream,
    )
    assert 1 <= transactions < 50
    history = await app.client.get_workflow_handle(stream).fetch_history()
    markers = [
        e.marker_recorded_event_attributes.marker_name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
    ]
    appends = markers.count("core_local_activity")
    assert appends == transactions + 1  # one local append per batch, and one for the opening
    assert len(timers_started(history)) == 1  # the commits neither cancelled nor restarted it


def timers_started(history: Any) -> list[timedelta]:
    """The timers a decision's history started, leaving out the wait for the opening command (there
    when the command came after the start)."""
    timers = [
        e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
    ]
    return [t for t in timers if t != OPENING_TIMEOUT]


async def test_commits_that_leave_the_deadline_in_place_keep_its_one_timer(app: Accord) -> None:
    alliance_id = await alliance_with_members(app, unique("timer"))
    decision_id = unique("d")
    await app.open_decision(alliance_id, "gw", decision_id, "One timer", [{"text": "a point"}, {"text": "another"}])
    for member, point in [("amber", "p1"), ("birch", "p1"), ("cedar", "p2")]:  # one commit each
        await stance(app, decision_id, member, point, "agree")

    history = await app.client.get_workflow_handle(DECISION.stream_name(decision_id, alliance_id)).fetch_history()

    markers = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED]
    assert sum(m.marker_recorded_event_attributes.marker_name == "core_local_activity" for m in markers) == 4
    assert len(timers_started(history)) == 1  # before the patch: one more per commit
    opening_waits = {
        e.event_id
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
        and e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta() == OPENING_TIMEOUT
    }
    cancelled = [
        e.timer_canceled_event_attributes.started_event_id
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_TIMER_CANCELED
    ]
    assert set(cancelled) <= opening_waits  # only the wait for the opening command, if there was one


class Webhook:
    """A member's webhook: a tiny HTTP server on 127.0.0.1 that answers every POST with `status`."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.requests: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        self.url = ""

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:] if line)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.requests.append((head[0], headers, json.loads(body)))
        writer.write(f"HTTP/1.1 {self.status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        writer.close()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Webhook]:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/accord/hook"
        async with server:
            yield self


async def webhook_alliance(app: Accord, url: str) -> str:
    alliance_id = await alliance_with_members(app, unique("rivers"))
    await app.alliance_command(alliance_id, AdmitMember(actor="gw", member_id="elm", name="Elm", webhook_url=url))
    return alliance_id


async def test_a_members_webhook_receives_the_opening_notice(app: Accord, pool: asyncpg.Pool, store: EventStore) -> None:
    async with Webhook(200).running() as hook:
        alliance_id = await webhook_alliance(app, hook.url)
        decision_id = unique("d")
        await app.open_decision(alliance_id, "gw", decision_id, "Joint campaign", [{"text": "march"}])
        stream = DECISION.stream_name(decision_id, alliance_id)

        rows = await eventually(
            lambda: notified(pool, stream, "decision_opened"),
            lambda rows: any(r["member_id"] == "elm" and r["delivered_at"] for r in rows),
        )

    opening = (await store.read_stream(stream))[0]
    elm = next(r for r in rows if r["member_id"] == "elm")
    assert (elm["attempts"], elm["last_error"]) == (1, None)
    assert len(hook.requests) == 1
    request_line, headers, body = hook.requests[0]
    assert request_line == "POST /accord/hook HTTP/1.1"
    assert headers["content-type"] == "application/json"
    deadline = (await app.decision(decision_id)).state.deadline
    assert body == {
        "notification_id": str(elm["notification_id"]),
        "alliance_id": alliance_id,
        "process": stream,
        "member_id": "elm",
        "kind": "decision_opened",
        "message": f"gw proposes 'Joint campaign' ({decision_id}); respond by {deadline:%Y-%m-%d %H:%M} UTC",
        "event_id": str(opening.event_id),
        "created_at": elm["created_at"].isoformat(),
    }
    # Members without a webhook read their notices through the CLI or the API: nothing was attempted.
    others = [r for r in rows if r["member_id"] != "elm"]
    assert sorted(r["member_id"] for r in others) == ELECTORATE
    assert {(r["attempts"], r["delivered_at"]) for r in others} == {(0, None)}
    listed = await app.notifications(alliance_id, "elm", "elm")
    assert [(n.kind, n.delivered_at is not None) for n in listed] == [("decision_opened", True)]


async def test_a_failing_webhook_leaves_the_notice_undelivered_with_the_error(app: Accord, pool: asyncpg.Pool) -> None:
    async with Webhook(500).running() as hook:
        alliance_id = await webhook_alliance(app, hook.url)
        decision_id = unique("d")
        await app.open_decision(alliance_id, "gw", decision_id, "Joint campaign", [{"text": "march"}])

        rows = await eventually(
            lambda: notified(pool, DECISION.stream_name(decision_id, alliance_id), "decision_opened"),
            lambda rows: any(r["member_id"] == "elm" and r["attempts"] >= 1 for r in rows),
        )

    elm = next(r for r in rows if r["member_id"] == "elm")
    assert elm["attempts"] >= 1
    assert elm["last_error"] == "HTTP 500"
    assert elm["delivered_at"] is None
    assert elm["last_attempt_at"] is not None
    assert hook.requests[0][2]["member_id"] == "elm"


async def test_a_stalled_decision_is_found_by_a_visibility_query(app: Accord, store: EventStore) -> None:
    alliance_id = await alliance_with_members(
        app, unique("rivers"), response_window="3s", min_response_window="1s", reminder_lead="1s", escalation_window="30s"
    )
    decision_id = unique("d")
    other = unique("d")
    await app.open_decision(alliance_id, "gw", decision_id, "Quick one", [{"text": "now or never"}])
    await app.open_decision(alliance_id, "gw", other, "Slow one", [{"text": "later"}], response_window="1h")
    await stance(app, decision_id, "gw", "p1", "agree")

    await in_stage(app, decision_id, "stalled")
    query = f"AccordAlliance='{alliance_id}' AND AccordKind='decision' AND AccordStage='stalled'"

    async def listed() -> list[str]:
        return [w.id async for w in app.client.list_workflows(query)]

    found = await eventually(listed, lambda ids: bool(ids))
    assert found == [DECISION.stream_name(decision_id, alliance_id)]
    opened_ones = [w.id async for w in app.client.list_workflows(
        f"AccordAlliance='{alliance_id}' AND AccordKind='decision' AND AccordStage='open'"
    )]
    assert DECISION.stream_name(decision_id, alliance_id) not in opened_ones
    assert (await event_types(store, DECISION.stream_name(decision_id, alliance_id)))[-2:] == ["ReminderSent", "DecisionStalled"]
