"""Fixtures of the fault suite: servers of its own (module-wide) and, per test, a database, a task queue,
worker processes and the application layer, all on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from accord.app import Accord
from events.migrate import migrate
from faults.servers import Postgres, Temporal
from faults.stack import FaultStack


@pytest.fixture(scope="module")
def fault_root(request: pytest.FixtureRequest) -> Iterator[Path]:
    """The servers' files, the workers' logs, and any failing run's histories; kept when a test failed
    (or with ACCORD_FAULT_KEEP=1), for a look afterwards."""
    root = Path(tempfile.mkdtemp(prefix="accord-faults-"))
    failed_before = request.session.testsfailed
    yield root
    if os.environ.get("ACCORD_FAULT_KEEP") or request.session.testsfailed > failed_before:
        print(f"\nthe fault suite's files are kept in {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def fault_postgres(fault_root: Path) -> Iterator[Postgres]:
    server = Postgres(fault_root)
    server.start()
    yield server
    with contextlib.suppress(Exception):  # already stopped by a test that failed half-way
        server.stop("fast")


@pytest.fixture(scope="module")
async def fault_temporal(fault_root: Path) -> AsyncIterator[Temporal]:
    server = Temporal(fault_root)
    await server.start()
    yield server
    server.kill()


@pytest.fixture
async def fault_stack(fault_root: Path, fault_postgres: Postgres, fault_temporal: Temporal) -> AsyncIterator[FaultStack]:
    name = f"accord_{uuid.uuid4().hex[:10]}"
    url = await fault_postgres.create_database(name)
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(url, min_size=1, max_size=20)
    client = await fault_temporal.client()
    task_queue = f"faults-{uuid.uuid4().hex[:8]}"
    stack = FaultStack(
        root=fault_root / name, postgres=fault_postgres, temporal=fault_temporal, database_url=url,
        app=Accord(client=client, pool=pool, task_queue=task_queue),
    )
    stack.root.mkdir()
    try:
        yield stack
    finally:
        stack.stop_workers()
        await stack.restore()
        await pool.close()
