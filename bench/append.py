"""Benchmark 3: the event store's appends against raw asyncpg inserts into a table of the same shape.

- Batch: `EventStore.append` of `batch` events to a fresh stream, one append after another, against
  `executemany` of the same rows (JSON text, random hashes, nothing computed) into
  `bench_raw.events`, created `LIKE accord.events INCLUDING ALL` (same columns, defaults, identity,
  checks and indexes).
- Concurrent: `writers` tasks, each appending single events to a stream of its own, against the
  same number of tasks each inserting single rows; both through one pool of `writers` connections.
- With and without the transparency log: accord's streams above are decisions of one alliance, so every
  event also takes its leaf in the alliance's log (events/store.py); the same appends to streams of no
  alliance (`bench-...`) take none. Both against the same raw baseline, in the same rounds.

Rounds alternate accord and the baseline, so drift on a shared machine hits both alike; each side's
rate is its events over its time summed across rounds. Events are built before the clock starts
(building them is the caller's work, not the store's).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import asyncpg

from bench.payloads import BENCH_ALLIANCE, RAW_INSERT_SQL, RAW_SCHEMA_SQL, raw_row, stance_event
from bench.report import Figure, Run, progress
from bench.stack import Stack
from events.processes import DECISION
from events.store import EventStore


@dataclass(frozen=True)
class Size:
    batch: int = 100
    batches: int = 60
    """Per round and side."""
    writers: int = 16
    seconds: float = 3.0
    """Concurrent writers: per round and side."""
    rounds: int = 3


FULL = Size()
QUICK = Size(batches=15, seconds=1.0, rounds=2)
TINY = Size(batch=10, batches=3, writers=4, seconds=0.3, rounds=1)


@dataclass
class Tally:
    events: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


async def run(stack: Stack, size: Size, report: Run) -> None:
    async with stack.database("append") as url:
        pool = await asyncpg.create_pool(url, min_size=size.writers, max_size=size.writers)
        try:
            await pool.execute(RAW_SCHEMA_SQL)
            await _run(pool, size, report)
        finally:
            await pool.close()


async def _run(pool: asyncpg.Pool, size: Size, report: Run) -> None:
    store = EventStore(pool)
    batch = {"accord": Tally(), "no log": Tally(), "raw": Tally()}
    single = {"accord": Tally(), "no log": Tally(), "raw": Tally()}
    for round_number in range(size.rounds):
        progress(f"append: round {round_number + 1} of {size.rounds}")
        tag = uuid.uuid4().hex[:8]
        _add(batch["raw"], await _raw_batches(pool, size, tag))
        _add(batch["accord"], await _accord_batches(store, size, tag, logged=True))
        _add(batch["no log"], await _accord_batches(store, size, tag, logged=False))
        _add(single["raw"], await _concurrent(size, partial(_raw_writer, pool), f"raw-{tag}"))
        _add(single["accord"], await _concurrent(size, partial(_accord_writer, store), DECISION.stream_name(f"one-{tag}", BENCH_ALLIANCE)))
        _add(single["no log"], await _concurrent(size, partial(_accord_writer, store), f"bench-one-{tag}"))

    report.figures += [
        Figure("append", f"batch append, {size.batch} events", "events/s", batch["accord"].rate,
               batch["raw"].rate, "raw executemany", target_ratio=0.5, notes="every event a leaf of its alliance's log"),
        Figure("append", f"batch append, {size.batch} events, no log", "events/s", batch["no log"].rate,
               batch["raw"].rate, "raw executemany", notes="streams of no alliance: no leaves"),
        Figure("append", f"{size.writers} writers, 1 event each", "events/s", single["accord"].rate,
               single["raw"].rate, "raw INSERT",
               notes="each writer on a stream of its own, all of one alliance: their leaves take turns"),
        Figure("append", f"{size.writers} writers, 1 event each, no log", "events/s", single["no log"].rate,
               single["raw"].rate, "raw INSERT", notes="streams of no alliance: no leaves"),
    ]
    report.details["append"] = {
        "size": asdict(size),
        "batch": {k: asdict(v) for k, v in batch.items()},
        "single": {k: asdict(v) for k, v in single.items()},
    }


def _add(total: Tally, part: Tally) -> None:
    total.events += part.events
    total.seconds += part.seconds


async def _accord_batches(store: EventStore, size: Size, tag: str, *, logged: bool) -> Tally:
    streams = [DECISION.stream_name(f"b{tag}-{i}", BENCH_ALLIANCE) if logged else f"bench-b{tag}-{i}" for i in range(size.batches)]
    events = [[stance_event(s, n) for n in range(size.batch)] for s in streams]
    started = time.perf_counter()
    for stream, batch in zip(streams, events, strict=True):
        await store.append(stream, 0, batch)
    return Tally(size.batch * size.batches, time.perf_counter() - started)


async def _raw_batches(pool: asyncpg.Pool, size: Size, tag: str) -> Tally:
    now = datetime.now(UTC)
    batches: list[list[tuple[Any, ...]]] = []
    for i in range(size.batches):
        stream = DECISION.stream_name(f"r{tag}-{i}", BENCH_ALLIANCE)
        batches.append([raw_row(stream, n + 1, stance_event(stream, n), now) for n in range(size.batch)])
    started = time.perf_counter()
    async with pool.acquire() as conn:
        for rows in batches:
            await conn.executemany(RAW_INSERT_SQL, rows)
    return Tally(size.batch * size.batches, time.perf_counter() - started)


Writer = Callable[[float], Awaitable[int]]
"""A writer: appends until the deadline (a `time.perf_counter()`), returns how many events it appended."""


async def _concurrent(size: Size, writer: Callable[[str], Writer], prefix: str) -> Tally:
    """`size.writers` writers at once, each on a stream of its own (`<prefix>-<n>`)."""
    deadline = time.perf_counter() + size.seconds
    started = time.perf_counter()
    counts = await asyncio.gather(*(writer(f"{prefix}-{w}")(deadline) for w in range(size.writers)))
    return Tally(sum(counts), time.perf_counter() - started)


def _accord_writer(store: EventStore, stream: str) -> Writer:
    async def write(deadline: float) -> int:
        version = 0
        pending = [stance_event(stream, n) for n in range(64)]
        while time.perf_counter() < deadline:
            if not pending:
                pending = [stance_event(stream, n) for n in range(64)]
            await store.append(stream, version, [pending.pop()])
            version += 1
        return version

    return write


def _raw_writer(pool: asyncpg.Pool, stream: str) -> Writer:
    async def write(deadline: float) -> int:
        version = 0
        now = datetime.now(UTC)
        pending = [raw_row(stream, 0, stance_event(stream, n), now) for n in range(64)]
        while time.perf_counter() < deadline:
            if not pending:
                pending = [raw_row(stream, 0, stance_event(stream, n), now) for n in range(64)]
            row = pending.pop()
            version += 1
            await pool.execute(RAW_INSERT_SQL, row[0], version, *row[2:])
        return version

    return write
