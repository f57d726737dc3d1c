"""`python -m faults.worker`: an accord worker that does harm at one chosen point of the commit path.

The plan is a JSON file named by ACCORD_FAULT_PLAN: {"point": ..., "stream": prefix, "event_type": type or
null}. The first append to a stream starting with `prefix` (with an event of that type) carries it out, once (the file is renamed `.fired` first, so a restarted
worker does not do it again):

- `before_append`: the worker dies (SIGKILL) before the append reaches PostgreSQL;
- `after_append`: the append commits, then the worker dies before the workflow sees the receipts;
- `after_append_temporal`: the append commits and the workflow gets the receipts, but the Temporal server
  dies (SIGKILL of the process group in ACCORD_FAULT_TEMPORAL_PGID) so the workflow task's completion is lost.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import asyncpg
from temporalio import activity

from accord.config import Settings
from accord.logs import configure_logging
from accord.runner import stop_on_signals
from accord.temporal import connect
from accord.worker import build_worker, workflow_runner
from activities.store import APPEND_EVENTS, AppendRequest, AppendResult, StoreActivities
from events.store import EventStore


def _plan(request: AppendRequest) -> str | None:
    path = Path(os.environ["ACCORD_FAULT_PLAN"])
    try:
        plan = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    if not request.stream_id.startswith(plan["stream"]):
        return None
    if plan.get("event_type") and plan["event_type"] not in {event.event_type for event in request.events}:
        return None
    path.rename(path.with_suffix(".fired"))
    return str(plan["point"])


class HarmfulStore(StoreActivities):
    @activity.defn(name=APPEND_EVENTS)
    async def append_events(self, request: AppendRequest) -> AppendResult:
        point = _plan(request)
        if point == "before_append":
            os.kill(os.getpid(), signal.SIGKILL)
        result = await super().append_events(request)
        if point == "after_append":
            os.kill(os.getpid(), signal.SIGKILL)
        if point == "after_append_temporal":
            os.killpg(int(os.environ["ACCORD_FAULT_TEMPORAL_PGID"]), signal.SIGKILL)
        return result


async def main() -> None:
    """Unlike `accord worker`, it starts without the database (the tests migrate it beforehand), so that
    a test can start it while PostgreSQL is down."""
    settings = Settings()
    configure_logging(settings.log_level, json=True)
    stop = stop_on_signals()
    client = await connect(settings)
    async with asyncpg.create_pool(settings.database_url, min_size=0, max_size=10) as pool:
        worker = build_worker(
            client, pool, settings.task_queue,
            runner=workflow_runner(settings.workflow_sandbox), store=HarmfulStore(EventStore(pool)),
        )
        async with worker:
            await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
