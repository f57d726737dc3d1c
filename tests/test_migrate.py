"""Migrations against a real PostgreSQL: order, bookkeeping, repeat runs, concurrent runs,
checksum protection, and the comments auditors read with psql."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from importlib import resources

import asyncpg
import pytest

from events import migrate as migrate_module
from events.migrate import Migration, MigrationError, load_migrations, migrate


@pytest.fixture
async def empty_conn(empty_db_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(empty_db_url)
    try:
        yield conn
    finally:
        await conn.close()


def all_names() -> list[str]:
    return [m.name for m in load_migrations()]


def test_migrations_are_loaded_from_the_package_in_version_order() -> None:
    migrations = load_migrations()
    assert migrations[0].name == "0001_event_store"
    versions = [m.version for m in migrations]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    folder = resources.files("events") / "migrations"
    for migration in migrations:
        raw = (folder / f"{migration.name}.sql").read_bytes()
        assert migration.checksum == hashlib.sha256(raw).hexdigest()


async def test_a_fresh_database_gets_every_migration_recorded(
    empty_conn: asyncpg.Connection,
) -> None:
    applied = await migrate(empty_conn)
    assert applied == all_names()
    rows = await empty_conn.fetch(
        "SELECT version, name, checksum, applied_at FROM accord.schema_migrations ORDER BY version"
    )
    assert [(r["version"], r["name"], r["checksum"]) for r in rows] == [
        (m.version, m.name, m.checksum) for m in load_migrations()
    ]
    assert all(r["applied_at"] is not None for r in rows)


async def test_migrating_twice_applies_nothing_the_second_time(
    empty_conn: asyncpg.Connection,
) -> None:
    assert await migrate(empty_conn) == all_names()
    assert await migrate(empty_conn) == []


async def test_migrate_accepts_a_pool(empty_db_url: str) -> None:
    async with asyncpg.create_pool(empty_db_url, min_size=1, max_size=2) as pool:
        assert await migrate(pool) == all_names()
        assert await migrate(pool) == []


async def test_two_concurrent_migrations_of_a_fresh_database_both_succeed(
    empty_db_url: str,
) -> None:
    first, second = await asyncio.gather(
        asyncpg.connect(empty_db_url), asyncpg.connect(empty_db_url)
    )
    try:
        results = await asyncio.gather(migrate(first), migrate(second))
    finally:
        await asyncio.gather(first.close(), second.close())
    # One of them did the work, the other found nothing left to do.
    assert sorted(results, key=len) == [[], all_names()]


async def test_a_changed_applied_migration_is_refused(empty_conn: asyncpg.Connection) -> None:
    await migrate(empty_conn)
    await empty_conn.execute(
        "UPDATE accord.schema_migrations SET checksum = 'not-what-was-applied' WHERE version = 1"
    )
    with pytest.raises(
        MigrationError, match=r"0001_event_store\.sql has changed since it was applied"
    ):
        await migrate(empty_conn)
    # The refusal released the lock: another run is not blocked.
    assert await empty_conn.fetchval(
        "SELECT pg_try_advisory_lock($1)", migrate_module.MIGRATION_LOCK_KEY
    )


async def test_a_failing_migration_leaves_nothing_behind(
    empty_conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = Migration(version=9999, name="9999_broken", sql="CREATE TABLE accord.half (x int);"
                       " SELECT no_such_function();", checksum="x")  # fmt: skip
    monkeypatch.setattr(migrate_module, "load_migrations", lambda: [*load_migrations(), broken])
    with pytest.raises(asyncpg.UndefinedFunctionError):
        await migrate(empty_conn)
    assert await empty_conn.fetchval("SELECT to_regclass('accord.half')") is None
    assert (
        await empty_conn.fetchval("SELECT max(version) FROM accord.schema_migrations")
        == load_migrations()[-1].version
    )
    monkeypatch.undo()
    assert await migrate(empty_conn) == []


async def test_every_event_store_object_is_explained_for_auditors(db_url: str) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        undocumented = await conn.fetch(
            """
            SELECT a.attrelid::regclass::text AS tbl, a.attname
            FROM pg_attribute a
            WHERE a.attrelid IN ('accord.events'::regclass, 'accord.schema_migrations'::regclass)
              AND a.attnum > 0 AND NOT a.attisdropped
              AND col_description(a.attrelid, a.attnum) IS NULL
            """
        )
        assert undocumented == []
        for obj, catalog in [
            ("accord.events", "pg_class"),
            ("accord.schema_migrations", "pg_class"),
            ("accord.events_tailing_idx", "pg_class"),
        ]:
            assert await conn.fetchval(f"SELECT obj_description('{obj}'::regclass, '{catalog}')")
        assert await conn.fetchval(
            "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = 'accord_app'"
        )
        triggers = await conn.fetch(
            "SELECT tgname, obj_description(oid, 'pg_trigger') AS comment FROM pg_trigger "
            "WHERE tgrelid = 'accord.events'::regclass AND NOT tgisinternal"
        )
        assert {t["tgname"] for t in triggers} == {
            "events_refuse_update_delete",
            "events_refuse_truncate",
        }
        assert all(t["comment"] for t in triggers)
    finally:
        await conn.close()
