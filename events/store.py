"""The PostgreSQL event store: append events to streams, read them back, verify the hash chains.

One table, ``accord.events`` (see ``events/migrations/0001_event_store.sql``), holds every event
of every process. A stream (one per process, e.g. ``decision-<id>``) is numbered 1, 2, 3, ...;
``(stream_id, stream_version)`` is unique, which is both the optimistic-concurrency guard and the
idempotency key of :meth:`EventStore.append`. Each event is hash-chained to the previous event of
its stream (rule in :mod:`events.hashing`), so :meth:`EventStore.verify` can prove nothing was
changed, removed or reordered behind the append-only trigger's back.

Why the global log is read by transaction id
--------------------------------------------
``global_position`` comes from a sequence when the row is inserted, not when it commits. A
transaction that inserted position 10 may commit after one that inserted position 11; a reader
that saw 11 and remembered "after 11" would never see 10. :meth:`EventStore.read_all` therefore
orders by ``(transaction_id, global_position)`` and reads only rows whose ``transaction_id`` is
below ``pg_snapshot_xmin(pg_current_snapshot())``: every transaction below that horizon has
finished (committed or rolled back), so no row can appear later below the returned checkpoint.
The price is latency, not correctness: while any transaction that obtained a transaction id is
open, newer events wait behind it.

Appends to different streams share no lock: no table lock, no global advisory lock. Two appends
to the same stream meet only on the unique index.

Why leaves are numbered in the append
-------------------------------------
Every event of an alliance's streams is also a leaf of the alliance's transparency log
(:mod:`events.log`), and its receipt names the leaf. The append takes the next leaf indices from the
alliance's row of ``accord.logs`` in its own transaction, as its last statement: that row's lock makes
the appends of one alliance commit their leaves one after the other, so the committed leaves are always
0 .. size-1, and an append that rolls back takes its indices back with it. Each event gets its leaf
exactly once, when it commits; one that commits late simply gets a later leaf. The cost is that appends
to one alliance's streams wait for each other's commits (appends of different alliances do not);
docs/performance.md measures it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, TypeAlias
from uuid import UUID

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from pydantic import BaseModel, ConfigDict, Field, computed_field

from events.errors import AccordError
from events.hashing import GENESIS_HASH, canonical_bytes, canonical_json, chain_hash, envelope_bytes, format_recorded_at, load_json
from events.processes import log_of
from events.projector import Fed, consumed, project

__all__ = [
    "GENESIS_HASH",
    "MAX_VERSION",
    "AppendOutcome",
    "Break",
    "BrokenStream",
    "ConcurrencyError",
    "Connection",
    "EventStore",
    "GlobalCheckpoint",
    "LogRow",
    "NewEvent",
    "Receipt",
    "RecordedEvent",
    "StoredEvent",
    "StreamHead",
    "VerifyReport",
]

Connection: TypeAlias = asyncpg.Connection | PoolConnectionProxy
"""A connection of its own or one lent by a pool (which stands in for it, method for method)."""

Extra = Callable[[Connection], Awaitable[None]]

MAX_VERSION = 2**31 - 1
"""The highest version a stream can reach (`stream_version` is a PostgreSQL integer): a version asked
for beyond it is refused as invalid input, never sent to the database."""

_VERIFY_BATCH = 1000


class NewEvent(BaseModel):
    """An event to append. ``event_id`` should be deterministic so that a retry is recognised."""

    event_id: UUID
    event_type: str = Field(min_length=1)
    data: dict[str, Any]
    metadata: dict[str, Any] = Field(default_factory=dict)


class RecordedEvent(BaseModel):
    """An event as stored."""

    global_position: int
    stream_id: str
    stream_version: int
    event_id: UUID
    event_type: str
    data: dict[str, Any]
    metadata: dict[str, Any]
    recorded_at: datetime
    transaction_id: int
    prev_hash: bytes
    hash: bytes


class LogRow(NamedTuple):
    """One event of the global log as folding needs it, from :meth:`EventStore.read_log`.

    ``data_json`` is the data as jsonb text: parse it with :func:`events.hashing.load_json`, or
    straight into the event's type (:meth:`events.processes.Process.event_from_json`).
    """

    global_position: int
    transaction_id: int
    stream_id: str
    stream_version: int
    event_type: str
    schema_version: int
    data_json: str


class Receipt(BaseModel):
    """Proof of one recorded event: where it is and the hash that seals it."""

    stream_id: str
    stream_version: int
    global_position: int
    hash: str  # hex
    event_id: UUID
    recorded_at: datetime
    leaf_index: int | None = None
    """The event's leaf in its alliance's transparency log (events/log.py); None for a stream of no alliance."""


class StreamHead(BaseModel):
    """The last event of a stream: version 0 and the genesis hash when the stream is empty."""

    stream_id: str
    version: int
    hash: str  # hex


class GlobalCheckpoint(BaseModel):
    """Where a reader of the global log stands: after this (transaction_id, global_position)."""

    model_config = ConfigDict(frozen=True)  # used as a default argument, so never mutated

    transaction_id: int = 0
    global_position: int = 0


class BrokenStream(BaseModel):
    """The first version of a stream whose chain does not hold, and why."""

    stream_id: str
    version: int
    reason: str


class VerifyReport(BaseModel):
    """Result of recomputing hash chains."""

    events_checked: int
    streams_checked: int
    broken: list[BrokenStream]

    @computed_field  # type: ignore[prop-decorator]  # mypy takes no decorator above @property; pydantic's documented way
    @property
    def ok(self) -> bool:
        return not self.broken


class StoredEvent(BaseModel):
    """An event as the store holds it, in a form a workflow can carry (the hash in hex)."""

    stream_id: str
    stream_version: int
    global_position: int
    event_id: UUID
    event_type: str
    data: dict[str, Any]
    metadata: dict[str, Any]
    recorded_at: datetime
    hash: str
    leaf_index: int | None = None

    def receipt(self) -> Receipt:
        return Receipt(
            stream_id=self.stream_id, stream_version=self.stream_version, global_position=self.global_position,
            hash=self.hash, event_id=self.event_id, recorded_at=self.recorded_at, leaf_index=self.leaf_index,
        )


class Break(BaseModel):
    """Where a stream stops being the one its writer holds: the first version that does not follow."""

    version: int
    event_type: str | None = None
    reason: str


class AppendOutcome(BaseModel):
    """What :meth:`EventStore.append_after` found: the events written (``receipts``); or the stream
    already beyond the writer's head, with the events after it that chain on from it (``ahead``); and,
    where the stream does not follow the writer's head at all, where and why (``broken``)."""

    receipts: list[Receipt] = []
    ahead: list[StoredEvent] = []
    broken: Break | None = None


