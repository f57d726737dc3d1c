"""The whole decision ladder on the time-skipping server: reminder, stall, escalation, outcomes."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from decision_support import alliance_with_members, charter, event_types, eventually, final_state, stance, unique
from temporalio.testing import WorkflowEnvironment

from accord.app import Accord
from accord.audit import fold_log, replay
from events import decision
from events.decision import DecisionContext, OpenDecision, PointDraft
from events.processes import DECISION
from events.store import EventStore, NewEvent


async def test_stall_then_automatic_escalation_adopts_some_points_and_parks_others(
    skipping_app: Accord, time_skipping_env: WorkflowEnvironment, store: EventStore
) -> None:
    app = skipping_app
    # Ids of this test's own: the time-skipping server lives for the whole session.
    alliance_id = await alliance_with_members(app, unique("rivers"))
    decision_id = unique("d")
    stream = DECISION.stream_name(decision_id, alliance_id)
    await app.open_decision(
        alliance_id, "gw", decision_id, "Joint campaign 2027",
        [{"text": "March on the river day"}, {"text": "Sign the open letter"}, {"text": "Accept the grant"}],
    )
    # p1: quorum met, all agree -> adopted at the deadline.
    for m in ("gw", "amber", "birch"):
        await stance(app, decision_id, m, "p1", "agree")
    # p2: only two stances (quorum 3): stalls; under the fallback 2 agree / 0 object -> adopted.
    await stance(app, decision_id, "gw", "p2", "agree")
    await stance(app, decision_id, "amber", "p2", "concerns")
    # p3: a principle block: never overridden.
    await stance(app, decision_id, "cedar", "p3", "block", reason="funder pollutes", principle="independence")
    await stance(app, decision_id, "gw", "p3", "agree")
    await stance(app, decision_id, "amber", "p3", "agree")

    final = await final_state(time_skipping_env, DECISION.stream_name(decision_id, alliance_id))
    assert final.outcomes == {"p1": "adopted", "p2": "adopted", "p3": "blocked_on_principle"}
    assert final.outcome == "partially_adopted"
    assert final.closed_how == "automatic"
    events = await event_types(store, stream)
    assert events[-4:] == ["ReminderSent", "DecisionStalled", "DecisionEscalated", "DecisionClosed"]
    stalled, escalated, _ = (await store.read_stream(stream))[-3:]
    assert stalled.data["without_quorum"] == ["p2"]  # p3's principle block settles it at the deadline
    assert escalated.data["automatic"] is True and escalated.data["rule"] == "supermajority"
    assert escalated.data["by"] is None
    # The alliance keeps the blocked point on its list of parked points (told by signal, so poll).
    alliance = await eventually(lambda: app.alliance(alliance_id), lambda a: bool(a.parked))
    assert list(alliance.parked) == [f"{decision_id}/p3"]
    assert alliance.parked[f"{decision_id}/p3"].outcome == "blocked_on_principle"


async def test_a_stored_v1_stall_replays_into_todays_type(store: EventStore) -> None:
    """DecisionStalled was recorded at schema version 1 with `points`; replay upcasts the stored row."""
    opened_at = datetime(2026, 3, 1, tzinfo=UTC)
    opening = decision.decide(
        None,
        OpenDecision(
            actor="gw", decision_id="old", alliance_id="rivers", title="An old decision",
            points=[PointDraft(text="a point")],
            context=DecisionContext(
                rules=charter().decisions, principles=["independence"], electorate=["gw", "amber"],
                coordinators=["gw"], steering=[],
            ),
        ),
        opened_at,
    )[0]
    v1_stall = {"at": "2026-03-08T00:00:00Z", "points": ["p1"], "escalation_deadline": "2026-03-11T00:00:00Z"}
    await store.append(
        "decision-old", 0,
        [
            NewEvent(event_id=uuid4(), event_type="DecisionOpened", data=opening.model_dump(mode="json", exclude={"type"}),
                     metadata={"actor": "gw", "schema_version": 1}),
            NewEvent(event_id=uuid4(), event_type="DecisionStalled", data=v1_stall,
                     metadata={"actor": "accord", "schema_version": 1}),
        ],
    )
    stored = (await store.read_stream("decision-old"))[-1]
    assert stored.data == v1_stall  # the record itself is never rewritten

    replayed = await replay(store, "decision-old")

    assert replayed.state.stage == "stalled"
    assert replayed.state.stalled_points == ["p1"]
    # The bulk fold, which parses current events straight from JSON, upcasts the same way.
    folded = await eventually(lambda: fold_log(store), lambda f: f.events == 2)
    assert folded.states == {"decision-old": replayed.state}
    assert decision.DecisionStalled.schema_version == 2
