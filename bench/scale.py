"""Benchmark 5: many open decisions with pending timers on one worker, their deadlines together.

accord: a worker process (exactly `accord worker`); decisions opened through `Accord.open_decision`
with windows chosen so that their deadlines fall at one instant T. A first few (the pilot, with a
one-hour window) measure how fast decisions open on this machine, which sets T. The charter's
reminder lead is longer than the windows, so each decision's reminder goes out as it opens and the
deadline is the only timer left. At T no member has responded, so every decision stalls.

- memory: the worker's RSS (psutil), sampled every half second; reported at its peak;
- lateness: per decision, DecisionStalled's `recorded_at` (database clock, when the event was
  durable) minus the decision's own deadline from its DecisionOpened; p50 and p99.

Baseline: the same number of bare workflows (`bench.bare.BareTimer`: sleep until T, end) on a bare
worker process with the same options; lateness is the workflow's close time minus T.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import asyncpg

from accord.app import Accord
from bench import setup
from bench.bare import BareTimer
from bench.load import percentile
from bench.report import Figure, Run, progress
from bench.stack import Stack, WorkerProcess, worker_process
from events.processes import DECISION

GIB = 1024**3


@dataclass(frozen=True)
class Size:
    decisions: int = 1_000
    """The issue asks for 10,000; on 2 shared cores opening them alone takes longer than the whole
    suite may (see docs/performance.md). `python -m bench scale --decisions 10000` runs it."""
    members: int = 5
    points: int = 2
    concurrency: int = 40
    """Opening calls in flight at once."""
    pilot_share: float = 0.05
    slowdown: float = 0.6
    """T assumes the rest open at this share of the pilot's rate (opening slows as workflows pile up)."""
    margin: float = 10.0
    """Seconds between the last opening (as estimated) and T."""
    patience: float = 150.0
    """How long after T to wait for the last timers."""


FULL = Size()
QUICK = Size(decisions=300, margin=6.0, patience=90.0)
TINY = Size(decisions=12, members=3, points=1, concurrency=6, pilot_share=0.25, margin=3.0, patience=60.0)


def sized(size: Size, decisions: int) -> Size:
    return replace(size, decisions=decisions)


@dataclass
class Memory:
    """RSS samples of a worker process."""

    samples: list[tuple[float, int]] = field(default_factory=list[tuple[float, int]])

    @property
    def peak(self) -> int:
        return max((rss for _, rss in self.samples), default=0)

    async def watch(self, worker: WorkerProcess, stop: asyncio.Event) -> None:
        started = time.monotonic()
        while not stop.is_set():
            try:
                self.samples.append((time.monotonic() - started, worker.rss()))
            except Exception:  # noqa: BLE001 - the process has ended
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)


@dataclass
class Outcome:
    opened: int = 0
    due: int = 0
    fired: int = 0
    open_rate: float = 0.0
    lateness: list[float] = field(default_factory=list[float])
    rss_idle: int = 0
    rss_open: int = 0
    rss_peak: int = 0
    spread: float = 0.0
    """Seconds between the earliest and the latest deadline of the due set."""
    opened_late: int = 0
    """Opened less than a second before T (the machine was slower than the pilot said): left out."""

    def summary(self) -> dict[str, Any]:
        return {
            "opened": self.opened, "due_together": self.due, "fired": self.fired, "opened_late": self.opened_late,
            "open_per_s": self.open_rate, "deadline_spread_s": self.spread,
            "lateness_p50_s": percentile(self.lateness, 50), "lateness_p90_s": percentile(self.lateness, 90),
            "lateness_p99_s": percentile(self.lateness, 99), "lateness_max_s": max(self.lateness, default=math.nan),
            "rss_idle_mib": self.rss_idle / 2**20, "rss_all_open_mib": self.rss_open / 2**20,
            "rss_peak_mib": self.rss_peak / 2**20,
        }


async def _open_all(count: int, concurrency: int, open_one: Callable[[int], Awaitable[None]]) -> float:
    """Open `count` processes, `concurrency` at a time; returns the rate per second."""
    started = time.monotonic()
    await setup.bounded([partial(open_one, i) for i in range(count)], concurrency)
    return count / (time.monotonic() - started)


