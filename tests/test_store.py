"""The event store against a real PostgreSQL: appends, idempotency, concurrency, reads, tailing,
hash chains, tamper detection and the append-only guarantees."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
from decision_support import eventually

from events.hashing import (
    GENESIS_HASH,
    canonical_bytes,
    chain_hash,
    format_recorded_at,
    load_json,
)
from events.store import (
    AppendOutcome,
    ConcurrencyError,
    EventStore,
    GlobalCheckpoint,
    NewEvent,
    Receipt,
    RecordedEvent,
    StreamHead,
)


def new_event(event_type: str = "PointProposed", **data: Any) -> NewEvent:
    return NewEvent(
        event_id=uuid4(),
        event_type=event_type,
        data=data or {"point": "climate", "n": 1},
        metadata={"actor": "member-1", "workflow_id": "decision-1", "schema_version": 1},
    )


def new_events(count: int) -> list[NewEvent]:
    return [new_event(n=i) for i in range(count)]


async def count_rows(pool: asyncpg.Pool, stream_id: str) -> int:
    return int(
        await pool.fetchval("SELECT count(*) FROM accord.events WHERE stream_id = $1", stream_id)
    )


async def tamper(db_url: str, sql: str, *args: Any) -> None:
    """What only a superuser can do: change accord.events with the append-only triggers off."""
    conn = await asyncpg.connect(db_url)
    try:
        async with conn.transaction():
            await conn.execute("ALTER TABLE accord.events DISABLE TRIGGER USER")
            await conn.execute(sql, *args)
            await conn.execute("ALTER TABLE accord.events ENABLE TRIGGER USER")
    finally:
        await conn.close()


# --------------------------------------------------------------------------------------------
# hashing
# --------------------------------------------------------------------------------------------


def test_canonical_bytes_known_answer() -> None:
    event_id = UUID("0B0C0D0E-0000-4000-8000-00000000000A")
    at = datetime(2025, 1, 2, 4, 4, 5, tzinfo=timezone(timedelta(hours=1)))
    canonical = canonical_bytes(
        "decision-7", 1, event_id, "PointProposed", {"b": 1, "a": [0.1, True]}, {}, at
    )
    assert canonical == (
        b'{"data":{"a":[0.1,true],"b":1},"event_id":"0b0c0d0e-0000-4000-8000-00000000000a",'
        b'"event_type":"PointProposed","metadata":{},"recorded_at":"2025-01-02T03:04:05.000000Z",'
        b'"stream_id":"decision-7","stream_version":1}'
    )
    assert chain_hash(GENESIS_HASH, canonical) == hashlib.sha256(bytes(32) + canonical).digest()


def test_recorded_at_must_be_aware_and_keeps_six_fraction_digits() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        format_recorded_at(datetime(2025, 1, 1))
    at = datetime(2025, 1, 1, 0, 0, 0, 120, tzinfo=UTC)
    assert format_recorded_at(at) == "2025-01-01T00:00:00.000120Z"


def test_canonical_bytes_refuses_what_json_cannot_carry_exactly() -> None:
    at = datetime.now(UTC)
    for bad in ({"x": float("nan")}, {"x": 2**53}, {"x": {1: "int key"}}):
        with pytest.raises(ValueError):  # noqa: PT011 - the message is rfc8785's or the encoder's, whichever refuses
            canonical_bytes("s", 1, uuid4(), "T", bad, {}, at)


TRICKY_DATA: dict[str, Any] = {
    "zeta": 1,
    "alpha": {"nested": [1, 2.5, {"deep": True, "deeper": {"z": None, "a": []}}], "é": "ünï 😀"},
    "tenth": 0.1,
    "two_thirds": 2 / 3,
    "big_float": 1e20,
    "tiny": 1e-7,
    "neg_zero": -0.0,
    "max_int": 2**53 - 1,
    "min_int": -(2**53) + 1,
    "flags": [True, False, None],
    "text": 'quote " backslash \\ newline \n tab \t \u2028',
    "日本": "keys sort by UTF-16 code units",
    "\U0001f600": "astral key",
}


async def test_hash_survives_a_round_trip_through_jsonb(
    store: EventStore, pool: asyncpg.Pool
) -> None:
    event = NewEvent(
        event_id=uuid4(), event_type="Tricky", data=TRICKY_DATA, metadata={"nested": TRICKY_DATA}
    )
    [receipt] = await store.append("tricky-1", 0, [event])

    row = await pool.fetchrow(
        "SELECT data::text AS data, metadata::text AS metadata, recorded_at, hash "
        "FROM accord.events WHERE stream_id = 'tricky-1'"
    )
    assert row["data"] != json.dumps(TRICKY_DATA)  # jsonb really did rewrite it
    recomputed = chain_hash(
        GENESIS_HASH,
        canonical_bytes(
            "tricky-1", 1, event.event_id, "Tricky",
            load_json(row["data"]), load_json(row["metadata"]), row["recorded_at"],
        ),
    )  # fmt: skip
    assert recomputed == bytes(row["hash"]) == bytes.fromhex(receipt.hash)
    assert (await store.verify()).ok


async def test_json_values_are_stored_as_json(store: EventStore) -> None:
    """UUIDs and datetimes in a payload are stored (and hashed) as their JSON strings."""
    when = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
    ref = uuid4()
    event = NewEvent(event_id=uuid4(), event_type="T", data={"ref": ref, "when": when})
    await store.append("json-1", 0, [event])
    [stored] = await store.read_stream("json-1")
    assert stored.data == {"ref": str(ref), "when": "2025-05-01T12:00:00Z"}
    assert (await store.verify()).ok


# --------------------------------------------------------------------------------------------
# append and read back
# --------------------------------------------------------------------------------------------


async def test_append_and_read_back(store: EventStore) -> None:
    events = new_events(3)
    receipts = await store.append("decision-1", 0, events)

    assert [r.stream_version for r in receipts] == [1, 2, 3]
    assert [r.event_id for r in receipts] == [e.event_id for e in events]
    positions = [r.global_position for r in receipts]
    assert positions == sorted(positions) and len(set(positions)) == 3
    assert len({r.recorded_at for r in receipts}) == 1  # one batch, one time
    assert receipts[0].recorded_at.utcoffset() == timedelta(0)

    stored = await store.read_stream("decision-1")
    assert [(e.event_id, e.event_type, e.data, e.metadata) for e in stored] == [
        (e.event_id, e.event_type, e.data, e.metadata) for e in events
    ]
    assert [e.global_position for e in stored] == positions
    assert stored[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(stored):
        assert after.prev_hash == before.hash
    assert [e.hash.hex() for e in stored] == [r.hash for r in receipts]

    head = await store.head("decision-1")
    assert (head.version, head.hash) == (3, receipts[-1].hash)

    more = await store.append("decision-1", 3, [new_event()])
    assert more[0].stream_version == 4
    assert (await store.read_stream("decision-1"))[3].prev_hash.hex() == receipts[-1].hash


async def test_head_of_an_empty_stream(store: EventStore) -> None:
    head = await store.head("decision-none")
    assert (head.stream_id, head.version, head.hash) == ("decision-none", 0, GENESIS_HASH.hex())


@pytest.mark.parametrize(
    ("stream_id", "expected_version", "events", "message"),
    [
        ("", 0, [new_event()], "stream_id must not be empty"),
        ("s", -1, [new_event()], "expected_version must be 0 .* got -1"),
        ("s", 0, [], "the events list is empty"),
        ("s", 0, [new_event()] * 2, "repeat an event_id"),
    ],
)
async def test_append_validates_its_input(
    store: EventStore, stream_id: str, expected_version: int, events: list[NewEvent], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        await store.append(stream_id, expected_version, events)


async def test_recorded_at_never_goes_back_within_a_stream(store: EventStore) -> None:
    first = await store.append("clock-1", 0, [new_event()])
    second = await store.append("clock-1", 1, [new_event()])
    assert second[0].recorded_at >= first[0].recorded_at


# --------------------------------------------------------------------------------------------
# idempotency
# --------------------------------------------------------------------------------------------


async def test_a_repeated_activity_attempt_writes_nothing(
    store: EventStore, pool: asyncpg.Pool
) -> None:
    events = new_events(3)
    outbox_writes = 0

    async def outbox(conn: asyncpg.Connection) -> None:
        nonlocal outbox_writes
        outbox_writes += 1

    first = await store.append("decision-2", 0, events, extra=outbox)
    again = await store.append("decision-2", 0, events, extra=outbox)

    assert again == first
    assert await count_rows(pool, "decision-2") == 3
    assert outbox_writes == 1  # the retry must not notify twice


async def test_a_retry_of_part_of_a_stored_batch_returns_the_stored_receipts(
    store: EventStore,
) -> None:
    events = new_events(3)
    stored = await store.append("decision-3", 0, events)
    assert await store.append("decision-3", 1, events[1:2]) == stored[1:2]


async def test_a_batch_that_only_partly_overlaps_the_stored_one_is_refused(
    store: EventStore, pool: asyncpg.Pool
) -> None:
    events = new_events(2)
    await store.append("decision-4", 0, events)
    with pytest.raises(ConcurrencyError, match="first 2 of these 3 events are already stored"):
        await store.append("decision-4", 0, [*events, new_event()])
    assert await count_rows(pool, "decision-4") == 2


async def test_a_retry_with_the_same_ids_but_other_content_is_refused(store: EventStore, pool: asyncpg.Pool) -> None:
    events = new_events(2)
    await store.append("decision-3b", 0, events)
    changed = [e.model_copy(update={"data": {"point": "changed"}}) for e in events]
    with pytest.raises(ConcurrencyError, match="hold events with these ids but other content"):
        await store.append("decision-3b", 0, changed)
    assert [e.data for e in await store.read_stream("decision-3b")] == [e.data for e in events]


# --------------------------------------------------------------------------------------------
# append after a head (the workflows' append)
# --------------------------------------------------------------------------------------------


class TestAppendAfter:
    """`append_after` writes only after the exact head (version and hash) its writer holds; otherwise
    it writes nothing and says what the stream holds."""

    async def test_at_the_head_it_appends(self, store: EventStore) -> None:
        first = await store.append_after(StreamHead(stream_id="decision-20", version=0, hash=GENESIS_HASH.hex()), new_events(2))
        assert [r.stream_version for r in first.receipts] == [1, 2]
        head = StreamHead(stream_id="decision-20", version=2, hash=first.receipts[-1].hash)
        again = await store.append_after(head, [new_event()])
        assert [r.stream_version for r in again.receipts] == [3]
        assert again.ahead == [] and again.broken is None

    async def test_a_retry_of_the_same_events_gets_their_receipts_and_writes_nothing(self, store: EventStore, pool: asyncpg.Pool) -> None:
        head = StreamHead(stream_id="decision-21", version=0, hash=GENESIS_HASH.hex())
        events = new_events(2)
        first = await store.append_after(head, events)
        assert await store.append_after(head, events) == first
        assert await count_rows(pool, "decision-21") == 2

    async def test_beyond_the_head_it_returns_what_follows_and_writes_nothing(self, store: EventStore, pool: asyncpg.Pool) -> None:
        head = StreamHead(stream_id="decision-22", version=0, hash=GENESIS_HASH.hex())
        stored = new_events(3)
        receipts = (await store.append_after(head, stored)).receipts
        # Another attempt with the same first id but other content, and one with other ids: neither is a retry.
        same_id = [stored[0].model_copy(update={"data": {"point": "other"}})]
        for other in (same_id, [new_event()]):
            outcome = await store.append_after(head, other)
            assert outcome.receipts == [] and outcome.broken is None
            assert [e.receipt() for e in outcome.ahead] == receipts
            assert [e.data for e in outcome.ahead] == [e.data for e in stored]
            assert outcome.ahead[0].metadata == stored[0].metadata
        assert await count_rows(pool, "decision-22") == 3
        assert len((await store.append_after(head, [new_event()], limit=2)).ahead) == 2

    async def test_a_probe_without_events_only_looks(self, store: EventStore) -> None:
        head = StreamHead(stream_id="decision-23", version=0, hash=GENESIS_HASH.hex())
        assert await store.append_after(head, []) == AppendOutcome()
        await store.append_after(head, [new_event()])
        assert len((await store.append_after(head, [])).ahead) == 1

    async def test_a_cut_stream_is_broken_where_it_ends(self, store: EventStore, db_url: str) -> None:
        receipts = (await store.append_after(StreamHead(stream_id="decision-24", version=0, hash=GENESIS_HASH.hex()), new_events(3))).receipts
        await tamper(db_url, "DELETE FROM accord.events WHERE stream_id = 'decision-24' AND stream_version = 3")
        outcome = await store.append_after(StreamHead(stream_id="decision-24", version=3, hash=receipts[-1].hash), [new_event()])
        assert outcome.receipts == [] and outcome.broken is not None
        assert outcome.broken.version == 3
        assert "the stream ends at version 2, but version 3 was recorded" in outcome.broken.reason

    async def test_a_rewritten_head_is_broken_there(self, store: EventStore, db_url: str) -> None:
        head = StreamHead(stream_id="decision-25", version=0, hash=GENESIS_HASH.hex())
        receipts = (await store.append_after(head, new_events(2))).receipts
        await tamper(db_url, "DELETE FROM accord.events WHERE stream_id = 'decision-25' AND stream_version = 2")
        await store.append(("decision-25"), 1, [new_event("PointWithdrawn")])  # a valid chain, another event
        outcome = await store.append_after(StreamHead(stream_id="decision-25", version=2, hash=receipts[-1].hash), [new_event()])
        assert outcome.broken is not None and (outcome.broken.version, outcome.broken.event_type) == (2, "PointWithdrawn")
        assert "the stream was rewritten at or before this version" in outcome.broken.reason

    async def test_an_event_after_the_head_that_does_not_chain_is_broken_with_the_good_ones_ahead(
        self, store: EventStore, db_url: str
    ) -> None:
        head = StreamHead(stream_id="decision-26", version=0, hash=GENESIS_HASH.hex())
        receipts = (await store.append_after(head, new_events(3))).receipts
        await tamper(db_url, "UPDATE accord.events SET data = '{\"point\": \"forged\"}' WHERE stream_id = 'decision-26' AND stream_version = 3")
        outcome = await store.append_after(head, [new_event()])
        assert [e.stream_version for e in outcome.ahead] == [1, 2]
        assert outcome.broken is not None and outcome.broken.version == 3
        assert outcome.broken.reason == "hash mismatch: the stored hash does not match the event's content"
        assert receipts  # what was stored before the forgery still chains

    async def test_an_event_id_recorded_elsewhere_is_refused_for_good(self, store: EventStore) -> None:
        event = new_event()
        await store.append_after(StreamHead(stream_id="decision-27", version=0, hash=GENESIS_HASH.hex()), [event])
        with pytest.raises(ValueError, match=f"event {event.event_id} is already recorded as version 1 of stream 'decision-27'"):
            await store.append_after(StreamHead(stream_id="decision-28", version=0, hash=GENESIS_HASH.hex()), [event])


# --------------------------------------------------------------------------------------------
# optimistic concurrency
# --------------------------------------------------------------------------------------------


async def test_a_different_event_at_a_taken_version_is_refused(store: EventStore) -> None:
    [taken] = await store.append("decision-5", 0, [new_event("PointProposed")])
    intruder = new_event("PointWithdrawn")
    with pytest.raises(ConcurrencyError) as caught:
        await store.append("decision-5", 0, [intruder])
    error = caught.value
    assert (error.stream_id, error.expected_version, error.actual_version) == ("decision-5", 0, 1)
    message = str(error)
    assert "'decision-5'" in message
    assert f"version 1 is already taken by event {taken.event_id} (PointProposed)" in message
    assert f"not {intruder.event_id} (PointWithdrawn)" in message


async def test_a_stale_or_future_expected_version_is_refused(store: EventStore) -> None:
    await store.append("decision-6", 0, new_events(3))
    with pytest.raises(ConcurrencyError, match="expected version 1, the stream is at version 3"):
        await store.append("decision-6", 1, [new_event()])
    with pytest.raises(ConcurrencyError, match="expected version 5 but the stream is at version 3"):
        await store.append("decision-6", 5, [new_event()])


async def test_an_event_id_recorded_in_another_stream_is_refused(store: EventStore) -> None:
    event = new_event()
    await store.append("decision-7", 0, [event])
    with pytest.raises(ConcurrencyError, match=f"event {event.event_id} is already recorded as "
                       "version 1 of stream 'decision-7'"):  # fmt: skip
        await store.append("decision-8", 0, [event])


async def _race(store: EventStore, stream_id: str, first: list[NewEvent], second: list[NewEvent]
                ) -> tuple[list[Receipt], list[Receipt] | BaseException]:  # fmt: skip
    """Both appends pass the head check; the first holds its transaction open until the second
    has reached the unique index."""
    inserted, release = asyncio.Event(), asyncio.Event()

    async def hold(conn: asyncpg.Connection) -> None:
        inserted.set()
        await release.wait()

    winner = asyncio.create_task(store.append(stream_id, 0, first, extra=hold))
    await inserted.wait()
    loser = asyncio.create_task(store.append(stream_id, 0, second))
    await asyncio.sleep(0.3)  # the loser reads head 0 and blocks on the winner's index entry
    release.set()
    won = await winner
    lost = await asyncio.gather(loser, return_exceptions=True)
    return won, lost[0]


async def test_racing_appends_to_one_stream_one_wins(store: EventStore, pool: asyncpg.Pool) -> None:
    won, lost = await _race(store, "decision-9", [new_event()], [new_event()])
    assert isinstance(lost, ConcurrencyError)
    assert "version 1 is already taken" in str(lost)
    assert [e.event_id for e in await store.read_stream("decision-9")] == [won[0].event_id]


async def test_a_retry_racing_its_own_first_attempt_returns_its_receipts(store: EventStore) -> None:
    events = new_events(2)
    won, lost = await _race(store, "decision-10", events, events)
    assert lost == won


# --------------------------------------------------------------------------------------------
# the extra callback
# --------------------------------------------------------------------------------------------


async def test_extra_commits_or_rolls_back_with_the_events(
    store: EventStore, pool: asyncpg.Pool
) -> None:
    await pool.execute("CREATE TABLE outbox (event_id uuid)")
    event = new_event()

    async def write_outbox(conn: asyncpg.Connection) -> None:
        await conn.execute("INSERT INTO outbox VALUES ($1)", event.event_id)

    async def fail(conn: asyncpg.Connection) -> None:
        await write_outbox(conn)
        raise RuntimeError("webhook table full")

    with pytest.raises(RuntimeError, match="webhook table full"):
        await store.append("decision-11", 0, [event], extra=fail)
    assert await count_rows(pool, "decision-11") == 0
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0

    await store.append("decision-11", 0, [event], extra=write_outbox)
    assert await count_rows(pool, "decision-11") == 1
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 1


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------


async def test_read_stream_from_to_and_as_of(store: EventStore) -> None:
    first = await store.append("dispute-1", 0, new_events(3))
    await asyncio.sleep(0.01)
    second = await store.append("dispute-1", 3, new_events(2))

    def versions(events: list[RecordedEvent]) -> list[int]:
        return [e.stream_version for e in events]

    assert versions(await store.read_stream("dispute-1")) == [1, 2, 3, 4, 5]
    assert versions(await store.read_stream("dispute-1", from_version=2)) == [2, 3, 4, 5]
    assert versions(await store.read_stream("dispute-1", from_version=2, to_version=3)) == [2, 3]
    assert versions(await store.read_stream("dispute-1", to_version=1)) == [1]

    as_of_first = first[0].recorded_at
    assert second[0].recorded_at > as_of_first
    assert versions(await store.read_stream("dispute-1", as_of=as_of_first)) == [1, 2, 3]
    just_before = as_of_first - timedelta(microseconds=1)
    assert await store.read_stream("dispute-1", as_of=just_before) == []
    later = second[0].recorded_at.astimezone(timezone(timedelta(hours=-5)))  # any zone works
    assert versions(await store.read_stream("dispute-1", as_of=later)) == [1, 2, 3, 4, 5]
    assert versions(await store.read_stream("dispute-1", from_version=4, as_of=as_of_first)) == []
    with pytest.raises(ValueError, match="timezone-aware"):
        await store.read_stream("dispute-1", as_of=datetime(2025, 1, 1))


@pytest.fixture(params=["read_all", "read_log"])
def read(request: pytest.FixtureRequest, store: EventStore) -> Any:
    """Both readers of the global log keep the same order, pages and checkpoints."""
    return getattr(store, request.param)


async def test_read_all_pages_through_the_global_log(store: EventStore, read: Any) -> None:
    appended: list[Receipt] = []
    for i in range(5):
        appended += await store.append(f"page-{i}", 0, new_events(3))

    # Wait until all of it is behind the horizon, then page through it.
    await eventually(lambda: read(), lambda r: len(r[0]) == len(appended))
    seen: list[int] = []
    checkpoint = GlobalCheckpoint()
    while True:
        events, after = await read(checkpoint, limit=4)
        if not events:
            break
        assert len(events) <= 4
        seen += [e.global_position for e in events]
        assert (after.transaction_id, after.global_position) > (
            checkpoint.transaction_id, checkpoint.global_position)  # fmt: skip
        checkpoint = after
    assert seen == [r.global_position for r in appended]
    assert await read(checkpoint) == ([], checkpoint)


async def test_read_all_never_skips_an_event_that_commits_late(store: EventStore, read: Any) -> None:
    await store.append("tail-0", 0, [new_event()])
    events, checkpoint = await eventually(lambda: read(), lambda r: bool(r[0]))
    assert [e.stream_id for e in events] == ["tail-0"]

    # A slow append takes its global position, then stays uncommitted...
    inserted, release = asyncio.Event(), asyncio.Event()

    async def hold(conn: asyncpg.Connection) -> None:
        inserted.set()
        await release.wait()

    slow = asyncio.create_task(store.append("tail-slow", 0, [new_event()], extra=hold))
    await inserted.wait()
    # ...while a fast one, with a higher position, commits.
    [fast] = await store.append("tail-fast", 0, [new_event()])

    # A reader must not move past the slow one's position yet: it sees nothing.
    assert await read(checkpoint) == ([], checkpoint)

    release.set()
    [slow_receipt] = await slow
    assert slow_receipt.global_position < fast.global_position  # a position-only reader skips it

    events, after = await eventually(lambda: read(checkpoint), lambda r: len(r[0]) == 2)
    assert [e.stream_id for e in events] == ["tail-slow", "tail-fast"]
    assert await read(after) == ([], after)


async def test_read_all_refuses_a_limit_below_one(read: Any) -> None:
    with pytest.raises(ValueError, match="limit must be at least 1"):
        await read(limit=0)


async def test_read_log_gives_what_folding_needs_of_each_event(store: EventStore) -> None:
    await store.append("log-1", 0, [new_event(n=1)])
    unversioned = NewEvent(event_id=uuid4(), event_type="Old", data={"x": "é \\ \"q\""}, metadata={"actor": "a"})
    later = NewEvent(event_id=uuid4(), event_type="New", data={"n": 2}, metadata={"schema_version": 3})
    await store.append("log-2", 0, [unversioned, later])
    events, _ = await eventually(lambda: store.read_all(), lambda r: len(r[0]) == 3)

    rows, _ = await store.read_log()

    assert [(r.stream_id, r.stream_version, r.global_position, r.transaction_id, r.event_type) for r in rows] == [
        (e.stream_id, e.stream_version, e.global_position, e.transaction_id, e.event_type) for e in events
    ]
    assert [load_json(r.data_json) for r in rows] == [e.data for e in events]
    assert [r.schema_version for r in rows] == [1, 1, 3]  # no schema_version in the metadata means 1


# --------------------------------------------------------------------------------------------
# verification and tamper evidence
# --------------------------------------------------------------------------------------------


async def fill_streams(store: EventStore, prefix: str, streams: int, events: int) -> None:
    for i in range(streams):
        for version in range(events):
            await store.append(f"{prefix}-{i}", version, [new_event(n=version)])


async def test_verify_passes_on_many_streams(store: EventStore) -> None:
    await fill_streams(store, "decision", 25, 4)
    await fill_streams(store, "dispute", 5, 3)
    report = await store.verify()
    assert report.ok and report.broken == []
    assert (report.events_checked, report.streams_checked) == (25 * 4 + 5 * 3, 30)

    only_disputes = await store.verify(stream_prefix="dispute-")
    assert (only_disputes.events_checked, only_disputes.streams_checked) == (15, 5)


async def test_verify_passes_on_an_empty_store(store: EventStore) -> None:
    report = await store.verify()
    assert report.ok and (report.events_checked, report.streams_checked) == (0, 0)


async def test_verify_streams_through_more_rows_than_one_batch(store: EventStore) -> None:
    for i in range(3):
        await store.append(f"bulk-{i}", 0, new_events(900))
    report = await store.verify()
    assert report.ok and report.events_checked == 2700


async def test_verify_finds_changed_data_at_exactly_that_version(
    store: EventStore, db_url: str
) -> None:
    await fill_streams(store, "decision", 3, 5)
    await tamper(
        db_url,
        "UPDATE accord.events SET data = jsonb_set(data, '{n}', '99') "
        "WHERE stream_id = 'decision-1' AND stream_version = 3",
    )
    report = await store.verify()
    assert not report.ok
    assert [(b.stream_id, b.version) for b in report.broken] == [("decision-1", 3)]
    assert report.broken[0].reason.startswith("hash mismatch")
    assert (report.events_checked, report.streams_checked) == (15, 3)


async def test_verify_finds_a_rehashed_event_at_the_next_link(
    store: EventStore, db_url: str
) -> None:
    """A forger who also recomputes the changed event's hash breaks the link after it."""
    await fill_streams(store, "decision", 1, 5)
    [third] = await store.read_stream("decision-0", from_version=3, to_version=3)
    forged = {**third.data, "n": 99}
    forged_hash = chain_hash(
        third.prev_hash,
        canonical_bytes(third.stream_id, 3, third.event_id, third.event_type, forged,
                        third.metadata, third.recorded_at),
    )  # fmt: skip
    await tamper(
        db_url,
        "UPDATE accord.events SET data = $1::jsonb, hash = $2 "
        "WHERE stream_id = 'decision-0' AND stream_version = 3",
        json.dumps(forged),
        forged_hash,
    )
    report = await store.verify()
    assert [(b.version, b.reason) for b in report.broken] == [
        (4, "prev_hash does not link to version 3")
    ]