class ConcurrencyError(AccordError):
    """The stream is not where the writer expected it, or an event id is already taken."""

    def __init__(self, message: str, *, stream_id: str, expected_version: int, actual_version: int):
        super().__init__(message)
        self.stream_id = stream_id
        self.expected_version = expected_version
        self.actual_version = actual_version


# --------------------------------------------------------------------------------------------
# SQL
# --------------------------------------------------------------------------------------------

_EVENT_COLUMNS = """
    global_position, stream_id, stream_version, event_id, event_type,
    data::text AS data, metadata::text AS metadata, recorded_at, transaction_id, prev_hash, hash
"""

# The clock comes from the database so that every writer stamps events with the same clock.
_HEAD_SQL = """
SELECT clock_timestamp() AS now, h.stream_version, h.hash, h.recorded_at
FROM (SELECT) AS one
LEFT JOIN LATERAL (
    SELECT stream_version, hash, recorded_at FROM accord.events
    WHERE stream_id = $1 ORDER BY stream_version DESC LIMIT 1
) AS h ON true
"""

# One statement for the whole batch. ORDER BY makes global positions follow stream versions.
_INSERT_SQL = """
INSERT INTO accord.events
    (stream_id, stream_version, event_id, event_type, data, metadata, recorded_at, prev_hash, hash)
SELECT $1, u.version, u.event_id, u.event_type, u.data::jsonb, u.metadata::jsonb, $2,
       u.prev_hash, u.hash
FROM unnest($3::int[], $4::uuid[], $5::text[], $6::text[], $7::text[], $8::bytea[], $9::bytea[])
     AS u(version, event_id, event_type, data, metadata, prev_hash, hash)
ORDER BY u.version
RETURNING stream_version, global_position
"""

