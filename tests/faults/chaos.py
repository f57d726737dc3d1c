"""Faults on a schedule drawn from a seed, and the checks that must hold after them.

The faults are what an operator meets: a worker SIGKILLed at a random moment (and started again), the
Temporal dev server killed and restarted on its file, PostgreSQL stopped (immediately: connections cut)
and started again. The checks are the promises of docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import WorkflowExecutionStatus

from accord import audit, transparency
from events.log import TransparencyLog
from events.processes import process_of
from faults.scenarios import Ledger, Scenario
from faults.stack import FaultStack


@dataclass(frozen=True)
class Fault:
    at: float
    """Seconds after the start of the run."""
    kind: str
    """kill_worker, restart_temporal or stop_postgres."""
    pause: float
    """How long the killed or stopped part stays down."""


def draw_faults(rng: random.Random, *, within: float, kills: int, temporal: int, postgres: int) -> list[Fault]:
    kinds = ["kill_worker"] * kills + ["restart_temporal"] * temporal + ["stop_postgres"] * postgres
    faults = [
        Fault(at=rng.uniform(3, within), kind=kind, pause=rng.uniform(5, 10) if kind == "stop_postgres" else rng.uniform(0.2, 3))
        for kind in kinds
    ]
    return sorted(faults, key=lambda f: f.at)


async def inflict(stack: FaultStack, faults: list[Fault], rng: random.Random, log: list[str]) -> None:
    """Carry out the faults at their times; every part is running again when this returns.

    Workers are supervised as systemd would (`Restart=always`): one that exits (a worker started while
    PostgreSQL is down stops with an error) is started again a second later."""
    start = time.monotonic()
    supervisor = asyncio.create_task(_keep_running(stack))
    try:
        for fault in faults:
            await asyncio.sleep(max(0.0, fault.at - (time.monotonic() - start)))
            await _one(stack, fault, rng, log, f"{time.monotonic() - start:5.1f}s")
    finally:
        supervisor.cancel()
    for worker in stack.workers:
        if not worker.alive:
            worker.start()


async def _keep_running(stack: FaultStack) -> None:
    while True:
        await asyncio.sleep(1)
        for worker in stack.workers:
            if not worker.alive and not worker.held:
                worker.start()


async def _one(stack: FaultStack, fault: Fault, rng: random.Random, log: list[str], when: str) -> None:
    if fault.kind == "kill_worker":
        alive = [w for w in stack.workers if w.alive]
        if not alive:
            log.append(f"{when} no worker alive to kill")
            return
        victim = rng.choice(alive)
        victim.held = True
        victim.kill()
        log.append(f"{when} SIGKILL {victim.name}, {fault.pause:.1f}s down")
        await asyncio.sleep(fault.pause)
        victim.held = False
        victim.start()
    elif fault.kind == "restart_temporal":
        stack.temporal.kill()
        log.append(f"{when} SIGKILL the Temporal dev server, {fault.pause:.1f}s down")
        await asyncio.sleep(fault.pause)
        await stack.temporal.start()
    else:
        await asyncio.to_thread(stack.postgres.stop, "immediate")
        log.append(f"{when} PostgreSQL stopped, {fault.pause:.1f}s down")
        await asyncio.sleep(fault.pause)
        await asyncio.to_thread(stack.postgres.start)


async def ended(stack: FaultStack, scenario: Scenario, timeout: float) -> object:
    """The process's final state, once its workflow has ended (or its last state when the time is up)."""
    workflow = process_of(scenario.stream_id).workflow
    handle = stack.app.client.get_workflow_handle_for(workflow.run, scenario.stream_id)
    deadline = time.monotonic() + timeout
    state: object = None
    while time.monotonic() < deadline:
        try:
            if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
                return await handle.query(workflow.current)
        except Exception:  # noqa: BLE001 - Temporal may be restarting
            pass
        await asyncio.sleep(1)
    try:
        state = await handle.query(workflow.current)
    except Exception as error:  # noqa: BLE001
        state = f"(no state: {error})"
    return state


DRAWS = {"dispute-mediation": 1, "dispute-panel": 2}
"""The draws each kind of dispute makes on its way: a mediator; a mediator and a panel."""