async def test_verify_finds_a_deleted_middle_row(store: EventStore, db_url: str) -> None:
    await fill_streams(store, "decision", 2, 5)
    await tamper(
        db_url,
        "DELETE FROM accord.events WHERE stream_id = 'decision-0' AND stream_version = 3",
    )
    report = await store.verify()
    assert [(b.stream_id, b.version) for b in report.broken] == [("decision-0", 3)]
    assert report.broken[0].reason.startswith("version gap: version 3 is missing")


# --------------------------------------------------------------------------------------------
# append-only guarantees
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statement", "operation"),
    [
        ("UPDATE accord.events SET event_type = 'Forged'", "UPDATE"),
        ("DELETE FROM accord.events", "DELETE"),
        ("TRUNCATE accord.events", "TRUNCATE"),
    ],
)
async def test_the_trigger_refuses_changes_even_from_a_superuser(
    store: EventStore, pool: asyncpg.Pool, statement: str, operation: str
) -> None:
    await store.append("decision-12", 0, new_events(2))
    with pytest.raises(asyncpg.RaiseError) as caught:
        await pool.execute(statement)
    assert caught.value.message == f"accord.events is append-only: {operation} is not allowed"
    assert caught.value.hint == "Record a new event that corrects or supersedes the old one."
    assert await count_rows(pool, "decision-12") == 2


