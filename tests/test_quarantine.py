"""A record changed outside accord stops its process visibly (quarantine), and the audit names the row.

Each case changes a decision's stream the way someone with database access could: the application role
appending a row with a valid hash, a superuser deleting the tail or rewriting an event behind the
append-only triggers. The process refuses commands at once, naming the stream, the version and what to
run; its coordinators are told; its search attribute says so; `audit check/replay/export` report the row
and carry on; once the record is repaired, `audit resume` lets the process go on.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from api_support import client_for
from cli_support import cli_against
from decision_support import alliance_with_members, behind_the_triggers, eventually, notified, stance, unique
from temporalio.testing import WorkflowEnvironment

from accord.app import Accord
from accord.audit import check, export, replay, resume
from accord.config import Settings
from events.errors import CorruptRecord
from events.processes import DECISION
from events.store import EventStore, NewEvent
from workflows import search


async def a_decision(app: Accord) -> tuple[str, str]:
    """An open decision of a 5-member alliance, with amber's stance recorded (stream at version 2)."""
    alliance_id = await alliance_with_members(app, unique("rivers"))
    decision_id = unique("d")
    await app.open_decision(alliance_id, "gw", decision_id, "Spring campaign", [{"text": "A march"}])
    await stance(app, decision_id, "amber", "p1", "agree")
    return decision_id, DECISION.stream_name(decision_id, alliance_id)


def stance_data(member: str) -> dict[str, Any]:
    return {"at": datetime.now(UTC).isoformat(), "member_id": member, "point_id": "p1", "stance": "agree"}


async def refused_as_quarantined(app: Accord, decision_id: str, stream: str, version: int) -> str:
    with pytest.raises(CorruptRecord) as caught:
        await stance(app, decision_id, "cedar", "p1", "agree")
    refusal = caught.value
    assert f"{stream} is quarantined" in refusal.message
    assert f"version {version}" in refusal.message
    assert f"accord audit check {stream}" in refusal.message
    assert f"accord audit resume {stream}" in refusal.message
    return refusal.message


async def stage_attribute(app: Accord, stream: str) -> str | None:
    description = await app.client.get_workflow_handle(stream).describe()
    return description.typed_search_attributes.get(search.STAGE)


class TestARowAppendedFromOutside:
    """The application role appends a row with a valid hash: the chain verifies, the process stops."""

    async def test_the_process_refuses_commands_at_once_and_says_what_to_run(self, app: Accord, store: EventStore, pool: asyncpg.Pool) -> None:
        decision_id, stream = await a_decision(app)
        await store.append(stream, 2, [NewEvent(event_id=uuid.uuid4(), event_type="StanceTaken", data=stance_data("birch"),
                                                metadata={"actor": "birch"})])
        message = await refused_as_quarantined(app, decision_id, stream, 3)
        assert "(StanceTaken)" in message and "did not record it" in message
        started = time.monotonic()
        await refused_as_quarantined(app, decision_id, stream, 3)  # the second is refused by the validator
        assert time.monotonic() - started < 5
        assert (await store.verify(streams=[stream])).ok  # nothing in the chain gives it away
        assert await stage_attribute(app, stream) == "quarantined"
        told = await eventually(lambda: notified(pool, stream, "quarantined"), lambda rows: len(rows) > 0)  # an activity writes it
        assert [r["member_id"] for r in told] == ["gw"]
        assert [e.event_type for e in await store.read_stream(stream)] == ["DecisionOpened", "StanceTaken", "StanceTaken"]

    async def test_the_audit_names_the_row_and_carries_on(self, app: Accord, store: EventStore) -> None:
        decision_id, stream = await a_decision(app)
        await store.append(stream, 2, [NewEvent(event_id=uuid.uuid4(), event_type="StanceTaken", data=stance_data("birch"),
                                                metadata={"actor": "birch"})])
        await refused_as_quarantined(app, decision_id, stream, 3)

        report = await check(app, stream)
        checks = {c.name: c for c in report.checks}
        assert not report.ok
        assert checks["record"].ok  # the row is a well-formed stance: the record folds with it
        assert "points.p1.stances.birch: in the record, missing in the workflow" in checks["state"].detail
        assert "the store holds events the workflow did not record, after its head (version 2): version 3 (StanceTaken)" in checks["head"].detail
        assert not checks["process"].ok and f"{stream} is quarantined" in checks["process"].detail
        assert checks["replay"].ok

        replayed = await replay(store, stream)
        assert replayed.bad_rows == []
        assert sorted(replayed.state.points["p1"].stances) == ["amber", "birch"]

    async def test_once_the_row_is_removed_resume_lets_the_process_go_on(self, app: Accord, store: EventStore, pool: asyncpg.Pool) -> None:
        decision_id, stream = await a_decision(app)
        await store.append(stream, 2, [NewEvent(event_id=uuid.uuid4(), event_type="StanceTaken", data=stance_data("birch"),
                                                metadata={"actor": "birch"})])
        await refused_as_quarantined(app, decision_id, stream, 3)
        still = await resume(app, stream)
        assert still is not None and still.version == 3  # nothing was repaired yet

        async with behind_the_triggers(pool) as conn:
            await conn.execute("DELETE FROM accord.events WHERE stream_id = $1 AND stream_version = 3", stream)
        assert await resume(app, stream) is None
        result = await stance(app, decision_id, "cedar", "p1", "agree")
        assert result.receipts[0].stream_version == 3
        assert (await check(app, stream)).ok
        assert await stage_attribute(app, stream) == "open"


