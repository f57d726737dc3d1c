"""Benchmark: what the transparency log costs as it grows. A checkpoint (hash the new leaves into the tree,
sign) and the proofs at `leaves` leaves (1,000,000 in the full run), each against the same at `small` leaves
(1,000), measured in the same run on the same server: the ratio shows how the cost grows with the log.

The leaves are filled in SQL (events with random hashes, their leaves, the log's size), not through the
append: their content does not matter to the tree, and appending a million events is what the `append`
benchmark measures. Hashing the filled leaves into the tree the first time is reported too.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass

import asyncpg

from bench.report import Figure, Run, progress
from bench.stack import Stack
from events.log import TransparencyLog
from events.notes import Signer


@dataclass(frozen=True)
class Size:
    leaves: int = 1_000_000
    small: int = 1_000
    new: int = 1_000
    """Events appended before the timed checkpoint."""
    proofs: int = 200
    rounds: int = 3


FULL = Size()
QUICK = Size(leaves=100_000, proofs=100, rounds=2)
TINY = Size(leaves=5_000, small=500, new=100, proofs=20, rounds=1)

_FILL_SQL = """
WITH ins AS (
    INSERT INTO accord.events (stream_id, stream_version, event_id, event_type, data, metadata, recorded_at, prev_hash, hash)
    SELECT 'decision-' || $1 || '.s' || (g / 1000), (g % 1000) + 1, gen_random_uuid(), 'StanceTaken', '{}', '{}',
           clock_timestamp(), decode(repeat('00', 32), 'hex'), sha256(convert_to($1 || g, 'UTF8'))
    FROM generate_series($2::bigint, $3::bigint - 1) AS g
    RETURNING global_position
)
INSERT INTO accord.log_leaves (alliance_id, leaf_index, global_position)
SELECT $1, $2 + row_number() OVER (ORDER BY global_position) - 1, global_position FROM ins
"""


async def run(stack: Stack, size: Size, report: Run) -> None:
    async with stack.database("log") as url:
        pool = await asyncpg.create_pool(url, min_size=2, max_size=4)
        try:
            await _run(pool, size, report)
        finally:
            await pool.close()


async def _fill(pool: asyncpg.Pool, alliance_id: str, start: int, end: int) -> None:
    for first in range(start, end, 100_000):
        last = min(first + 100_000, end)
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(_FILL_SQL, alliance_id, first, last)
            await conn.execute(
                "INSERT INTO accord.logs (alliance_id, size) VALUES ($1, $2) ON CONFLICT (alliance_id) DO UPDATE SET size = $2",
                alliance_id, last,
            )


async def _run(pool: asyncpg.Pool, size: Size, report: Run) -> None:
    log, signer = TransparencyLog(pool), Signer.generate("bench.accord")
    sizes = {"big": size.leaves, "small": size.small}
    progress(f"log: filling {size.leaves:,} leaves")
    integration = {}
    for alliance_id, leaves in sizes.items():
        await _fill(pool, alliance_id, 0, leaves)
        started = time.perf_counter()
        await log.issue(alliance_id, signer, "bench.accord")
        integration[alliance_id] = time.perf_counter() - started
    checkpoint = dict.fromkeys(sizes, 0.0)
    inclusion = dict.fromkeys(sizes, 0.0)
    consistency = dict.fromkeys(sizes, 0.0)
    for round_number in range(size.rounds):
        progress(f"log: round {round_number + 1} of {size.rounds}")
        for alliance_id in sizes:
            grown = sizes[alliance_id] + size.new
            await _fill(pool, alliance_id, sizes[alliance_id], grown)
            started = time.perf_counter()
            await log.issue(alliance_id, signer, "bench.accord")
            checkpoint[alliance_id] += time.perf_counter() - started
            old, sizes[alliance_id] = sizes[alliance_id], grown
            inclusion[alliance_id] += await _proofs(pool, log, alliance_id, grown, size.proofs)
            started = time.perf_counter()
            for _ in range(size.proofs):
                await log.consistency(alliance_id, old)
            consistency[alliance_id] += time.perf_counter() - started
    per_checkpoint = {name: seconds / size.rounds * 1000 for name, seconds in checkpoint.items()}
    per_proof = {name: seconds / (size.rounds * size.proofs) * 1000 for name, seconds in inclusion.items()}
    per_consistency = {name: seconds / (size.rounds * size.proofs) * 1000 for name, seconds in consistency.items()}
    big, small = f"{size.leaves:,} leaves", f"the same at {size.small:,} leaves"
    report.figures += [
        Figure("log", f"checkpoint of {size.new:,} new events at {big}", "ms", per_checkpoint["big"], per_checkpoint["small"],
               small, higher_is_better=False, notes="hash the new leaves into the stored tree, sign"),
        Figure("log", f"inclusion proof at {big}", "ms", per_proof["big"], per_proof["small"], small, higher_is_better=False,
               notes="find the receipt's leaf, read O(log n) stored nodes, compute the path"),
        Figure("log", f"consistency proof at {big}", "ms", per_consistency["big"], per_consistency["small"], small,
               higher_is_better=False),
    ]
    report.details["log"] = {
        "size": asdict(size),
        "first integration seconds": integration,
        "first integration leaves/s": {name: sizes_leaves / integration[name] for name, sizes_leaves in
                                       (("big", size.leaves), ("small", size.small))},
    }


async def _proofs(pool: asyncpg.Pool, log: TransparencyLog, alliance_id: str, leaves: int, count: int) -> float:
    """Seconds for `count` inclusion proofs of random receipts (stream and version) of the alliance."""
    picks = [random.randrange(leaves) for _ in range(count)]  # which leaves to prove: no secret
    receipts = [(f"decision-{alliance_id}.s{g // 1000}", g % 1000 + 1) for g in picks]
    started = time.perf_counter()
    for stream, version in receipts:
        await log.prove(stream, version)
    return time.perf_counter() - started