_TAIL_SQL = f"""
SELECT {_EVENT_COLUMNS}, leaf_index FROM accord.events LEFT JOIN accord.log_leaves USING (global_position)
WHERE stream_id = $1 AND stream_version BETWEEN $2 AND $3
ORDER BY stream_version
"""

_READ_STREAM_SQL = f"""
SELECT {_EVENT_COLUMNS} FROM accord.events
WHERE stream_id = $1 AND stream_version >= $2
  AND ($3::int IS NULL OR stream_version <= $3)
  AND ($4::timestamptz IS NULL OR recorded_at <= $4)
ORDER BY stream_version
"""

# The events' leaves in their alliance's log (see "Why leaves are numbered in the append" above). The next
# indices come from the alliance's row of accord.logs, which the upsert locks until the transaction ends.
# The alliance is the one the stream's name gives, or else the one its process's read model names.
def _sequence_ctes(n: int, after: str = "") -> str:
    """The CTEs `target` and `seq` (alliance, first leaf index), with the alliance, model, key and count of
    events as parameters $n .. $n+3. With `after` (a CTE's name), the alliance's row is taken only once that
    CTE's rows are all made: the events' own insert, whose unique-index waits must come before the row lock
    (else two appends racing for one stream version could each hold what the other waits for)."""
    wait = f" AND (SELECT count(*) FROM {after}) = ${n + 3}" if after else ""
    return f"""
target AS (
    SELECT coalesce(${n}::text, (SELECT alliance_id FROM accord.read_models WHERE model = ${n + 1} AND key = ${n + 2}))
        AS alliance_id
), seq AS (
    INSERT INTO accord.logs AS log (alliance_id, size)
    SELECT alliance_id, ${n + 3} FROM target WHERE alliance_id IS NOT NULL{wait}
    ON CONFLICT (alliance_id) DO UPDATE SET size = log.size + ${n + 3}
    RETURNING log.alliance_id, log.size - ${n + 3} AS first
)"""


# An append that runs alone: the events and their leaves in one statement, its own transaction.
_INSERT_SEQUENCED_SQL = f"""
WITH ins AS ({_INSERT_SQL.strip()}), {_sequence_ctes(10, after="ins")}, leaves AS (
    INSERT INTO accord.log_leaves (alliance_id, leaf_index, global_position)
    SELECT seq.alliance_id, seq.first + row_number() OVER (ORDER BY ins.global_position) - 1, ins.global_position
    FROM seq, ins
    RETURNING global_position, leaf_index
)
SELECT ins.stream_version, ins.global_position, leaves.leaf_index FROM ins LEFT JOIN leaves USING (global_position)
"""

# An append with more to write in its transaction: the leaves last, so that the alliance's row is locked
# only while the transaction commits.
_SEQUENCE_SQL = f"""
WITH {_sequence_ctes(1)}
INSERT INTO accord.log_leaves (alliance_id, leaf_index, global_position)
SELECT seq.alliance_id, seq.first + p.ord - 1, p.position
FROM seq, unnest($5::bigint[]) WITH ORDINALITY AS p(position, ord)
RETURNING global_position, leaf_index
"""

# See the module docstring: only transactions below the snapshot's xmin are certainly finished.
_AFTER_CHECKPOINT = """
WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())
  AND (transaction_id, global_position) > ($1::xid8, $2::bigint)
ORDER BY transaction_id, global_position
LIMIT $3
"""

_READ_ALL_SQL = f"SELECT {_EVENT_COLUMNS} FROM accord.events {_AFTER_CHECKPOINT}"

# What folding needs and no more: the schema version is picked out of the metadata by the server.
_READ_LOG_SQL = f"""
SELECT global_position, transaction_id, stream_id, stream_version, event_type,
       coalesce((metadata->>'schema_version')::int, 1) AS schema_version, data::text AS data
FROM accord.events {_AFTER_CHECKPOINT}"""

_VERIFY_SQL = """
SELECT stream_id, stream_version, event_id, event_type, data::text AS data,
       metadata::text AS metadata, recorded_at, prev_hash, hash
FROM accord.events
WHERE ($1::text IS NULL OR starts_with(stream_id, $1)) AND ($2::text[] IS NULL OR stream_id = ANY($2))
ORDER BY stream_id, stream_version
"""


# --------------------------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Head:
    version: int
    hash: bytes
    recorded_at: datetime | None
    now: datetime


