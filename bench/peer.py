"""Benchmark 6: accord's event store against a peer, the `eventsourcing` library's PostgreSQL
recorder (`PostgresApplicationRecorder`: events with a global notification id, as accord's have a
global position), on the same PostgreSQL server, in a schema of the same database, in the same run.

- Batch: `batch` events to a fresh stream (an aggregate), one append after another, with the same
  payload (accord: data and metadata; eventsourcing: the same JSON as the event's state bytes).
- Concurrent: `writers` writers appending single events to streams of their own (eventsourcing's
  recorder is synchronous: a thread per writer, a connection pool of `writers`).

Rounds alternate the two, as in the append benchmark. Needs the `bench` extra (eventsourcing and
psycopg); without it the benchmark says so and records nothing.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import threading
import time
import uuid
from dataclasses import asdict
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import asyncpg

# The same sizes as append, so the two compare.
from bench.append import FULL as FULL
from bench.append import QUICK as QUICK
from bench.append import TINY as TINY
from bench.append import Size, Tally
from bench.payloads import BENCH_ALLIANCE, stance_event
from bench.report import Figure, Run, progress
from bench.stack import Stack
from events.processes import DECISION
from events.store import EventStore, NewEvent

SCHEMA = "bench_es"


def available() -> bool:
    try:
        importlib.import_module("eventsourcing.postgres")
    except ImportError:
        return False
    return True


def _state(event: NewEvent) -> bytes:
    return json.dumps({"data": event.data, "metadata": event.metadata}, separators=(",", ":")).encode()


class Peer:
    """eventsourcing's application recorder on the benchmark's database."""

    def __init__(self, url: str, pool_size: int) -> None:
        from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

        parts = urlsplit(url)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        self.datastore = PostgresDatastore(
            dbname=parts.path.lstrip("/"),
            # The embedded server listens on a unix socket named in the query (?host=/dir).
            host=query.get("host") or parts.hostname or "localhost",
            port=query.get("port") or parts.port or 5432,
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            pool_size=pool_size,
            schema=SCHEMA,
        )
        self.recorder = PostgresApplicationRecorder(self.datastore, events_table_name="stored_events")
        self.recorder.create_table()

    def stored(self, stream: uuid.UUID, events: list[NewEvent], first_version: int = 1) -> list[Any]:
        from eventsourcing.persistence import StoredEvent

        return [
            StoredEvent(originator_id=stream, originator_version=first_version + i,
                        topic="accord.bench:StanceTaken", state=_state(e))
            for i, e in enumerate(events)
        ]

    def close(self) -> None:
        self.datastore.close()


async def run(stack: Stack, size: Size, report: Run) -> None:
    if not available():
        progress("peer: skipped, eventsourcing is not installed (pip install -e '.[bench]')")
        report.details["peer"] = {"skipped": "eventsourcing is not installed; pip install -e '.[bench]'"}
        return
    async with stack.database("peer") as url:
        pool = await asyncpg.create_pool(url, min_size=size.writers, max_size=size.writers)
        await pool.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        peer = await asyncio.to_thread(Peer, url, size.writers)
        try:
            await _run(EventStore(pool), peer, size, report)
        finally:
            await asyncio.to_thread(peer.close)
            await pool.close()


async def _run(store: EventStore, peer: Peer, size: Size, report: Run) -> None:
    batch = {"accord": Tally(), "peer": Tally()}
    single = {"accord": Tally(), "peer": Tally()}
    for round_number in range(size.rounds):
        progress(f"peer: round {round_number + 1} of {size.rounds}")
        _add(batch["peer"], await asyncio.to_thread(_peer_batches, peer, size))
        _add(batch["accord"], await _accord_batches(store, size))
        _add(single["peer"], await asyncio.to_thread(_peer_concurrent, peer, size))
        _add(single["accord"], await _accord_concurrent(store, size))
    report.figures += [
        Figure("peer", f"batch append, {size.batch} events", "events/s", batch["accord"].rate,
               batch["peer"].rate, "eventsourcing", target_ratio=1.0,
               notes="PostgresApplicationRecorder.insert_events vs EventStore.append"),
        Figure("peer", f"{size.writers} writers, 1 event each", "events/s", single["accord"].rate,
               single["peer"].rate, "eventsourcing"),
    ]
    from importlib.metadata import version

    report.details["peer"] = {
        "size": asdict(size),
        "eventsourcing_version": version("eventsourcing"),
        "batch": {k: asdict(v) for k, v in batch.items()},
        "single": {k: asdict(v) for k, v in single.items()},
    }


def _add(total: Tally, part: Tally) -> None:
    total.events += part.events
    total.seconds += part.seconds


async def _accord_batches(store: EventStore, size: Size) -> Tally:
    streams = [DECISION.stream_name(str(uuid.uuid4()), BENCH_ALLIANCE) for _ in range(size.batches)]
    events = [[stance_event(s, n) for n in range(size.batch)] for s in streams]
    started = time.perf_counter()
    for stream, batch in zip(streams, events, strict=True):
        await store.append(stream, 0, batch)
    return Tally(size.batch * size.batches, time.perf_counter() - started)


def _peer_batches(peer: Peer, size: Size) -> Tally:
    batches: list[list[Any]] = []
    for _ in range(size.batches):
        stream = uuid.uuid4()
        batches.append(peer.stored(stream, [stance_event(DECISION.stream_name(str(stream), BENCH_ALLIANCE), n) for n in range(size.batch)]))
    started = time.perf_counter()
    for batch in batches:
        peer.recorder.insert_events(batch)
    return Tally(size.batch * size.batches, time.perf_counter() - started)


async def _accord_concurrent(store: EventStore, size: Size) -> Tally:
    deadline = time.perf_counter() + size.seconds

    async def writer() -> int:
        stream = DECISION.stream_name(str(uuid.uuid4()), BENCH_ALLIANCE)
        pending = [stance_event(stream, n) for n in range(256)]
        version = 0
        while time.perf_counter() < deadline:
            if not pending:
                pending = [stance_event(stream, n) for n in range(256)]
            await store.append(stream, version, [pending.pop()])
            version += 1
        return version

    started = time.perf_counter()
    counts = await asyncio.gather(*(writer() for _ in range(size.writers)))
    return Tally(sum(counts), time.perf_counter() - started)


def _peer_concurrent(peer: Peer, size: Size) -> Tally:
    deadline = time.perf_counter() + size.seconds
    counts = [0] * size.writers

    def writer(index: int) -> None:
        stream = uuid.uuid4()
        events = [stance_event(DECISION.stream_name(str(stream), BENCH_ALLIANCE), n) for n in range(256)]
        version = 0
        while time.perf_counter() < deadline:
            if version and version % len(events) == 0:
                events = [stance_event(DECISION.stream_name(str(stream), BENCH_ALLIANCE), n) for n in range(256)]
            event = events[version % len(events)]
            version += 1
            peer.recorder.insert_events(peer.stored(stream, [event], first_version=version))
        counts[index] = version

    started = time.perf_counter()
    threads = [threading.Thread(target=writer, args=(i,)) for i in range(size.writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Tally(sum(counts), time.perf_counter() - started)
