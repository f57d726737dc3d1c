"""The alliance workflow end to end: a real Temporal dev server, a real PostgreSQL, the application layer.

After every accepted command the alliance's stream holds exactly the events the command caused, in
order, with the metadata an auditor needs, and the workflow's head is the store's head; after every
refused command nothing at all is recorded. Folding the stored events through `evolve` gives the
state the workflow answers queries with: the log and the workflow never disagree.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest
from temporalio import activity
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Worker

from accord.app import Accord
from accord.examples import CHARTER as EXAMPLE_CHARTER
from activities.store import APPEND_EVENTS, AppendRequest, StoreActivities
from events.alliance import (
    AdmitMember,
    AllianceCommand,
    AllianceState,
    AmendCharter,
    FoundAlliance,
    MemberStatus,
    ReinstateMember,
    RemoveMember,
    Role,
    SetRoles,
    SetWebhook,
    SuspendMember,
    alliance_event,
    evolve,
)
from events.charter import load_charter
from events.processes import ALLIANCE
from events.rules import RefusalKind, Refused
from events.store import EventStore, NewEvent, RecordedEvent
from workflows.alliance import AllianceWorkflow
from workflows.shapes import AllianceRun

CHARTER = load_charter(EXAMPLE_CHARTER)
FOUNDER = "riverkeepers"


def new_alliance_id() -> str:
    # The Temporal server lives for the whole session: each test needs workflow ids of its own.
    return f"rivers-{uuid.uuid4().hex[:10]}"


def found_command(alliance_id: str, founder_id: str = FOUNDER) -> FoundAlliance:
    return FoundAlliance(alliance_id=alliance_id, charter=CHARTER, founder_id=founder_id, founder_name="River Keepers")


def admit(member_id: str, *, actor: str = FOUNDER, roles: list[Role] | None = None) -> AdmitMember:
    return AdmitMember(actor=actor, member_id=member_id, name=member_id.title(), roles=roles or [Role.MEMBER])


async def found(app: Accord) -> str:
    alliance_id = new_alliance_id()
    await app.found_alliance(found_command(alliance_id))
    return alliance_id


def folded(events: list[RecordedEvent]) -> AllianceState | None:
    """The state an auditor gets by replaying the stored events with the domain's own evolve."""
    state: AllianceState | None = None
    for event in events:
        state = evolve(state, alliance_event.validate_python({**event.data, "type": event.event_type}))
    return state


async def current_run_id(app: Accord, alliance_id: str) -> str:
    description = await app.client.get_workflow_handle(ALLIANCE.stream_name(alliance_id)).describe()
    return description.run_id


async def assert_in_step(app: Accord, store: EventStore, alliance_id: str) -> list[RecordedEvent]:
    """The workflow's head is the store's head, its state is the fold of the stored events, the chain holds."""
    stream_id = ALLIANCE.stream_name(alliance_id)
    events = await store.read_stream(stream_id)
    assert await app.alliance_head(alliance_id) == await store.head(stream_id)
    assert await app.alliance(alliance_id) == folded(events)
    report = await store.verify(stream_prefix=stream_id)
    assert report.ok and report.events_checked == len(events)
    return events


async def assert_nothing_recorded(
    app: Accord, store: EventStore, alliance_id: str, command: AllianceCommand
) -> Refused:
    stream_id = ALLIANCE.stream_name(alliance_id)
    head = await store.head(stream_id)
    with pytest.raises(Refused) as caught:
        await app.alliance_command(alliance_id, command)
    assert await store.head(stream_id) == head
    assert await app.alliance_head(alliance_id) == head
    return caught.value


# --- founding ------------------------------------------------------------------------------------