class EventStore:
    """Append-only, hash-chained event streams in ``accord.events``."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @property
    def pool(self) -> asyncpg.Pool:
        return self._pool

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        *,
        extra: Extra | None = None,
    ) -> list[Receipt]:
        """Append ``events`` after version ``expected_version`` of the stream, atomically.

        Idempotent: if exactly these event ids already sit at versions ``expected_version + 1``
        onwards (a retry whose first attempt committed), nothing is written, ``extra`` is not run
        again, and the stored receipts are returned. Otherwise a stream that is not at
        ``expected_version`` raises :class:`ConcurrencyError`.

        ``extra`` runs in the same transaction after the events are inserted (e.g. to write
        outbox rows that must commit, or not, with the events).
        """
        _validate_append(stream_id, expected_version, events)
        async with self._pool.acquire() as conn:
            head = await _read_head(conn, stream_id)
            if head.version != expected_version:
                return await _replay_or_conflict(conn, stream_id, expected_version, events)
            rows = _chain(stream_id, head, events)
            try:
                return await _insert(conn, stream_id, rows, extra)
            except asyncpg.UniqueViolationError:
                # Another writer got there between our head check and our insert (or an event
                # id is taken elsewhere). Its rows are committed now: look at what they are.
                return await _replay_or_conflict(conn, stream_id, expected_version, events)

    async def append_after(
        self, head: StreamHead, events: Sequence[NewEvent], *, extra: Extra | None = None, limit: int = 200
    ) -> AppendOutcome:
        """Append ``events`` after ``head`` (version *and* hash), or say what the stream holds instead.

        This is the workflows' append (see docs/design.md, "The commit protocol"). When the stream's
        head is exactly ``head``, the events are written (``receipts``). Otherwise nothing is written:

        - a retry of an append that is stored already, with the same ids *and* the same content, gets
          the stored receipts (and ``extra`` is not run again);
        - when the stream goes on beyond ``head``, ``ahead`` holds the next events (at most ``limit``)
          that chain on from it, for the writer to adopt or reject; the same ids with other content
          are not a retry, and come back here too, never as receipts;
        - when the stream does not follow ``head`` (it is shorter, its event at ``head.version`` is
          another, or an event after it does not chain), ``broken`` says where and why, with the
          events before that point in ``ahead``.

        With no ``events`` it only looks: receipts stay empty when the stream is at ``head``.
        """
        if events:
            _validate_append(head.stream_id, head.version, events)
        async with self._pool.acquire() as conn:
            stored = await _read_head(conn, head.stream_id)
            if stored.version == head.version and stored.hash.hex() == head.hash:
                if not events:
                    return AppendOutcome()
                try:
                    return AppendOutcome(receipts=await _insert(conn, head.stream_id, _chain(head.stream_id, stored, events), extra))
                except asyncpg.UniqueViolationError:
                    pass  # another writer (an earlier attempt of this one) got there first: see what it wrote
            return await _beyond(conn, head, events, limit)

    async def head(self, stream_id: str) -> StreamHead:
        """The stream's last version and hash (0 and the genesis hash for an empty stream)."""
        async with self._pool.acquire() as conn:
            head = await _read_head(conn, stream_id)
        return StreamHead(stream_id=stream_id, version=head.version, hash=head.hash.hex())

    async def read_stream(
        self,
        stream_id: str,
        *,
        from_version: int = 1,
        to_version: int | None = None,
        as_of: datetime | None = None,
    ) -> list[RecordedEvent]:
        """Events of one stream in version order, optionally only those recorded by ``as_of``."""
        if as_of is not None and as_of.utcoffset() is None:
            raise ValueError("as_of must be timezone-aware; a naive time is ambiguous")
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(_READ_STREAM_SQL, stream_id, from_version, to_version, as_of)
        return [_recorded(row) for row in rows]

    async def read_all(
        self, after: GlobalCheckpoint = GlobalCheckpoint(), *, limit: int = 1000
    ) -> tuple[list[RecordedEvent], GlobalCheckpoint]:
        """The next events of the global log after ``after``, and the checkpoint to resume from.

        Gap-free: an event that commits late is never skipped (see the module docstring). When
        nothing new is readable the same checkpoint comes back.
        """
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                _READ_ALL_SQL, after.transaction_id, after.global_position, limit
            )
        events = [_recorded(row) for row in rows]
        return events, _checkpoint_after(events, after)

    async def read_log(
        self, after: GlobalCheckpoint = GlobalCheckpoint(), *, limit: int = 5000
    ) -> tuple[list[LogRow], GlobalCheckpoint]:
        """:meth:`read_all` for rebuilding state at speed: the same events in the same order and
        pages, each as a :class:`LogRow` (no metadata, hashes or validation; data as JSON text)."""
        async with self._pool.acquire() as conn:
            return await read_log_page(conn, after, limit=limit)

    async def verify(
        self, *, stream_prefix: str | None = None, streams: Sequence[str] | None = None
    ) -> VerifyReport:
        """Recompute the hash chain of every stream (or those starting with ``stream_prefix``, or
        exactly ``streams``).

        Streams through the table with a server-side cursor; memory stays flat however many
        events there are. Reports, for each broken stream, the first version that does not hold.
        A chain cannot show that its newest events were removed: compare :meth:`head` with a
        head kept elsewhere (a receipt, the workflow's history) for that.
        """
        checker = _ChainChecker()
        async with self._pool.acquire() as conn:
            async for row in _stream_rows(conn, stream_prefix, streams):
                checker.check(row)
        return checker.report()


