"""Realistic events for the store benchmarks: what the decision workflow records for a stance."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from typing import Any

from events.decision import StanceKind, StanceTaken
from events.store import NewEvent

KINDS = [StanceKind.AGREE, StanceKind.CONCERNS, StanceKind.STAND_ASIDE, StanceKind.OBJECT]


def stance_data(number: int, at: datetime | None = None) -> dict[str, Any]:
    """A StanceTaken's data exactly as the workflow stores it (model_dump in JSON mode, no `type`)."""
    kind = KINDS[number % len(KINDS)]
    event = StanceTaken(
        at=at or datetime.now(UTC),
        member_id=f"m{number % 30 + 1:03d}",
        point_id=f"p{number % 3 + 1}",
        stance=kind,
        reason="the budget line for transport is not settled" if kind == StanceKind.OBJECT else None,
    )
    return event.model_dump(mode="json", exclude={"type"})


def metadata(stream_id: str, actor: str) -> dict[str, Any]:
    """The metadata the group commit writes (Committer._new_event)."""
    return {
        "actor": actor,
        "workflow_id": stream_id,
        "run_id": str(uuid.uuid4()),
        "correlation_id": stream_id,
        "causation_id": f"update:{uuid.uuid4()}",
        "schema_version": 1,
    }


def stance_event(stream_id: str, number: int) -> NewEvent:
    data = stance_data(number)
    return NewEvent(
        event_id=uuid.uuid4(), event_type="StanceTaken", data=data, metadata=metadata(stream_id, data["member_id"])
    )


def raw_row(stream_id: str, version: int, event: NewEvent, recorded_at: datetime) -> tuple[Any, ...]:
    """The same event as the columns of accord.events, with nothing computed (hashes are random)."""
    return (
        stream_id,
        version,
        event.event_id,
        event.event_type,
        json.dumps(event.data, separators=(",", ":")),
        json.dumps(event.metadata, separators=(",", ":")),
        recorded_at,
        os.urandom(32),
        os.urandom(32),
    )


RAW_SCHEMA_SQL = """
CREATE SCHEMA IF NOT EXISTS bench_raw;
CREATE TABLE IF NOT EXISTS bench_raw.events (LIKE accord.events INCLUDING ALL);
"""
"""A table of the same shape as accord.events: columns, defaults, identity, checks, indexes."""

RAW_INSERT_SQL = """
INSERT INTO bench_raw.events
    (stream_id, stream_version, event_id, event_type, data, metadata, recorded_at, prev_hash, hash)
VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7, $8, $9)
"""


BENCH_ALLIANCE = "bench"
"""The alliance the store benchmarks' streams are scoped to (`decision-bench.<id>`, as accord names them)."""
