"""The worker or the Temporal server dies at each point of the commit path; the record and the workflow agree.

The points (faults.worker carries them out, once, on the first append that matches):

- before_append: the worker dies before the append reaches PostgreSQL: nothing is stored, the next attempt
  of the workflow task decides afresh;
- after_append: the append commits, then the worker dies: the next attempt, at another moment and often
  with other commands, finds the stream beyond its head and adopts what the first attempt stored;
- after_append_temporal: the append commits and the workflow gets its receipts, but Temporal dies before
  the task's completion reaches it: the Updates of the task are lost with it, their callers send them again
  under the same ids, and the workflow answers them from what it adopts.

Each test ends with the promises: every caller has receipts, every receipt is in the store, every command
recorded once, the state equal to the record, the history replaying.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from decision_support import alliance_with_members, stance, unique
from dispute_support import RAISER, alliance_for_disputes, in_stage, raise_between, state_of

from accord import audit
from accord.app import Accord, send_update
from events import draws
from events.dispute import ContributeToDraw
from events.processes import DECISION, DISPUTE
from events.store import Receipt
from faults.stack import FaultStack
from workflows.decision import DecisionWorkflow
from workflows.dispute import DisputeWorkflow
from workflows.shapes import DecisionRun

POINTS = ["before_append", "after_append", "after_append_temporal"]


async def opened(app: Accord, window: str | None = None) -> tuple[str, str]:
    alliance_id = await alliance_with_members(
        app, unique("rivers"), min_response_window="1s", reminder_lead="1s", escalation_window="5s"
    )
    decision_id = unique("d")
    await app.open_decision(
        alliance_id, "gw", decision_id, "Spring campaign", [{"text": "A march"}, {"text": "A petition"}],
        response_window=window,
    )
    return decision_id, DECISION.stream_name(decision_id, alliance_id)


async def after_the_fault(stack: FaultStack, point: str, timeout: float = 60) -> None:
    """Wait for the fault, then bring back what it took down."""
    for _ in range(int(timeout * 10)):
        if stack.fired:
            break
        await asyncio.sleep(0.1)
    else:
        raise TimeoutError(f"the fault {point} never happened")
    if point == "after_append_temporal":
        for _ in range(100):  # the fault worker kills the server's process group itself
            if stack.temporal.process is None or stack.temporal.process.poll() is not None:
                break
            await asyncio.sleep(0.1)
        await stack.temporal.start()
    else:
        for _ in range(100):  # the fault worker SIGKILLs itself just after it marks the plan fired
            if not all(worker.alive for worker in stack.workers):
                break
            await asyncio.sleep(0.1)
        for worker in stack.workers:
            if not worker.alive:
                worker.start()


async def promises_hold(stack: FaultStack, stream: str, receipts: list[Receipt]) -> None:
    events = await stack.app.store.read_stream(stream)
    stored = {(e.stream_version, e.hash.hex(), e.event_id) for e in events}
    for receipt in receipts:
        assert (receipt.stream_version, receipt.hash, receipt.event_id) in stored, f"{receipt} is not in the store"
    report = await audit.check(stack.app, stream)
    assert report.ok, report


@pytest.mark.parametrize("point", POINTS)
async def test_stances_sent_together_are_each_recorded_once(fault_stack: FaultStack, point: str) -> None:
    async with asyncio.timeout(240):
        stack = fault_stack
        stack.worker(harmful=True)
        decision_id, stream = await opened(stack.app)
        stack.arm(point, stream)
        members = ["amber", "birch", "cedar", "dune"]
        calls = [asyncio.ensure_future(stance(stack.app, decision_id, m, "p1", "agree")) for m in members]
        await after_the_fault(stack, point)
        results = await asyncio.gather(*calls)

        receipts = [r for result in results for r in result.receipts]
        assert len(receipts) == len(members)
        events = await stack.app.store.read_stream(stream)
        assert Counter(e.data.get("member_id") for e in events if e.event_type == "StanceTaken") == Counter(members)
        await promises_hold(stack, stream, receipts)
        await stack.record_history(stream, f"stances-{point}")


@pytest.mark.parametrize("point", POINTS)
async def test_the_clock_s_events_keep_their_recorded_times(fault_stack: FaultStack, point: str) -> None:
    """The stall is recorded, the task is lost: the escalation deadline stays the recorded one, and the
    decision escalates by itself then, not later."""
    async with asyncio.timeout(240):
        stack = fault_stack
        stack.worker(harmful=True)
        decision_id, stream = await opened(stack.app, window="3s")
        await stance(stack.app, decision_id, "amber", "p1", "agree")
        stack.arm(point, stream, event_type="DecisionStalled")
        await after_the_fault(stack, point)
        final = await until_closed(stack.app, decision_id)

        events = await stack.app.store.read_stream(stream)
        stall = next(e for e in events if e.event_type == "DecisionStalled")
        assert [e.event_type for e in events].count("DecisionStalled") == 1
        assert final.escalation_deadline.isoformat() == stall.data["escalation_deadline"].replace("Z", "+00:00")
        assert final.closed_how == "automatic"
        await promises_hold(stack, stream, [])
        await stack.record_history(stream, f"stall-{point}")


async def until_closed(app: Accord, decision_id: str) -> Any:
    for _ in range(600):
        try:
            state = (await app.decision(decision_id)).state
            if state.stage == "closed":
                return state
        except Exception:  # noqa: BLE001 - Temporal may be restarting
            pass
        await asyncio.sleep(0.2)
    raise TimeoutError(f"decision {decision_id} did not close")


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
        stream = DECISION.stream_name(decision_id, alliance_id)
        opening = await stack.app.decision_opening(alliance_id, "gw", decision_id, "Spring", [{"text": "A march"}])
        worker.stop()  # so that the workflow's first task holds its start and the opening together
        await asyncio.to_thread(stack.postgres.stop, "immediate")
        # Straight to Temporal: the application layer's own reads would fail at once with the store down.
        handle = await stack.app.client.start_workflow(
            DecisionWorkflow.run, DecisionRun(decision_id=decision_id), id=stream,
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
        report = await audit.check(stack.app, stream)
        assert report.ok, report
        assert opened.receipts[0].stream_version == 1
        await stack.record_history(stream, "opening-during-a-store-outage")


@pytest.mark.parametrize("point", POINTS)
async def test_a_dispute_keeps_the_mediator_it_drew(fault_stack: FaultStack, point: str) -> None:
    """The negotiation runs out and the clock draws a mediator (with a seed of the workflow's): the task
    is lost after the draw is recorded. The next attempt draws anew, perhaps another mediator; what is
    recorded stands."""
    async with asyncio.timeout(240):
        stack = fault_stack
        stack.worker(harmful=True)
        alliance_id = await alliance_for_disputes(
            stack.app, negotiation_window="3s", reminder_lead="1s", crisis={"negotiation_window": "2s"}
        )
        dispute_id = await raise_between(stack.app, alliance_id)
        stream = DISPUTE.stream_name(dispute_id, alliance_id)
        stack.arm(point, stream, event_type="MediationStarted")
        await after_the_fault(stack, point)
        state = await in_stage(stack.app, dispute_id, "mediation", timeout=120)

        events = await stack.app.store.read_stream(stream)
        assert [e.event_type for e in events].count("MediationStarted") == 1
        drawn = next(e for e in events if e.event_type == "MediatorAssigned")
        assert state.mediator == drawn.data["mediator"]
        await promises_hold(stack, stream, [])
        await stack.record_history(stream, f"draw-{point}")


async def test_an_open_draw_closed_by_its_timer_keeps_the_secret_it_committed_to(fault_stack: FaultStack) -> None:
    """A mediator draw opens, one party contributes, and the draw's window closes it: the task that made the
    draw is lost after its events were recorded. The next attempt takes the same secret (from the key the run
    drew, which its replay draws again), so the draw recorded is the one accord committed to, with the
    party's bytes, and it recomputes."""
    async with asyncio.timeout(240):
        stack = fault_stack
        stack.worker(harmful=True)
        alliance_id = await alliance_for_disputes(
            stack.app, negotiation_window="2s", draws="open", draw_window="6s", reminder_lead="1s",
            crisis={"negotiation_window": "2s"},
        )
        dispute_id = await raise_between(stack.app, alliance_id)
        stream = DISPUTE.stream_name(dispute_id, alliance_id)
        await in_stage(stack.app, dispute_id, "drawing", timeout=60)
        contribution = ContributeToDraw(actor=RAISER, contribution="7e" * 32)
        contributed = await stack.app.dispute_command(dispute_id, contribution, alliance_id=alliance_id)
        stack.arm("after_append", stream, event_type="MediatorAssigned")
        await after_the_fault(stack, "after_append")
        state = await in_stage(stack.app, dispute_id, "mediation", timeout=120)

        events = await stack.app.store.read_stream(stream)
        [drawn] = [e for e in events if e.event_type == "MediatorAssigned"]
        assert state.mediator == drawn.data["mediator"] and drawn.data["draw"]["contributions"] == {RAISER: "7e" * 32}
        assert draws.check_stream(stream, ((e.stream_version, e.event_type, e.data) for e in events)) == (1, [])
        await promises_hold(stack, stream, list(contributed.receipts))


async def test_a_query_on_a_fresh_worker_does_not_run_the_clock_at_a_stale_time(fault_stack: FaultStack) -> None:
    """The worker holding a dispute dies just before its reminder is due; the timer fires and its task
    waits out the dead worker's queue. Meanwhile a query reaches a fresh worker, which rebuilds the run
    from the history and runs the fired timer's continuation there and then, with `workflow.now()` still
    at the previous task's time (42 s behind, seen). Had the clock decided at that time, it would have
    found nothing due and slept, where a replay (at the task's real time) records the reminder: the
    history would no longer replay. The clock decides at the due time it waited for instead."""
    async with asyncio.timeout(240):
        stack = fault_stack
        worker = stack.worker()
        alliance_id = await alliance_for_disputes(
            stack.app, negotiation_window="20s", reminder_lead="10s", crisis={"negotiation_window": "10s"}
        )
        dispute_id = await raise_between(stack.app, alliance_id)
        stream = DISPUTE.stream_name(dispute_id, alliance_id)
        state = await state_of(stack.app, dispute_id)
        reminder = state.stage_deadline - state.context.procedure.reminder_lead
        await asyncio.sleep(max(0.0, (reminder - datetime.now(UTC)).total_seconds() - 8.3))
        await state_of(stack.app, dispute_id)  # the worker's sticky poller polls again, then it dies
        await asyncio.sleep(0.3)

        async def keep_asking() -> None:
            handle = stack.app.client.get_workflow_handle_for(DisputeWorkflow.run, stream)
            while True:
                with contextlib.suppress(Exception):  # the worker is down, on purpose
                    await asyncio.wait_for(handle.query(DisputeWorkflow.current), 30)
                await asyncio.sleep(0.5)

        asking = asyncio.create_task(keep_asking())
        worker.kill()
        await asyncio.sleep(2)
        stack.worker()
        await asyncio.sleep(max(0.0, (state.stage_deadline - datetime.now(UTC)).total_seconds() + 15))
        asking.cancel()
        await in_stage(stack.app, dispute_id, "mediation", timeout=60)

        events = await stack.app.store.read_stream(stream)
        assert [e.event_type for e in events][:4] == ["DisputeRaised", "DisputeReminderSent", "MediationStarted", "MediatorAssigned"]
        await promises_hold(stack, stream, [])
        await stack.record_history(stream, "clock-under-queries")