async def test_founding_records_one_event_with_its_metadata_and_issues_a_working_token(
    app: Accord, store: EventStore
) -> None:
    alliance_id = new_alliance_id()
    stream_id = f"alliance-{alliance_id}"

    founded = await app.found_alliance(found_command(alliance_id))

    [event] = await store.read_stream(stream_id)
    assert event.stream_version == 1
    assert event.event_type == "AllianceFounded"
    assert event.data["alliance_id"] == alliance_id
    assert event.data["founder_id"] == FOUNDER
    assert event.data["charter"]["decisions"]["response_window"] == "7d"
    run_id = await current_run_id(app, alliance_id)
    assert event.metadata["actor"] == FOUNDER
    assert event.metadata["workflow_id"] == stream_id
    assert event.metadata["run_id"] == run_id
    assert event.metadata["correlation_id"] == stream_id
    assert event.metadata["causation_id"].startswith("update:")
    assert event.metadata["schema_version"] == 1
    [receipt] = founded.receipts
    assert (receipt.stream_id, receipt.stream_version, receipt.global_position) == (stream_id, 1, event.global_position)
    assert (receipt.hash, receipt.event_id) == (event.hash.hex(), event.event_id)

    state = await app.alliance(alliance_id)
    assert state.name == "Clean Rivers Alliance"
    assert state.with_role(Role.COORDINATOR) == [FOUNDER]
    await assert_in_step(app, store, alliance_id)

    identity = await app.authenticate(founded.token.token)
    assert identity is not None
    assert (identity.alliance_id, identity.member_id) == (alliance_id, FOUNDER)
    summaries = await app.alliances()
    assert [(s.alliance_id, s.name, s.events) for s in summaries] == [(alliance_id, "Clean Rivers Alliance", 1)]


async def test_founding_the_same_alliance_twice_is_a_conflict_and_records_nothing(
    app: Accord, store: EventStore, pool: asyncpg.Pool
) -> None:
    alliance_id = await found(app)
    stream_id = f"alliance-{alliance_id}"

    with pytest.raises(Refused) as caught:
        await app.found_alliance(found_command(alliance_id, founder_id="impostors"))
    assert caught.value.kind == RefusalKind.CONFLICT
    assert caught.value.message == f"alliance {alliance_id!r} already exists in the event store"

    # Sent as a command to the running workflow, the founding is refused by the decider.
    refused = await assert_nothing_recorded(app, store, alliance_id, found_command(alliance_id, founder_id="impostors"))
    assert refused.kind == RefusalKind.CONFLICT
    assert refused.message.startswith(f"alliance {alliance_id!r} was already founded on ")

    assert [e.event_type for e in await store.read_stream(stream_id)] == ["AllianceFounded"]
    assert (await app.alliance(alliance_id)).founder == FOUNDER
    assert await pool.fetchval("SELECT count(*) FROM accord.api_tokens WHERE alliance_id = $1", alliance_id) == 1


async def test_two_concurrent_foundings_of_one_id_record_one(
    app: Accord, store: EventStore, pool: asyncpg.Pool
) -> None:
    alliance_id = new_alliance_id()

    results = await asyncio.gather(
        app.found_alliance(found_command(alliance_id, founder_id="first")),
        app.found_alliance(found_command(alliance_id, founder_id="second")),
        return_exceptions=True,
    )

    refusals = [r for r in results if isinstance(r, Refused)]
    assert len(refusals) == 1, results
    assert refusals[0].kind == RefusalKind.CONFLICT
    [event] = await store.read_stream(f"alliance-{alliance_id}")
    winner = event.data["founder_id"]
    assert (await app.alliance(alliance_id)).founder == winner
    tokens = await pool.fetch("SELECT member_id FROM accord.api_tokens WHERE alliance_id = $1", alliance_id)
    assert [t["member_id"] for t in tokens] == [winner]


async def test_an_unknown_alliance_is_not_found(app: Accord) -> None:
    alliance_id = new_alliance_id()

    with pytest.raises(Refused) as caught:
        await app.alliance_command(alliance_id, admit("anglers"))
    assert caught.value.kind == RefusalKind.NOT_FOUND
    assert caught.value.message == f"no alliance {alliance_id!r}"

    with pytest.raises(Refused) as caught:
        await app.alliance(alliance_id)
    assert caught.value.kind == RefusalKind.NOT_FOUND


# --- commands ------------------------------------------------------------------------------------


