"""Benchmarks 1 and 2: members taking stances on open decisions through accord's public Python API.

Every stance is acknowledged only once its event is durable in PostgreSQL (the Update returns after
the group commit's append). The baseline is a bare workflow (`bench.bare.BareStance`) whose Update
takes the same command and does nothing, on a worker with the same options, on the same Temporal
server, driven by the same callers from the same client. Paths driven:

- `baseline`: the no-op Update;
- `take_stance`: `Accord.take_stance`, the public API for stances (one read of the event store for
  the decision's alliance and the member's status, then the Update);
- `decision_command`: `Accord.decision_command`, the general public API (the CLI's and the HTTP
  API's): the same event-store check, then the Update;
- `update`: the decision's Update alone, without any check of the application layer.

Throughput is a closed loop (`callers` callers, each calling again when answered), in rounds that
alternate the paths so drift on a shared machine hits them alike. Latency is an open loop at a light
and a moderate rate (shares of the slower public path's throughput), the same rates for every path.
For each path the CPU spent per stance by each part of the stack (client, worker, Temporal,
PostgreSQL) is recorded: on 2 shared cores that, not waiting, is what bounds throughput.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import asdict, dataclass
from typing import Any

import asyncpg
from temporalio.client import WorkflowHandle

from accord.app import Accord, send_update
from bench import setup
from bench.bare import BareStance
from bench.load import Call, LoadResult, closed_loop, open_loop
from bench.report import Figure, Run, progress
from bench.stack import CpuMeter, Stack, worker_process
from events.decision import DecisionState, StanceKind, TakeStance
from events.processes import DECISION
from workflows.decision import DecisionWorkflow
from workflows.shapes import CommandResult

STANCES = [StanceKind.AGREE, StanceKind.CONCERNS, StanceKind.STAND_ASIDE]
PATHS = ("baseline", "take_stance", "decision_command", "update")


@dataclass(frozen=True)
class Size:
    members: int = 30
    decisions: int = 50
    points: int = 3
    callers: int = 400
    warmup: float = 2.0
    duration: float = 6.0
    """Measured seconds per path and round."""
    rounds: int = 2
    latency_shares: tuple[float, ...] = (0.1, 0.4)
    """Loads for the latency runs, as shares of the slower public path's throughput: light (stances
    mostly arrive alone, so each pays a whole commit) and moderate (they begin to share commits)."""
    latency_duration: float = 6.0


FULL = Size()
QUICK = Size(members=8, decisions=8, points=2, callers=60, warmup=1.0, duration=3.0, rounds=1, latency_duration=3.0)
TINY = Size(members=4, decisions=2, points=1, callers=4, warmup=0.2, duration=0.6, rounds=1, latency_duration=0.5)


class Workload:
    """Which member takes which stance on which point of which decision."""

    def __init__(self, decisions: list[str], voters: list[str], points: int) -> None:
        self.decisions = decisions
        self.voters = voters  # the founder never votes, so no decision closes early
        self.points = points
        self.random = random.Random(7)

    def command(self, index: int, number: int) -> tuple[str, TakeStance]:
        decision = self.decisions[(index + number * 7) % len(self.decisions)]
        command = TakeStance(
            actor=self.random.choice(self.voters),
            point_id=f"p{self.random.randint(1, self.points)}",
            stance=self.random.choice(STANCES),
        )
        return decision, command


async def run(stack: Stack, size: Size, report: Run) -> None:
    tag = uuid.uuid4().hex[:6]
    async with stack.database("stances") as url:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=10)
        try:
            await _run(stack, url, pool, size, report, tag)
        finally:
            await pool.close()


async def _run(stack: Stack, url: str, pool: asyncpg.Pool, size: Size, report: Run, tag: str) -> None:
    accord_queue, bare_queue = f"bench-accord-{tag}", f"bench-bare-{tag}"
    app = Accord(client=stack.client, pool=pool, task_queue=accord_queue)
    client = stack.client
    with (
        worker_process(stack, url, accord_queue, "accord") as accord_worker,
        worker_process(stack, url, bare_queue, "bare") as bare_worker,
    ):
        meter = CpuMeter(stack, [accord_worker, bare_worker])
        progress("stances: founding the alliance, opening decisions")
        alliance_id = f"bench-{tag}"
        members = await setup.alliance(app, alliance_id, size.members)
        decision_ids = [f"d{tag}-{i:04d}" for i in range(size.decisions)]
        await setup.open_decisions(app, alliance_id, decision_ids, size.points)
        bare_ids = [f"bare-{tag}-{i:04d}" for i in range(size.decisions)]
        for workflow_id in bare_ids:
            await client.start_workflow(BareStance.run, id=workflow_id, task_queue=bare_queue)

        workload = Workload(decision_ids, members[1:], size.points)
        bare_workload = Workload(bare_ids, members[1:], size.points)
        bare_handles: dict[str, WorkflowHandle[BareStance, None]] = {
            w: client.get_workflow_handle_for(BareStance.run, w) for w in bare_ids
        }
        decision_handles: dict[str, WorkflowHandle[DecisionWorkflow, DecisionState | None]] = {
            d: client.get_workflow_handle_for(DecisionWorkflow.run, DECISION.stream_name(d, alliance_id)) for d in decision_ids
        }

        async def baseline(index: int, number: int) -> Any:
            workflow_id, command = bare_workload.command(index, number)
            handle = bare_handles[workflow_id]
            # The same retry accord's application layer uses when the in-flight limit is reached.
            return await send_update(handle, BareStance.take_stance, command, patience=app.patience)

        async def take_stance(index: int, number: int) -> Any:
            decision_id, command = workload.command(index, number)
            return await app.take_stance(
                decision_id, command.actor, command.point_id, command.stance, alliance_id=alliance_id
            )

        async def decision_command(index: int, number: int) -> Any:
            decision_id, command = workload.command(index, number)
            return await app.decision_command(decision_id, command, alliance_id=alliance_id)

        async def update(index: int, number: int) -> Any:
            decision_id, command = workload.command(index, number)
            handle = decision_handles[decision_id]
            return await send_update(handle, "take_stance", command, patience=app.patience, result_type=CommandResult)

        paths: dict[str, Call] = {
            "baseline": baseline, "take_stance": take_stance, "decision_command": decision_command, "update": update,
        }
        throughput: dict[str, list[LoadResult]] = {name: [] for name in paths}
        for round_number in range(size.rounds):
            for name, call in paths.items():
                progress(f"stances: throughput, {name} (round {round_number + 1} of {size.rounds})")
                throughput[name].append(await closed_loop(call, size.callers, size.warmup, size.duration, meter))
                await asyncio.sleep(0.5)

        # The same rates for every path: shares of the slower public path's throughput.
        slower = min(_rate(throughput["take_stance"]), _rate(throughput["decision_command"]))
        rates = {share: max(1.0, share * slower) for share in size.latency_shares}
        latency: dict[float, dict[str, LoadResult]] = {}
        for share, rate in rates.items():
            latency[share] = {}
            for name, call in paths.items():
                progress(f"stances: latency at {rate:.0f}/s ({share:.0%} load), {name}")
                latency[share][name] = await open_loop(call, rate, min(size.warmup, 1.0), size.latency_duration)
                await asyncio.sleep(0.5)

        stances = await pool.fetchval("SELECT count(*) FROM accord.events WHERE event_type = 'StanceTaken'")

    base = _rate(throughput["baseline"])
    shape = f"{size.callers} callers, {size.decisions} decisions, {size.members} members"
    report.figures += [
        Figure("stances", "throughput, take_stance", "stances/s", _rate(throughput["take_stance"]), base,
               "no-op Update", target_ratio=0.8, notes=shape),
        Figure("stances", "throughput, decision_command", "stances/s", _rate(throughput["decision_command"]), base,
               "no-op Update", notes="the CLI's and HTTP API's path"),
        Figure("stances", "throughput, Update alone", "stances/s", _rate(throughput["update"]), base,
               "no-op Update", notes="no application-layer check"),
    ]
    for share, rate in rates.items():
        for name in ("take_stance", "decision_command"):
            if not (latency[share][name].latencies and latency[share]["baseline"].latencies):
                continue  # no call completed within the window (a tiny run on a busy machine): no figure, not NaN
            for q in (50, 99):
                report.figures.append(
                    Figure("stances", f"latency p{q} at {share:.0%} load, {name}", "ms",
                           latency[share][name].percentile(q) * 1000, latency[share]["baseline"].percentile(q) * 1000,
                           "no-op Update", higher_is_better=False, notes=f"open loop at {rate:.0f}/s")
                )
    report.details["stances"] = {
        "size": asdict(size),
        "stance_events_recorded": stances,
        "latency_rates_per_s": {f"{share:.0%}": rate for share, rate in rates.items()},
        "throughput": {name: _summary(results) for name, results in throughput.items()},
        "latency": {
            f"{share:.0%}": {name: _summary([result]) for name, result in by_path.items()}
            for share, by_path in latency.items()
        },
    }


def _rate(results: list[LoadResult]) -> float:
    duration = sum(r.duration for r in results)
    return sum(len(r.latencies) for r in results) / duration if duration else 0.0


def _summary(results: list[LoadResult]) -> dict[str, Any]:
    latencies = [x for r in results for x in r.latencies]
    merged = LoadResult(duration=sum(r.duration for r in results), latencies=latencies)
    cpu: dict[str, float] = {}
    for result in results:  # CPU per call, averaged over the rounds
        for part, value in result.cpu.items():
            cpu[part] = cpu.get(part, 0.0) + value / len(results)
    errors: dict[str, int] = {}
    for result in results:
        for error, count in result.errors.items():
            errors[error] = errors.get(error, 0) + count
    return {
        "per_s": _rate(results),
        "per_round_per_s": [r.rate for r in results],
        "answered": len(latencies),
        "p50_ms": merged.percentile(50) * 1000,
        "p90_ms": merged.percentile(90) * 1000,
        "p99_ms": merged.percentile(99) * 1000,
        "max_ms": max(latencies, default=float("nan")) * 1000,
        "cpu_ms_per_call": {k: round(v, 3) for k, v in cpu.items()},
        "errors": errors,
    }