async def test_the_app_role_may_read_and_append_but_not_change(
    store: EventStore, pool: asyncpg.Pool
) -> None:
    await store.append("decision-13", 0, [new_event()])
    async with pool.acquire() as conn:
        async with conn.transaction():
            await conn.execute("SET LOCAL ROLE accord_app")
            assert await conn.fetchval("SELECT count(*) FROM accord.events") == 1
            await conn.execute(
                "INSERT INTO accord.events (stream_id, stream_version, event_id, event_type, data,"
                " metadata, recorded_at, prev_hash, hash) VALUES ('raw-1', 1, $1, 'T', '{}', '{}',"
                " now(), $2, $2)",
                uuid4(),
                GENESIS_HASH,
            )
        for forbidden in (
            "UPDATE accord.events SET event_type = 'Forged'",
            "DELETE FROM accord.events",
            "TRUNCATE accord.events",
            # The tailing guarantee relies on the server choosing the transaction id.
            "INSERT INTO accord.events (stream_id, stream_version, event_id, event_type, data,"
            " metadata, recorded_at, prev_hash, hash, transaction_id) SELECT stream_id, 2,"
            " gen_random_uuid(), event_type, data, metadata, recorded_at, prev_hash, hash, '1'"
            " FROM accord.events WHERE stream_id = 'raw-1'",
            "DELETE FROM accord.schema_migrations",
            "INSERT INTO accord.schema_migrations (version, name, checksum) VALUES (999, 'x', 'x')",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):  # noqa: PT012 - the role holds only in its transaction
                async with conn.transaction():
                    await conn.execute("SET LOCAL ROLE accord_app")
                    await conn.execute(forbidden)


