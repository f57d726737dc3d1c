"""The read models: kept by the appends themselves, folded with the deciders' event types, rebuilt from
the log to the same rows."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg
from cli_support import Cli, clean_environment
from decision_support import alliance_with_members, stance
from test_decision import DEADLINE, HOUR, T0, open_command

from accord.app import Accord
from accord.audit import alliance_streams
from events.decision import (
    CloseDecision,
    DecisionEvent,
    DecisionRow,
    DecisionState,
    ExtendDeadline,
    Stage,
    decide,
    decision_row,
    evolve,
    on_time,
)
from events.migrate import READ_MODELS_MIGRATION, migrate
from events.projector import rebuild
from events.store import EventStore, NewEvent


def as_new(events: Sequence[DecisionEvent]) -> list[NewEvent]:
    return [
        NewEvent(
            event_id=uuid.uuid4(), event_type=e.type, data=e.model_dump(mode="json", exclude={"type"}),
            metadata={"actor": "gw", "schema_version": type(e).schema_version},
        )
        for e in events
    ]


async def recorded(store: EventStore, state: DecisionState | None, events: list[DecisionEvent]) -> DecisionState:
    stream = "decision-" + (state.decision_id if state else events[0].decision_id)  # type: ignore[attr-defined]
    await store.append(stream, (await store.head(stream)).version, as_new(events))
    for event in events:
        state = evolve(state, event)
    assert state is not None
    return state


async def rows(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    return [dict(r) for r in await pool.fetch("SELECT model, key, alliance_id, position, row::text FROM accord.read_models ORDER BY model, key")]


async def listed(app: Accord) -> list[DecisionRow]:
    return await app.decisions("rivers")


async def test_the_list_follows_a_decision_from_the_appends_alone(app: Accord, store: EventStore) -> None:
    state = await recorded(store, None, decide(None, open_command(2, decision_id="d1"), T0))
    assert [(r.decision_id, r.stage, r.deadline) for r in await listed(app)] == [("d1", Stage.OPEN, DEADLINE)]

    state = await recorded(store, state, on_time(state, DEADLINE))  # nobody answered: stalled
    [row] = await listed(app)
    assert (row.stage, row.deadline) == (Stage.STALLED, state.escalation_deadline)

    state = await recorded(store, state, decide(state, ExtendDeadline(actor="gw"), DEADLINE + HOUR))
    assert [(r.stage, r.deadline) for r in await listed(app)] == [(Stage.OPEN, state.deadline)]

    state = await recorded(store, state, on_time(state, state.deadline))
    state = await recorded(store, state, decide(state, CloseDecision(actor="gw"), state.deadline + HOUR))
    [row] = await listed(app)
    assert (row.stage, row.outcome, row.title) == (Stage.CLOSED, state.outcome, "Joint campaign 2027")


async def test_rebuilding_from_the_log_gives_the_rows_the_appends_left(app: Accord, store: EventStore, pool: asyncpg.Pool) -> None:
    for decision_id in ("d1", "d2", "d3"):
        state = await recorded(store, None, decide(None, open_command(1, decision_id=decision_id), T0))
        if decision_id != "d1":
            await recorded(store, state, on_time(state, DEADLINE))
    left = await rows(pool)
    assert len(left) == 3

    await pool.execute("UPDATE accord.read_models SET row = jsonb_set(row, '{title}', '\"tampered\"')")
    async with pool.acquire() as conn:
        rebuilt = await rebuild(conn)

    assert (rebuilt.rows, rebuilt.events) == (3, 5)
    assert await rows(pool) == left


async def test_accord_db_rebuild_says_what_it_did(app: Accord, store: EventStore, db_url: str, tmp_path: Any) -> None:
    await recorded(store, None, decide(None, open_command(1, decision_id="d9"), T0))
    await app.pool.execute("DELETE FROM accord.read_models")

    ran = await Cli({**clean_environment(tmp_path), "ACCORD_DATABASE_URL": db_url}, tmp_path)("db rebuild")

    assert (ran.code, ran.stdout.strip()) == (0, "rebuilt 1 read model row(s) from 1 event(s)"), ran.stderr
    assert [r.decision_id for r in await listed(app)] == ["d9"]


def test_the_row_is_a_fold_of_the_events_it_consumes() -> None:
    opened = decide(None, open_command(1), T0)
    row = decision_row(None, opened[0])
    assert row is not None and (row.stage, row.deadline, row.outcome) == (Stage.OPEN, DEADLINE, None)
    assert decision_row(None, on_time(evolve(None, opened[0]), DEADLINE)[0]) is None  # no row before the opening


async def test_upgrading_a_record_kept_before_read_models_fills_them(app: Accord, store: EventStore, pool: asyncpg.Pool) -> None:
    await recorded(store, None, decide(None, open_command(1, decision_id="d1"), T0))
    async with pool.acquire() as conn:  # as the database stood before the read models' migration
        await conn.execute("DROP TABLE accord.read_models")
        await conn.execute("DELETE FROM accord.schema_migrations WHERE name = $1", READ_MODELS_MIGRATION)

        assert await migrate(conn) == [READ_MODELS_MIGRATION]

    assert [r.decision_id for r in await listed(app)] == ["d1"]


async def test_an_alliance_and_its_processes_rebuild_to_the_rows_their_workflows_left(app: Accord, pool: asyncpg.Pool) -> None:
    alliance_id = await alliance_with_members(app, "lakes")
    await app.open_decision(alliance_id, "gw", "d1", "Clean-up day", [{"text": "Saturday"}])
    await stance(app, "d1", "amber", "p1", "agree")
    await app.raise_dispute(alliance_id, "amber", "x1", ["birch"], "Banner", "Who keeps the banner")
    left = await rows(pool)  # keyed by the id part of each stream (ids are scoped to the alliance)
    assert [(r["model"], r["key"]) for r in left] == [("alliances", "lakes"), ("decisions", "lakes.d1"), ("disputes", "lakes.x1")]
    assert {r["alliance_id"] for r in left} == {"lakes"}

    async with pool.acquire() as conn:
        await rebuild(conn)

    assert await rows(pool) == left
    assert sorted(await alliance_streams(app, alliance_id)) == ["alliance-lakes", "decision-lakes.d1", "dispute-lakes.x1"]
    assert [a.alliance_id for a in await app.alliances()] == ["lakes"]