# --------------------------------------------------------------------------------------------
# append
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    version: int
    event: NewEvent
    data_json: str
    metadata_json: str
    recorded_at: datetime
    prev_hash: bytes
    hash: bytes


def _validate_append(stream_id: str, expected_version: int, events: Sequence[NewEvent]) -> None:
    if not stream_id:
        raise ValueError("stream_id must not be empty")
    if expected_version < 0:
        raise ValueError(
            f"expected_version must be 0 (empty stream) or more, got {expected_version}"
        )
    if not events:
        raise ValueError(f"nothing to append to stream {stream_id!r}: the events list is empty")
    ids = [event.event_id for event in events]
    if len(set(ids)) != len(ids):
        raise ValueError(f"the events for stream {stream_id!r} repeat an event_id")


async def _read_head(conn: Connection, stream_id: str) -> _Head:
    row = await conn.fetchrow(_HEAD_SQL, stream_id)
    assert row is not None  # the query always returns exactly one row
    if row["stream_version"] is None:
        return _Head(version=0, hash=GENESIS_HASH, recorded_at=None, now=row["now"])
    return _Head(
        version=row["stream_version"],
        hash=bytes(row["hash"]),
        recorded_at=row["recorded_at"],
        now=row["now"],
    )


def _chain(stream_id: str, head: _Head, events: Sequence[NewEvent]) -> list[_Row]:
    """Stamp, canonicalise and hash the events on top of ``head``."""
    # Never earlier than the stream's last event, even if database clocks step back (failover),
    # so that "the stream as of T" is always a prefix of the stream.
    recorded_at = max(head.now, head.recorded_at or head.now)
    recorded_at_text = format_recorded_at(recorded_at)
    rows: list[_Row] = []
    prev_hash = head.hash
    for offset, event in enumerate(events, start=1):
        # JSON mode turns UUIDs, datetimes, enums... into the JSON values that get stored.
        payload = event.model_dump(mode="json", include={"data", "metadata"})
        version = head.version + offset
        # The canonical text is valid JSON: it is what the jsonb columns receive, and the event's
        # canonical bytes are assembled from it, so each value is serialised once.
        data_json, metadata_json = canonical_json(payload["data"]), canonical_json(payload["metadata"])
        canonical = envelope_bytes(
            stream_id, version, event.event_id, event.event_type, data_json, metadata_json, recorded_at_text
        )
        digest = chain_hash(prev_hash, canonical)
        rows.append(
            _Row(
                version=version,
                event=event,
                data_json=data_json,
                metadata_json=metadata_json,
                recorded_at=recorded_at,
                prev_hash=prev_hash,
                hash=digest,
            )
        )
        prev_hash = digest
    return rows