async def test_the_whole_store_works_as_the_app_role(db_url: str) -> None:
    async with asyncpg.create_pool(
        db_url, min_size=1, max_size=2, server_settings={"role": "accord_app"}
    ) as app_pool:
        assert await app_pool.fetchval("SELECT current_user") == "accord_app"
        store = EventStore(app_pool)
        events = new_events(2)
        receipts = await store.append("decision-14", 0, events)
        assert await store.append("decision-14", 0, events) == receipts
        with pytest.raises(ConcurrencyError):
            await store.append("decision-14", 0, [new_event()])
        assert len(await store.read_stream("decision-14")) == 2
        tailed, _ = await eventually(lambda: store.read_all(), lambda r: len(r[0]) == 2)
        assert len(tailed) == 2
        assert (await store.verify()).ok


# --------------------------------------------------------------------------------------------
# concurrency across streams
# --------------------------------------------------------------------------------------------


async def test_twenty_concurrent_appenders_on_different_streams(db_url: str) -> None:
    """All twenty hold their append transactions open at the same moment: nothing global is
    locked. Then each appends more while the others do."""
    appenders = 20
    all_inside = asyncio.Barrier(appenders)

    async def wait_for_everyone(conn: asyncpg.Connection) -> None:
        await all_inside.wait()

    async def appender(store: EventStore, i: int) -> None:
        stream = f"concurrent-{i}"
        await store.append(stream, 0, new_events(2), extra=wait_for_everyone)
        for version in range(2, 12):
            await store.append(stream, version, [new_event(n=version)])

    async with asyncpg.create_pool(db_url, min_size=appenders, max_size=appenders) as big_pool:
        store = EventStore(big_pool)
        await asyncio.wait_for(
            asyncio.gather(*(appender(store, i) for i in range(appenders))), timeout=60
        )
        report = await store.verify(stream_prefix="concurrent-")
        assert report.ok
        assert (report.events_checked, report.streams_checked) == (appenders * 12, appenders)


async def test_the_application_under_test_has_the_applications_rights_and_no_more(app_pool: asyncpg.Pool) -> None:
    """The tests' worker and application layer run as a member of accord_app, as deployments do: a test
    cannot pass on a right the service lacks, such as rewriting the record."""
    assert str(await app_pool.fetchval("SELECT current_user")).startswith("accord_service")
    for statement in ("DELETE FROM accord.events", "ALTER TABLE accord.events DISABLE TRIGGER USER", "DROP TABLE accord.read_models"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await app_pool.execute(statement)
