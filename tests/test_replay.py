"""Replay: AllianceWorkflow must replay the histories it wrote, and a non-deterministic change must not.

Temporal rebuilds a workflow's state by running its code again over its history; code that now issues
different commands than the history holds breaks every running alliance. These tests replay a live
history and a recorded one (`tests/histories/alliance.json`, committed), so such a change fails CI.

To record the history again after an intended, compatible change (say why in the commit):
    ACCORD_RECORD_HISTORIES=1 pytest tests/test_replay.py
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from replay_support import AllianceThatWaitsBeforeRecording
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from accord.app import Accord
from accord.examples import CHARTER as EXAMPLE_CHARTER
from accord.worker import build_worker, replayer
from events.alliance import (
    AdmitMember,
    AllianceCommand,
    AmendCharter,
    FoundAlliance,
    ReinstateMember,
    Role,
    SetRoles,
    SetWebhook,
    SuspendMember,
)
from events.charter import load_charter
from events.processes import ALLIANCE
from events.rules import Refused
from workflows.alliance import AllianceWorkflow
from workflows.shapes import AllianceRun

CHARTER = load_charter(EXAMPLE_CHARTER)
RECORDED = Path(__file__).resolve().parent / "histories" / "alliance.json"
FOUNDER = "riverkeepers"




async def run_commands(client: Client, pool: asyncpg.Pool, *, continue_after_updates: int) -> tuple[str, str]:
    """Found an alliance and send it one of every command, then two identical suspensions that reach the
    workflow together: both pass the validator, the second is refused in the handler, which the history
    records. Returns the workflow id and the first run's id."""
    task_queue = f"test-replay-{uuid.uuid4()}"
    app = Accord(client=client, pool=pool, task_queue=task_queue)
    alliance_id = f"rivers-{uuid.uuid4().hex[:10]}"
    workflow_id = ALLIANCE.stream_name(alliance_id)
    async with build_worker(client, pool, task_queue):
        handle = await client.start_workflow(
            AllianceWorkflow.run,
            AllianceRun(alliance_id=alliance_id, continue_after_updates=continue_after_updates),
            id=workflow_id,
            task_queue=task_queue,
        )
        await handle.execute_update(
            AllianceWorkflow.execute,
            FoundAlliance(alliance_id=alliance_id, charter=CHARTER, founder_id=FOUNDER, founder_name="River Keepers"),
        )
        commands: list[AllianceCommand] = [
            AdmitMember(actor=FOUNDER, member_id="anglers", name="Anglers United"),
            AdmitMember(
                actor=FOUNDER,
                member_id="wetlands",
                name="Wetland Trust",
                roles=[Role.STEERING],
                webhook_url="https://wetlands.example/accord",
            ),
            SetRoles(actor=FOUNDER, member_id="anglers", roles=[Role.COORDINATOR, Role.MEDIATOR]),
            SetWebhook(actor="wetlands", member_id="wetlands", webhook_url=None),
            AmendCharter(
                actor="anglers", charter=CHARTER.model_copy(update={"name": "Clean Rivers and Lakes"}), reason="lakes"
            ),
        ]
        for command in commands:
            await app.alliance_command(alliance_id, command)
    # With no worker polling, both suspensions wait at the server and arrive in one workflow task;
    # the new worker has to replay the history so far first.
    suspend = SuspendMember(actor=FOUNDER, member_id="anglers", reason="dues")
    racing = [asyncio.create_task(app.alliance_command(alliance_id, suspend)) for _ in range(2)]
    await asyncio.sleep(0.5)
    async with build_worker(client, pool, task_queue):
        outcomes = await asyncio.gather(*racing, return_exceptions=True)
        assert sum(isinstance(r, Refused) for r in outcomes) == 1, outcomes
        await app.alliance_command(alliance_id, ReinstateMember(actor=FOUNDER, member_id="anglers"))
        first_run = client.get_workflow_handle(workflow_id, run_id=handle.first_execution_run_id)
        for _ in range(50):  # when it continues as new, let the run close before its history is read
            if continue_after_updates > 8 or (await first_run.describe()).close_time is not None:
                break
            await asyncio.sleep(0.1)
    assert handle.first_execution_run_id is not None
    return workflow_id, handle.first_execution_run_id


def update_failures(history: WorkflowHistory) -> list[str]:
    return [
        e.workflow_execution_update_completed_event_attributes.outcome.failure.message
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED
        and e.workflow_execution_update_completed_event_attributes.outcome.HasField("failure")
    ]


async def test_a_live_history_replays_and_a_non_deterministic_change_fails(
    temporal_env: WorkflowEnvironment, pool: asyncpg.Pool
) -> None:
    workflow_id, run_id = await run_commands(temporal_env.client, pool, continue_after_updates=500)
    history = await temporal_env.client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    assert Counter(e.event_type for e in history.events)[EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED] == 9
    assert update_failures(history) == ["member 'anglers' is already suspended"]

    result = await replayer().replay_workflow(history)
    assert result.replay_failure is None

    with pytest.raises(workflow.NondeterminismError):
        await replayer(AllianceThatWaitsBeforeRecording).replay_workflow(history)
    result = await replayer(AllianceThatWaitsBeforeRecording).replay_workflow(history, raise_on_replay_failure=False)
    assert isinstance(result.replay_failure, workflow.NondeterminismError)


@pytest.mark.skipif(os.environ.get("ACCORD_RECORD_HISTORIES") != "1", reason="set ACCORD_RECORD_HISTORIES=1 to record")
async def test_record_the_alliance_history(temporal_env: WorkflowEnvironment, pool: asyncpg.Pool) -> None:
    # Eight Updates, then the run continues as new: the recorded run ends that way.
    workflow_id, run_id = await run_commands(temporal_env.client, pool, continue_after_updates=8)
    history = await temporal_env.client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    RECORDED.parent.mkdir(exist_ok=True)
    RECORDED.write_text(json.dumps(without_stack_traces(history.to_json_dict()), indent=1) + "\n", encoding="utf-8")


def without_stack_traces(value: Any) -> Any:
    """The history without failure stack traces: they name paths of the recording machine, and replay
    does not read them."""
    if isinstance(value, dict):
        return {k: ("" if k == "stackTrace" else without_stack_traces(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [without_stack_traces(v) for v in value]
    return value


def recorded_history() -> WorkflowHistory:
    raw = json.loads(RECORDED.read_text(encoding="utf-8"))
    workflow_id = raw["events"][0]["workflowExecutionStartedEventAttributes"].get("workflowId", "alliance-recorded")
    return WorkflowHistory.from_json(workflow_id, raw)


def test_the_recorded_history_covers_updates_local_appends_and_continue_as_new() -> None:
    # Guards the recording itself: a trivial history would make the replay below prove little.
    events = recorded_history().events
    counts = Counter(e.event_type for e in events)

    # Eight Updates reach the first run (every Update counts towards continue-as-new, refused or not):
    # the founding, five commands and the two racing suspensions, which share one group commit.
    assert counts[EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED] == 8
    assert counts[EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED] == 8
    assert counts[EventType.EVENT_TYPE_MARKER_RECORDED] == 7, "one local append per batch of commands"
    assert events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    assert update_failures(recorded_history()) == ["member 'anglers' is already suspended"]


async def test_the_recorded_history_replays() -> None:
    result = await replayer().replay_workflow(recorded_history())

    assert result.replay_failure is None


async def test_the_recorded_history_fails_to_replay_with_a_non_deterministic_change() -> None:
    with pytest.raises(workflow.NondeterminismError):
        await replayer(AllianceThatWaitsBeforeRecording).replay_workflow(recorded_history())