async def _insert(
    conn: Connection, stream_id: str, rows: list[_Row], extra: Extra | None
) -> list[Receipt]:
    args = (
        stream_id,
        rows[0].recorded_at,
        [row.version for row in rows],
        [row.event.event_id for row in rows],
        [row.event.event_type for row in rows],
        [row.data_json for row in rows],
        [row.metadata_json for row in rows],
        [row.prev_hash for row in rows],
        [row.hash for row in rows],
    )
    projected = consumed(stream_id, (row.event.event_type for row in rows))
    log = log_of(stream_id)
    sequence = (log.alliance_id, log.model, log.key, len(rows)) if log is not None else None
    leaves: dict[int, int] = {}
    if extra is None and not projected:
        # A single statement is its own transaction: no BEGIN/COMMIT round trips needed.
        inserted = await conn.fetch(_INSERT_SEQUENCED_SQL if sequence else _INSERT_SQL, *args, *(sequence or ()))
        positions = _positions(inserted)
        leaves = {r["global_position"]: r["leaf_index"] for r in inserted if sequence and r["leaf_index"] is not None}
    else:
        async with conn.transaction():
            positions = _positions(await conn.fetch(_INSERT_SQL, *args))
            if extra is not None:
                await extra(conn)
            if projected:  # the read models, in the same transaction (events/projector.py)
                await project(conn, stream_id, [
                    Fed(row.event.event_type, int(row.event.metadata.get("schema_version", 1)), row.data_json,
                        positions[row.version], row.version)
                    for row in rows
                ])
            if sequence:
                sequenced = await conn.fetch(_SEQUENCE_SQL, *sequence, [positions[row.version] for row in rows])
                leaves = {r["global_position"]: r["leaf_index"] for r in sequenced}
    return [
        Receipt(
            stream_id=stream_id,
            stream_version=row.version,
            global_position=positions[row.version],
            hash=row.hash.hex(),
            event_id=row.event.event_id,
            recorded_at=row.recorded_at,
            leaf_index=leaves.get(positions[row.version]),
        )
        for row in rows
    ]


def _positions(inserted: list[asyncpg.Record]) -> dict[int, int]:
    """Each inserted version's global position."""
    return {r["stream_version"]: r["global_position"] for r in inserted}


async def _replay_or_conflict(
    conn: Connection,
    stream_id: str,
    expected_version: int,
    events: Sequence[NewEvent],
) -> list[Receipt]:
    """Receipts of an append that is already stored, or the ConcurrencyError explaining why not."""
    first, last = expected_version + 1, expected_version + len(events)
    stored = await conn.fetch(_TAIL_SQL, stream_id, first, last)
    if _same_events(stored, events):
        return [_stored_receipt(stream_id, row) for row in stored]
    head = await _read_head(conn, stream_id)
    message = await _conflict_message(
        conn, stream_id, expected_version, head.version, events, stored
    )
    raise ConcurrencyError(
        message,
        stream_id=stream_id,
        expected_version=expected_version,
        actual_version=head.version,
    )


async def _beyond(conn: Connection, head: StreamHead, events: Sequence[NewEvent], limit: int) -> AppendOutcome:
    """The stream is not at ``head``: the receipts of ``events`` if exactly they are stored after it,
    otherwise what follows ``head`` and where the stream stops following it."""
    stream_id = head.stream_id
    rows = await conn.fetch(_TAIL_SQL, stream_id, head.version, head.version + limit)
    prev_hash = GENESIS_HASH
    if head.version > 0:
        if not rows or rows[0]["stream_version"] != head.version:
            current = await _read_head(conn, stream_id)
            return AppendOutcome(broken=Break(
                version=current.version + 1,
                reason=f"the stream ends at version {current.version}, but version {head.version} was recorded "
                f"(hash {head.hash[:16]}...): events were removed",
            ))
        at_head, rows = rows[0], rows[1:]
        if bytes(at_head["hash"]).hex() != head.hash:
            return AppendOutcome(broken=Break(
                version=head.version, event_type=at_head["event_type"],
                reason=f"the event at version {head.version} has hash {bytes(at_head['hash']).hex()[:16]}..., but "
                f"the one recorded there had {head.hash[:16]}...: the stream was rewritten at or before this version",
            ))
        prev_hash = bytes(at_head["hash"])
    ahead: list[StoredEvent] = []
    for row in rows:
        fault = _link_fault(row, head.version + len(ahead) + 1, prev_hash)
        if fault is not None:
            return AppendOutcome(ahead=ahead, broken=Break(version=row["stream_version"], event_type=row["event_type"], reason=fault))
        ahead.append(_stored_event(row))
        prev_hash = bytes(row["hash"])
    if events and _same_events(rows, events):
        return AppendOutcome(receipts=[event.receipt() for event in ahead[: len(events)]])
    if not ahead and events:
        # The stream is at the writer's head after all, yet the insert met a unique key: an event id that
        # is recorded already, elsewhere. Writing it again can never succeed.
        raise ValueError(await _taken_id_message(conn, f"cannot append to stream {stream_id!r}", events))
    return AppendOutcome(ahead=ahead)


