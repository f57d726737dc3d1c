"""The accord worker: every workflow and activity on one task queue, stopped cleanly by a signal."""

from __future__ import annotations

import asyncio
import signal

import asyncpg
import structlog
from temporalio.client import Client
from temporalio.worker import Worker

from accord.config import Settings, database_url
from accord.logs import configure_logging
from accord.temporal import connect
from activities.store import StoreActivities
from events.migrate import migrate
from events.store import EventStore
from workflows.alliance import AllianceWorkflow

WORKFLOWS = [AllianceWorkflow]

log = structlog.get_logger("accord.worker")


def build_worker(client: Client, pool: asyncpg.Pool, task_queue: str) -> Worker:
    store = StoreActivities(EventStore(pool))
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=[store.append_events],
        max_concurrent_local_activities=200,
    )


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    """Migrate, then run the worker until `stop` is set (graceful: running tasks finish)."""
    pool = await asyncpg.create_pool(database_url(settings), min_size=1, max_size=settings.db_pool_size)
    try:
        async with pool.acquire() as conn:
            applied = await migrate(conn)
        if applied:
            log.info("migrations applied", migrations=applied)
        client = await connect(settings)
        worker = build_worker(client, pool, settings.task_queue)
        async with worker:
            log.info("worker running", task_queue=settings.task_queue, namespace=client.namespace)
            await stop.wait()
            log.info("worker stopping")
    finally:
        await pool.close()


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level)

    async def _main() -> None:
        await run_worker(settings, stop_on_signals())

    asyncio.run(_main())