def _deadline_after(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


async def _phase(
    size: Size, worker: WorkerProcess, open_one: Callable[[int, datetime | None], Awaitable[None]], label: str
) -> tuple[Outcome, datetime, list[int]]:
    """Pilot, choose T, open the rest due at T; returns the outcome so far, T and the due indexes."""
    outcome = Outcome(rss_idle=worker.rss())
    pilot = max(1, round(size.decisions * size.pilot_share))
    progress(f"scale: {label}: pilot of {pilot}")
    rate = await _open_all(pilot, size.concurrency, lambda i: open_one(i, None))
    rest = size.decisions - pilot
    at = _deadline_after(rest / (rate * size.slowdown) + size.margin)
    progress(f"scale: {label}: opening {rest} due together at {at:%H:%M:%S} (pilot ran at {rate:.0f}/s)")
    started = time.monotonic()
    await setup.bounded([partial(open_one, i, at) for i in range(pilot, size.decisions)], size.concurrency)
    outcome.open_rate = rest / (time.monotonic() - started)
    outcome.opened = size.decisions
    outcome.due = rest
    outcome.rss_open = worker.rss()
    if datetime.now(UTC) >= at:
        progress(f"scale: {label}: opening ran past T; decisions opened after T are left out of the lateness")
    return outcome, at, list(range(pilot, size.decisions))


async def run(stack: Stack, size: Size, report: Run, *, worker_cache: int | None = None) -> None:
    tag = uuid.uuid4().hex[:6]
    async with stack.database("scale") as url:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=20)
        try:
            bare = await _bare(stack, url, size, tag)
            accord = await _accord(stack, url, pool, size, tag, worker_cache)
        finally:
            await pool.close()

    n = f"{accord.due:,} due together, {accord.opened:,} open"
    report.figures += [
        Figure("scale", "worker RSS, peak", "MiB", accord.rss_peak / 2**20, bare.rss_peak / 2**20,
               "bare timers", higher_is_better=False, target_absolute=1024, notes=n),
        Figure("scale", "timer lateness p50", "s", percentile(accord.lateness, 50), percentile(bare.lateness, 50),
               "bare timers", higher_is_better=False, notes=n),
        Figure("scale", "timer lateness p99", "s", _p99(accord), _p99(bare),
               "bare timers", higher_is_better=False, target_absolute=5.0, notes=n),
    ]
    report.details["scale"] = {
        "size": asdict(size),
        "worker_cache": worker_cache,
        "accord": accord.summary(),
        "bare": bare.summary(),
    }


def _p99(outcome: Outcome) -> float:
    """p99 lateness; a timer that never fired counts as infinitely late."""
    missing = outcome.due - outcome.fired
    return percentile(outcome.lateness + [math.inf] * missing, 99)


async def _bare(stack: Stack, url: str, size: Size, tag: str) -> Outcome:
    queue = f"bench-timers-{tag}"
    deadlines: dict[str, datetime] = {}

    late: set[str] = set()

    async def open_one(index: int, at: datetime | None) -> None:
        deadline = at or _deadline_after(3600)
        workflow_id = f"timer-{tag}-{index}"
        deadlines[workflow_id] = deadline
        await stack.client.start_workflow(BareTimer.run, deadline, id=workflow_id, task_queue=queue)
        if datetime.now(UTC) >= deadline - timedelta(seconds=1):
            late.add(workflow_id)  # started too late to wait for its timer: not a pending timer

    with worker_process(stack, url, queue, "bare") as worker:
        stop = asyncio.Event()
        memory = Memory()
        watcher = asyncio.create_task(memory.watch(worker, stop))
        outcome, at, due = await _phase(size, worker, open_one, "bare")
        due_ids = {f"timer-{tag}-{i}" for i in due} - late
        closed: dict[str, datetime] = {}
        await _sleep_until(at)
        progress("scale: bare: waiting for the timers")
        give_up = time.monotonic() + size.patience
        query = f"TaskQueue = '{queue}' AND ExecutionStatus = 'Completed'"
        while time.monotonic() < give_up:
            async for execution in stack.client.list_workflows(query):
                if execution.id in due_ids and execution.close_time is not None:
                    closed[execution.id] = execution.close_time
            if len(closed) >= len(due_ids):
                break
            await asyncio.sleep(1.0)
        stop.set()
        await watcher
    outcome.due = len(due_ids)
    outcome.opened_late = len(late)
    outcome.fired = len(closed)
    outcome.lateness = [(closed[w] - deadlines[w]).total_seconds() for w in closed]
    outcome.rss_peak = memory.peak
    return outcome