def _same_events(rows: Sequence[asyncpg.Record], events: Sequence[NewEvent]) -> bool:
    """Whether ``events`` are exactly the first stored ``rows``: the same ids and the same content
    (their hashes recomputed with the stored time and links come out as stored)."""
    if len(rows) < len(events):
        return False
    for row, event in zip(rows, events, strict=False):
        if row["event_id"] != event.event_id or row["event_type"] != event.event_type:
            return False
        payload = event.model_dump(mode="json", include={"data", "metadata"})
        canonical = envelope_bytes(
            row["stream_id"], row["stream_version"], event.event_id, event.event_type,
            canonical_json(payload["data"]), canonical_json(payload["metadata"]), format_recorded_at(row["recorded_at"]),
        )
        if chain_hash(bytes(row["prev_hash"]), canonical) != bytes(row["hash"]):
            return False
    return True


def _stored_event(row: asyncpg.Record) -> StoredEvent:
    return StoredEvent(
        stream_id=row["stream_id"], stream_version=row["stream_version"], global_position=row["global_position"],
        event_id=row["event_id"], event_type=row["event_type"], data=load_json(row["data"]),
        metadata=load_json(row["metadata"]), recorded_at=row["recorded_at"], hash=bytes(row["hash"]).hex(),
        leaf_index=row["leaf_index"],
    )


def _stored_receipt(stream_id: str, row: asyncpg.Record) -> Receipt:
    return Receipt(
        stream_id=stream_id,
        stream_version=row["stream_version"],
        global_position=row["global_position"],
        hash=bytes(row["hash"]).hex(),
        event_id=row["event_id"],
        recorded_at=row["recorded_at"],
        leaf_index=row["leaf_index"],
    )


async def _conflict_message(
    conn: Connection,
    stream_id: str,
    expected_version: int,
    actual_version: int,
    events: Sequence[NewEvent],
    stored: list[asyncpg.Record],
) -> str:
    where = f"cannot append to stream {stream_id!r}"
    if len(stored) == len(events) and [row["event_id"] for row in stored] == [event.event_id for event in events]:
        return (
            f"{where}: versions {expected_version + 1}..{expected_version + len(events)} hold events with these ids "
            f"but other content; a retried append must repeat exactly the same events"
        )
    for event, row in zip(events, stored, strict=False):
        if row["event_id"] != event.event_id:
            return (
                f"{where}: version {row['stream_version']} is already taken by event "
                f"{row['event_id']} ({row['event_type']}), not {event.event_id} "
                f"({event.event_type}); expected version {expected_version}, "
                f"the stream is at version {actual_version}"
            )
    if stored:
        return (
            f"{where}: the first {len(stored)} of these {len(events)} events are already stored "
            f"at versions {expected_version + 1}..{expected_version + len(stored)} but the rest "
            f"are not; a retried append must repeat exactly the same batch "
            f"(expected version {expected_version}, the stream is at version {actual_version})"
        )
    if expected_version != actual_version:
        return (
            f"{where}: expected version {expected_version} but the stream is at version "
            f"{actual_version}"
        )
    return await _taken_id_message(conn, where, events)


async def _taken_id_message(
    conn: Connection, where: str, events: Sequence[NewEvent]
) -> str:
    """The stream is where the writer expected, so an event id must be recorded elsewhere."""
    row = await conn.fetchrow(
        "SELECT event_id, stream_id, stream_version FROM accord.events "
        "WHERE event_id = ANY($1::uuid[]) ORDER BY global_position LIMIT 1",
        [event.event_id for event in events],
    )
    if row is None:  # the conflicting writer rolled back; the caller may simply retry
        return f"{where}: a concurrent append to the same stream conflicted; retry"
    return (
        f"{where}: event {row['event_id']} is already recorded as version "
        f"{row['stream_version']} of stream {row['stream_id']!r}"
    )


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------