class TestAStreamChangedByASuperuser:
    async def test_a_deleted_tail_quarantines_until_it_is_restored(self, app: Accord, store: EventStore, pool: asyncpg.Pool) -> None:
        decision_id, stream = await a_decision(app)
        async with behind_the_triggers(pool) as conn:
            row = await conn.fetchrow("SELECT * FROM accord.events WHERE stream_id = $1 AND stream_version = 2", stream)
            await conn.execute("DELETE FROM accord.events WHERE stream_id = $1 AND stream_version = 2", stream)
        message = await refused_as_quarantined(app, decision_id, stream, 2)
        assert "the stream ends at version 1, but version 2 was recorded" in message
        report = await check(app, stream)
        assert "the record was cut or rewritten" in {c.name: c for c in report.checks}["head"].detail

        async with behind_the_triggers(pool) as conn:  # restored from a backup
            columns = [c for c in row.keys() if c not in ("global_position", "transaction_id")]  # noqa: SIM118 - a Record iterates over its values
            await conn.execute(
                f"INSERT INTO accord.events ({', '.join(columns)}) OVERRIDING SYSTEM VALUE"
                f" VALUES ({', '.join(f'${i + 1}' for i in range(len(columns)))})",
                *(row[c] for c in columns),
            )
        assert await resume(app, stream) is None
        await stance(app, decision_id, "cedar", "p1", "agree")
        assert (await check(app, stream)).ok

    async def test_a_rewritten_event_quarantines(self, app: Accord, store: EventStore, pool: asyncpg.Pool) -> None:
        """The careful forger: the event replaced by another with a hash that fits the chain."""
        decision_id, stream = await a_decision(app)
        async with behind_the_triggers(pool) as conn:
            await conn.execute("DELETE FROM accord.events WHERE stream_id = $1 AND stream_version = 2", stream)
        forged = stance_data("amber") | {"stance": "block", "reason": "changed after the fact"}
        await store.append(stream, 1, [NewEvent(event_id=uuid.uuid4(), event_type="StanceTaken", data=forged,
                                                metadata={"actor": "amber", "workflow_id": stream})])
        message = await refused_as_quarantined(app, decision_id, stream, 2)
        assert "the stream was rewritten at or before this version" in message
        assert (await store.verify(streams=[stream])).ok

    async def test_an_event_that_does_not_fold_is_reported_with_why(self, app: Accord, store: EventStore, pool: asyncpg.Pool) -> None:
        decision_id, stream = await a_decision(app)
        run_id = (await app.client.get_workflow_handle(stream).describe()).run_id
        metadata = {"actor": "amber", "workflow_id": stream, "run_id": run_id}  # even its provenance is copied
        await store.append(stream, 2, [NewEvent(event_id=uuid.uuid4(), event_type="PointsShuffled", data={"x": 1}, metadata=metadata)])
        message = await refused_as_quarantined(app, decision_id, stream, 3)
        assert "(PointsShuffled)" in message and "it does not fold into the process" in message

        await store.append(stream, 3, [NewEvent(event_id=uuid.uuid4(), event_type="StanceTaken", data=stance_data("dune"),
                                                metadata=metadata)])  # the audit carries on past the bad row
        report = await check(app, stream)
        assert "version 3 (PointsShuffled): it does not fold: 'PointsShuffled' is not an event type of this process" in (
            {c.name: c for c in report.checks}["record"].detail
        )
        replayed = await replay(store, stream)
        assert [(b.version, b.reason) for b in replayed.bad_rows] == [
            (3, "it does not fold: 'PointsShuffled' is not an event type of this process")
        ]
        assert sorted(replayed.state.points["p1"].stances) == ["amber", "dune"]
        document = json.loads(await export(store, [stream], "json", datetime.now(UTC)))
        assert document["reports"][0]["bad_rows"][0]["event_type"] == "PointsShuffled"
        markdown = await export(store, [stream], "md", datetime.now(UTC))
        assert "- version 3 (PointsShuffled): it does not fold: 'PointsShuffled' is not an event type of this process" in markdown