async def test_each_accepted_command_records_exactly_its_events(app: Accord, store: EventStore) -> None:
    alliance_id = await found(app)
    stream_id = f"alliance-{alliance_id}"
    amended = CHARTER.model_copy(update={"name": "Clean Rivers and Lakes Alliance"})
    steps: list[tuple[AllianceCommand, str, dict[str, Any]]] = [
        (admit("anglers"), "MemberAdmitted", {"member_id": "anglers", "roles": ["member"], "webhook_url": None}),
        (
            AdmitMember(
                actor=FOUNDER,
                member_id="wetlands",
                name="Wetland Trust",
                roles=[Role.STEERING, Role.MEDIATOR],
                webhook_url="https://wetlands.example/accord",
            ),
            "MemberAdmitted",
            {
                "member_id": "wetlands",
                "roles": ["mediator", "steering"],
                "webhook_url": "https://wetlands.example/accord",
            },
        ),
        (
            SuspendMember(actor=FOUNDER, member_id="anglers", reason="dues"),
            "MemberSuspended",
            {"member_id": "anglers", "reason": "dues"},
        ),
        (ReinstateMember(actor=FOUNDER, member_id="anglers"), "MemberReinstated", {"member_id": "anglers"}),
        (
            SetRoles(actor=FOUNDER, member_id="anglers", roles=[Role.COORDINATOR]),
            "RolesChanged",
            {"member_id": "anglers", "roles": ["coordinator"]},
        ),
        (
            SetWebhook(actor="wetlands", member_id="wetlands", webhook_url=None),
            "WebhookChanged",
            {"member_id": "wetlands", "webhook_url": None},
        ),
        (
            AmendCharter(actor="anglers", charter=amended, reason="lakes joined"),
            "CharterAmended",
            {"reason": "lakes joined"},
        ),
        (RemoveMember(actor=FOUNDER, member_id=FOUNDER, reason="merged"), "MemberRemoved", {"member_id": FOUNDER}),
    ]
    run_id = await current_run_id(app, alliance_id)
    causes = set()

    for version, (command, event_type, data) in enumerate(steps, start=2):
        result = await app.alliance_command(alliance_id, command)

        events = await store.read_stream(stream_id)
        assert [e.stream_version for e in events] == list(range(1, version + 1))
        event = events[-1]
        assert event.event_type == event_type
        assert data.items() <= event.data.items(), (data, event.data)
        assert event.metadata["actor"] == command.actor
        assert event.metadata["workflow_id"] == stream_id
        assert event.metadata["run_id"] == run_id
        assert event.metadata["schema_version"] == 1
        assert event.metadata["causation_id"].startswith("update:")
        causes.add(event.metadata["causation_id"])
        [receipt] = result.receipts
        assert (receipt.stream_version, receipt.global_position, receipt.hash, receipt.event_id) == (
            version,
            event.global_position,
            event.hash.hex(),
            event.event_id,
        )
        assert await app.alliance_head(alliance_id) == await store.head(stream_id)

    assert len(causes) == len(steps), "every command is its own cause"
    await assert_in_step(app, store, alliance_id)
    state = await app.alliance(alliance_id)
    assert state.name == "Clean Rivers and Lakes Alliance"
    assert state.with_role(Role.COORDINATOR) == ["anglers"]
    assert state.members[FOUNDER].status == MemberStatus.REMOVED
    assert state.members["wetlands"].webhook_url is None


async def test_every_refusal_has_its_kind_and_records_nothing(app: Accord, store: EventStore) -> None:
    alliance_id = await found(app)
    for command in [admit("anglers"), admit("wetlands", roles=[Role.STEERING]), admit("mudlarks")]:
        await app.alliance_command(alliance_id, command)
    await app.alliance_command(alliance_id, SuspendMember(actor=FOUNDER, member_id="mudlarks", reason="dues"))
    cases: list[tuple[AllianceCommand, RefusalKind, str]] = [
        (
            admit("newts", actor="strangers"),
            RefusalKind.FORBIDDEN,
            f"'strangers' is not a member of alliance {alliance_id!r}",
        ),
        (admit("newts", actor="mudlarks"), RefusalKind.FORBIDDEN, "'mudlarks' is suspended"),
        (admit("newts", actor="wetlands"), RefusalKind.FORBIDDEN, "only a coordinator may admit members"),
        (admit("anglers"), RefusalKind.INVALID, "member id 'anglers' is already taken"),
        (SuspendMember(actor=FOUNDER, member_id="nobody", reason="r"), RefusalKind.NOT_FOUND, "no member 'nobody'"),
        (SuspendMember(actor=FOUNDER, member_id="mudlarks", reason="r"), RefusalKind.CONFLICT, "already suspended"),
        (ReinstateMember(actor=FOUNDER, member_id="anglers"), RefusalKind.CONFLICT, "is active, not suspended"),
        (SuspendMember(actor=FOUNDER, member_id=FOUNDER, reason="r"), RefusalKind.CONFLICT, "last active coordinator"),
        (RemoveMember(actor=FOUNDER, member_id=FOUNDER, reason="r"), RefusalKind.CONFLICT, "last active coordinator"),
        (
            SetRoles(actor=FOUNDER, member_id=FOUNDER, roles=[Role.MEMBER]),
            RefusalKind.CONFLICT,
            "last active coordinator",
        ),
        (AmendCharter(actor=FOUNDER, charter=CHARTER, reason="none"), RefusalKind.CONFLICT, "identical"),
    ]

    for command, kind, message in cases:
        refused = await assert_nothing_recorded(app, store, alliance_id, command)
        assert refused.kind == kind, (command, refused.message)
        assert message in refused.message, refused.message

    events = await assert_in_step(app, store, alliance_id)
    assert len(events) == 5