def _checkpoint_after(events: Sequence[RecordedEvent | LogRow], after: GlobalCheckpoint) -> GlobalCheckpoint:
    if not events:
        return after
    last = events[-1]
    return GlobalCheckpoint(transaction_id=last.transaction_id, global_position=last.global_position)


def _recorded(row: asyncpg.Record) -> RecordedEvent:
    return RecordedEvent(
        global_position=row["global_position"],
        stream_id=row["stream_id"],
        stream_version=row["stream_version"],
        event_id=row["event_id"],
        event_type=row["event_type"],
        data=load_json(row["data"]),
        metadata=load_json(row["metadata"]),
        recorded_at=row["recorded_at"],
        transaction_id=row["transaction_id"],
        prev_hash=bytes(row["prev_hash"]),
        hash=bytes(row["hash"]),
    )


# --------------------------------------------------------------------------------------------
# verify
# --------------------------------------------------------------------------------------------


async def _stream_rows(
    conn: Connection, stream_prefix: str | None, streams: Sequence[str] | None
) -> AsyncIterator[asyncpg.Record]:
    # Cursors need a transaction; REPEATABLE READ gives the whole walk one consistent snapshot.
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        selected = list(streams) if streams is not None else None
        async for row in conn.cursor(_VERIFY_SQL, stream_prefix, selected, prefetch=_VERIFY_BATCH):
            yield row


class _ChainChecker:
    """Walks rows ordered by (stream_id, stream_version) and records the first break per stream."""

    def __init__(self) -> None:
        self.events = 0
        self.streams = 0
        self.broken: list[BrokenStream] = []
        self._stream: str | None = None
        self._next_version = 1
        self._prev_hash = GENESIS_HASH
        self._stream_broken = False

    def check(self, row: asyncpg.Record) -> None:
        self.events += 1
        if row["stream_id"] != self._stream:
            self._start(row["stream_id"])
        if self._stream_broken:
            return
        reason = self._fault(row)
        if reason is not None:
            self.broken.append(
                BrokenStream(stream_id=row["stream_id"], version=self._next_version, reason=reason)
            )
            self._stream_broken = True
            return
        self._next_version += 1
        self._prev_hash = bytes(row["hash"])

    def report(self) -> VerifyReport:
        return VerifyReport(
            events_checked=self.events, streams_checked=self.streams, broken=self.broken
        )

    def _start(self, stream_id: str) -> None:
        self.streams += 1
        self._stream = stream_id
        self._next_version = 1
        self._prev_hash = GENESIS_HASH
        self._stream_broken = False

    def _fault(self, row: asyncpg.Record) -> str | None:
        return _link_fault(row, self._next_version, self._prev_hash)


def _link_fault(row: asyncpg.Record, version: int, prev_hash: bytes) -> str | None:
    """Why this row breaks its stream's chain where ``version`` should follow ``prev_hash``, or None."""
    stored = row["stream_version"]
    if stored != version:
        return f"version gap: version {version} is missing (the next stored version is {stored})"
    if bytes(row["prev_hash"]) != prev_hash:
        link = f"version {version - 1}" if version > 1 else "the genesis hash"
        return f"prev_hash does not link to {link}"
    try:
        recomputed = _recompute(row)
    except ValueError as error:  # e.g. a number no event could have been recorded with
        return f"hash mismatch: the event's content cannot be canonicalised ({error})"
    if recomputed != bytes(row["hash"]):
        return "hash mismatch: the stored hash does not match the event's content"
    return None


def _recompute(row: asyncpg.Record) -> bytes:
    canonical = canonical_bytes(
        row["stream_id"], row["stream_version"], row["event_id"], row["event_type"],
        load_json(row["data"]), load_json(row["metadata"]), row["recorded_at"],
    )  # fmt: skip
    return chain_hash(bytes(row["prev_hash"]), canonical)


async def read_log_page(
    conn: Connection, after: GlobalCheckpoint = GlobalCheckpoint(), *, limit: int = 5000
) -> tuple[list[LogRow], GlobalCheckpoint]:
    """One page of :meth:`EventStore.read_log`, on a connection of the caller's (and in its transaction)."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    rows = await conn.fetch(_READ_LOG_SQL, after.transaction_id, after.global_position, limit)
    log = [LogRow(*row) for row in rows]
    return log, _checkpoint_after(log, after)
