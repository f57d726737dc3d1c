"""The log keeper: the deployment's key, and the loop in the worker that signs checkpoints as logs grow.

Real PostgreSQL; the keeper runs as the worker runs it (`keeping`), with short intervals.
"""

from __future__ import annotations

import asyncio
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from uuid import uuid4

import asyncpg
import pytest
from decision_support import behind_the_triggers, unique
from pydantic import SecretStr

from accord.config import Settings
from accord.keeper import dev_signer, keeping, log_keys, log_signer, new_key_file
from events.errors import ConfigurationError
from events.log import TransparencyLog
from events.notes import COSIGNATURE, Signer
from events.store import EventStore, NewEvent


def events(count: int) -> list[NewEvent]:
    return [NewEvent(event_id=uuid4(), event_type="Note", data={"n": n}) for n in range(count)]


async def checkpoint_sizes(pool: asyncpg.Pool, alliance_id: str) -> list[int]:
    rows = await pool.fetch("SELECT tree_size FROM accord.checkpoints WHERE alliance_id = $1 ORDER BY tree_size", alliance_id)
    return [row["tree_size"] for row in rows]


async def until(probe: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> None:
    for _ in range(int(seconds * 20)):
        if await probe():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {seconds} s")


class TestTheKeeper:
    """Signs a checkpoint once a log grew by N events, or grew at all and T seconds passed; one broken log
    never stops the others'."""

    async def test_a_checkpoint_is_signed_after_n_events_or_t_seconds(self, store: EventStore, pool: asyncpg.Pool, tmp_path: Path) -> None:
        signer = Signer.generate("accord.test")
        settings = Settings(data_dir=tmp_path, log_name="accord.test", checkpoint_events=5, checkpoint_seconds=2)
        alliance_id = unique("rivers")
        async with keeping(pool, settings, signer):
            await store.append(f"alliance-{alliance_id}", 0, events(6))
            await until(lambda: _signed(pool, alliance_id, [6]), seconds=5)  # six events: due at once
            await store.append(f"alliance-{alliance_id}", 6, events(1))
            await asyncio.sleep(0.5)
            assert await checkpoint_sizes(pool, alliance_id) == [6]  # one event, not yet two seconds
            await until(lambda: _signed(pool, alliance_id, [6, 7]), seconds=8)
        report = await TransparencyLog(pool).verify(alliance_id, [signer.verifier])
        assert report.ok and report.latest == 7, report

    async def test_an_alliance_whose_log_lost_an_event_is_reported_and_the_others_are_still_signed(
        self, store: EventStore, pool: asyncpg.Pool, tmp_path: Path
    ) -> None:
        signer = Signer.generate("accord.test")
        settings = Settings(data_dir=tmp_path, log_name="accord.test", checkpoint_events=1, checkpoint_seconds=60)
        broken, healthy = unique("broken"), unique("healthy")
        await store.append(f"alliance-{broken}", 0, events(3))
        async with behind_the_triggers(pool) as conn:  # its second event is gone, its leaf left behind
            await conn.execute("DELETE FROM accord.events WHERE stream_id = $1 AND stream_version = 2", f"alliance-{broken}")
        async with keeping(pool, settings, signer):
            await store.append(f"alliance-{healthy}", 0, events(2))
            await until(lambda: _signed(pool, healthy, [2]))
            await store.append(f"alliance-{healthy}", 2, events(1))
            await until(lambda: _signed(pool, healthy, [2, 3]))
        assert await checkpoint_sizes(pool, broken) == []


async def _signed(pool: asyncpg.Pool, alliance_id: str, sizes: list[int]) -> bool:
    return await checkpoint_sizes(pool, alliance_id) == sizes


class TestTheLogKey:
    """Configured by value or file, generated once for the dev stack, never overwritten; a key that does not
    read is refused by name, never skipped."""

    def test_the_dev_stack_generates_its_key_once_for_its_owner_alone(self, tmp_path: Path) -> None:
        settings = Settings(data_dir=tmp_path, log_name="dev.example")
        assert log_signer(settings) is None
        first = dev_signer(settings)
        assert stat.S_IMODE(settings.dev_log_key.stat().st_mode) == 0o600
        assert first.name == "dev.example" and str(dev_signer(settings)) == str(first)
        assert [str(k) for k in log_keys(settings)] == [str(first.verifier)]

    def test_an_empty_key_setting_is_no_key(self, tmp_path: Path) -> None:
        assert log_signer(Settings(data_dir=tmp_path, log_key=SecretStr(""))) is None  # compose passes ${ACCORD_LOG_KEY:-}

    def test_a_configured_key_wins_and_past_keys_still_verify(self, tmp_path: Path) -> None:
        current, past = Signer.generate("accord.example.org"), Signer.generate("accord.example.org")
        settings = Settings(data_dir=tmp_path, log_key=SecretStr(str(current)), log_public_keys=f" {past.verifier} ")
        assert str(log_signer(settings)) == str(current)
        assert [str(k) for k in log_keys(settings)] == [str(current.verifier), str(past.verifier)]
        on_file = tmp_path / "log.key"
        on_file.write_text(str(past) + "\n")
        assert str(log_signer(Settings(data_dir=tmp_path / "other", log_key_file=on_file))) == str(past)

    @pytest.mark.parametrize(
        ("setting", "message"),
        [
            ({"log_key": SecretStr("PRIVATE+KEY+x")}, "ACCORD_LOG_KEY: a private key reads PRIVATE+KEY+"),
            ({"log_key_file": Path("/nonexistent/log.key")}, "cannot read the log key /nonexistent/log.key"),
            ({"log_public_keys": "not-a-key"}, "a log public key: a public key reads <name>+<key id>+<base64 key>"),
        ],
    )
    def test_a_key_that_does_not_read_is_refused_by_name(self, tmp_path: Path, setting: dict[str, object], message: str) -> None:
        with pytest.raises(ConfigurationError, match=message.replace("+", r"\+")):
            log_keys(Settings(data_dir=tmp_path, **setting))  # type: ignore[arg-type]  # one setting at a time

    def test_a_key_file_is_never_overwritten(self, tmp_path: Path) -> None:
        path = tmp_path / "witness" / "key"
        witness = new_key_file(path, "w.example", COSIGNATURE)
        with pytest.raises(ConfigurationError, match="exists: a key is never overwritten"):
            new_key_file(path, "w.example", COSIGNATURE)
        assert Signer.parse(path.read_text()).kind == COSIGNATURE and str(Signer.parse(path.read_text())) == str(witness)
