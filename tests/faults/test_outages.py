"""While PostgreSQL or Temporal is down, the CLI and the HTTP API say so at once, in one line or one JSON
body: exit 75 and 503 with Retry-After (events/errors.py), never a traceback or a bare 500; the Python
API raises `Unavailable`, never asyncpg's or Temporal's own errors."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from api_support import bearer, client_for
from cli_support import Cli, clean_environment

from accord.app import Accord
from accord.config import Settings
from events.alliance import FoundAlliance
from events.errors import Unavailable
from faults.scenarios import COORDINATOR, fault_charter
from faults.stack import FaultStack


async def founded(stack: FaultStack) -> tuple[str, str]:
    alliance_id = f"outage-{uuid.uuid4().hex[:6]}"
    founded = await stack.app.found_alliance(
        FoundAlliance(alliance_id=alliance_id, charter=fault_charter(), founder_id=COORDINATOR, founder_name="GreenWatch")
    )
    return alliance_id, founded.token.token


def cli_for(stack: FaultStack, home: Path) -> Cli:
    env = clean_environment(home) | {
        "TEMPORAL_ADDRESS": stack.temporal.address, "ACCORD_DATABASE_URL": stack.database_url,
        "ACCORD_TASK_QUEUE": stack.app.task_queue, "ACCORD_COMMAND_PATIENCE": "3",
    }
    return Cli(env, home)


def said_unavailable(ran_code: int, stderr: str, service: str) -> None:
    assert ran_code == 75, stderr
    assert stderr.startswith("error: ") and service in stderr and "Traceback" not in stderr, stderr


async def test_with_postgresql_down_commands_and_reads_answer_unavailable(fault_stack: FaultStack, tmp_path: Path) -> None:
    stack = fault_stack
    stack.worker()
    alliance_id, token = await founded(stack)
    cli = cli_for(stack, tmp_path)
    async with client_for(stack.app, Settings()) as api:
        stack.postgres.stop()
        try:
            listed = await cli(f"decision list {alliance_id}")
            opened = await cli(f"decision open {alliance_id} d1 --as {COORDINATOR} --title T --point March")
            read = await api.get(f"/alliances/{alliance_id}/decisions", headers=bearer(token))
            with pytest.raises(Unavailable, match="PostgreSQL"):
                await stack.app.decisions(alliance_id)
            with pytest.raises(Unavailable, match="PostgreSQL"):
                await Accord.connect(Settings(database_url=stack.database_url, task_queue=stack.app.task_queue))
        finally:
            stack.postgres.start()

    said_unavailable(listed.code, listed.stderr, "PostgreSQL")
    said_unavailable(opened.code, opened.stderr, "PostgreSQL")
    assert read.status_code == 503 and read.headers["Retry-After"] == "5", read.text
    assert "PostgreSQL" in read.json()["detail"] and read.json()["outcome_unknown"] is False


async def test_with_temporal_down_commands_and_reads_answer_unavailable(fault_stack: FaultStack, tmp_path: Path) -> None:
    stack = fault_stack
    stack.worker()
    alliance_id, token = await founded(stack)
    cli = cli_for(stack, tmp_path)
    stack.app.patience = 3
    async with client_for(stack.app, Settings()) as api:
        stack.temporal.kill()
        try:
            shown = await cli(f"alliance show {alliance_id}")
            read = await api.get(f"/alliances/{alliance_id}", headers=bearer(token))
            with pytest.raises(Unavailable, match="Temporal"):
                await stack.app.alliance(alliance_id)
        finally:
            await stack.temporal.start()

    said_unavailable(shown.code, shown.stderr, "Temporal")
    assert read.status_code == 503 and "Retry-After" in read.headers, read.text
    assert "Temporal" in read.json()["detail"]
