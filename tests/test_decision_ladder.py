"""The whole decision ladder on the time-skipping server: reminder, stall, escalation, outcomes."""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment

from accord.app import Accord
from decision_support import alliance_with_members, event_types, eventually, final_state, stance, unique
from events.store import EventStore
from workflows.decision import decision_workflow_id


async def test_stall_then_automatic_escalation_adopts_some_points_and_parks_others(
    skipping_app: Accord, time_skipping_env: WorkflowEnvironment, store: EventStore
) -> None:
    app = skipping_app
    # Ids of this test's own: the time-skipping server lives for the whole session.
    alliance_id = await alliance_with_members(app, unique("rivers"))
    decision_id = unique("d")
    stream = decision_workflow_id(decision_id)
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

    final = await final_state(time_skipping_env, decision_id)
    assert final.outcomes == {"p1": "adopted", "p2": "adopted", "p3": "blocked_on_principle"}
    assert final.outcome == "partially_adopted"
    assert final.closed_how == "automatic"
    events = await event_types(store, stream)
    assert events[-4:] == ["ReminderSent", "DecisionStalled", "DecisionEscalated", "DecisionClosed"]
    stalled, escalated, _ = (await store.read_stream(stream))[-3:]
    assert stalled.data["points"] == ["p2"]  # p3's principle block settles it at the deadline
    assert escalated.data["automatic"] is True and escalated.data["rule"] == "supermajority"
    assert escalated.data["by"] is None
    # The alliance keeps the blocked point on its list of parked points (told by signal, so poll).
    alliance = await eventually(lambda: app.alliance(alliance_id), lambda a: bool(a.parked))
    assert list(alliance.parked) == [f"{decision_id}/p3"]
    assert alliance.parked[f"{decision_id}/p3"].outcome == "blocked_on_principle"
