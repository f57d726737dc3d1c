"""Replay: DecisionWorkflow must replay the histories it wrote, and a non-deterministic change must not.

A decision lives for weeks; a deploy in between makes the new code replay the old history. These tests
replay a live history and a recorded one (`tests/histories/decision.json`, committed) that hold what
decisions do: an opening, stances (some arriving together, so sharing one append), a reminder, a stall,
an automatic escalation and close, the webhook-delivery activities and the signal to the alliance.

To record the history again after an intended, compatible change (say why in the commit):
    ACCORD_RECORD_HISTORIES=1 pytest tests/test_decision_replay.py
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from decision_support import alliance_with_members, final_state, stance, unique
from temporal_fixtures import end_running_processes
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from accord.app import Accord
from accord.worker import build_worker, replayer
from events.decision import DecisionCommand, DecisionState
from events.processes import DECISION
from workflows.decision import DecisionWorkflow
from workflows.shapes import CommandResult, DecisionRun

RECORDED = Path(__file__).resolve().parent / "histories" / "decision.json"


@workflow.defn(name="Decision", sandboxed=False)  # the sandbox would re-import this whole test module
class DecisionThatPausesBeforeRecording(DecisionWorkflow):
    """DecisionWorkflow with a change a developer might think harmless: a short pause before recording a
    command. A timer where the history has the local append's marker: the commands no longer match."""

    @workflow.run
    async def run(self, run: DecisionRun) -> DecisionState | None:
        return await DecisionWorkflow.run(self, run)

    async def command(self, command: DecisionCommand) -> CommandResult:  # what every command's Update runs
        await workflow.sleep(timedelta(milliseconds=10))
        return await DecisionWorkflow.command(self, command)


@workflow.defn(name="Decision", sandboxed=False)
class DecisionWithoutSearchAttributes(DecisionWorkflow):
    """DecisionWorkflow that no longer keeps its stage and deadline search attributes up to date."""

    @workflow.run
    async def run(self, run: DecisionRun) -> DecisionState | None:
        return await DecisionWorkflow.run(self, run)

    def _publish_stage(self) -> None:
        pass


async def run_a_decision(env: WorkflowEnvironment, pool: asyncpg.Pool) -> tuple[str, DecisionState]:
    """A decision that goes through the whole ladder on the time-skipping server; returns its workflow id."""
    task_queue = f"test-replay-{uuid.uuid4()}"
    app = Accord(client=env.client, pool=pool, task_queue=task_queue)
    async with build_worker(env.client, pool, task_queue):
        try:
            alliance_id = await alliance_with_members(app, unique("rivers"))
            decision_id = unique("d")
            await app.open_decision(
                alliance_id, "gw", decision_id, "Joint campaign 2027", [{"text": "March on river day"}, {"text": "Take the grant"}]
            )
            # Three stances at once: those that reach the workflow together share one append.
            await asyncio.gather(*(stance(app, decision_id, m, "p1", "agree") for m in ("gw", "amber", "birch")))
            await stance(app, decision_id, "birch", "p1", "concerns")  # a change of mind: the last stance counts
            await stance(app, decision_id, "gw", "p2", "agree")
            await stance(app, decision_id, "amber", "p2", "object", reason="the funder pollutes")
            final = await final_state(env, DECISION.stream_name(decision_id, alliance_id))
        finally:
            await end_running_processes(env.client, pool)
    return DECISION.stream_name(decision_id, alliance_id), final


def counts(history: WorkflowHistory) -> Counter[EventType.ValueType]:
    return Counter(e.event_type for e in history.events)


async def test_a_live_decision_history_replays_and_non_deterministic_changes_fail(
    time_skipping_env: WorkflowEnvironment, pool: asyncpg.Pool
) -> None:
    workflow_id, final = await run_a_decision(time_skipping_env, pool)
    assert (final.closed_how, final.rule_applied) == ("automatic", "supermajority")
    history = await time_skipping_env.client.get_workflow_handle(workflow_id).fetch_history()
    assert counts(history)[EventType.EVENT_TYPE_TIMER_FIRED] >= 3  # reminder, deadline, end of escalation window

    result = await replayer().replay_workflow(history)
    assert result.replay_failure is None

    with pytest.raises(workflow.NondeterminismError):
        await replayer(DecisionThatPausesBeforeRecording).replay_workflow(history)
    failed = await replayer(DecisionWithoutSearchAttributes).replay_workflow(history, raise_on_replay_failure=False)
    assert isinstance(failed.replay_failure, workflow.NondeterminismError)


@pytest.mark.skipif(os.environ.get("ACCORD_RECORD_HISTORIES") != "1", reason="set ACCORD_RECORD_HISTORIES=1 to record")
async def test_record_the_decision_history(time_skipping_env: WorkflowEnvironment, pool: asyncpg.Pool) -> None:
    workflow_id, _ = await run_a_decision(time_skipping_env, pool)
    history = await time_skipping_env.client.get_workflow_handle(workflow_id).fetch_history()
    RECORDED.parent.mkdir(exist_ok=True)
    RECORDED.write_text(json.dumps(scrubbed(history.to_json_dict()), indent=1) + "\n", encoding="utf-8")


def scrubbed(value: Any) -> Any:
    """The history without what names the recording machine (failure stack traces, worker identities);
    replay reads neither."""
    if isinstance(value, dict):
        return {k: ("" if k in ("stackTrace", "identity") else scrubbed(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [scrubbed(v) for v in value]
    return value


def recorded_history() -> WorkflowHistory:
    raw = json.loads(RECORDED.read_text(encoding="utf-8"))
    return WorkflowHistory.from_json("decision-recorded", raw)


def test_the_recorded_history_covers_stances_a_reminder_a_stall_and_an_automatic_escalation() -> None:
    # Guards the recording itself: a trivial history would make the replay below prove little.
    history = recorded_history()
    events = history.events
    n = counts(history)

    assert n[EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED] == 7  # the opening and six stances
    assert n[EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED] == 7
    assert n[EventType.EVENT_TYPE_TIMER_FIRED] == 3  # reminder, deadline, end of the escalation window
    assert n[EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES] >= 3  # open, stalled, closed
    assert n[EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED] == 1  # parked points to the alliance
    assert n[EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED] >= 4  # deliveries: opening, reminder, stall, close
    # One append per batch: the opening, one each for the reminder, the stall and the escalation with
    # its close, and fewer than six for the six stances: of the three sent at once, some shared one.
    markers = n[EventType.EVENT_TYPE_MARKER_RECORDED]
    assert 6 <= markers < 10, markers
    assert events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED

    payloads = events[-1].workflow_execution_completed_event_attributes.result.payloads
    (final,) = pydantic_data_converter.payload_converter.from_payloads(payloads, [DecisionState])
    assert (final.stage, final.closed_how, final.rule_applied) == ("closed", "automatic", "supermajority")
    assert final.outcomes == {"p1": "adopted", "p2": "parked"}  # p2: 1 agree of 2 is below the supermajority
    assert final.outcome == "partially_adopted"
    assert final.reminded_for == final.deadline
    assert final.points["p1"].stances["birch"].stance == "concerns"


async def test_the_recorded_history_replays() -> None:
    result = await replayer().replay_workflow(recorded_history())

    assert result.replay_failure is None


async def test_the_recorded_history_fails_to_replay_with_a_non_deterministic_change() -> None:
    with pytest.raises(workflow.NondeterminismError):
        await replayer(DecisionThatPausesBeforeRecording).replay_workflow(recorded_history())
