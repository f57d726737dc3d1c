"""Keeping the read models (`events/readmodels.py`) from the events.

An append that holds an event a read model consumes updates the model's row in the append's own
transaction: a list never shows a process without its latest events' effect, and every event is applied
exactly once (a retried append that is already stored inserts nothing, so it projects nothing). Appends
of other events (stances, mostly) are not touched. `rebuild` folds the whole log into the models again,
while appends wait on the table's lock, so that nothing is applied twice or missed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import asyncpg

from events.processes import PROCESSES, Process
from events.readmodels import ReadModel
from events.streams import StreamId


class Fed(NamedTuple):
    """An event as the projector takes it: what parsing it into its type needs, and its place."""

    event_type: str
    schema_version: int
    data_json: str
    global_position: int


def _process(stream_id: str) -> Process | None:
    stream = StreamId.parse(stream_id)
    return PROCESSES.get(stream.kind) if stream is not None else None


def consumed(stream_id: str, event_types: Iterable[str]) -> bool:
    """Whether any read model consumes one of these events of this stream (if not, the append is left alone)."""
    process = _process(stream_id)
    if process is None or not process.read_models:
        return False
    types = set(event_types)
    return any(types & model.consumes for model in process.read_models)


def _fold(process: Process, model: ReadModel, row: object, position: int | None, events: Sequence[Fed]) -> tuple[object, int | None]:
    for event in events:
        if event.event_type in model.consumes:
            row = model.fold(row, process.event_from_json(event.event_type, event.schema_version, event.data_json))
            position = position or event.global_position
    return row, position


async def project(conn: asyncpg.Connection, stream_id: str, events: Sequence[Fed]) -> None:
    """Apply the events of one append to the read models of their stream (inside the append's transaction)."""
    process = _process(stream_id)
    if process is None:
        return
    key = StreamId.parse(stream_id).id  # type: ignore[union-attr] - _process parsed it
    await conn.execute("LOCK TABLE accord.read_models IN ROW EXCLUSIVE MODE")
    for model in process.read_models:
        if not any(e.event_type in model.consumes for e in events):
            continue
        stored = await conn.fetchrow(
            "SELECT row, position FROM accord.read_models WHERE model = $1 AND key = $2 FOR UPDATE", model.name, key
        )
        row = model.row_type.model_validate_json(stored["row"]) if stored else None
        row, position = _fold(process, model, row, stored["position"] if stored else None, events)
        await _store(conn, model, key, row, position)


async def _store(conn: asyncpg.Connection, model: ReadModel, key: str, row: object, position: int | None) -> None:
    if row is None or position is None:
        await conn.execute("DELETE FROM accord.read_models WHERE model = $1 AND key = $2", model.name, key)
        return
    await conn.execute(
        """
        INSERT INTO accord.read_models (model, key, alliance_id, position, row) VALUES ($1, $2, $3, $4, $5::jsonb)
        ON CONFLICT (model, key) DO UPDATE SET alliance_id = excluded.alliance_id, row = excluded.row
        """,
        model.name, key, model.alliance_of(row), position, row.model_dump_json(),  # type: ignore[attr-defined]
    )


class Rebuilt(NamedTuple):
    events: int
    """Events of the log read."""
    rows: int
    """Rows written, over every read model."""


async def rebuild(conn: asyncpg.Connection) -> Rebuilt:
    """Empty the read models and fold the whole log into them again, in one transaction (appends that
    would change a row meanwhile wait for it, then apply their events on top)."""
    from events.store import read_log_page  # here: the store projects its appends through this module

    rows: dict[tuple[str, str], tuple[Process, ReadModel, object, int | None]] = {}
    read = 0
    async with conn.transaction():
        await conn.execute("LOCK TABLE accord.read_models IN EXCLUSIVE MODE")
        await conn.execute("DELETE FROM accord.read_models")
        page, checkpoint = await read_log_page(conn)
        while page:
            read += len(page)
            for entry in page:
                process = _process(entry.stream_id)
                if process is None:
                    continue
                for model in process.read_models:
                    if entry.event_type not in model.consumes:
                        continue
                    key = (model.name, StreamId.parse(entry.stream_id).id)  # type: ignore[union-attr] - _process parsed it
                    _, _, row, position = rows.get(key, (process, model, None, None))
                    fed = Fed(entry.event_type, entry.schema_version, entry.data_json, entry.global_position)
                    rows[key] = (process, model, *_fold(process, model, row, position, [fed]))
            page, checkpoint = await read_log_page(conn, checkpoint)
        for (_, key), (_, model, row, position) in rows.items():
            await _store(conn, model, key, row, position)
    return Rebuilt(events=read, rows=sum(row is not None for _, _, row, _ in rows.values()))
