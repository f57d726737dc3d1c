"""Keeping the read models (`events/readmodels.py`) from the events.

An append that holds an event a read model consumes updates the model's row in the append's own
transaction: a list never shows a process without its latest events' effect, and every event is applied
exactly once (a retried append that is already stored inserts nothing, so it projects nothing). Appends
of other events (stances, mostly) are not touched. `rebuild` folds the whole log into the models again,
while appends wait on the table's lock, so that nothing is applied twice or missed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import asyncpg
import structlog
from pydantic import BaseModel

from events.processes import PROCESSES, Process
from events.readmodels import ReadModel
from events.streams import SCOPE, StreamId

if TYPE_CHECKING:
    from events.store import Connection

_log = structlog.get_logger(__name__)


class Fed(NamedTuple):
    """An event as the projector takes it: what parsing it into its type needs, and its place."""

    event_type: str
    schema_version: int
    data_json: str
    global_position: int
    stream_version: int


def _process(stream_id: str) -> tuple[Process, str] | None:
    """The kind of process a stream is of, and the process's id; None for a stream of no kind accord knows."""
    stream = StreamId.parse(stream_id)
    process = PROCESSES.get(stream.kind) if stream is not None else None
    return (process, stream.id) if process is not None and stream is not None else None


def consumed(stream_id: str, event_types: Iterable[str]) -> bool:
    """Whether any read model consumes one of these events of this stream (if not, the append is left alone)."""
    found = _process(stream_id)
    if found is None or not found[0].read_models:
        return False
    process = found[0]
    types = set(event_types)
    return any(types & model.consumes for model in process.read_models)


class _Kept(NamedTuple):
    row: BaseModel | None
    position: int | None
    version: int


def _fold(process: Process, model: ReadModel, kept: _Kept, events: Sequence[Fed]) -> _Kept:
    row, position, version = kept
    for event in events:
        if event.event_type not in model.consumes:
            continue
        try:
            row = model.fold(row, process.event_from_json(event.event_type, event.schema_version, event.data_json))
        except (ValueError, KeyError) as error:  # pydantic's ValidationError is a ValueError
            # An event that does not fold (written from outside accord, say) leaves the row as it was, here as
            # in a rebuild; never the append's failure. `accord audit check` names such a row.
            _log.warning("read model skips an event", model=model.name, event_type=event.event_type,
                         version=event.stream_version, error=str(error))
            continue
        position, version = position or event.global_position, event.stream_version
    return _Kept(row, position, version)


_NONE = _Kept(None, None, 0)


async def project(conn: Connection, stream_id: str, events: Sequence[Fed]) -> None:
    """Apply the events of one append to the read models of their stream (inside the append's transaction)."""
    found = _process(stream_id)
    if found is None:
        return
    process, key = found
    # No explicit lock: the row lock below takes the table's ROW SHARE lock, which a rebuild's EXCLUSIVE
    # lock waits for and blocks.
    for model in process.read_models:
        if not any(e.event_type in model.consumes for e in events):
            continue
        stored = await conn.fetchrow(
            "SELECT row, position, version FROM accord.read_models WHERE model = $1 AND key = $2 FOR UPDATE", model.name, key
        )
        kept = _Kept(model.row_type.model_validate_json(stored["row"]), stored["position"], stored["version"]) if stored else _NONE
        await _store(conn, model, key, _fold(process, model, kept, events))


async def _store(conn: Connection, model: ReadModel, key: str, kept: _Kept) -> None:
    if kept.row is None or kept.position is None:
        await conn.execute("DELETE FROM accord.read_models WHERE model = $1 AND key = $2", model.name, key)
        return
    await conn.execute(
        """
        INSERT INTO accord.read_models (model, key, alliance_id, position, version, row) VALUES ($1, $2, $3, $4, $5, $6::jsonb)
        ON CONFLICT (model, key) DO UPDATE SET alliance_id = excluded.alliance_id, version = excluded.version, row = excluded.row
        """,
        model.name, key, model.alliance_of(kept.row), kept.position, kept.version, kept.row.model_dump_json(),
    )


class Rebuilt(NamedTuple):
    events: int
    """Events of the log read."""
    rows: int
    """Rows written, over every read model."""