async def test_a_command_made_stale_by_a_concurrent_one_is_refused_under_the_lock(
    app: Accord, store: EventStore
) -> None:
    # Both pass the validator against the same state; the second is decided again after the first
    # recorded, and refused then: the refusal fails the Update, not the workflow.
    alliance_id = await found(app)
    await app.alliance_command(alliance_id, admit("anglers"))
    suspend = SuspendMember(actor=FOUNDER, member_id="anglers", reason="dues")

    results = await asyncio.gather(
        *(app.alliance_command(alliance_id, suspend) for _ in range(3)), return_exceptions=True
    )

    refusals = [r for r in results if isinstance(r, BaseException)]
    assert len(refusals) == 2, results
    assert all(isinstance(r, Refused) and r.kind == RefusalKind.CONFLICT for r in refusals), refusals
    events = await assert_in_step(app, store, alliance_id)
    assert [e.event_type for e in events] == ["AllianceFounded", "MemberAdmitted", "MemberSuspended"]
    # The workflow is still there and still answers.
    await app.alliance_command(alliance_id, ReinstateMember(actor=FOUNDER, member_id="anglers"))
    assert (await app.alliance(alliance_id)).members["anglers"].status == MemberStatus.ACTIVE


async def test_twenty_concurrent_admissions_are_each_recorded_once(app: Accord, store: EventStore) -> None:
    alliance_id = await found(app)
    member_ids = [f"member-{n:02}" for n in range(20)]

    results = await asyncio.gather(*(app.alliance_command(alliance_id, admit(m)) for m in member_ids))

    versions = sorted(r.receipts[0].stream_version for r in results)
    assert versions == list(range(2, 22))
    events = await assert_in_step(app, store, alliance_id)
    assert [e.stream_version for e in events] == list(range(1, 22))
    assert sorted(e.data["member_id"] for e in events[1:]) == member_ids
    assert sorted((await app.alliance(alliance_id)).members) == sorted([FOUNDER, *member_ids])


# --- appends under retries -----------------------------------------------------------------------


def request_for(events: list[RecordedEvent], after: RecordedEvent) -> AppendRequest:
    """The request the workflow sent for these stored events (ids, types, data and metadata as sent)."""
    return AppendRequest(
        stream_id=events[0].stream_id,
        expected_version=after.stream_version,
        expected_hash=after.hash.hex(),
        events=[
            NewEvent(event_id=e.event_id, event_type=e.event_type, data=e.data, metadata=e.metadata) for e in events
        ],
    )


def receipts_of(result: Any) -> Any:
    return getattr(result, "receipts", result)


async def test_a_repeated_append_attempt_writes_nothing_and_returns_the_same_receipts(
    app: Accord, store: EventStore, pool: asyncpg.Pool
) -> None:
    alliance_id = await found(app)
    admitted = await app.alliance_command(alliance_id, admit("anglers"))
    stream_id = f"alliance-{alliance_id}"
    stored = await store.read_stream(stream_id)
    append = StoreActivities(EventStore(pool)).append_events
    count = "SELECT count(*) FROM accord.events"
    total = await pool.fetchval(count)

    # The attempt that committed the admission, tried again (its first try's answer was lost).
    again = await ActivityEnvironment().run(append, request_for(stored[1:], after=stored[0]))
    assert receipts_of(again) == admitted.receipts
    assert await pool.fetchval(count) == total

    # A fresh append tried twice: the second attempt finds the first one's rows.
    request = AppendRequest(
        stream_id=stream_id,
        expected_version=2,
        expected_hash=admitted.receipts[0].hash,
        events=[
            NewEvent(event_id=uuid.uuid4(), event_type="MemberAdmitted", data={"n": 1}, metadata={"actor": FOUNDER}),
            NewEvent(event_id=uuid.uuid4(), event_type="MemberAdmitted", data={"n": 2}, metadata={"actor": FOUNDER}),
        ],
    )
    first = await ActivityEnvironment().run(append, request)
    second = await ActivityEnvironment().run(append, request)
    assert second == first
    assert [r.stream_version for r in receipts_of(first)] == [3, 4]
    assert await pool.fetchval(count) == total + 2
    assert (await store.head(stream_id)).version == 4

    # Other events after the same head are not a retry: nothing is written, and the stored events come
    # back for the workflow to adopt or reject (the same ids with other content too).
    for other in (
        request.model_copy(update={"events": [e.model_copy(update={"event_id": uuid.uuid4()}) for e in request.events]}),
        request.model_copy(update={"events": [e.model_copy(update={"data": {"n": 9}}) for e in request.events]}),
    ):
        found_instead = await ActivityEnvironment().run(append, other)
        assert found_instead.receipts == []
        assert [e.receipt() for e in found_instead.ahead] == receipts_of(first)
        assert found_instead.broken is None
    assert await pool.fetchval(count) == total + 2


