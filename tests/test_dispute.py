"""The dispute decider on its own: the ladder, the draws, every refusal (kind and message), the clock,
notices and confidentiality. Pure functions, so no server is needed: time is an argument."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from dispute_support import MEMBERS, context, dispute_charter

from events.access import Caller, Outline, Seen, dispute_seen, outline
from events.decision import DecisionOutcome
from events.dispute import (
    AcceptTerms,
    AppealDecided,
    AppealLodged,
    AssignMediator,
    DeclareImpasse,
    DisputeEvent,
    DisputeRaised,
    DisputeReminderSent,
    DisputeSettled,
    DisputeStage,
    DisputeState,
    DisputeWithdrawn,
    ExtendPanel,
    ImpasseDeclared,
    InterimMeasureEnded,
    InterimMeasureRecorded,
    LodgeAppeal,
    MediationStarted,
    MediatorAssigned,
    MediatorObjected,
    ObjectToMediator,
    PanelDecided,
    PanelDrawn,
    PanelExtended,
    PanelStalled,
    ProposeTerms,
    RaiseDispute,
    RecordInterimMeasure,
    ReferredToAssembly,
    ReferToAssembly,
    RulingFinal,
    RulingKind,
    Severity,
    SubmitRuling,
    TermsAccepted,
    TermsProposed,
    WithdrawDispute,
    appeal_decided,
    appeal_opening,
    decide,
    dispute_event,
    draw,
    evolve,
    next_due,
    notices,
    on_time,
)
from events.rules import RefusalKind, Refused

NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
DESCRIPTION = "dune took the banner to a rally we boycotted"


def fold(state: DisputeState | None, events: list[DisputeEvent]) -> DisputeState:
    for event in events:
        state = evolve(state, event)
    assert state is not None
    return state


def act(state: DisputeState, command: Any, now: datetime) -> tuple[DisputeState, list[DisputeEvent]]:
    events = decide(state, command, now)
    return fold(state, events), events


def raised(severity: Severity = Severity.NORMAL, respondents: list[str] | None = None, **procedure: Any) -> DisputeState:
    command = RaiseDispute(
        actor="cedar", dispute_id="x1", alliance_id="rivers", respondents=respondents or ["dune"],
        subject="Use of the shared banner", description=DESCRIPTION, severity=severity,
        context=context(dispute_charter(**procedure)),
    )
    return fold(None, decide(None, command, NOW))


def mediating(seed: int = 7, **procedure: Any) -> DisputeState:
    state = raised(**procedure)
    assert state.stage_deadline is not None
    return fold(state, on_time(state, state.stage_deadline, seed))


def paneled(seed: int = 7, panel_seed: int = 11) -> DisputeState:
    state = mediating(seed)
    assert state.mediator is not None
    state, _ = act(state, DeclareImpasse(actor=state.mediator, seed=panel_seed), NOW + 15 * DAY)
    return state


def ruled(ruling: RulingKind = RulingKind.UPHOLD) -> DisputeState:
    state = paneled()
    first, second, _ = state.panel
    state, _ = act(state, SubmitRuling(actor=first, ruling=ruling, reasons="the banner is shared"), NOW + 16 * DAY)
    state, _ = act(state, SubmitRuling(actor=second, ruling=ruling, reasons="the boycott was agreed"), NOW + 16 * DAY)
    assert state.stage == DisputeStage.APPEAL_WINDOW
    return state


def mediator_of(state: DisputeState) -> str:
    assert state.mediator is not None
    return state.mediator


def refused(state: DisputeState | None, command: Any, now: datetime = NOW + DAY) -> Refused:
    with pytest.raises(Refused) as caught:
        decide(state, command, now)
    return caught.value


# --- raising ------------------------------------------------------------------------------------------


def test_raising_pins_the_context_and_opens_negotiation_for_the_charters_window() -> None:
    state = raised()
    assert (state.stage, state.raiser, state.respondents, state.parties) == ("negotiation", "cedar", ["dune"], ["cedar", "dune"])
    assert state.stage_deadline == NOW + 14 * DAY
    assert state.context.members == MEMBERS and state.context.mediators == ["birch", "dune", "fern"]
    [event] = decide(None, RaiseDispute(actor="cedar", dispute_id="x1", alliance_id="rivers", respondents=["dune", "dune"],
                                        subject="s", description="d", context=context()), NOW)
    assert isinstance(event, DisputeRaised) and event.respondents == ["dune"]
    # Stored as JSON and read back, the event is the same (what the event store and audit replay rely on).
    assert dispute_event.validate_python(event.model_dump(mode="json")) == event


def test_a_crisis_runs_on_the_shorter_windows_and_tells_coordinators_and_steering_at_once() -> None:
    crisis = raised(Severity.CRISIS)
    assert crisis.stage_deadline == NOW + 2 * DAY  # crisis.negotiation_window
    [raising] = decide(None, RaiseDispute(actor="cedar", dispute_id="x1", alliance_id="rivers", respondents=["dune"],
                                          subject="s", description="d", severity=Severity.CRISIS, context=context()), NOW)
    told = {(n.member_id, n.kind) for n in notices(None, raising)}
    assert told == {("dune", "dispute_raised"), ("gw", "crisis_raised"), ("amber", "crisis_raised")}
    normal = raised()
    [normal_raising] = decide(None, RaiseDispute(actor="cedar", dispute_id="x1", alliance_id="rivers", respondents=["dune"],
                                                 subject="s", description="d", context=context()), NOW)
    assert {(n.member_id, n.kind) for n in notices(None, normal_raising)} == {("dune", "dispute_raised")}
    # Every later step is on the crisis windows too.
    mediation = fold(crisis, on_time(crisis, NOW + 2 * DAY, 1))
    assert mediation.stage == "mediation" and mediation.stage_deadline == NOW + 5 * DAY
    assert normal.window("mediation") == 21 * DAY and crisis.window("panel") == 3 * DAY and crisis.window("appeal") == 2 * DAY


@pytest.mark.parametrize(
    ("actor", "respondents", "kind", "field", "message"),
    [
        ("cedar", ["cedar"], "invalid", "respondents", "a dispute cannot name its raiser as a respondent"),
        ("cedar", ["dune", "cedar"], "invalid", "respondents", "a dispute cannot name its raiser as a respondent"),
        ("cedar", ["oak"], "invalid", "respondents", "respondents must be active members of 'rivers'; not members: oak"),
        ("oak", ["dune"], "forbidden", None, "only active members of 'rivers' may raise a dispute"),
    ],
)
def test_raising_is_refused_for_outsiders_non_member_respondents_and_the_raiser_as_respondent(
    actor: str, respondents: list[str], kind: str, field: str | None, message: str
) -> None:
    command = RaiseDispute(actor=actor, dispute_id="x1", alliance_id="rivers", respondents=respondents,
                           subject="s", description="d", context=context())
    error = refused(None, command)
    assert (error.kind, error.field, error.message) == (kind, field, message)


def test_a_dispute_is_raised_once_and_nothing_happens_before() -> None:
    assert refused(raised(), RaiseDispute(actor="cedar", dispute_id="x1", alliance_id="rivers", respondents=["dune"],
                                          subject="s", description="d", context=context())).kind == RefusalKind.CONFLICT
    assert refused(None, ProposeTerms(actor="cedar", text="t")).message == "this dispute has not been raised"


# --- settlement ---------------------------------------------------------------------------------------


def test_negotiation_settles_when_every_party_accepts_the_same_terms_a_proposal_counting_as_acceptance() -> None:
    state, events = act(raised(), ProposeTerms(actor="cedar", text="return the banner"), NOW + DAY)
    assert [type(e) for e in events] == [TermsProposed, TermsAccepted]  # cedar's own proposal is its acceptance
    assert state.terms["t1"].accepted_by == ["cedar"] and state.stage == "negotiation"
    # dune answers with other terms: accepted by dune only, so nothing is settled yet.
    state, events = act(state, ProposeTerms(actor="dune", text="share the banner by turns"), NOW + DAY)
    assert [type(e) for e in events] == [TermsProposed, TermsAccepted] and state.stage == "negotiation"
    state, events = act(state, AcceptTerms(actor="cedar", terms_id="t2"), NOW + 2 * DAY)
    assert [type(e) for e in events] == [TermsAccepted, DisputeSettled]
    assert events[-1] == DisputeSettled(at=NOW + 2 * DAY, terms_id="t2", stage=DisputeStage.NEGOTIATION)
    assert (state.stage, state.outcome, state.stage_deadline) == ("settled", "settled on terms t2", None)
    assert {n.member_id for n in notices(state, events[-1])} == {"cedar", "dune"}
    assert next_due(state) is None


def test_with_two_respondents_every_party_must_accept() -> None:
    state = raised(respondents=["dune", "elm"])
    state, _ = act(state, ProposeTerms(actor="cedar", text="return the banner"), NOW + DAY)
    state, events = act(state, AcceptTerms(actor="dune", terms_id="t1"), NOW + DAY)
    assert [type(e) for e in events] == [TermsAccepted] and state.stage == "negotiation"
    state, events = act(state, AcceptTerms(actor="elm", terms_id="t1"), NOW + DAY)
    assert type(events[-1]) is DisputeSettled


def test_mediation_settles_on_the_mediators_terms_once_both_parties_accept() -> None:
    state, _ = act(raised(), ProposeTerms(actor="cedar", text="return the banner"), NOW + DAY)
    state = fold(state, on_time(state, NOW + 14 * DAY, 3))
    mediator = state.mediator
    assert state.stage == "mediation" and mediator in ("birch", "fern")
    # Terms of the negotiation are not on the table in mediation.
    error = refused(state, AcceptTerms(actor="dune", terms_id="t1"), NOW + 15 * DAY)
    assert (error.kind, error.field, error.message) == ("not_found", "terms_id", "no terms 't1' proposed in this mediation")
    state, events = act(state, ProposeTerms(actor=mediator, text="a joint statement"), NOW + 15 * DAY)
    assert [type(e) for e in events] == [TermsProposed]  # the mediator is not a party: nobody accepted yet
    state, events = act(state, AcceptTerms(actor="cedar", terms_id="t2"), NOW + 15 * DAY)
    assert [type(e) for e in events] == [TermsAccepted]
    state, events = act(state, AcceptTerms(actor="dune", terms_id="t2"), NOW + 16 * DAY)
    assert events[-1] == DisputeSettled(at=NOW + 16 * DAY, terms_id="t2", stage=DisputeStage.MEDIATION)
    assert state.stage == "settled"


def test_in_mediation_a_partys_own_proposal_counts_as_its_acceptance_too() -> None:
    state = mediating()
    state, _ = act(state, ProposeTerms(actor="dune", text="share the banner by turns"), NOW + 15 * DAY)
    state, events = act(state, AcceptTerms(actor="cedar", terms_id="t1"), NOW + 15 * DAY)
    assert type(events[-1]) is DisputeSettled and state.stage == "settled"


# --- mediation ----------------------------------------------------------------------------------------


def test_negotiation_runs_out_into_mediation_with_a_mediator_drawn_from_the_roster_never_a_party() -> None:
    state = raised()
    assert next_due(state) == NOW + 12 * DAY  # the reminder, reminder_lead (2d) before the deadline
    reminded = on_time(state, NOW + 12 * DAY)
    assert reminded == [DisputeReminderSent(at=NOW + 12 * DAY, stage=DisputeStage.NEGOTIATION, deadline=NOW + 14 * DAY,
                                            members=["cedar", "dune"])]
    state = fold(state, reminded)
    assert next_due(state) == NOW + 14 * DAY and on_time(state, NOW + 13 * DAY) == []
    drawn = set()
    for seed in range(200):
        started, assigned = on_time(state, NOW + 14 * DAY, seed)
        assert started == MediationStarted(at=NOW + 14 * DAY, deadline=NOW + 35 * DAY)
        assert isinstance(assigned, MediatorAssigned) and assigned.how == "drawn" and assigned.seed == seed
        assert assigned.pool == ["birch", "fern"]  # dune is on the roster but a party
        assert [assigned.mediator] == draw(assigned.pool, 1, seed)
        drawn.add(assigned.mediator)
    assert drawn == {"birch", "fern"}


def test_a_coordinator_may_assign_a_mediator_from_the_roster_but_never_a_party() -> None:
    state = mediating()
    other = "fern" if state.mediator == "birch" else "birch"
    state2, [assigned] = act(state, AssignMediator(actor="gw", mediator=other), NOW + 15 * DAY)
    assert assigned == MediatorAssigned(at=NOW + 15 * DAY, mediator=other, how="chosen", by="gw")
    assert state2.mediator == other
    cases = [
        (AssignMediator(actor="gw", mediator="dune"), "invalid", "'dune' is a party to this dispute and cannot mediate it"),
        (AssignMediator(actor="gw", mediator="cedar"), "invalid", "'cedar' is a party to this dispute and cannot mediate it"),
        (AssignMediator(actor="gw", mediator="elm"), "invalid", "'elm' is not on the mediator roster (birch, dune, fern)"),
        (AssignMediator(actor="cedar", mediator=other), "forbidden", "only a coordinator may assign a mediator"),
        (AssignMediator(actor="gw", mediator=state.mediator or ""), "conflict", f"{state.mediator!r} already mediates this dispute"),
    ]
    for command, kind, message in cases:
        error = refused(state, command, NOW + 15 * DAY)
        assert (error.kind, error.message) == (kind, message)


def test_each_party_objects_once_and_the_objected_mediator_is_never_drawn_again() -> None:
    for seed in range(50):
        state = mediating(seed)
        first = mediator_of(state)
        state, events = act(state, ObjectToMediator(actor="cedar", reason="they work for dune", seed=seed + 1), NOW + 15 * DAY)
        objected, assigned = events
        assert objected == MediatorObjected(at=NOW + 15 * DAY, by="cedar", mediator=first, reason="they work for dune")
        assert isinstance(assigned, MediatorAssigned) and assigned.pool == sorted({"birch", "fern"} - {first})
        assert assigned.mediator != first and assigned.mediator == draw(assigned.pool, 1, seed + 1)[0]
        error = refused(state, ObjectToMediator(actor="cedar", reason="again"), NOW + 15 * DAY)
        assert (error.kind, error.message) == ("conflict", "'cedar' has already objected to a mediator once; each party may object once")
        error = refused(state, AssignMediator(actor="gw", mediator=first), NOW + 15 * DAY)
        assert (error.kind, error.message) == ("invalid", f"a party has objected to {first!r}")
    # The other party has an objection of its own; with the roster used up, the coordinators are asked.
    state, [_, none_left] = act(state, ObjectToMediator(actor="dune", reason="biased"), NOW + 16 * DAY)
    assert isinstance(none_left, MediatorAssigned) and none_left.mediator is None and none_left.pool == []
    assert [(n.member_id, n.kind) for n in notices(state, none_left)] == [("gw", "mediator_needed")]


def test_only_the_parties_object_and_only_when_there_is_a_mediator() -> None:
    state = mediating()
    error = refused(state, ObjectToMediator(actor="elm", reason="r"), NOW + 15 * DAY)
    assert (error.kind, error.message) == ("forbidden", "only the parties to dispute 'x1' may object to the mediator")
    error = refused(raised(), ObjectToMediator(actor="cedar", reason="r"))
    assert (error.kind, error.message) == ("conflict", "dispute 'x1' is in negotiation; a mediator can be objected to only in mediation")


# --- panel --------------------------------------------------------------------------------------------


def test_an_impasse_draws_an_odd_panel_without_parties_or_mediator_reproducibly() -> None:
    for seed in range(50):
        state = mediating(seed)
        mediator = mediator_of(state)
        after, events = act(state, DeclareImpasse(actor=mediator, seed=seed * 7), NOW + 15 * DAY)
        impasse, drawn = events
        assert impasse == ImpasseDeclared(at=NOW + 15 * DAY, by=mediator)
        assert isinstance(drawn, PanelDrawn) and drawn.seed == seed * 7
        assert drawn.pool == sorted(set(MEMBERS) - {"cedar", "dune", mediator})
        assert drawn.panelists == draw(drawn.pool, 3, seed * 7) == after.panel
        assert not set(drawn.panelists) & {"cedar", "dune", mediator}
        assert drawn.deadline == NOW + 29 * DAY and after.stage == "panel"
    # The draw depends on the seed and the pool's members only, never on the pool's order.
    assert draw(["ivy", "gw", "elm", "amber", "hazel"], 3, 5) == draw(["amber", "elm", "gw", "hazel", "ivy"], 3, 5)


def test_mediation_running_out_draws_the_panel_too() -> None:
    state = mediating()
    assert state.stage_deadline == NOW + 35 * DAY
    [drawn] = on_time(state, NOW + 35 * DAY, 99)
    assert isinstance(drawn, PanelDrawn) and drawn.panelists == draw(drawn.pool, 3, 99)
    assert state.mediator not in drawn.pool


def test_too_few_neutral_members_refer_the_dispute_to_the_assembly() -> None:
    small = context().model_copy(update={"members": ["cedar", "dune", "birch"], "mediators": ["birch"]})
    command = RaiseDispute(actor="cedar", dispute_id="x1", alliance_id="rivers", respondents=["dune"], subject="s",
                           description="d", context=small)
    state = fold(None, decide(None, command, NOW))
    state = fold(state, on_time(state, NOW + 14 * DAY, 1))
    assert state.mediator == "birch"
    [referred] = on_time(state, NOW + 35 * DAY, 1)
    assert referred == ReferredToAssembly(at=NOW + 35 * DAY, by=None, reason="too few neutral members for a panel")


def test_a_majority_of_the_panel_decides_and_without_appeal_the_ruling_becomes_final() -> None:
    state = paneled()
    a, b, c = state.panel
    state, events = act(state, SubmitRuling(actor=a, ruling=RulingKind.TERMS, terms="share it", reasons="fair"), NOW + 16 * DAY)
    assert [e.type for e in events] == ["RulingSubmitted"]
    state, events = act(state, SubmitRuling(actor=b, ruling=RulingKind.TERMS, terms="give it back", reasons="owned"), NOW + 16 * DAY)
    assert [e.type for e in events] == ["RulingSubmitted"]  # other terms: no majority yet
    state, events = act(state, SubmitRuling(actor=c, ruling=RulingKind.TERMS, terms=" share it ", reasons="fairer"), NOW + 17 * DAY)
    decided = events[-1]
    assert decided == PanelDecided(at=NOW + 17 * DAY, ruling=RulingKind.TERMS, terms="share it", reasons=["fair", "fairer"],
                                   votes=2, appeal_deadline=NOW + 24 * DAY)
    assert state.stage == "appeal_window" and state.ruling is not None and state.ruling.terms == "share it"
    assert {n.member_id for n in notices(paneled(), decided)} == {"cedar", "dune", a, b, c}
    assert next_due(state) == NOW + 22 * DAY  # the parties are reminded of the appeal window
    state = fold(state, on_time(state, NOW + 22 * DAY))
    [final] = on_time(state, NOW + 24 * DAY)
    assert final == RulingFinal(at=NOW + 24 * DAY)
    state = evolve(state, final)
    assert (state.stage, state.outcome, next_due(state)) == ("final", "ruling final (no appeal)", None)


def test_an_appeal_within_the_window_hands_the_ruling_to_the_members_who_are_not_parties() -> None:
    state = ruled()
    error = refused(state, LodgeAppeal(actor="elm", reason="r"), NOW + 17 * DAY)
    assert (error.kind, error.message) == ("forbidden", "only the parties to dispute 'x1' may appeal")
    state, [lodged] = act(state, LodgeAppeal(actor="dune", reason="the panel ignored the boycott vote"), NOW + 17 * DAY)
    assert lodged == AppealLodged(at=NOW + 17 * DAY, by="dune", reason="the panel ignored the boycott vote", decision_id="appeal-x1")
    assert (state.stage, state.appeal_decision, next_due(state)) == ("appeal", "appeal-x1", None)  # the decision keeps time
    error = refused(state, WithdrawDispute(actor="cedar", reason="r"), NOW + 18 * DAY)
    assert (error.kind, error.message) == ("conflict", "an appeal is being decided; the dispute can no longer be withdrawn")
    state = evolve(state, AppealDecided(at=NOW + 25 * DAY, decision_id="appeal-x1", decision_outcome="not_adopted", upheld=False))
    assert (state.stage, state.outcome) == ("final", "ruling overturned on appeal")


def test_an_appeal_after_its_window_is_refused() -> None:
    state = ruled()
    assert state.stage_deadline == NOW + 23 * DAY
    error = refused(state, LodgeAppeal(actor="cedar", reason="late"), NOW + 23 * DAY + timedelta(seconds=1))
    assert (error.kind, error.message) == ("conflict", "the appeal window has closed")
    final = fold(state, on_time(state, NOW + 23 * DAY))
    error = refused(final, LodgeAppeal(actor="cedar", reason="late"), NOW + 24 * DAY)
    assert (error.kind, error.message) == ("conflict", "dispute 'x1' is final; nothing more can happen in it")


def test_a_stalled_panel_is_extended_once_by_coordinators_or_steering_then_referred() -> None:
    state = paneled()
    [stalled] = on_time(state, NOW + 29 * DAY)
    assert stalled == PanelStalled(at=NOW + 29 * DAY, rulings=0)
    assert {(n.member_id, n.kind) for n in notices(state, stalled)} == {("gw", "panel_stalled"), ("amber", "panel_stalled")}
    state = evolve(state, stalled)
    error = refused(state, ExtendPanel(actor="elm"), NOW + 30 * DAY)
    assert (error.kind, error.message) == ("forbidden", "only coordinators and steering members may extend the panel")
    state, [extended] = act(state, ExtendPanel(actor="amber"), NOW + 30 * DAY)
    assert extended == PanelExtended(at=NOW + 30 * DAY, by="amber", deadline=NOW + 44 * DAY) and state.stage == "panel"
    state = fold(state, on_time(state, NOW + 44 * DAY))
    error = refused(state, ExtendPanel(actor="gw"), NOW + 45 * DAY)
    assert (error.kind, error.message) == ("conflict", "the panel was already extended once; refer the dispute to the assembly")
    state, [referred] = act(state, ReferToAssembly(actor="gw", reason="no majority twice"), NOW + 45 * DAY)
    assert referred == ReferredToAssembly(at=NOW + 45 * DAY, by="gw", reason="no majority twice")
    assert (state.stage, state.outcome) == ("referred", "referred to the assembly")


def test_a_stalled_panel_waits_for_people_without_a_timer_in_the_past() -> None:
    state = paneled()
    state = fold(state, on_time(state, NOW + 29 * DAY))
    assert state.stage == "panel_stalled" and on_time(state, NOW + 30 * DAY) == []
    due = next_due(state)
    assert due is None or due > NOW + 29 * DAY


# --- refusals -----------------------------------------------------------------------------------------


def _cases() -> list[Any]:
    negotiation, mediation, panel, window = raised(), mediating(), paneled(), ruled()
    mediator = mediator_of(mediation)
    panelist = panel.panel[0]
    at = NOW + 16 * DAY
    cases = [
        ("non-party proposes terms", negotiation, ProposeTerms(actor="elm", text="t"), NOW + DAY, "forbidden",
         "only the parties (or, in mediation, the mediator) may propose terms"),
        ("coordinator proposes terms", mediation, ProposeTerms(actor="gw", text="t"), at, "forbidden",
         "only the parties (or, in mediation, the mediator) may propose terms"),
        ("non-party accepts terms", fold(negotiation, decide(negotiation, ProposeTerms(actor="cedar", text="t"), NOW)),
         AcceptTerms(actor="elm", terms_id="t1"), NOW + DAY, "forbidden", "only the parties to dispute 'x1' may accept terms"),
        ("mediator accepts terms", fold(mediation, decide(mediation, ProposeTerms(actor="cedar", text="t"), at)),
         AcceptTerms(actor=mediator, terms_id="t1"), at, "forbidden", "only the parties to dispute 'x1' may accept terms"),
        ("party acts as mediator", mediation, DeclareImpasse(actor="cedar"), at, "forbidden", "only the mediator may declare an impasse"),
        ("party acts as panelist", panel, SubmitRuling(actor="dune", ruling=RulingKind.DISMISS, reasons="r"), at, "forbidden",
         "only the panelists of dispute 'x1' may rule"),
        ("mediator rules", panel, SubmitRuling(actor=mediator_of(panel), ruling=RulingKind.DISMISS, reasons="r"), at, "forbidden",
         "only the panelists of dispute 'x1' may rule"),
        ("non-panelist rules", panel, SubmitRuling(actor=next(m for m in panel.context.members if m not in panel.panel
                                                              and m not in ("cedar", "dune", panel.mediator)),
                                                   ruling=RulingKind.UPHOLD, reasons="r"), at, "forbidden",
         "only the panelists of dispute 'x1' may rule"),
        ("terms ruling without terms", panel, SubmitRuling(actor=panelist, ruling=RulingKind.TERMS, reasons="r"), at,
         "invalid", "a ruling of terms must state the terms"),
        ("impasse in negotiation", negotiation, DeclareImpasse(actor="birch"), NOW + DAY, "conflict",
         "dispute 'x1' is in negotiation; an impasse can be declared only in mediation"),
        ("ruling in mediation", mediation, SubmitRuling(actor="elm", ruling=RulingKind.UPHOLD, reasons="r"), at, "conflict",
         "dispute 'x1' is in mediation; rulings can be submitted only in panel or panel_stalled"),
        ("terms in panel", panel, ProposeTerms(actor="cedar", text="t"), at, "conflict",
         "dispute 'x1' is in panel; terms can be proposed only in mediation or negotiation"),
        ("appeal in panel", panel, LodgeAppeal(actor="cedar", reason="r"), at, "conflict",
         "dispute 'x1' is in panel; an appeal can be lodged only in appeal_window"),
        ("assign mediator in panel", panel, AssignMediator(actor="gw", mediator="birch"), at, "conflict",
         "dispute 'x1' is in panel; a mediator can be assigned only in mediation"),
        ("extend a panel that did not stall", panel, ExtendPanel(actor="gw"), at, "conflict",
         "dispute 'x1' is in panel; the panel can be extended only in panel_stalled"),
        ("rule after the ruling", window, SubmitRuling(actor=window.panel[2], ruling=RulingKind.UPHOLD, reasons="r"), at,
         "conflict", "dispute 'x1' is in appeal_window; rulings can be submitted only in panel or panel_stalled"),
        ("withdrawal by the respondent", negotiation, WithdrawDispute(actor="dune", reason="r"), NOW + DAY, "forbidden",
         "only the member who raised the dispute ('cedar') may withdraw it"),
        ("withdrawal by a coordinator", negotiation, WithdrawDispute(actor="gw", reason="r"), NOW + DAY, "forbidden",
         "only the member who raised the dispute ('cedar') may withdraw it"),
        ("interim measure outside a crisis", negotiation, RecordInterimMeasure(actor="gw", what="w", until=NOW + 3 * DAY),
         NOW + DAY, "conflict", "interim measures are for disputes raised as a crisis"),
        ("interim measure by a party", raised(Severity.CRISIS), RecordInterimMeasure(actor="cedar", what="w", until=NOW + 3 * DAY),
         NOW + DAY, "forbidden", "only a coordinator may record interim measures"),
        ("interim measure ending in the past", raised(Severity.CRISIS), RecordInterimMeasure(actor="gw", what="w", until=NOW),
         NOW + DAY, "invalid", "an interim measure must end in the future"),
    ]
    return [pytest.param(*case[1:], id=case[0]) for case in cases]


@pytest.mark.parametrize(("state", "command", "now", "kind", "message"), _cases())
def test_every_refusal_names_its_reason_and_changes_nothing(
    state: DisputeState, command: Any, now: datetime, kind: str, message: str
) -> None:
    before = state.model_dump()
    error = refused(state, command, now)
    assert (error.kind, error.message) == (kind, message)
    assert state.model_dump() == before


def test_nothing_happens_in_a_closed_dispute() -> None:
    state, _ = act(raised(), WithdrawDispute(actor="cedar", reason="talked it over"), NOW + DAY)
    for command in (ProposeTerms(actor="cedar", text="t"), WithdrawDispute(actor="cedar", reason="again")):
        error = refused(state, command, NOW + 2 * DAY)
        assert (error.kind, error.message) == ("conflict", "dispute 'x1' is withdrawn; nothing more can happen in it")


# --- withdrawal and interim measures -------------------------------------------------------------------


def test_the_raiser_withdraws_and_the_parties_are_told() -> None:
    state = mediating()
    after, [withdrawn] = act(state, WithdrawDispute(actor="cedar", reason="talked it over"), NOW + 15 * DAY)
    assert withdrawn == DisputeWithdrawn(at=NOW + 15 * DAY, by="cedar", reason="talked it over")
    assert (after.stage, after.outcome, after.closed_at, next_due(after)) == ("withdrawn", "withdrawn", NOW + 15 * DAY, None)
    assert [(n.member_id, n.kind) for n in notices(state, withdrawn)] == [("cedar", "dispute_withdrawn"), ("dune", "dispute_withdrawn")]


def test_interim_measures_end_by_themselves_even_after_the_dispute_closed() -> None:
    state = raised(Severity.CRISIS)
    until = NOW + 12 * timedelta(hours=1)
    state, [recorded] = act(state, RecordInterimMeasure(actor="gw", what="no statements on the banner", until=until), NOW)
    assert recorded == InterimMeasureRecorded(at=NOW, measure_id="m1", what="no statements on the banner", until=until, decided_by="gw")
    assert {(n.member_id, n.kind) for n in notices(raised(Severity.CRISIS), recorded)} == {
        ("cedar", "interim_measure"), ("dune", "interim_measure"), ("gw", "interim_measure"), ("amber", "interim_measure")}
    state, [second] = act(state, RecordInterimMeasure(actor="gw", what="banner stays home", until=NOW + 5 * DAY), NOW)
    assert isinstance(second, InterimMeasureRecorded) and second.measure_id == "m2"
    state, _ = act(state, WithdrawDispute(actor="cedar", reason="settled over coffee"), NOW + timedelta(hours=1))
    assert next_due(state) == until  # closed, but its measures still end on time
    assert on_time(state, until - timedelta(seconds=1)) == []
    [ended] = on_time(state, until)
    assert ended == InterimMeasureEnded(at=until, measure_id="m1")
    state = evolve(state, ended)
    assert state.measures["m1"].ended and next_due(state) == NOW + 5 * DAY
    state = fold(state, on_time(state, NOW + 5 * DAY))
    assert next_due(state) is None


# --- confidentiality and notices -----------------------------------------------------------------------


def seen_by(state: DisputeState, member: str) -> Seen:
    return dispute_seen(state, Caller.named(member))


def test_contents_are_for_parties_mediator_panelists_and_coordinators_and_others_see_an_outline() -> None:
    state = paneled()
    readers = {"cedar", "dune", state.mediator, *state.panel, "gw"}
    others = set(MEMBERS) - readers
    assert others  # someone in the alliance who may not read it
    for member in MEMBERS:
        assert (seen_by(state, member) is Seen.FULL) == (member in readers), member
    for member in others:
        assert seen_by(state, member) is Seen.OUTLINE, member
    assert outline(state) == Outline(dispute_id="x1", alliance_id="rivers", stage=DisputeStage.PANEL)
    assert seen_by(state, "oak") is Seen.NOTHING  # not a member of the alliance
    token_of_another_alliance = Caller(member_id="gw", alliance_id="lakes")  # the same member id elsewhere
    assert dispute_seen(state, token_of_another_alliance) is Seen.NOTHING
    assert dispute_seen(state, None) is Seen.FULL  # the operator
    assert dispute_seen(state, Caller(member_id="auditor:firm", alliance_id="rivers")) is Seen.FULL
    assert dispute_seen(state, Caller(member_id="auditor:firm", alliance_id="lakes")) is Seen.NOTHING


def test_where_existence_is_confidential_other_members_learn_nothing() -> None:
    state = raised(existence_confidential=True)
    assert seen_by(state, "gw") is seen_by(state, "dune") is Seen.FULL
    for member in ("elm", "amber", "oak"):
        assert seen_by(state, member) is Seen.NOTHING, member


def test_notices_never_carry_a_disputes_contents() -> None:
    secrets = [DESCRIPTION, "return the banner", "the banner is shared", "the boycott was agreed", "they work for dune"]
    state = raised(Severity.CRISIS)
    script: list[Any] = [
        (ProposeTerms(actor="cedar", text="return the banner"), NOW),
        (RecordInterimMeasure(actor="gw", what="no statements", until=NOW + DAY), NOW),
    ]
    messages = []
    for command, at in script:
        events = decide(state, command, at)
        for event in events:
            messages += [n.message for n in notices(state, event)]
            state = evolve(state, event)
    for at in (NOW + DAY, NOW + 2 * DAY):
        for event in on_time(state, at, 5):
            messages += [n.message for n in notices(state, event)]
            state = evolve(state, event)
    events = decide(state, ObjectToMediator(actor="cedar", reason="they work for dune", seed=2), NOW + 2 * DAY)
    for event in events:
        messages += [n.message for n in notices(state, event)]
        state = evolve(state, event)
    assert messages and not [m for m in messages for s in secrets if s in m]


def test_the_appeal_is_a_decision_of_the_members_who_are_not_parties_on_upholding_the_ruling() -> None:
    state, _ = act(ruled(RulingKind.DISMISS), LodgeAppeal(actor="dune", reason="r"), NOW + 17 * DAY)

    opening = appeal_opening(state)

    assert (opening.decision_id, opening.appeal_of, opening.actor) == ("appeal-x1", "x1", "accord")
    assert opening.title == "Appeal in dispute x1 (Use of the shared banner)"
    assert [p.text for p in opening.points] == ["Uphold the panel's ruling to dismiss the complaint"]
    assert opening.context.rules == state.context.decision_rules
    assert not {"cedar", "dune"} & set(opening.context.electorate)
    assert set(opening.context.electorate) == set(state.context.members) - {"cedar", "dune"}
    with pytest.raises(ValueError, match="no ruling under appeal"):
        appeal_opening(raised())


@pytest.mark.parametrize(
    ("outcome", "upheld", "recorded"),
    [(DecisionOutcome.ADOPTED, True, "adopted"), (DecisionOutcome.PARTIALLY_ADOPTED, False, "partially_adopted"),
     (DecisionOutcome.LAPSED, False, "lapsed"), (None, False, "not_adopted")],
)
def test_the_ruling_is_upheld_only_when_the_appeal_adopts_its_point(outcome: DecisionOutcome | None, upheld: bool, recorded: str) -> None:
    state, _ = act(ruled(), LodgeAppeal(actor="dune", reason="r"), NOW + 17 * DAY)

    decided = appeal_decided(state, outcome, NOW + 25 * DAY)

    assert (decided.decision_id, decided.upheld, decided.decision_outcome) == ("appeal-x1", upheld, recorded)
