"""Benchmark 4: folding the event log through the deciders, against a raw read of the same rows.

The store is filled with decisions as the workflow records them: per stream one DecisionOpened (30
members, 3 points, the charter's rules) and then StanceTaken events, the streams interleaved in the
global log as they are when many decisions run at once. Rows are generated inside PostgreSQL
(INSERT ... SELECT over generate_series; the hashes are placeholders, replay does not check them).

- accord: `accord.audit.fold_log`: `EventStore.read_log` page by page (the columns folding needs:
  position, stream, version, type, schema version, data as text), each event parsed into today's
  type through `events.processes` (upcast where the schema version is old, the event class
  otherwise) and folded with the process's `evolve`, kept per stream across pages.
- baseline: the same columns of the same rows, same order, same pages, same snapshot condition,
  read with asyncpg and nothing built from them.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

import asyncpg

from accord.audit import fold_log
from bench.report import Figure, Run, progress
from bench.setup import charter
from bench.stack import Stack
from events.decision import DecisionContext, OpenDecision, PointDraft, open_decision
from events.store import EventStore


@dataclass(frozen=True)
class Size:
    events: int = 1_000_000
    per_stream: int = 50
    page: int = 5000
    members: int = 30
    points: int = 3


FULL = Size()
QUICK = Size(events=100_000)
TINY = Size(events=2_000, per_stream=20, page=500)


def sized(size: Size, events: int) -> Size:
    return replace(size, events=events)


# Per chunk of streams; ORDER BY version, stream interleaves the streams in the global log.
_GENERATE_SQL = """
INSERT INTO accord.events
    (stream_id, stream_version, event_id, event_type, data, metadata, recorded_at, prev_hash, hash)
SELECT 'decision-' || $1 || '-' || s,
       v,
       gen_random_uuid(),
       CASE WHEN v = 1 THEN 'DecisionOpened' ELSE 'StanceTaken' END,
       CASE WHEN v = 1 THEN $2::jsonb || jsonb_build_object('decision_id', $1 || '-' || s)
            ELSE jsonb_build_object(
                'at', $3::text,
                'member_id', 'm' || lpad((1 + (s * 7 + v) % $4)::text, 3, '0'),
                'point_id', 'p' || (1 + v % $5),
                'stance', (ARRAY['agree', 'concerns', 'stand_aside', 'object'])[1 + (s + v) % 4],
                'reason', CASE WHEN (s + v) % 4 = 3 THEN 'the budget line for transport is not settled' END,
                'principle', NULL)
       END,
       jsonb_build_object(
           'actor', CASE WHEN v = 1 THEN 'm001' ELSE 'm' || lpad((1 + (s * 7 + v) % $4)::text, 3, '0') END,
           'workflow_id', 'decision-' || $1 || '-' || s,
           'run_id', $6::text,
           'correlation_id', 'decision-' || $1 || '-' || s,
           'causation_id', 'update:' || md5(s::text || '/' || v::text),
           'schema_version', 1),
       $7::timestamptz + (v * interval '1 second'),
       sha256(int8send(s::bigint * 100000 + v - 1)),
       sha256(int8send(s::bigint * 100000 + v))
FROM generate_series($8::int, $9::int) AS s, generate_series(1, $10::int) AS v
ORDER BY v, s
"""

_RAW_READ_SQL = """
SELECT global_position, transaction_id, stream_id, stream_version, event_type,
       coalesce((metadata->>'schema_version')::int, 1) AS schema_version, data::text AS data
FROM accord.events
WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())
  AND (transaction_id, global_position) > ($1::xid8, $2::bigint)
ORDER BY transaction_id, global_position
LIMIT $3
"""


def opened_data(size: Size) -> dict[str, Any]:
    """A DecisionOpened's data as the workflow records it (decision_id is set per stream)."""
    rules = charter()
    context = DecisionContext(
        rules=rules.decisions,
        principles=[p.id for p in rules.principles],
        electorate=[f"m{i:03d}" for i in range(1, size.members + 1)],
        coordinators=["m001"],
        steering=["m002"],
    )
    command = OpenDecision(
        actor="m001", decision_id="template", alliance_id="bench", title="Joint campaign",
        points=[PointDraft(text=f"point {i + 1}") for i in range(size.points)], context=context,
    )
    event = open_decision(command, datetime.now(UTC))[0]
    return event.model_dump(mode="json", exclude={"type"})


async def generate(pool: asyncpg.Pool, size: Size) -> int:
    """Fill accord.events with size.events events; returns how many."""
    streams = max(1, size.events // size.per_stream)
    tag = uuid.uuid4().hex[:6]
    opened = json.dumps(opened_data(size))
    at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    chunk = max(1, 100_000 // size.per_stream)
    for first in range(0, streams, chunk):
        last = min(streams, first + chunk) - 1
        await pool.execute(
            _GENERATE_SQL, tag, opened, at, size.members, size.points, str(uuid.uuid4()),
            datetime.now(UTC), first, last, size.per_stream,
        )
    await pool.execute("VACUUM ANALYZE accord.events")
    return int(await pool.fetchval("SELECT count(*) FROM accord.events"))


async def fold_all(store: EventStore, page: int) -> tuple[int, int]:
    """accord.audit.fold_log over the whole log: (events, streams)."""
    folded = await fold_log(store, page=page)
    return folded.events, len(folded.states)


async def raw_read(pool: asyncpg.Pool, page: int) -> int:
    count = 0
    transaction_id, position = 0, 0
    async with pool.acquire() as conn:
        while True:
            rows = await conn.fetch(_RAW_READ_SQL, transaction_id, position, page)
            if not rows:
                break
            count += len(rows)
            transaction_id, position = rows[-1]["transaction_id"], rows[-1]["global_position"]
    return count


async def run(stack: Stack, size: Size, report: Run) -> None:
    async with stack.database("replay") as url:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=4)
        try:
            progress(f"replay: generating {size.events:,} events")
            started = time.perf_counter()
            total = await generate(pool, size)
            generated_in = time.perf_counter() - started

            progress("replay: raw read")
            await raw_read(pool, size.page)  # once to warm the cache for both sides alike
            started = time.perf_counter()
            raw_count = await raw_read(pool, size.page)
            raw_seconds = time.perf_counter() - started

            progress("replay: fold through the deciders")
            started = time.perf_counter()
            folded, streams = await fold_all(EventStore(pool), size.page)
            fold_seconds = time.perf_counter() - started
        finally:
            await pool.close()

    report.figures.append(
        Figure("replay", f"fold {folded:,} events", "events/s", folded / fold_seconds,
               raw_count / raw_seconds, "raw asyncpg read", target_ratio=0.3,
               notes=f"{streams:,} decision streams, pages of {size.page}")
    )
    report.details["replay"] = {
        "size": asdict(size),
        "events_in_store": total,
        "streams": streams,
        "generated_in_s": generated_in,
        "raw_read_s": raw_seconds,
        "fold_s": fold_seconds,
    }
