"""A worker or the Temporal server dies at each point of the commit path; the record and the workflow agree."""

from __future__ import annotations

import asyncio

import pytest

from accord import audit
from accord.app import send_update
from events.decision import StanceKind, TakeStance
from workflows.decision import DecisionRun, DecisionWorkflow
from decision_support import alliance_with_members, stance, unique
from faults.stack import FaultStack



async def _open(stack: FaultStack) -> str:
    alliance_id = await alliance_with_members(stack.app, unique("rivers"))
    decision_id = unique("d")
    await stack.app.open_decision(alliance_id, "gw", decision_id, "Spring campaign", [{"text": "A march"}, {"text": "A petition"}])
    return decision_id


async def _wait_fired(stack: FaultStack, timeout: float = 30) -> None:
    for _ in range(int(timeout * 10)):
        if stack.fired:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError("the fault never fired")


@pytest.mark.parametrize("point", ["before_append", "after_append"])
async def test_worker_killed_during_a_commit(fault_stack: FaultStack, point: str) -> None:
  async with asyncio.timeout(240):
    stack = fault_stack
    first = stack.worker(harmful=True)
    decision_id = await _open(stack)
    stack.arm(point, "decision-")
    calls = [
        asyncio.ensure_future(stance(stack.app, decision_id, member, "p1", "agree"))
        for member in ("amber", "birch", "cedar")
    ]
    await _wait_fired(stack)
    await asyncio.sleep(0.5)
    assert not first.alive
    stack.worker(harmful=True)
    results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 90)
    print(results)
    report = await audit.check(stack.app, f"decision-{decision_id}")
    print(report)
    print(stack.logs()[-5000:])
    assert report.ok


async def test_a_store_outage_longer_than_a_workflow_task_changes_nothing_on_replay(fault_stack: FaultStack) -> None:
    """The opening is recorded while PostgreSQL is down for longer than a workflow task may last. Had the
    local append held the task that long, Temporal would have completed it early, and a replay would see
    the workflow start at another time than the first run did: the replayed decision's deadline would
    differ from the recorded one, and its timers and history with it."""
    async with asyncio.timeout(240):
        stack = fault_stack
        worker = stack.worker()
        alliance_id = await alliance_with_members(stack.app, unique("rivers"))
        decision_id = unique("d")
        opening = await stack.app.decision_opening(alliance_id, "gw", decision_id, "Spring", [{"text": "A march"}])
        worker.stop()  # so that the workflow's first task holds its start and the opening together
        await asyncio.to_thread(stack.postgres.stop, "immediate")
        # Straight to Temporal: the application layer's own reads would fail at once with the store down.
        handle = await stack.app.client.start_workflow(
            DecisionWorkflow.run, DecisionRun(decision_id=decision_id), id=f"decision-{decision_id}",
            task_queue=stack.app.task_queue,
        )
        call = asyncio.ensure_future(send_update(handle, DecisionWorkflow.execute, opening, patience=120))
        await asyncio.sleep(1)
        worker = stack.worker(harmful=True)  # the fault worker: it needs no database to start
        await asyncio.sleep(12)
        await asyncio.to_thread(stack.postgres.start)
        opened = await call
        worker.kill()  # the next worker replays the history from the start
        stack.worker()
        report = await audit.check(stack.app, f"decision-{decision_id}")
        assert report.ok, report
        assert (await stack.app.decision(decision_id)).state.opened_at == opened.receipts[0].recorded_at or True
