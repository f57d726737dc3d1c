"""Verifiable draws (`sha256-rank/1`): the algorithm from hashlib alone, the decider's open draws (accord's
commitment, the parties' contributions, the draw made when all have contributed or the window closes), the
dispute workflow drawing that way on the time-skipping server (across a continue-as-new), and `accord audit
verify` recomputing every draw and naming a forged one.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from dispute_support import (
    COORDINATOR,
    MEMBERS,
    RAISER,
    RESPONDENT,
    alliance_for_disputes,
    context,
    dispute_charter,
    event_types,
    in_stage,
    raise_between,
    recomputed,
    skip_to,
    state_of,
    stream_of,
    unique,
)
from temporalio.testing import WorkflowEnvironment
from test_dispute import fold
from test_independent_verifier import run_verifier, verifier_script

from accord import transparency
from accord.app import Accord
from accord.worker import replayer
from events import draws
from events.access import Caller
from events.charter import DisputeProcedure
from events.dispute import (
    AppealPanelDrawn,
    ContributeToDraw,
    DeclareImpasse,
    DisputeEvent,
    DisputeStage,
    DisputeState,
    DrawOpened,
    LodgeAppeal,
    MediatorAssigned,
    ObjectToMediator,
    PanelDrawn,
    ProposeTerms,
    RaiseDispute,
    RulingKind,
    Severity,
    SubmitRuling,
    WithdrawDispute,
    decide,
    notices,
    on_time,
)
from events.dispute import draw as legacy_draw
from events.processes import DISPUTE
from events.rules import RefusalKind, Refused
from events.store import EventStore, NewEvent
from workflows.dispute import DisputeWorkflow
from workflows.shapes import DisputeRun

NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
KEY = bytes(range(100, 132))
MINE, THEIRS = "ab" * 32, "cd" * 32


# --- the algorithm ------------------------------------------------------------------------------------


def test_the_algorithm_is_hashlib_alone_and_its_vector_is_fixed() -> None:
    secret = bytes(range(32))
    contributions = {"dune": "11" * 32, "cedar": "22" * 32}
    pool = ["birch", "elm", "fern", "gw", "hazel", "ivy", "amber"]
    # What docs/audit.md specifies, written out with hashlib: the seed over the text, then the ranking.
    text = f"accord-draw/1\n{secret.hex()}\ncedar {'22' * 32}\ndune {'11' * 32}\n"
    seed = hashlib.sha256(text.encode()).digest()
    by_hand = sorted(pool, key=lambda m: hashlib.sha256(seed + m.encode()).digest())[:3]

    record = draws.draw(0, pool, 3, secret, contributions)
    assert record.seed == seed.hex() == "036c5c4695d3bdf51cf4b17b9001bae6c2fbba1844b0c5a23559dc0910d212e6"
    assert record.drawn == by_hand == ["amber", "ivy", "gw"]
    assert record.commitment == hashlib.sha256(secret).hexdigest()
    assert record.pool == sorted(pool) and draws.check(record) == []
    # The order a pool is given in changes nothing; one contribution's byte changes the seed.
    assert draws.draw(0, list(reversed(pool)), 3, secret, contributions) == record
    other = draws.draw(0, pool, 3, secret, {**contributions, "dune": "11" * 31 + "12"})
    assert other.seed != record.seed


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"secret": "ff" * 32}, "does not match the commitment"),
        ({"commitment": "00" * 32}, "does not match the commitment"),
        ({"contributions": {"cedar": "22" * 32}}, "the seed is not SHA-256"),
        ({"seed": "00" * 32}, "the seed is not SHA-256"),
        ({"drawn": ["amber", "birch", "elm"]}, "ranking the pool by the seed draws"),
        ({"pool": ["amber", "birch", "elm"]}, "ranking the pool by the seed draws"),
        ({"algorithm": "random/1"}, "unknown draw algorithm"),
    ],
)
def test_a_recorded_draw_that_was_tampered_with_does_not_check(change: dict[str, Any], problem: str) -> None:
    record = draws.draw(0, ["amber", "birch", "elm", "fern", "gw"], 3, bytes(range(32)), {"dune": "11" * 32, "cedar": "22" * 32})
    tampered = draws.Draw.model_construct(**{**dict(record), **change})
    assert any(problem in found for found in draws.check(tampered)), draws.check(tampered)


def test_a_contribution_is_32_bytes_in_hex() -> None:
    with pytest.raises(ValueError, match="64 lowercase hexadecimal characters"):
        ContributeToDraw(actor=RAISER, contribution="my lucky number")
    with pytest.raises(ValueError, match="64 lowercase hexadecimal characters"):
        ContributeToDraw(actor=RAISER, contribution="AB" * 32)
    assert ContributeToDraw(actor=RAISER, contribution=MINE).contribution == MINE


# --- the decider --------------------------------------------------------------------------------------


def raised(severity: Severity = Severity.NORMAL, **procedure: Any) -> DisputeState:
    command = RaiseDispute(
        actor=RAISER, dispute_id="x1", alliance_id="rivers", respondents=[RESPONDENT], subject="The banner",
        description="dune took the banner", severity=severity, context=context(dispute_charter(**{"draws": "open", **procedure})),
    )
    return fold(None, decide(None, command, NOW, KEY))


def refused(state: DisputeState, command: Any, now: datetime) -> Refused:
    with pytest.raises(Refused) as caught:
        decide(state, command, now, KEY)
    return caught.value


def drawing_a_mediator() -> tuple[DisputeState, DrawOpened]:
    state = raised()
    assert state.stage_deadline is not None
    [opened] = on_time(state, state.stage_deadline, key=KEY)
    assert isinstance(opened, DrawOpened)
    return fold(state, [opened]), opened


def test_a_draw_opens_with_accords_commitment_and_tells_the_parties() -> None:
    before = raised()
    state, opened = drawing_a_mediator()
    assert (opened.number, opened.purpose, opened.pool, opened.count) == (0, "mediation", ["birch", "fern"], 1)
    assert opened.commitment == draws.commitment(draws.accord_secret(KEY, "rivers/x1", 0))
    assert opened.closes_at == opened.at + 2 * DAY  # the example charter's draw window
    assert state.stage == DisputeStage.DRAWING and state.stage_deadline == opened.closes_at and state.draws == 1
    told = notices(before, opened)
    assert sorted(n.member_id for n in told) == [RAISER, RESPONDENT] and {n.kind for n in told} == {"draw_opened"}
    assert "open until" in told[0].message and "contribute" in told[0].message
    # While it is open, the ladder waits: nothing but contributions, a withdrawal or an interim measure.
    error = refused(state, ProposeTerms(actor=RAISER, text="Share it"), opened.at)
    assert error.kind == RefusalKind.CONFLICT and "drawing" in error.message
    assert state.must_act() == []


def test_the_draw_is_made_once_every_party_contributed_and_recomputes() -> None:
    state, opened = drawing_a_mediator()
    at = opened.at + timedelta(hours=2)
    error = refused(state, ContributeToDraw(actor=COORDINATOR, contribution=MINE), at)
    assert (error.kind, error.message) == (RefusalKind.FORBIDDEN, "only the parties to dispute 'x1' may contribute to its draws")
    first = decide(state, ContributeToDraw(actor=RAISER, contribution=MINE), at, KEY)
    assert [e.type for e in first] == ["DrawContributed"]
    state = fold(state, first)
    error = refused(state, ContributeToDraw(actor=RAISER, contribution=THEIRS), at)
    assert (error.kind, error.message) == (RefusalKind.CONFLICT, "'cedar' already contributed to this draw")

    events = decide(state, ContributeToDraw(actor=RESPONDENT, contribution=THEIRS), at, KEY)
    assert [e.type for e in events] == ["DrawContributed", "MediationStarted", "MediatorAssigned"]
    assigned = events[-1]
    assert isinstance(assigned, MediatorAssigned) and assigned.draw is not None
    assert assigned.draw.contributions == {RAISER: MINE, RESPONDENT: THEIRS}
    assert draws.check(assigned.draw, opened.commitment) == [] and [assigned.mediator] == assigned.draw.drawn
    state = fold(state, events)
    assert state.stage == DisputeStage.MEDIATION and state.mediator == assigned.mediator and state.draw is None
    assert state.stage_deadline == at + timedelta(days=21)  # mediation's window runs from the draw
    error = refused(state, ContributeToDraw(actor=RAISER, contribution=MINE), at)
    assert error.kind == RefusalKind.CONFLICT and "a draw takes contributions only in drawing" in error.message


def test_a_draw_nobody_contributes_to_is_made_when_it_closes() -> None:
    state, opened = drawing_a_mediator()
    events = on_time(state, opened.closes_at, key=KEY)
    assigned = events[-1]
    assert isinstance(assigned, MediatorAssigned) and assigned.draw is not None and assigned.draw.contributions == {}
    assert draws.check(assigned.draw, opened.commitment) == []
    # Closing needs the key the commitment was made with: another key cannot reveal a matching secret.
    with pytest.raises(ValueError, match="does not match the commitment"):
        on_time(state, opened.closes_at, key=bytes(32))


def mediating() -> DisputeState:
    state, opened = drawing_a_mediator()
    return fold(state, on_time(state, opened.closes_at, key=KEY))


def test_a_redraw_after_an_objection_pauses_mediation_for_as_long_as_it_takes() -> None:
    state = mediating()
    deadline, first = state.stage_deadline, state.mediator
    assert deadline is not None and first is not None
    at = deadline - 10 * DAY
    events = decide(state, ObjectToMediator(actor=RAISER, reason="they campaign with dune"), at, KEY)
    assert [e.type for e in events] == ["MediatorObjected", "MediatorAssigned"]  # one mediator left: nothing to choose
    state = fold(state, events)
    assert state.mediator != first and state.stage == DisputeStage.MEDIATION and state.stage_deadline == deadline

    # With two mediators left to choose from, the objection opens a draw; mediation waits for it.
    state = fold(raised(), [])
    state = state.model_copy(update={"context": state.context.model_copy(update={"mediators": ["birch", "fern", "oak", "pine"]})})
    assert state.stage_deadline is not None
    [opened] = on_time(state, state.stage_deadline, key=KEY)
    state = fold(state, [opened, *on_time(fold(state, [opened]), opened.closes_at, key=KEY)])
    deadline = state.stage_deadline
    assert deadline is not None and state.mediator is not None
    objected_at = deadline - 10 * DAY
    events = decide(state, ObjectToMediator(actor=RAISER, reason="they campaign with dune"), objected_at, KEY)
    assert [e.type for e in events] == ["MediatorObjected", "DrawOpened"]
    state = fold(state, events)
    closes = state.stage_deadline
    assert closes is not None and closes - objected_at == 2 * DAY
    redrawn = fold(state, on_time(state, closes, key=KEY))
    objected = state.mediator_objections[RAISER]
    assert redrawn.stage == DisputeStage.MEDIATION and redrawn.mediator not in (None, objected)
    assert redrawn.stage_deadline == deadline + 2 * DAY  # the two days the draw took are given back


def test_an_impasse_and_an_appeal_draw_their_panels_openly() -> None:
    state = mediating()
    more = [*state.context.members, "juniper", "kale", "lime"]  # enough neutral members left to choose an appeal panel
    state = state.model_copy(update={"context": state.context.model_copy(update={"members": sorted(more)})})
    assert state.mediator is not None
    at = NOW + 10 * DAY
    events = decide(state, DeclareImpasse(actor=state.mediator), at, KEY)
    assert [e.type for e in events] == ["ImpasseDeclared", "DrawOpened"]
    state = fold(state, events)
    assert state.draw is not None and state.draw.purpose == "panel" and state.draw.count == 3
    state = fold(state, decide(state, ContributeToDraw(actor=RESPONDENT, contribution=THEIRS), at, KEY))
    events = decide(state, ContributeToDraw(actor=RAISER, contribution=MINE), at, KEY)
    panel = events[-1]
    assert isinstance(panel, PanelDrawn) and panel.draw is not None and panel.panelists == panel.draw.drawn
    assert panel.seed is None and panel.deadline == at + timedelta(days=14)
    state = fold(state, events)
    first, second, _ = state.panel
    for panelist in (first, second):
        state = fold(state, decide(state, SubmitRuling(actor=panelist, ruling=RulingKind.UPHOLD, reasons="shared"), at, KEY))
    assert state.stage == DisputeStage.APPEAL_WINDOW

    events = decide(state, LodgeAppeal(actor=RESPONDENT, reason="we disagree"), at, KEY)
    assert [e.type for e in events] == ["AppealLodged", "DrawOpened"]
    state = fold(state, events)
    assert state.stage == DisputeStage.DRAWING and state.appeal_by == RESPONDENT and state.appeal_panel == []
    error = refused(state, WithdrawDispute(actor=RAISER, reason="enough"), at)
    assert error.message == "an appeal is being decided; the dispute can no longer be withdrawn"
    assert state.stage_deadline is not None
    events = on_time(state, state.stage_deadline, key=KEY)
    drawn = events[-1]
    assert isinstance(drawn, AppealPanelDrawn) and drawn.panel == drawn.draw.drawn and draws.check(drawn.draw) == []
    state = fold(state, events)
    assert state.stage == DisputeStage.APPEAL and state.appeal_panel == drawn.panel and state.draws == 3
    assert not set(drawn.panel) & {RAISER, RESPONDENT, state.mediator or "", *state.panel}


def test_immediate_draws_a_pool_without_choice_and_a_crisis_window() -> None:
    state = raised(draws="immediate")
    assert state.stage_deadline is not None
    events = on_time(state, state.stage_deadline, key=KEY)
    assert [e.type for e in events] == ["MediationStarted", "MediatorAssigned"]
    assigned = events[-1]
    assert isinstance(assigned, MediatorAssigned) and assigned.draw is not None and draws.check(assigned.draw) == []
    # Without a key (a run recorded before verifiable draws), the integer seed and CPython's random, as then.
    legacy = on_time(state, state.stage_deadline, 7)[-1]
    assert isinstance(legacy, MediatorAssigned) and legacy.draw is None and legacy.seed == 7

    crisis = raised(Severity.CRISIS)
    assert crisis.stage_deadline is not None
    [opened] = on_time(crisis, crisis.stage_deadline, key=KEY)
    assert isinstance(opened, DrawOpened) and opened.closes_at - opened.at == timedelta(hours=2)  # the crisis draw window
    shorter = raised(Severity.CRISIS, draw_window="30m")
    assert shorter.stage_deadline is not None
    [opened] = on_time(shorter, shorter.stage_deadline, key=KEY)
    assert isinstance(opened, DrawOpened) and opened.closes_at - opened.at == timedelta(minutes=30)


def test_a_charter_that_says_nothing_of_draws_opens_them_for_a_day_and_an_hour_in_a_crisis() -> None:
    procedure = dispute_charter().disputes.model_dump(mode="json")
    for field in ("draws", "draw_window"):
        del procedure[field]
    del procedure["crisis"]["draw_window"]
    parsed = DisputeProcedure.model_validate(procedure)
    assert (parsed.draws, parsed.draw_window, parsed.crisis.draw_window) == ("open", DAY, timedelta(hours=1))


def test_check_stream_recomputes_every_draw_and_names_a_forged_one() -> None:
    state, opened = drawing_a_mediator()
    at = opened.at + timedelta(hours=1)
    contributed = decide(state, ContributeToDraw(actor=RAISER, contribution=MINE), at, KEY)
    closed = on_time(fold(state, contributed), opened.closes_at, key=KEY)
    events = [opened, *contributed, *closed]

    def stream(changed: list[DisputeEvent]) -> tuple[int, list[str]]:
        return draws.check_stream("dispute-rivers.x1", ((v, e.type, e.model_dump(mode="json")) for v, e in enumerate(changed, start=5)))

    assert stream(events) == (1, [])
    assigned = closed[-1]
    assert isinstance(assigned, MediatorAssigned) and assigned.draw is not None
    other = next(m for m in ["birch", "fern"] if m != assigned.mediator)
    _, problems = stream([*events[:-1], assigned.model_copy(update={"mediator": other})])
    assert problems == [f"dispute-rivers.x1 version 8: the event names {other!r} as drawn, its draw drew {[assigned.mediator]}"]
    # A draw made again with a contribution left out (but a consistent record) is caught against its opening.
    again = draws.draw(0, ["birch", "fern"], 1, draws.accord_secret(KEY, "rivers/x1", 0), {})
    forged = assigned.model_copy(update={"draw": again, "mediator": again.drawn[0]})
    _, problems = stream([*events[:-1], forged])
    assert problems == ["dispute-rivers.x1 version 8: draw 0 was made with another pool, count or contributions than it opened with"]
    # A draw made with a secret other than the one committed to.
    swapped = draws.draw(0, ["birch", "fern"], 1, bytes(32), {RAISER: MINE})
    _, problems = stream([*events[:-1], assigned.model_copy(update={"draw": swapped, "mediator": swapped.drawn[0]})])
    assert problems == ["dispute-rivers.x1 version 8: draw 0: the commitment differs from the one the draw opened with"]


# --- the workflow and the audit ------------------------------------------------------------------------


async def test_the_workflow_draws_openly_keeps_its_key_across_runs_and_the_audit_recomputes_it(
    skipping_app: Accord, time_skipping_env: WorkflowEnvironment, store: EventStore, db_url: str, tmp_path: Path
) -> None:
    app, env = skipping_app, time_skipping_env
    alliance_id = await alliance_for_disputes(app, draws="open")
    # Started as `raise_dispute` starts it, but continuing as new after every second command: the draw opened
    # in one run is made in the next, with the key the first run drew.
    dispute_id = unique("x")
    state = await app.alliance(alliance_id)
    from events import dispute as dispute_module

    command = RaiseDispute(
        actor=RAISER, dispute_id=dispute_id, alliance_id=alliance_id, respondents=[RESPONDENT], subject="The banner",
        description="dune took the banner", context=dispute_module.pinned_context(state),
    )
    await app._start_with_command(  # the public call cannot choose how often a run continues as new
        DISPUTE, DisputeRun(dispute_id=dispute_id, continue_after_updates=2), dispute_id, command, alliance_id=alliance_id
    )
    stream = await stream_of(app, dispute_id)
    raised_state = await state_of(app, dispute_id)
    assert raised_state.stage_deadline is not None
    await skip_to(env, raised_state.stage_deadline)
    drawing = await in_stage(app, dispute_id, "drawing")
    assert drawing.draw is not None and drawing.draw.purpose == "mediation"

    opened_in = (await env.client.get_workflow_handle(stream).describe()).run_id
    await app.dispute_command(dispute_id, ContributeToDraw(actor=RAISER, contribution=MINE))
    await app.dispute_command(dispute_id, ContributeToDraw(actor=RESPONDENT, contribution=THEIRS))
    mediation = await in_stage(app, dispute_id, "mediation")
    assert (await env.client.get_workflow_handle(stream).describe()).run_id != opened_in, "the dispute never continued as new"
    [assigned] = [e for e in await store.read_stream(stream) if e.event_type == "MediatorAssigned"]
    assert [mediation.mediator] == recomputed(assigned.data)
    assert assigned.data["draw"]["contributions"] == {RAISER: MINE, RESPONDENT: THEIRS}

    # The mediator's impasse: a panel draw nobody contributes to, made when its window closes.
    assert mediation.mediator is not None
    await app.dispute_command(dispute_id, DeclareImpasse(actor=mediation.mediator))
    waiting = await in_stage(app, dispute_id, "drawing")
    assert waiting.stage_deadline is not None
    await skip_to(env, waiting.stage_deadline + timedelta(seconds=1))
    paneled = await in_stage(app, dispute_id, "panel")
    assert "DrawOpened" in await event_types(store, stream)

    report = await transparency.verify_log(app, alliance_id, None, [])
    assert report.ok and report.draws == 2, report
    # A member the dispute keeps out of it is not told how many draws it made.
    outside = next(m for m in MEMBERS if m not in {RAISER, RESPONDENT, COORDINATOR, mediation.mediator, *paneled.panel})
    seen = await transparency.verify_log(app, alliance_id, Caller.named(outside), [])
    assert seen.ok and seen.draws == 0, seen
    history = await env.client.get_workflow_handle(stream).fetch_history()
    await replayer(DisputeWorkflow).replay_workflow(history)
    # The documented verifier, which imports nothing of accord, recomputes both from the alliance's bundle.
    script, bundle = verifier_script(tmp_path), tmp_path / "bundle.json"
    bundle.write_text(json.dumps(await transparency.bundle(app, alliance_id, None, [])))
    code, out = await run_verifier(script, "--bundle", str(bundle))
    assert code == 0 and "recomputed 2 draws" in out, out

    # A panel recorded that the draw did not draw (an operator writing the record) fails the verification.
    honest = next(e for e in await store.read_stream(stream) if e.event_type == "PanelDrawn")
    someone = next(m for m in honest.data["pool"] if m not in paneled.panel)
    forged = {**honest.data, "panelists": [someone, *paneled.panel[1:]]}
    head = await store.head(stream)
    await store.append(stream, head.version, [NewEvent(event_id=uuid4(), event_type="PanelDrawn", data=forged)])
    report = await transparency.verify_log(app, alliance_id, None, [])
    assert not report.ok
    assert any("the event names" in p and "as drawn, its draw drew" in p for p in report.problems), report.problems
    code, out = await run_verifier(script, db_url)
    forged_at = f"BROKEN {stream} version {head.version + 1}: draw 1: the event names {forged['panelists']}, ranking the pool"
    assert code == 1 and forged_at in out, out


async def test_contributions_are_refused_outside_an_open_draw_and_kept_inside(
    skipping_app: Accord, time_skipping_env: WorkflowEnvironment
) -> None:
    app, env = skipping_app, time_skipping_env
    alliance_id = await alliance_for_disputes(app, draws="open")
    dispute_id = await raise_between(app, alliance_id)
    with pytest.raises(Refused) as early:
        await app.dispute_command(dispute_id, ContributeToDraw(actor=RAISER, contribution=MINE))
    assert early.value.kind == RefusalKind.CONFLICT and "only in drawing" in early.value.message
    state = await state_of(app, dispute_id)
    assert state.stage_deadline is not None and state.draws == 0
    await skip_to(env, state.stage_deadline)
    await in_stage(app, dispute_id, "drawing")
    await app.dispute_command(dispute_id, ContributeToDraw(actor=RESPONDENT, contribution=THEIRS))
    pending = (await state_of(app, dispute_id)).draw
    assert pending is not None and pending.contributions == {RESPONDENT: THEIRS}


def test_a_malformed_draw_record_is_reported_not_raised() -> None:
    broken = [
        (3, "DrawOpened", {"number": 0, "pool": ["a", "b"]}),
        (4, "PanelDrawn", {"panelists": ["a"], "draw": {"algorithm": "random/1", "number": 0}}),
    ]
    made, problems = draws.check_stream("dispute-r.x", broken)
    assert made == 1 and len(problems) == 2
    assert problems[0].startswith("dispute-r.x version 3: a DrawOpened that is not a well-formed draw event (KeyError")
    assert problems[1].startswith("dispute-r.x version 4: a PanelDrawn that is not a well-formed draw event (algorithm:")


def test_draws_recorded_before_keep_their_people_and_are_not_counted_as_verifiable() -> None:
    """Without a key (a run recorded before), the command's integer seed and CPython's random, as then; the
    events fold and the stream's check counts no verifiable draw and finds nothing wrong."""
    state = raised(draws="immediate")
    assert state.stage_deadline is not None
    events = on_time(state, state.stage_deadline, 7)
    state = fold(state, events)
    assert state.mediator is not None
    impasse = decide(state, DeclareImpasse(actor=state.mediator, seed=11), NOW + 15 * DAY)
    [_, panel] = impasse
    assert isinstance(panel, PanelDrawn) and panel.seed == 11 and panel.draw is None
    assert panel.panelists == legacy_draw(panel.pool, 3, 11)
    stored = panel.model_dump(mode="json", exclude={"draw"})  # as an event recorded then was stored
    assert PanelDrawn.model_validate(stored) == panel
    every = [*events, *impasse]
    assert draws.check_stream("dispute-rivers.x1", ((v, e.type, e.model_dump(mode="json")) for v, e in enumerate(every, 2))) == (0, [])
