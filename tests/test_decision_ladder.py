"""The whole decision ladder on the time-skipping server: reminder, stall, escalation, outcomes."""

from __future__ import annotations

import pytest
from temporalio.testing import WorkflowEnvironment

from accord.app import Accord
from decision_support import alliance_with_members, final_state
from events.decision import ApplyFallback, ExtendDeadline, StanceKind, TakeStance
from events.store import EventStore


async def stance(app: Accord, decision_id: str, member: str, point: str, kind: str, **extra: str) -> None:
    await app.decision_command(
        decision_id, TakeStance(actor=member, point_id=point, stance=StanceKind(kind), **extra)
    )


async def types(store: EventStore, stream: str) -> list[str]:
    return [e.event_type for e in await store.read_stream(stream)]


async def test_stall_then_automatic_escalation_adopts_some_points_and_parks_others(
    skipping_app: Accord, time_skipping_env: WorkflowEnvironment, store: EventStore
) -> None:
    app = skipping_app
    await alliance_with_members(app)
    await app.open_decision(
        "rivers", "gw", "d1", "Joint campaign 2027",
        [{"text": "March on the river day"}, {"text": "Sign the open letter"}, {"text": "Accept the grant"}],
    )
    # p1: quorum met, all agree -> adopted at the deadline.
    for m in ("gw", "amber", "birch"):
        await stance(app, "d1", m, "p1", "agree")
    # p2: only two stances (quorum 3): stalls; under the fallback 2 agree / 0 object -> adopted.
    await stance(app, "d1", "gw", "p2", "agree")
    await stance(app, "d1", "amber", "p2", "concerns")
    # p3: a principle block: never overridden.
    await stance(app, "d1", "cedar", "p3", "block", reason="funder pollutes", principle="independence")
    await stance(app, "d1", "gw", "p3", "agree")
    await stance(app, "d1", "amber", "p3", "agree")

    final = await final_state(time_skipping_env, "d1")
    assert final.outcomes == {"p1": "adopted", "p2": "adopted", "p3": "blocked_on_principle"}
    assert final.outcome == "partially_adopted"
    assert final.closed_how == "automatic"
    events = await types(store, "decision-d1")
    assert events[-4:] == ["ReminderSent", "DecisionStalled", "DecisionEscalated", "DecisionClosed"]
    escalated = (await store.read_stream("decision-d1"))[-2]
    assert escalated.data["automatic"] is True and escalated.data["rule"] == "supermajority"
    # The alliance keeps the blocked point on its list of parked points.
    alliance = await app.alliance("rivers")
    assert list(alliance.parked) == ["d1/p3"]