async def problems_after(stack: FaultStack, ledger: Ledger, scenarios: list[Scenario], timeout: float) -> list[str]:
    """Every promise that does not hold, as a line; nothing when all hold."""
    problems: list[str] = []
    states = await asyncio.gather(*(ended(stack, s, timeout) for s in scenarios))
    for scenario, state in zip(scenarios, states, strict=True):
        wrong = scenario.verdict(state) if not isinstance(state, str) else state
        if wrong:
            problems.append(f"{scenario.stream_id} ({scenario.kind}) did not reach its outcome: {wrong}")
        status = (await stack.app.client.get_workflow_handle(scenario.stream_id).describe()).status
        if status != WorkflowExecutionStatus.COMPLETED:
            problems.append(f"{scenario.stream_id}: the workflow is {status.name}, not completed")

    rows = await stack.app.pool.fetch(
        "SELECT stream_id, stream_version, event_id, hash, metadata->>'causation_id' AS cause FROM accord.events"
    )
    by_place = {(r["stream_id"], r["stream_version"]): r for r in rows}
    leaves = {r["global_position"]: r["leaf_index"] for r in await stack.app.pool.fetch("SELECT global_position, leaf_index FROM accord.log_leaves")}
    by_cause: dict[str, set[object]] = defaultdict(set)
    for r in rows:
        by_cause[r["cause"]].add(r["event_id"])
    for call in ledger.calls:
        caused = by_cause.get(f"update:{call.command_id}", set())
        if call.outcome == "pending":
            problems.append(f"{call.stream_id} {call.what}: the call never returned")
        elif call.outcome == "ok":
            for receipt in call.receipts:
                row = by_place.get((receipt.stream_id, receipt.stream_version))
                if row is None or bytes(row["hash"]).hex() != receipt.hash or row["event_id"] != receipt.event_id:
                    problems.append(f"{call.stream_id} {call.what}: its receipt for version {receipt.stream_version} is not in the store")
                elif receipt.leaf_index is None or leaves.get(receipt.global_position) != receipt.leaf_index:
                    problems.append(
                        f"{call.stream_id} {call.what}: its receipt for version {receipt.stream_version} names leaf "
                        f"{receipt.leaf_index}, the log has {leaves.get(receipt.global_position)}"
                    )
            if caused != {r.event_id for r in call.receipts}:
                problems.append(f"{call.stream_id} {call.what}: it recorded {len(caused)} event(s), its caller got {len(call.receipts)} receipt(s)")
        elif call.outcome in ("refused", "failed") and caused:
            problems.append(f"{call.stream_id} {call.what}: told {call.outcome} ({call.error}) but {len(caused)} event(s) are recorded")

    for worker in stack.workers:  # what a workflow logs must reach the log, and nothing may go unobserved
        log = worker.log_path.read_text(errors="replace")
        for sign in ("--- Logging error ---", "Task exception was never retrieved", "RestrictedWorkflowAccessError"):
            if sign in log:
                problems.append(f"{worker.name}'s log shows {sign!r}")
        problems += [f"{worker.name}'s log shows {line.strip()[:300]!r}" for line in nondeterminism(log)]

    report = await stack.app.store.verify()
    problems += [f"{b.stream_id}: chain broken at version {b.version}: {b.reason}" for b in report.broken]
    # Every event a leaf of its alliance's log exactly once, whatever was killed mid-append: the leaves have no
    # gap, each names an event, no event of an alliance is left out, and a checkpoint of it all holds.
    # The checkpoints the workers signed under the kills are checked too: with the deployment's own key.
    log = TransparencyLog(stack.app.pool)
    for alliance_id in sorted(await log.sequenced()):
        await log.issue(alliance_id, stack.signer, "faults.accord")
        checked = await transparency.verify_log(stack.app, alliance_id, None, [stack.signer.verifier])
        problems += [f"the log of {alliance_id}: {problem}" for problem in checked.problems]
        # Every draw made under the kills recomputes: made once, with the secret committed to and every contribution.
        due = sum(DRAWS.get(s.kind, 0) for s in scenarios if s.stream_id.startswith(f"dispute-{alliance_id}."))
        if checked.draws < due:
            problems.append(f"the disputes of {alliance_id} made {checked.draws} verifiable draw(s), not the {due} their paths make")
    streams = sorted({r["stream_id"] for r in rows})
    for stream in streams:
        checked = await audit.check(stack.app, stream)
        problems += [f"{stream}: audit check '{c.name}' fails: {c.detail[:300]}" for c in checked.checks if not c.ok]
    return problems


STALE_CACHE = re.compile(r"Local activity \(seq \d+\) (completed successfully|failed) locally, but history said it")
"""How Temporal's core notices that a run it holds in its cache went on past a task that another attempt
completed (a task lost with Temporal's restart, a store outage between the two attempts' appends): it fails
that task, drops the cached run and replays the history; the append the stale run made is found already
recorded by the replayed run's append of the same events. Not a fault of the workflow's code, unlike every
other nondeterminism error, which the final replay (`audit check`) would also show."""


def nondeterminism(log: str) -> list[str]:
    return [line for line in log.splitlines() if "Nondeterminism" in line and not STALE_CACHE.search(line)]


async def save_histories(stack: FaultStack, streams: list[str], into: Path) -> None:
    into.mkdir(parents=True, exist_ok=True)
    for stream in streams:
        history = await stack.app.client.get_workflow_handle(stream).fetch_history()
        (into / f"{stream}.json").write_text(history.to_json())