async def _accord(
    stack: Stack, url: str, pool: asyncpg.Pool, size: Size, tag: str, worker_cache: int | None
) -> Outcome:
    queue = f"bench-scale-{tag}"
    app = Accord(client=stack.client, pool=pool, task_queue=queue)
    alliance_id = f"scale-{tag}"
    drafts = [{"text": f"point {i + 1}"} for i in range(size.points)]

    async def open_one(index: int, at: datetime | None) -> None:
        # Whole seconds (a charter's durations are), so deadlines fall within a second of T.
        window = "1h" if at is None else f"{max(1, round((at - datetime.now(UTC)).total_seconds()))}s"
        await app.open_decision(alliance_id, setup.FOUNDER, f"s{tag}-{index}", f"Decision {index}", drafts,
                                response_window=window)

    extra = ("--cache", str(worker_cache)) if worker_cache else ()
    with worker_process(stack, url, queue, "accord", *extra) as worker:
        # The reminder lead is longer than any window here: reminders go out as decisions open.
        await setup.alliance(app, alliance_id, size.members, min_response_window="1s", reminder_lead="6d")
        stop = asyncio.Event()
        memory = Memory()
        watcher = asyncio.create_task(memory.watch(worker, stop))
        outcome, at, due = await _phase(size, worker, open_one, "accord")
        candidates = [DECISION.stream_name(f"s{tag}-{i}", alliance_id) for i in due]
        late_rows = await pool.fetch(
            "SELECT stream_id FROM accord.events WHERE event_type = 'DecisionOpened' AND stream_id = ANY($1)"
            " AND recorded_at >= (data->>'deadline')::timestamptz - interval '1 second'",
            candidates,
        )
        late = {r["stream_id"] for r in late_rows}
        streams = [s for s in candidates if s not in late]
        await _sleep_until(at)
        progress("scale: accord: waiting for the timers")
        give_up = time.monotonic() + size.patience
        while time.monotonic() < give_up:
            fired = await pool.fetchval(
                "SELECT count(*) FROM accord.events WHERE stream_id = ANY($1)"
                " AND event_type IN ('DecisionStalled', 'DecisionClosed')",
                streams,
            )
            if fired >= len(streams):
                break
            await asyncio.sleep(1.0)
        stop.set()
        await watcher
        rows = await pool.fetch(
            """
            SELECT extract(epoch FROM s.recorded_at - (o.data->>'deadline')::timestamptz) AS late,
                   (o.data->>'deadline')::timestamptz AS deadline
            FROM accord.events o
            JOIN accord.events s ON s.stream_id = o.stream_id
                 AND s.event_type IN ('DecisionStalled', 'DecisionClosed')
            WHERE o.event_type = 'DecisionOpened' AND o.stream_id = ANY($1)
            """,
            streams,
        )
        deadlines = await pool.fetchval(
            "SELECT extract(epoch FROM max((data->>'deadline')::timestamptz) - min((data->>'deadline')::timestamptz))"
            " FROM accord.events WHERE event_type = 'DecisionOpened' AND stream_id = ANY($1)",
            streams,
        )
    outcome.due = len(streams)
    outcome.opened_late = len(late)
    outcome.fired = len(rows)
    outcome.lateness = [float(r["late"]) for r in rows]
    outcome.rss_peak = memory.peak
    outcome.spread = float(deadlines or 0)
    return outcome


async def _sleep_until(at: datetime) -> None:
    delay = (at - datetime.now(UTC)).total_seconds()
    if delay > 0:
        await asyncio.sleep(delay)
