"""Shared set-up for decision tests: an alliance with a known membership, opened decisions, clocks."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, TypeVar

import asyncpg
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from accord.app import Accord, DecisionView
from accord.examples import CHARTER
from accord.worker import WORKFLOWS
from activities.notify import NotifyActivities
from activities.store import StoreActivities
from events.alliance import AdmitMember, FoundAlliance, Role
from events.charter import Charter, DecisionRules, load_charter
from events.decision import DecisionState, StanceKind, TakeStance
from events.hashing import GENESIS_HASH, canonical_bytes, chain_hash, load_json
from events.store import EventStore
from workflows.decision import DecisionWorkflow
from workflows.shapes import CommandResult

T = TypeVar("T")

MEMBERS = ["amber", "birch", "cedar", "dune"]  # with the founder 'gw': an electorate of 5, quorum 3
ELECTORATE = sorted(["gw", *MEMBERS])


def charter(**rules: object) -> Charter:
    """The example charter with some decision rules changed ('3s', 0.5, ...), validated as a charter is."""
    base = load_charter(CHARTER)
    decisions = DecisionRules.model_validate({**base.decisions.model_dump(), **rules})
    return base.model_copy(update={"decisions": decisions})


async def alliance_with_members(app: Accord, alliance_id: str = "rivers", **rules: object) -> str:
    """gw founds the alliance (coordinator); amber is steering, birch a mediator, cedar and dune members."""
    await app.found_alliance(
        FoundAlliance(alliance_id=alliance_id, charter=charter(**rules), founder_id="gw", founder_name="GreenWatch")
    )
    roles = {"amber": [Role.STEERING], "birch": [Role.MEDIATOR]}
    for member in MEMBERS:
        await app.alliance_command(
            alliance_id,
            AdmitMember(actor="gw", member_id=member, name=member.title(), roles=roles.get(member, [Role.MEMBER])),
        )
    return alliance_id


@asynccontextmanager
async def behind_the_triggers(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """What a superuser can do: switch the append-only triggers off for one transaction."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("ALTER TABLE accord.events DISABLE TRIGGER USER")
        yield conn
        await conn.execute("ALTER TABLE accord.events ENABLE TRIGGER USER")


async def rechain(conn: asyncpg.Connection, stream_id: str) -> None:
    """Recompute every hash of the stream from its rows by the published rule, as someone who rewrites the
    record would, so that its chain holds again (behind the triggers)."""
    rows = await conn.fetch(
        "SELECT stream_version, event_id, event_type, data::text AS data, metadata::text AS metadata, recorded_at"
        " FROM accord.events WHERE stream_id = $1 ORDER BY stream_version",
        stream_id,
    )
    prev = GENESIS_HASH
    for row in rows:
        canonical = canonical_bytes(
            stream_id, row["stream_version"], row["event_id"], row["event_type"], load_json(row["data"]),
            load_json(row["metadata"]), row["recorded_at"],
        )
        digest = chain_hash(prev, canonical)
        await conn.execute(
            "UPDATE accord.events SET prev_hash = $3, hash = $4 WHERE stream_id = $1 AND stream_version = $2",
            stream_id, row["stream_version"], prev, digest,
        )
        prev = digest


def unique(prefix: str) -> str:
    """An id of this test's own: the Temporal servers live for the whole session."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def stance(app: Accord, decision_id: str, member: str, point: str, kind: str, **extra: str) -> CommandResult:
    return await app.decision_command(
        decision_id, TakeStance(actor=member, point_id=point, stance=StanceKind(kind), **extra)
    )


async def event_types(store: EventStore, stream: str) -> list[str]:
    return [e.event_type for e in await store.read_stream(stream)]


async def notified(pool: asyncpg.Pool, stream: str, kind: str) -> list[asyncpg.Record]:
    """The outbox rows of one kind for a process, by member."""
    return await pool.fetch(
        "SELECT * FROM accord.notifications WHERE stream_id = $1 AND kind = $2 ORDER BY member_id", stream, kind
    )


async def eventually(probe: Callable[[], Awaitable[T]], until: Callable[[T], bool], timeout: float = 10.0) -> T:
    """Poll `probe` until its value satisfies `until` (workers act asynchronously after a timer fires)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if until(value):
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {value!r}")
        await asyncio.sleep(0.05)


async def skip_to(env: WorkflowEnvironment, when: datetime) -> None:
    """Move the time-skipping server's clock to `when` (firing every timer on the way)."""
    now = await env.get_current_time()
    if when > now:
        await env.sleep(when - now)


async def in_stage(app: Accord, decision_id: str, stage: str, **checks: Any) -> DecisionView:
    """The decision once it reached `stage` (and, optionally, state fields with the given values)."""
    return await eventually(
        lambda: app.decision(decision_id),
        lambda view: view.state.stage == stage and all(getattr(view.state, k) == v for k, v in checks.items()),
    )


async def no_activity_in_flight(client: Client, workflow_id: str) -> None:
    """Wait until the decision has no activity pending (webhook deliveries run as activities).

    On the time-skipping server an activity in flight holds the clock, so a worker stopped in the
    middle of a delivery leaves time stuck until the activity times out in real time.
    """
    handle = client.get_workflow_handle(workflow_id)
    await eventually(handle.describe, lambda d: not d.raw_description.pending_activities)


def worker_without_cache(client: Client, pool: asyncpg.Pool, task_queue: str) -> Worker:
    """accord's worker, but keeping no workflow in memory between tasks (so never sticky).

    A real server moves a stopped worker's sticky tasks back to the shared queue after a timeout; the
    time-skipping server did not (not within 30 s here), and the waiting task holds its clock still.
    A worker without a cache is also the harshest restart: every task replays the whole history.
    """
    store, notify = StoreActivities(EventStore(pool)), NotifyActivities(pool)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=[store.append_events, store.notify_quarantine, notify.deliver_notifications],
        max_cached_workflows=0,
    )


DAY = timedelta(days=1)


async def final_state(env: WorkflowEnvironment, workflow_id: str, step: timedelta = timedelta(hours=6)) -> DecisionState:
    """Skip time until a decision ends and return its final state.

    Only handles made by the environment's own start_workflow skip time while awaiting a result, and
    the test server cannot answer a result request that names no run, so: sleep, describe, repeat.
    """
    for _ in range(400):
        description = await env.client.get_workflow_handle(workflow_id).describe()
        if description.status != WorkflowExecutionStatus.RUNNING:
            break
        await env.sleep(step)
    handle = env.client.get_workflow_handle_for(DecisionWorkflow.run, workflow_id, run_id=description.run_id)
    state = await handle.result()
    assert state is not None
    return state
