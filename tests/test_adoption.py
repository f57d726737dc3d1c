"""A workflow adopts what an earlier attempt of its run recorded, and answers each command once.

The fault suite (tests/faults) produces lost workflow tasks by killing processes. These tests put the
same situation in place directly and deterministically: the events a lost attempt would have stored are
appended with the run's own metadata, then the commands come (again).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest
from decision_support import alliance_with_members, unique

from accord.app import Accord
from accord.audit import check
from events.decision import StanceKind, TakeStance
from events.processes import DECISION
from events.rules import RefusalKind, Refused
from events.store import EventStore, NewEvent
from workflows.shapes import CommandResult


async def opened(app: Accord) -> tuple[str, str]:
    alliance_id = await alliance_with_members(app, unique("rivers"))
    decision_id = unique("d")
    await app.open_decision(alliance_id, "gw", decision_id, "Spring campaign", [{"text": "A march"}, {"text": "A petition"}])
    return decision_id, DECISION.stream_name(decision_id, alliance_id)


def stance(member: str, point: str = "p1", reason: str | None = None) -> TakeStance:
    kind = StanceKind.OBJECT if reason else StanceKind.AGREE
    return TakeStance(actor=member, point_id=point, stance=kind, reason=reason)


async def as_a_lost_attempt_stored(app: Accord, store: EventStore, stream: str, commands: dict[str, TakeStance]) -> None:
    """Append the events that a lost attempt of the workflow's current run recorded for these Updates."""
    run_id = (await app.client.get_workflow_handle(stream).describe()).run_id
    head = await store.head(stream)
    now = datetime.now(UTC).isoformat()
    await store.append(stream, head.version, [
        NewEvent(
            event_id=uuid.uuid4(), event_type="StanceTaken",
            data={"at": now, "member_id": c.actor, "point_id": c.point_id, "stance": c.stance.value},
            metadata={"actor": c.actor, "workflow_id": stream, "run_id": run_id, "correlation_id": stream,
                      "causation_id": f"update:{update_id}", "schema_version": 1},
        )
        for update_id, c in commands.items()
    ])


async def test_commands_whose_events_a_lost_attempt_stored_are_answered_from_the_record_once(
    app: Accord, store: EventStore
) -> None:
    decision_id, stream = await opened(app)
    lost = {str(uuid.uuid4()): stance("amber"), str(uuid.uuid4()): stance("birch")}
    await as_a_lost_attempt_stored(app, store, stream, lost)
    stored = await store.read_stream(stream, from_version=2)
    (amber_id, amber), (birch_id, birch) = lost.items()

    # birch's Update comes back first (its caller sends it again, same id): the workflow finds both stored
    # events beyond its head, adopts them, answers birch from the record and keeps amber's answer.
    birch_result = await app.decision_command(decision_id, birch, command_id=birch_id)
    assert [r.event_id for r in birch_result.receipts] == [stored[1].event_id]
    # amber's comes back later: the validator lets it through (a stance taken again would be a change),
    # and the handler answers it from the record: no second stance.
    amber_result = await app.decision_command(decision_id, amber, command_id=amber_id)
    assert [r.event_id for r in amber_result.receipts] == [stored[0].event_id]
    # And a new command is decided on top of what was adopted.
    cedar = await app.decision_command(decision_id, stance("cedar"))
    assert cedar.receipts[0].stream_version == 4

    events = await store.read_stream(stream)
    assert [e.data.get("member_id") for e in events if e.event_type == "StanceTaken"] == ["amber", "birch", "cedar"]
    state = (await app.decision(decision_id)).state
    assert sorted(state.points["p1"].stances) == ["amber", "birch", "cedar"]
    assert (await check(app, stream)).ok


async def test_a_command_refused_against_the_stale_state_but_recorded_gets_its_receipts(app: Accord, store: EventStore) -> None:
    """The lost attempt recorded gw's block; the command comes back while the workflow still holds the
    state before it. Whatever the stale state would have said, the record answers."""
    decision_id, stream = await opened(app)
    block_id = str(uuid.uuid4())
    block = TakeStance(actor="gw", point_id="p2", stance=StanceKind.BLOCK, reason="not with this sponsor")
    await as_a_lost_attempt_stored(app, store, stream, {block_id: block})
    result = await app.decision_command(decision_id, block, command_id=block_id)
    assert result.receipts[0].stream_version == 2
    assert (await app.decision(decision_id)).state.points["p2"].stances["gw"].stance == StanceKind.BLOCK


async def test_text_the_database_cannot_store_is_refused_and_the_others_sent_with_it_are_recorded(
    app: Accord, store: EventStore, pool: asyncpg.Pool
) -> None:
    """A NUL character, sent past the application layer's own check (events/text.py), passes the command's
    validation but not PostgreSQL's jsonb: its command is refused as invalid, nothing of it is recorded,
    the stances sent with it are, and the decision goes on."""
    decision_id, stream = await opened(app)
    results = await asyncio.gather(
        straight_to_the_workflow(app, decision_id, stance("amber", reason="we object\x00")),
        app.decision_command(decision_id, stance("birch")),
        app.decision_command(decision_id, stance("cedar")),
        return_exceptions=True,
    )
    refused = results[0]
    assert isinstance(refused, Refused) and refused.kind == RefusalKind.INVALID
    assert "the store cannot record this command's events" in refused.message
    assert all(not isinstance(r, BaseException) for r in results[1:]), results
    events = await store.read_stream(stream)
    assert sorted(e.data["member_id"] for e in events if e.event_type == "StanceTaken") == ["birch", "cedar"]
    await app.decision_command(decision_id, stance("amber", reason="we object"))
    assert (await check(app, stream)).ok


async def straight_to_the_workflow(app: Accord, decision_id: str, command: TakeStance) -> CommandResult:
    """The command sent as its Update, as a client of Temporal could, without the application layer."""
    return await app._update(app.client.get_workflow_handle(await app.stream_of(DECISION, decision_id)), command)


@pytest.mark.parametrize("reason", ["\x00", "ok\x00ok"])
@pytest.mark.parametrize("path", ["application layer", "workflow"])
async def test_a_lone_unrecordable_command_is_refused_at_once(app: Accord, reason: str, path: str) -> None:
    decision_id, _ = await opened(app)
    command = stance("amber", reason=reason)
    sent = app.decision_command(decision_id, command) if path == "application layer" else straight_to_the_workflow(app, decision_id, command)
    with pytest.raises(Refused) as caught:
        await asyncio.wait_for(sent, 20)
    assert caught.value.kind == RefusalKind.INVALID
    if path == "application layer":
        assert caught.value.field == "reason" and "holds NUL (U+0000)" in caught.value.message