class TestWhatAnOperatorAndAMemberSee:
    async def test_the_cli_and_the_api_name_the_quarantine_and_resume_says_what_still_holds(
        self, app: Accord, store: EventStore, pool: asyncpg.Pool, tmp_path: Path, temporal_env: WorkflowEnvironment,
        db_url: str, task_queue: str,
    ) -> None:
        decision_id, stream = await a_decision(app)
        await store.append(stream, 2, [NewEvent(event_id=uuid.uuid4(), event_type="StanceTaken", data=stance_data("birch"),
                                                metadata={"actor": "birch"})])
        await refused_as_quarantined(app, decision_id, stream, 3)
        cli = cli_against(tmp_path, temporal_env, db_url, task_queue)

        stance_cmd, checked, still = await asyncio.gather(
            cli(f"decision stance {decision_id} p1 agree --as cedar"),
            cli(f"audit check {stream}"),
            cli(f"audit resume {stream}"),
        )
        assert stance_cmd.code == 3 and f"error: {stream} is quarantined" in stance_cmd.stderr
        assert checked.code == 3 and "FAIL process:" in checked.stdout and "FAIL head:" in checked.stdout
        assert still.code == 3 and "still quarantined" in still.stderr and "version 3 (StanceTaken)" in still.stderr
        assert "Traceback" not in stance_cmd.stderr + checked.stderr + still.stderr

        async with client_for(app, Settings()) as http:
            alliance_id = (await app.decision(decision_id)).state.alliance_id
            token = (await app.issue_token(alliance_id, "cedar", "cedar")).token
            answer = await http.post(
                f"/decisions/{decision_id}/stances", json={"point_id": "p1", "stance": "agree"},
                headers={"Authorization": f"Bearer {token}"},
            )
        assert answer.status_code == 409 and f"{stream} is quarantined" in answer.json()["detail"]

        async with behind_the_triggers(pool) as conn:
            await conn.execute("DELETE FROM accord.events WHERE stream_id = $1 AND stream_version = 3", stream)
        resumed = await cli(f"audit resume {stream}")
        assert resumed.code == 0 and resumed.stdout.strip() == f"{stream} takes commands again", resumed.stderr
