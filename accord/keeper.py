"""The log keeper: the deployment's log key, and the loop that signs each alliance's checkpoints.

The worker runs the keeper beside its workflows (`accord worker`, `accord dev`). Every alliance whose log
has grown by ACCORD_CHECKPOINT_EVENTS events, or has grown at all and waited ACCORD_CHECKPOINT_SECONDS,
gets a new checkpoint. Several workers may keep at once: the tree's writers take turns per alliance, and a
checkpoint of a size already signed is not signed twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncGenerator
from pathlib import Path

import asyncpg
import structlog

from accord.config import Settings
from events.errors import AccordError, ConfigurationError
from events.log import TransparencyLog
from events.notes import ED25519, NoteError, Signer, Verifier

log = structlog.get_logger("accord.keeper")

_RETRY_BROKEN = 300.0
"""Seconds before the keeper tries again an alliance whose log it could not hash."""

__all__ = ["dev_signer", "keeping", "log_keys", "log_signer", "new_key_file"]


def log_signer(settings: Settings) -> Signer | None:
    """The log's signing key as configured (ACCORD_LOG_KEY, ACCORD_LOG_KEY_FILE), or the dev stack's; None
    when there is none. A key that is configured and unreadable is refused, never skipped."""
    if settings.log_key is not None and settings.log_key.get_secret_value().strip():  # set empty: unset (compose)
        return _parsed(settings.log_key.get_secret_value(), "ACCORD_LOG_KEY")
    path = settings.log_key_file or (settings.dev_log_key if settings.dev_log_key.exists() else None)
    if path is None:
        return None
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigurationError(f"cannot read the log key {path}: {error.strerror}") from None
    return _parsed(text, str(path))


def _parsed(text: str, where: str) -> Signer:
    try:
        return Signer.parse(text)
    except NoteError as error:
        raise ConfigurationError(f"{where}: {error}") from None


def dev_signer(settings: Settings) -> Signer:
    """The dev stack's log key: the configured one, or one generated into the data directory (0600) once."""
    signer = log_signer(settings)
    if signer is not None:
        return signer
    signer = new_key_file(settings.dev_log_key, settings.log_name)
    log.info("generated the log's signing key", path=str(settings.dev_log_key), public_key=str(signer.verifier))
    return signer


def new_key_file(path: Path, name: str, kind: int = ED25519) -> Signer:
    """A new key, written to `path` for its owner alone (0600); a file that exists is never overwritten."""
    try:
        signer = Signer.generate(name, kind)
    except NoteError as error:
        raise ConfigurationError(str(error)) from None
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigurationError(f"{path} exists: a key is never overwritten (move it away first)") from None
    with os.fdopen(fd, "w") as file:
        file.write(str(signer) + "\n")
    return signer


def log_keys(settings: Settings, extra: tuple[str, ...] = ()) -> list[Verifier]:
    """The public keys a checkpoint of this deployment may be signed with: the current key's, the earlier
    ones of ACCORD_LOG_PUBLIC_KEYS (where a process holds no signing key, its current public key too), and any
    given."""
    signer = log_signer(settings)
    texts = [text for text in (*settings.log_public_keys.split(","), *extra) if text.strip()]
    try:
        keys = [Verifier.parse(text) for text in texts]
    except NoteError as error:
        raise ConfigurationError(f"a log public key: {error}") from None
    return ([signer.verifier] if signer else []) + keys


async def keep(pool: asyncpg.Pool, signer: Signer, settings: Settings, stop: asyncio.Event) -> None:
    """Sign the checkpoints that are due until `stop` is set; an outage is logged and waited out. An alliance
    whose log cannot be hashed (its record lost an event: `accord audit verify --alliance` names it) is
    reported and tried again after a while, and never stops the others'."""
    transparency = TransparencyLog(pool)
    poll = min(1.0, settings.checkpoint_seconds)
    broken: dict[str, float] = {}  # alliance -> when to try it again
    while not stop.is_set():
        try:
            for alliance_id in await transparency.due(settings.checkpoint_events, settings.checkpoint_seconds):
                if broken.get(alliance_id, 0.0) > time.monotonic():
                    continue
                try:
                    checkpoint = await transparency.issue(alliance_id, signer, settings.log_name)
                except AccordError as error:
                    log.error("the alliance's log cannot be signed", alliance_id=alliance_id, error=error.message)
                    broken[alliance_id] = time.monotonic() + _RETRY_BROKEN
                    continue
                broken.pop(alliance_id, None)
                if checkpoint is not None:
                    log.info("checkpoint signed", alliance_id=alliance_id, tree_size=checkpoint.tree_size)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            log.warning("checkpoints wait for the database", error=str(error))
            poll = min(poll * 2, 30.0)
        else:
            poll = min(1.0, settings.checkpoint_seconds)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), poll)


@contextlib.asynccontextmanager
async def keeping(pool: asyncpg.Pool, settings: Settings, signer: Signer | None = None) -> AsyncGenerator[None, None]:
    """Run the keeper while the block runs (with the configured key, or `signer`); without a key, say so."""
    signer = signer or log_signer(settings)
    if signer is None:
        log.warning("no log key configured (ACCORD_LOG_KEY or ACCORD_LOG_KEY_FILE): no checkpoints are signed")
        yield
        return
    stop = asyncio.Event()
    task = asyncio.create_task(keep(pool, signer, settings, stop))
    try:
        yield
    finally:
        stop.set()
        await task
