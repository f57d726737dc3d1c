"""Schema migrations: ordered plain-SQL files, applied once each, recorded with a checksum.

The files live in ``events/migrations/`` as ``NNNN_name.sql`` and ship with the package (they are
read through importlib.resources, so an installed wheel migrates as well as a checkout). Each file
runs in its own transaction together with its row in ``accord.schema_migrations`` (version, name,
sha-256 of the file, time), so a migration is either fully applied and recorded or not at all.

Rules:

* files are applied in version order; one already recorded is skipped;
* an applied file whose checksum has changed stops the run with :class:`MigrationError`: history
  that has been applied must not be rewritten, add a new file instead;
* the whole run holds a PostgreSQL advisory lock on :data:`MIGRATION_LOCK_KEY`, so processes that
  start together (several workers, a CLI and a worker) migrate one after the other and the later
  ones find nothing left to do;
* versions recorded in the database but unknown to this code (a newer release migrated first) are
  left alone, so an older release can still start during a rolling upgrade.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

import asyncpg
import structlog

from events.errors import ConfigurationError

if TYPE_CHECKING:
    from events.store import Connection

__all__ = ["MIGRATION_LOCK_KEY", "Migration", "MigrationError", "load_migrations", "migrate"]

# The ASCII bytes of "accord" read as one integer: a fixed key any operator can recognise in
# pg_locks (objid) while a migration runs.
MIGRATION_LOCK_KEY = int.from_bytes(b"accord", "big")

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_log = structlog.get_logger(__name__)


class MigrationError(ConfigurationError):
    """The migrations on disk and the ones recorded in the database disagree."""


@dataclass(frozen=True)
class Migration:
    """One SQL file of ``events/migrations``."""

    version: int
    name: str  # file name without .sql, e.g. "0001_event_store"
    sql: str
    checksum: str  # sha-256 hex of the file's bytes


def load_migrations() -> list[Migration]:
    """All migration files shipped with the package, in version order."""
    folder = resources.files("events") / "migrations"
    migrations: list[Migration] = []
    for entry in folder.iterdir():
        match = _FILE_NAME.match(entry.name)
        if match is None:
            continue
        raw = entry.read_bytes()
        migrations.append(
            Migration(
                version=int(match.group(1)),
                name=entry.name.removesuffix(".sql"),
                sql=raw.decode("utf-8"),
                checksum=hashlib.sha256(raw).hexdigest(),
            )
        )
    migrations.sort(key=lambda m: m.version)
    _check_unique_versions(migrations)
    return migrations


def _check_unique_versions(migrations: list[Migration]) -> None:
    for before, after in itertools.pairwise(migrations):
        if before.version == after.version:
            raise MigrationError(
                f"two migration files share version {before.version:04d}: "
                f"{before.name}.sql and {after.name}.sql"
            )


async def migrate(conn_or_pool: Connection | asyncpg.Pool) -> list[str]:
    """Apply the pending migrations; return the names applied by this call (oldest first)."""
    if isinstance(conn_or_pool, asyncpg.Pool):
        async with conn_or_pool.acquire() as conn:
            return await _migrate(conn)
    return await _migrate(conn_or_pool)


READ_MODELS_MIGRATION = "0050_read_models"
LOG_MIGRATION = "0060_transparency_log"


async def _migrate(conn: Connection) -> list[str]:
    migrations = load_migrations()
    # A session lock rather than a transaction lock: the run spans one transaction per file.
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        applied = await _applied_checksums(conn)
        _check_unchanged(migrations, applied)
        names: list[str] = []
        for migration in migrations:
            if migration.version not in applied:
                await _apply(conn, migration)
                names.append(migration.name)
        return names
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)


async def _fill(conn: Connection, name: str) -> None:
    """What a migration's new tables hold of a record kept before them, computed from the events in the
    migration's own transaction (so that a crash leaves neither the table nor its contents half made)."""
    if name == READ_MODELS_MIGRATION:  # the read models, folded from the log
        from events.projector import rebuild

        await rebuild(conn)
    elif name == LOG_MIGRATION:  # the transparency logs: every event of an alliance's streams becomes a leaf
        from events.log import backfill

        await backfill(conn)


async def _applied_checksums(conn: Connection) -> dict[int, tuple[str, str]]:
    """version -> (name, checksum) of what the database has recorded (empty on a new database)."""
    exists = await conn.fetchval("SELECT to_regclass('accord.schema_migrations') IS NOT NULL")
    if not exists:
        return {}
    rows = await conn.fetch("SELECT version, name, checksum FROM accord.schema_migrations")
    return {row["version"]: (row["name"], row["checksum"]) for row in rows}


def _check_unchanged(migrations: list[Migration], applied: dict[int, tuple[str, str]]) -> None:
    for migration in migrations:
        recorded = applied.get(migration.version)
        if recorded is None:
            continue
        name, checksum = recorded
        if checksum != migration.checksum:
            raise MigrationError(
                f"migration {migration.name}.sql has changed since it was applied as {name} "
                f"(recorded sha-256 {checksum}, file now {migration.checksum}); applied "
                "migrations must not be edited: restore the file and add a new migration instead"
            )


async def _apply(conn: Connection, migration: Migration) -> None:
    async with conn.transaction():
        await conn.execute(migration.sql)
        await _fill(conn, migration.name)
        await conn.execute(
            "INSERT INTO accord.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
            migration.version,
            migration.name,
            migration.checksum,
        )
    _log.info("migration applied", migration=migration.name, checksum=migration.checksum)
