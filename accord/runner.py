"""Long-running services: the worker, the HTTP API, and `accord dev` (both, on the embedded stack)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncGenerator

import asyncpg
import click
import structlog
from temporalio.worker import Worker

from accord.app import Accord
from accord.config import DevStack, Settings, migration_url
from accord.devstack import advertised, dev_services, without_password
from accord.keeper import dev_signer, keeping
from accord.temporal import connect
from accord.worker import build_worker, workflow_runner
from events.migrate import migrate

log = structlog.get_logger("accord")


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM, for a graceful stop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


@contextlib.asynccontextmanager
async def migrated_app(settings: Settings, *, temporal_address: str | None = None) -> AsyncGenerator[Accord, None]:
    """The application, once the schema is migrated (as its owner, ACCORD_MIGRATION_DATABASE_URL, where
    one is configured; the application's own role has no rights to migrate)."""
    conn = await asyncpg.connect(migration_url(settings))
    try:
        applied = await migrate(conn)
    finally:
        await conn.close()
    if applied:
        log.info("migrations applied", migrations=applied)
    client = await connect(settings, address=temporal_address) if temporal_address else None
    app = await Accord.connect(settings, client=client)
    try:
        yield app
    finally:
        await app.close()


def worker_for(app: Accord, settings: Settings) -> Worker:
    return build_worker(
        app.client, app.pool, app.task_queue,
        max_cached_workflows=settings.worker_cache,
        runner=workflow_runner(settings.workflow_sandbox), settings=settings,
    )


async def run_worker_service(settings: Settings) -> None:
    stop = stop_on_signals()
    async with migrated_app(settings) as app, worker_for(app, settings), keeping(app.pool, settings):
        log.info("worker running", task_queue=app.task_queue, namespace=app.client.namespace)
        await stop.wait()
        log.info("worker stopping: finishing the tasks in hand")


async def run_api_service(settings: Settings) -> None:
    from accord.api import serve

    stop = stop_on_signals()
    async with migrated_app(settings) as app:
        await serve(app, settings, stop)


async def run_dev(settings: Settings) -> None:
    from accord.api import serve

    stop = stop_on_signals()
    async with dev_services(settings) as endpoints:
        settings = settings.model_copy(update={"database_url": endpoints.database_url, "migration_database_url": endpoints.migration_url})
        api_url = f"http://{settings.api_host}:{settings.api_port}"
        stack = DevStack(
            pid=os.getpid(),
            database_url=endpoints.database_url,
            migration_database_url=endpoints.migration_url,
            temporal_address=endpoints.temporal_address,
            api_url=api_url,
            ui_url=endpoints.ui_url,
        )
        async with migrated_app(settings, temporal_address=endpoints.temporal_address) as app:
            with advertised(settings, stack):
                signer = dev_signer(settings)
                async with worker_for(app, settings), keeping(app.pool, settings, signer):
                    api = asyncio.create_task(serve(app, settings, stop))
                    click.echo(
                        "accord dev is running (Ctrl-C stops it)\n"
                        f"  HTTP API:        {api_url}  (OpenAPI: {api_url}/docs)\n"
                        f"  members' pages:  {api_url}/web\n"
                        f"  Temporal:        {endpoints.temporal_address}\n"
                        f"  Temporal Web UI: {endpoints.ui_url or '(your Temporal server)'}\n"
                        f"  PostgreSQL:      {without_password(endpoints.database_url)}\n"
                        f"  data directory:  {settings.data_dir}\n"
                        f"  log public key:  {signer.verifier}  (checkpoints: accord log checkpoint ALLIANCE)\n"
                        "Other accord commands in another terminal use this stack with no configuration."
                    )
                    await stop.wait()
                    log.info("stopping the dev stack")
                    await api