class CommitThenLoseTheAnswer:
    """The real append, after which the first attempt of every append fails as if the connection dropped."""

    def __init__(self, store: EventStore) -> None:
        self.real = StoreActivities(store)
        self.lost = 0

    @activity.defn(name=APPEND_EVENTS)
    async def append_events(self, request: AppendRequest) -> Any:
        result = await self.real.append_events(request)
        if activity.info().attempt == 1:
            self.lost += 1
            raise ConnectionResetError("connection lost after the commit")
        return result


async def test_a_workflow_whose_append_is_retried_after_it_committed_records_each_event_once(
    temporal_env: WorkflowEnvironment, pool: asyncpg.Pool, store: EventStore
) -> None:
    task_queue = f"test-retry-{uuid.uuid4()}"
    flaky = CommitThenLoseTheAnswer(store)
    async with Worker(
        temporal_env.client, task_queue=task_queue, workflows=[AllianceWorkflow], activities=[flaky.append_events]
    ):
        app = Accord(client=temporal_env.client, pool=pool, task_queue=task_queue)
        alliance_id = await found(app)
        admitted = await app.alliance_command(alliance_id, admit("anglers"))

        assert flaky.lost == 2, "both appends committed, lost their answer and were retried"
        events = await assert_in_step(app, store, alliance_id)
        assert [e.event_type for e in events] == ["AllianceFounded", "MemberAdmitted"]
        assert admitted.receipts[0].event_id == events[1].event_id
        assert admitted.receipts[0].stream_version == 2


# --- continue-as-new -------------------------------------------------------------------------------


async def test_continue_as_new_carries_state_and_head_and_the_chain_stays_unbroken(
    app: Accord, store: EventStore
) -> None:
    alliance_id = new_alliance_id()
    workflow_id = ALLIANCE.stream_name(alliance_id)
    first = await app.client.start_workflow(
        AllianceWorkflow.run,
        AllianceRun(alliance_id=alliance_id, continue_after_updates=3),
        id=workflow_id,
        task_queue=app.task_queue,
    )
    await first.execute_update(AllianceWorkflow.execute, found_command(alliance_id))
    member_ids = [f"member-{n}" for n in range(8)]

    for member_id in member_ids:
        await app.alliance_command(alliance_id, admit(member_id))

    first_run_id = first.first_execution_run_id
    assert first_run_id is not None
    first_run = app.client.get_workflow_handle(workflow_id, run_id=first_run_id)
    assert (await first_run.describe()).status == WorkflowExecutionStatus.CONTINUED_AS_NEW
    latest_run_id = await current_run_id(app, alliance_id)
    assert latest_run_id != first_run_id
    events = await assert_in_step(app, store, alliance_id)
    assert [e.stream_version for e in events] == list(range(1, 10))
    assert sorted((await app.alliance(alliance_id)).members) == sorted([FOUNDER, *member_ids])
    # Events name the run that recorded them: three commands per run, then it continued as new.
    runs = [e.metadata["run_id"] for e in events]
    assert runs[0] == first_run_id
    assert [runs.index(r) for r in runs] == [0, 0, 0, 3, 3, 3, 6, 6, 6], runs
    assert latest_run_id not in runs, "the third run continued as new too, after its third command"
    # The new run keeps going from the carried head.
    await app.alliance_command(alliance_id, SuspendMember(actor=FOUNDER, member_id="member-0", reason="dues"))
    events = await assert_in_step(app, store, alliance_id)
    assert events[-1].stream_version == 10
