"""The dispute workflow on the time-skipping server: the whole ladder, draws that replay identically,
settlements, crises with their interim measures, and refusals that record nothing.

Windows are the example charter's (14d negotiation, 21d mediation, 14d panel, 7d appeal; crisis 2d/3d/3d/2d):
the server skips them in milliseconds.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg
import pytest
from dispute_support import (
    COORDINATOR,
    MEMBERS,
    RAISER,
    RESPONDENT,
    alliance_for_disputes,
    eventually,
    in_stage,
    notified,
    raise_between,
    recomputed,
    skip_to,
    state_of,
    stream_of,
)
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from accord.app import Accord, DecisionView
from accord.audit import fold
from accord.worker import replayer
from events.access import outside_the_dispute
from events.decision import StanceKind, TakeStance
from events.dispute import (
    AcceptTerms,
    AssignMediator,
    DeclareImpasse,
    DisputeState,
    LodgeAppeal,
    ObjectToMediator,
    ProposeTerms,
    RecordInterimMeasure,
    RulingKind,
    SubmitRuling,
    WithdrawDispute,
)
from events.processes import DISPUTE
from events.rules import RefusalKind, Refused
from events.store import EventStore, RecordedEvent
from workflows import search
from workflows.dispute import DisputeWorkflow

PARTIES = {RAISER, RESPONDENT}


async def refused_without_record(app: Accord, store: EventStore, dispute_id: str, command: object) -> Refused:
    """Send a command that must be refused; nothing may be recorded for it. The dispute's own clock may
    record meanwhile (a reminder, once the server's time has moved): events no command caused."""
    stream = await stream_of(app, dispute_id)
    head = await store.head(stream)
    with pytest.raises(Refused) as caught:
        await app.dispute_command(dispute_id, command)  # type: ignore[arg-type]
    since = await store.read_stream(stream, from_version=head.version + 1)
    caused = [(e.event_type, cause) for e in since if str(cause := e.metadata.get("causation_id")).startswith("update:")]
    assert not caused, f"recorded for a refused command: {caused} (all since: {[e.event_type for e in since]})"
    return caught.value


async def recorded(store: EventStore, stream: str, event_type: str) -> list[RecordedEvent]:
    return [e for e in await store.read_stream(stream) if e.event_type == event_type]


def _at(event: RecordedEvent) -> datetime:
    """When the decider accepted the event (workflow time: on this server, the skipped-to moment)."""
    return datetime.fromisoformat(event.data["at"])


def just_after(due: datetime, happened: datetime) -> bool:
    """A timer fired at `due`: the server's clock may have moved on by a few milliseconds."""
    return due <= happened < due + timedelta(seconds=1)


async def search_attributes(env: WorkflowEnvironment, workflow_id: str) -> dict[str, object]:
    attributes = (await env.client.get_workflow_handle(workflow_id).describe()).typed_search_attributes
    return {key.name: attributes.get(key) for key in (search.KIND, search.ALLIANCE, search.STAGE, search.SEVERITY)}


async def stage_published(env: WorkflowEnvironment, workflow_id: str, stage: str) -> None:
    await eventually(lambda: search_attributes(env, workflow_id), lambda sa: sa["AccordStage"] == stage)


async def finished(env: WorkflowEnvironment, workflow_id: str) -> DisputeState:
    """Skip time until the dispute's workflow ends; its result."""
    for _ in range(200):
        description = await env.client.get_workflow_handle(workflow_id).describe()
        if description.status != WorkflowExecutionStatus.RUNNING:
            break
        await env.sleep(timedelta(hours=6))
    handle = env.client.get_workflow_handle_for(DisputeWorkflow.run, workflow_id, run_id=description.run_id)
    state = await handle.result()
    assert state is not None
    return state


async def test_the_whole_ladder_negotiation_mediation_panel_and_an_appeal_decided_by_a_drawn_panel(
    skipping_app: Accord, time_skipping_env: WorkflowEnvironment, store: EventStore, pool: asyncpg.Pool
) -> None:
    app, env = skipping_app, time_skipping_env
    alliance_id = await alliance_for_disputes(app)
    dispute_id = await raise_between(app, alliance_id)
    stream = DISPUTE.stream_name(dispute_id, alliance_id)
    assert await search_attributes(env, stream) == {
        "AccordKind": "dispute", "AccordAlliance": alliance_id, "AccordStage": "negotiation", "AccordSeverity": "normal"
    }
    raised = await state_of(app, dispute_id)

    # Negotiation runs out: mediation, with a mediator drawn from the roster (dune is on it, but a party).
    assert raised.stage_deadline is not None
    await skip_to(env, raised.stage_deadline)
    mediation = await in_stage(app, dispute_id, "mediation")
    [drawn] = await recorded(store, stream, "MediatorAssigned")
    assert drawn.data["pool"] == ["birch", "fern"] and drawn.data["how"] == "drawn"
    assert [mediation.mediator] == [drawn.data["mediator"]] == recomputed(drawn.data)
    await stage_published(env, stream, "mediation")

    # A party may not be assigned as mediator; the objection draws another, never the one objected to.
    error = await refused_without_record(app, store, dispute_id, AssignMediator(actor=COORDINATOR, mediator=RESPONDENT))
    assert (error.kind, error.message) == ("invalid", "'dune' is a party to this dispute and cannot mediate it")
    first = mediation.mediator
    await app.dispute_command(dispute_id, ObjectToMediator(actor=RAISER, reason="they campaign with dune"))
    objected = await state_of(app, dispute_id)
    [_, redrawn] = await recorded(store, stream, "MediatorAssigned")
    assert objected.mediator == redrawn.data["mediator"] == recomputed(redrawn.data)[0]
    assert objected.mediator != first and first not in redrawn.data["pool"]
    error = await refused_without_record(app, store, dispute_id, ObjectToMediator(actor=RAISER, reason="again"))
    assert (error.kind, error.message) == ("conflict", "'cedar' has already objected to a mediator once; each party may object once")

    # The mediator sees no way through: a panel without the parties and the mediator.
    error = await refused_without_record(app, store, dispute_id, DeclareImpasse(actor=RAISER))
    assert (error.kind, error.message) == ("forbidden", "only the mediator may declare an impasse")
    mediator = objected.mediator
    assert mediator is not None
    await app.dispute_command(dispute_id, DeclareImpasse(actor=mediator))
    panel = await state_of(app, dispute_id)
    [panel_drawn] = await recorded(store, stream, "PanelDrawn")
    assert panel.stage == "panel" and panel.panel == panel_drawn.data["panelists"]
    assert panel_drawn.data["pool"] == sorted(set(MEMBERS) - PARTIES - {mediator})
    assert recomputed(panel_drawn.data) == panel.panel
    assert sorted(await notified(pool, stream, "panel_drawn")) == sorted([*PARTIES, *panel.panel])
    await stage_published(env, stream, "panel")

    # A party is no panelist; two of three panelists make a majority.
    error = await refused_without_record(
        app, store, dispute_id, SubmitRuling(actor=RESPONDENT, ruling=RulingKind.DISMISS, reasons="not me")
    )
    assert (error.kind, error.message) == ("forbidden", f"only the panelists of dispute {dispute_id!r} may rule")
    a, b, _ = panel.panel
    await app.dispute_command(dispute_id, SubmitRuling(actor=a, ruling=RulingKind.UPHOLD, reasons="the banner is shared"))
    await app.dispute_command(dispute_id, SubmitRuling(actor=b, ruling=RulingKind.UPHOLD, reasons="the boycott was agreed"))
    ruled = await state_of(app, dispute_id)
    assert ruled.stage == "appeal_window" and ruled.ruling is not None and ruled.ruling.ruling == "uphold"

    # dune appeals: a decision of an appeal panel drawn from the members who are neither parties, nor the
    # mediator, nor the first panel; its outcome is final.
    await app.dispute_command(dispute_id, LodgeAppeal(actor=RESPONDENT, reason="the panel ignored our vote"))
    await in_stage(app, dispute_id, "appeal")
    [lodged] = await recorded(store, stream, "AppealPanelDrawn")
    assert lodged.data["draw"]["pool"] == sorted(set(MEMBERS) - PARTIES - {mediator, *panel.panel})
    assert lodged.data["panel"] == recomputed(lodged.data)
    appeal_id = f"appeal-{dispute_id}"
    appeal = (await eventually(lambda: _decision_or_none(app, appeal_id), lambda view: view is not None))
    assert appeal is not None
    assert appeal.state.context.electorate == lodged.data["panel"]
    assert appeal.state.alliance_id == alliance_id and list(appeal.state.points) == ["p1"]
    with pytest.raises(Refused) as party_stance:
        await app.decision_command(appeal_id, TakeStance(actor=RAISER, point_id="p1", stance=StanceKind.AGREE))
    assert party_stance.value.kind == "forbidden"
    for member in appeal.state.context.electorate:
        await app.decision_command(appeal_id, TakeStance(actor=member, point_id="p1", stance=StanceKind.AGREE))
    final = await finished(env, stream)
    assert (final.stage, final.outcome) == ("final", "ruling upheld on appeal")
    [appeal_decided] = await recorded(store, stream, "AppealDecided")
    assert appeal_decided.data | {"at": None} == {
        "at": None, "decision_id": appeal_id, "decision_outcome": "adopted", "upheld": True,
    }
    assert await search_attributes(env, stream) == {
        "AccordKind": "dispute", "AccordAlliance": alliance_id, "AccordStage": "final", "AccordSeverity": "normal"
    }
    error = await refused_without_record(app, store, dispute_id, WithdrawDispute(actor=RAISER, reason="too late"))
    assert (error.kind, error.message) == ("conflict", f"dispute {dispute_id!r} is final; nothing more can happen in it")

    # The record folds into the workflow's state, and the workflow's history replays on this code.
    events = await store.read_stream(stream)
    assert fold(stream, events).state.model_dump() == final.model_dump()
    history = await env.client.get_workflow_handle(stream).fetch_history()
    assert any(e.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED for e in history.events)
    await replayer(DisputeWorkflow).replay_workflow(history)


async def _decision_or_none(app: Accord, decision_id: str) -> DecisionView | None:
    try:
        return await app.decision(decision_id)
    except Refused:
        return None


async def test_mediation_runs_out_into_a_panel_whose_ruling_becomes_final_when_nobody_appeals(
    skipping_app: Accord, time_skipping_env: WorkflowEnvironment, store: EventStore
) -> None:
    app, env = skipping_app, time_skipping_env
    alliance_id = await alliance_for_disputes(app)
    dispute_id = await raise_between(app, alliance_id)
    stream = DISPUTE.stream_name(dispute_id, alliance_id)
    raised = await state_of(app, dispute_id)
    assert raised.stage_deadline is not None
    await skip_to(env, raised.stage_deadline)
    mediation = await in_stage(app, dispute_id, "mediation")
    assert mediation.stage_deadline is not None
    assert just_after(raised.stage_deadline + timedelta(days=21), mediation.stage_deadline)  # the timer fires a few ms late
    await skip_to(env, mediation.stage_deadline)
    panel = await in_stage(app, dispute_id, "panel")
    [drawn] = await recorded(store, stream, "PanelDrawn")
    assert not set(panel.panel) & (PARTIES | {mediation.mediator})
    assert recomputed(drawn.data) == panel.panel
    for panelist in panel.panel[:2]:
        await app.dispute_command(
            dispute_id, SubmitRuling(actor=panelist, ruling=RulingKind.TERMS, terms="share the banner", reasons="fair")
        )
    ruled = await state_of(app, dispute_id)
    assert ruled.stage == "appeal_window" and ruled.stage_deadline is not None
    await skip_to(env, ruled.stage_deadline + timedelta(seconds=1))
    final = await in_stage(app, dispute_id, "final")
    assert final.outcome == "ruling final (no appeal)"
    [ending] = await recorded(store, stream, "RulingFinal")
    assert just_after(ruled.stage_deadline, _at(ending))
    # An appeal after the window is refused, and nothing is recorded.
    error = await refused_without_record(app, store, dispute_id, LodgeAppeal(actor=RAISER, reason="we just saw it"))
    assert (error.kind, error.message) == ("conflict", f"dispute {dispute_id!r} is final; nothing more can happen in it")
    history = await env.client.get_workflow_handle(stream).fetch_history()
    await replayer(DisputeWorkflow).replay_workflow(history)


async def test_settlement_in_negotiation_and_in_mediation(
    skipping_app: Accord, time_skipping_env: WorkflowEnvironment, store: EventStore, pool: asyncpg.Pool
) -> None:
    app, env = skipping_app, time_skipping_env
    alliance_id = await alliance_for_disputes(app)
    early, late = await raise_between(app, alliance_id), await raise_between(app, alliance_id)

    # Negotiation: dune's own proposal counts as its acceptance; cedar accepting settles it.
    error = await refused_without_record(app, store, early, ProposeTerms(actor="elm", text="my idea"))
    assert (error.kind, error.message) == ("forbidden", outside_the_dispute(early).message)  # elm sees the outline only
    await app.dispute_command(early, ProposeTerms(actor=RESPONDENT, text="we share the banner by turns"))
    error = await refused_without_record(app, store, early, AcceptTerms(actor="elm", terms_id="t1"))
    assert (error.kind, error.message) == ("forbidden", outside_the_dispute(early).message)
    await app.dispute_command(early, AcceptTerms(actor=RAISER, terms_id="t1"))
    settled = await state_of(app, early)
    assert (settled.stage, settled.outcome) == ("settled", "settled on terms t1")
    assert sorted(await notified(pool, DISPUTE.stream_name(early, alliance_id), "dispute_settled")) == sorted(PARTIES)

    # Mediation: the mediator's terms, accepted by both parties.
    raised = await state_of(app, late)
    assert raised.stage_deadline is not None
    await skip_to(env, raised.stage_deadline)
    mediation = await in_stage(app, late, "mediation")
    assert mediation.mediator in ("birch", "fern")
    await app.dispute_command(late, ProposeTerms(actor=mediation.mediator or "", text="a joint statement"))
    await app.dispute_command(late, AcceptTerms(actor=RAISER, terms_id="t1"))
    assert (await state_of(app, late)).stage == "mediation"
    await app.dispute_command(late, AcceptTerms(actor=RESPONDENT, terms_id="t1"))
    settled = await state_of(app, late)
    assert (settled.stage, settled.outcome) == ("settled", "settled on terms t1")
    [event] = await recorded(store, DISPUTE.stream_name(late, alliance_id), "DisputeSettled")
    assert event.data["stage"] == "mediation"
    for dispute_id in (early, late):
        assert (await finished(env, DISPUTE.stream_name(dispute_id, alliance_id))).stage == "settled"


async def test_a_crisis_runs_fast_tells_coordinators_and_steering_at_once_and_its_interim_measure_ends_by_itself(
    skipping_app: Accord, time_skipping_env: WorkflowEnvironment, store: EventStore, pool: asyncpg.Pool
) -> None:
    app, env = skipping_app, time_skipping_env
    alliance_id = await alliance_for_disputes(app)
    dispute_id = await raise_between(app, alliance_id, severity="crisis")
    stream = DISPUTE.stream_name(dispute_id, alliance_id)
    # Told at once: the outbox rows are written with the raising event.
    assert await notified(pool, stream, "crisis_raised") == ["amber", "gw"]
    assert await notified(pool, stream, "dispute_raised") == [RESPONDENT]
    assert (await search_attributes(env, stream))["AccordSeverity"] == "crisis"
    raised = await state_of(app, dispute_id)
    assert raised.stage_deadline == raised.raised_at + timedelta(days=2)  # crisis.negotiation_window, not 14d

    until = raised.raised_at + timedelta(hours=12)
    error = await refused_without_record(app, store, dispute_id, RecordInterimMeasure(actor=RAISER, what="w", until=until))
    assert (error.kind, error.message) == ("forbidden", "only a coordinator may record interim measures")
    await app.dispute_command(dispute_id, RecordInterimMeasure(actor=COORDINATOR, what="no statements on the banner", until=until))
    assert sorted(await notified(pool, stream, "interim_measure")) == ["amber", "cedar", "dune", "gw"]
    await skip_to(env, until)
    ended = await eventually(lambda: recorded(store, stream, "InterimMeasureEnded"), lambda rows: len(rows) == 1)
    assert ended[0].data["measure_id"] == "m1"
    assert just_after(until, _at(ended[0]))
    assert (await state_of(app, dispute_id)).measures["m1"].ended

    # The negotiation ends after crisis.negotiation_window, and mediation runs on the crisis window too.
    await skip_to(env, raised.stage_deadline)
    mediation = await in_stage(app, dispute_id, "mediation")
    [started] = await recorded(store, stream, "MediationStarted")
    assert just_after(raised.stage_deadline, _at(started))
    assert mediation.stage_deadline == _at(started) + timedelta(days=3)

    # Only the raiser withdraws; the parties are told.
    error = await refused_without_record(app, store, dispute_id, WithdrawDispute(actor=RESPONDENT, reason="we are done"))
    assert (error.kind, error.message) == ("forbidden", "only the member who raised the dispute ('cedar') may withdraw it")
    error = await refused_without_record(app, store, dispute_id, WithdrawDispute(actor=COORDINATOR, reason="enough"))
    assert error.kind == "forbidden"
    await app.dispute_command(dispute_id, WithdrawDispute(actor=RAISER, reason="settled over coffee"))
    assert (await state_of(app, dispute_id)).stage == "withdrawn"
    assert await notified(pool, stream, "dispute_withdrawn") == ["cedar", "dune"]
    assert (await finished(env, stream)).outcome == "withdrawn"


async def test_an_interim_measure_outlives_its_dispute_and_still_ends_on_time(
    skipping_app: Accord, time_skipping_env: WorkflowEnvironment, store: EventStore
) -> None:
    app, env = skipping_app, time_skipping_env
    alliance_id = await alliance_for_disputes(app)
    dispute_id = await raise_between(app, alliance_id, severity="crisis")
    stream = DISPUTE.stream_name(dispute_id, alliance_id)
    raised = await state_of(app, dispute_id)
    until = raised.raised_at + timedelta(days=10)  # long after the dispute is withdrawn
    await app.dispute_command(dispute_id, RecordInterimMeasure(actor=COORDINATOR, what="banner stays home", until=until))
    await app.dispute_command(dispute_id, WithdrawDispute(actor=RAISER, reason="talked it over"))
    final = await finished(env, stream)
    assert final.stage == "withdrawn" and final.measures["m1"].ended
    [ended] = await recorded(store, stream, "InterimMeasureEnded")
    assert just_after(until, _at(ended))


async def test_a_stalled_panel_waits_quietly_for_coordinators(
    skipping_app: Accord, time_skipping_env: WorkflowEnvironment
) -> None:
    app, env = skipping_app, time_skipping_env
    alliance_id = await alliance_for_disputes(app)
    dispute_id = await raise_between(app, alliance_id)
    stream = DISPUTE.stream_name(dispute_id, alliance_id)
    raised = await state_of(app, dispute_id)
    assert raised.stage_deadline is not None
    await skip_to(env, raised.stage_deadline)
    mediation = await in_stage(app, dispute_id, "mediation")
    await app.dispute_command(dispute_id, DeclareImpasse(actor=mediation.mediator or ""))
    panel = await state_of(app, dispute_id)
    assert panel.stage_deadline is not None
    await skip_to(env, panel.stage_deadline)
    await in_stage(app, dispute_id, "panel_stalled")
    before = len((await env.client.get_workflow_handle(stream).fetch_history()).events)
    await env.sleep(timedelta(seconds=30))  # nobody acts for half a minute
    after = len((await env.client.get_workflow_handle(stream).fetch_history()).events)
    assert after - before < 10, f"{after - before} history events while waiting for people"


async def test_members_cannot_take_the_decision_id_an_appeal_will_use(
    skipping_app: Accord, time_skipping_env: WorkflowEnvironment
) -> None:
    app = skipping_app
    alliance_id = await alliance_for_disputes(app)
    dispute_id = await raise_between(app, alliance_id)

    with pytest.raises(Refused) as taken:
        await app.open_decision(alliance_id, "elm", f"appeal-{dispute_id}", "Banner rota", [{"text": "A rota"}])

    assert (taken.value.kind, taken.value.field) == (RefusalKind.INVALID, "decision_id")
    assert taken.value.message == "decision ids starting with 'appeal-' are kept for the appeals of disputes"