async def rebuild(conn: Connection) -> Rebuilt:
    """Empty the read models and fold the whole log into them again, in one transaction (appends that
    would change a row meanwhile wait for it, then apply their events on top)."""
    from events.store import read_log_page  # here: the store projects its appends through this module

    rows: dict[tuple[str, str], tuple[Process, ReadModel, _Kept]] = {}
    read = 0
    async with conn.transaction():
        await conn.execute("LOCK TABLE accord.read_models IN EXCLUSIVE MODE")
        await conn.execute("DELETE FROM accord.read_models")
        page, checkpoint = await read_log_page(conn)
        while page:
            read += len(page)
            for entry in page:
                found = _process(entry.stream_id)
                if found is None:
                    continue
                process, process_id = found
                for model in process.read_models:
                    if entry.event_type not in model.consumes:
                        continue
                    key = (model.name, process_id)
                    kept = rows[key][2] if key in rows else _NONE
                    fed = Fed(entry.event_type, entry.schema_version, entry.data_json, entry.global_position, entry.stream_version)
                    rows[key] = (process, model, _fold(process, model, kept, [fed]))
            page, checkpoint = await read_log_page(conn, checkpoint)
        for (_, row_key), (_, model, kept) in rows.items():
            await _store(conn, model, row_key, kept)
    return Rebuilt(events=read, rows=sum(kept.row is not None for _, _, kept in rows.values()))


# --- reading ------------------------------------------------------------------------------------------

MEMBER_SQL = """
SELECT p.alliance_id, a.row -> 'members' -> $3 ->> '{field}' AS {field}
FROM accord.read_models p
LEFT JOIN accord.read_models a ON a.model = 'alliances' AND a.key = p.alliance_id
WHERE p.model = $1 AND p.key = $2
"""
"""A process's alliance and one field of a member there ($3), from the `alliances` rows (AllianceState's
own JSON: `members` by id, each with `status`, `webhook_url`, ...)."""


def stream_of(model: str, key: str) -> str:
    """The stream a row of a read model was folded from."""
    kind = next(k for k, p in PROCESSES.items() if any(m.name == model for m in p.read_models))
    return str(StreamId(kind, key))


class Listed(NamedTuple):
    key: str
    row: Any
    version: int
    """The stream version the row reflects."""


async def listed(conn: Connection | asyncpg.Pool, model: ReadModel, alliance_id: str | None = None) -> list[Listed]:
    """The rows of a read model (of one alliance, or of all), in the order their processes began."""
    rows = await conn.fetch(
        "SELECT key, row, version FROM accord.read_models WHERE model = $1 AND ($2::text IS NULL OR alliance_id = $2)"
        " ORDER BY position",
        model.name, alliance_id,
    )
    return [_listed(model, r) for r in rows]


def _listed(model: ReadModel, row: asyncpg.Record) -> Listed:
    return Listed(row["key"], model.row_type.model_validate_json(row["row"]), row["version"])


async def row_of(conn: Connection | asyncpg.Pool, model: ReadModel, key: str) -> Listed | None:
    """One row of a read model, or None."""
    row = await conn.fetchrow("SELECT key, row, version FROM accord.read_models WHERE model = $1 AND key = $2", model.name, key)
    return _listed(model, row) if row else None


async def located(conn: Connection | asyncpg.Pool, process: Process, process_id: str, alliance_id: str | None) -> list[asyncpg.Record]:
    """The rows (key, alliance_id) of the processes of a scoped kind whose id is `process_id`: within
    `alliance_id`, its scoped stream or the unscoped one it was recorded under before ids were scoped;
    without an alliance, every alliance's (the operator's command line)."""
    if alliance_id is not None:
        return await conn.fetch(
            "SELECT key, alliance_id FROM accord.read_models WHERE model = $1 AND alliance_id = $2 AND key IN ($3, $4)",
            process.listing.name, alliance_id, process_id, process.stream(process_id, alliance_id).id,
        )
    return await conn.fetch(
        "SELECT key, alliance_id FROM accord.read_models WHERE model = $1"
        " AND (key = $2 OR (strpos(key, $3) > 0 AND substr(key, strpos(key, $3) + 1) = $2)) ORDER BY alliance_id",
        process.listing.name, process_id, SCOPE,
    )


async def streams_of(conn: Connection | asyncpg.Pool, alliance_id: str) -> list[str]:
    """Every stream of an alliance: its own and those of its processes."""
    rows = await conn.fetch("SELECT model, key FROM accord.read_models WHERE alliance_id = $1", alliance_id)
    return sorted(stream_of(r["model"], r["key"]) for r in rows)



async def member_field(conn: Connection | asyncpg.Pool, stream: StreamId, member_id: str, field: str) -> asyncpg.Record | None:
    """(alliance_id, the member's `field` or None when not a member) for the process of `stream`; None
    when there is no such process."""
    return await conn.fetchrow(MEMBER_SQL.format(field=field), PROCESSES[stream.kind].listing.name, stream.id, member_id)
