"""Dispute resolution as a decider: negotiation, mediation, panel, appeal; crisis fast track.

A dispute pins, when it is raised, the charter's dispute procedure, the mediator roster and the pool
of members a panel may be drawn from, so later changes never alter it. Each step has a window; when it
passes the dispute climbs a step by itself. Draws (mediator, panel, appeal panel) are verifiable
(events/draws.py): a draw opens with accord's commitment, the parties may contribute until it closes, and
the event that completes it holds everything needed to recompute it. The secret comes from a key the
workflow keeps (`key`); without one (a run recorded before verifiable draws) a draw takes the integer
seed of its command and CPython's `random`, as it did then, so a replay draws exactly the same people.

`decide` handles people's commands, `on_time` the clock (`next_due` says when), `evolve` folds events.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field, TypeAdapter

from events import draws
from events.alliance import AllianceState, Role
from events.charter import DecisionRules, DisputeProcedure
from events.decision import APPEAL_PREFIX, DecisionContext, DecisionOutcome, OpenDecision, PointDraft
from events.rules import DomainEvent, Model, Slug, Text, conflict, forbidden, invalid, not_found


class Severity(StrEnum):
    NORMAL = "normal"
    CRISIS = "crisis"


class DisputeStage(StrEnum):
    NEGOTIATION = "negotiation"
    MEDIATION = "mediation"
    PANEL = "panel"
    PANEL_STALLED = "panel_stalled"
    APPEAL_WINDOW = "appeal_window"
    APPEAL = "appeal"
    DRAWING = "drawing"
    """A draw is open: the parties may contribute until it closes."""
    SETTLED = "settled"
    FINAL = "final"
    REFERRED = "referred"
    WITHDRAWN = "withdrawn"


LIVE_STAGES = {
    DisputeStage.NEGOTIATION, DisputeStage.MEDIATION, DisputeStage.PANEL, DisputeStage.PANEL_STALLED,
    DisputeStage.APPEAL_WINDOW, DisputeStage.APPEAL, DisputeStage.DRAWING,
}
TERMS_STAGES = {DisputeStage.NEGOTIATION, DisputeStage.MEDIATION}


class RulingKind(StrEnum):
    UPHOLD = "uphold"
    DISMISS = "dismiss"
    TERMS = "terms"


class Ruling(Model):
    ruling: RulingKind
    terms: str | None = None
    reasons: str
    at: datetime

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.ruling.value, self.terms)


class Terms(Model):
    terms_id: str
    text: str
    by: str
    stage: DisputeStage
    accepted_by: list[str] = []


class InterimMeasure(Model):
    measure_id: str
    what: str
    until: datetime
    decided_by: str
    ended: bool = False


DrawPurpose = Literal["mediation", "mediator", "panel", "appeal_panel"]
"""What a draw is for: the mediator mediation starts with, another mediator after an objection, the
ruling panel, the appeal panel."""


class PendingDraw(Model):
    """An open draw: accord has committed to its secret; the parties' contributions so far."""

    number: int
    purpose: DrawPurpose
    pool: list[str]
    count: int
    commitment: str
    opened_at: datetime
    closes_at: datetime
    contributions: dict[str, str] = {}
    resume_deadline: datetime | None = None
    """The mediation deadline a mediator's redraw paused (the time the draw takes is added to it)."""


class DisputeContext(Model):
    """The alliance when the dispute was raised; pinned into the raising event."""

    procedure: DisputeProcedure
    decision_rules: DecisionRules
    principles: list[str]
    mediators: list[str]
    members: list[str]
    coordinators: list[str]
    steering: list[str]


def pinned_context(alliance: AllianceState) -> DisputeContext:
    """The alliance as a dispute raised now pins it: the procedure, the rules an appeal is decided by, the
    principles, the mediator roster and the panel pool, who coordinates and steers."""
    return DisputeContext(
        procedure=alliance.charter.disputes,
        decision_rules=alliance.charter.decisions,
        principles=[p.id for p in alliance.charter.principles],
        mediators=alliance.with_role(Role.MEDIATOR),
        members=sorted(m.member_id for m in alliance.active_members()),
        coordinators=alliance.with_role(Role.COORDINATOR),
        steering=alliance.with_role(Role.STEERING),
    )


class DisputeState(Model):
    dispute_id: str
    alliance_id: str
    raiser: str
    respondents: list[str]
    subject: str
    description: str
    severity: Severity
    context: DisputeContext
    stage: DisputeStage
    stage_deadline: datetime | None
    reminded_for: datetime | None = None
    raised_at: datetime
    terms: dict[str, Terms] = {}
    next_terms: int = 1
    mediator: str | None = None
    mediator_objections: dict[str, str] = {}
    """party -> the mediator they objected to"""
    panel: list[str] = []
    rulings: dict[str, Ruling] = {}
    panel_extended: bool = False
    ruling: Ruling | None = None
    appeal_by: str | None = None
    appeal_decision: str | None = None
    appeal_panel: list[str] = []
    outcome: str | None = None
    measures: dict[str, InterimMeasure] = {}
    closed_at: datetime | None = None
    draw: PendingDraw | None = None
    draws: int = 0
    """How many verifiable draws were opened or made: the next one's number."""

    @property
    def parties(self) -> list[str]:
        return [self.raiser, *self.respondents]

    @property
    def is_live(self) -> bool:
        return self.stage in LIVE_STAGES

    def window(self, step: Literal["negotiation", "mediation", "panel", "appeal", "draw"]) -> timedelta:
        procedure = self.context.procedure
        windows = procedure.crisis if self.severity == Severity.CRISIS else procedure
        window: timedelta = getattr(windows, f"{step}_window")
        return min(window, procedure.draw_window) if step == "draw" else window

    def must_act(self) -> list[str]:
        """Who is reminded before the current stage's deadline."""
        if self.stage == DisputeStage.NEGOTIATION:
            return self.parties
        if self.stage == DisputeStage.MEDIATION:
            return [*self.parties, *([self.mediator] if self.mediator else [])]
        if self.stage == DisputeStage.PANEL:
            return [p for p in self.panel if p not in self.rulings]
        if self.stage == DisputeStage.APPEAL_WINDOW:
            return self.parties
        return []  # an open draw told the parties when it opened; it closes by itself


# --- commands -------------------------------------------------------------------------------------


class RaiseDispute(Model):
    type: Literal["raise"] = "raise"
    actor: str
    dispute_id: Slug
    alliance_id: str
    respondents: list[str] = Field(min_length=1)
    subject: Text
    description: Text
    severity: Severity = Severity.NORMAL
    context: DisputeContext


class ProposeTerms(Model):
    type: Literal["propose"] = "propose"
    actor: str
    text: Text


class AcceptTerms(Model):
    type: Literal["accept"] = "accept"
    actor: str
    terms_id: str


class ObjectToMediator(Model):
    type: Literal["object_mediator"] = "object_mediator"
    actor: str
    reason: Text
    seed: int = 0
    """Filled in by the workflow: the seed of the draw of the next mediator."""


class AssignMediator(Model):
    type: Literal["assign_mediator"] = "assign_mediator"
    actor: str
    mediator: str


class DeclareImpasse(Model):
    type: Literal["impasse"] = "impasse"
    actor: str
    seed: int = 0
    """Filled in by the workflow: the seed of the panel draw."""


class SubmitRuling(Model):
    type: Literal["rule"] = "rule"
    actor: str
    ruling: RulingKind
    terms: str | None = None
    reasons: Text


class ExtendPanel(Model):
    type: Literal["extend_panel"] = "extend_panel"
    actor: str


class ReferToAssembly(Model):
    type: Literal["refer"] = "refer"
    actor: str
    reason: Text


class LodgeAppeal(Model):
    type: Literal["appeal"] = "appeal"
    actor: str
    reason: Text
    seed: int | None = None
    """Filled in by the workflow: the seed of the draw of the appeal panel (None: a run from before appeal
    panels, whose appeal goes to every member who is not a party)."""


class ContributeToDraw(Model):
    type: Literal["contribute"] = "contribute"
    actor: str
    contribution: draws.Contribution
    """32 random bytes of the party's own, as 64 hexadecimal characters."""


class WithdrawDispute(Model):
    type: Literal["withdraw"] = "withdraw"
    actor: str
    reason: Text


class RecordInterimMeasure(Model):
    type: Literal["interim"] = "interim"
    actor: str
    what: Text
    until: AwareDatetime
    """When the measure ends; with its time zone, as every moment accord compares."""


DisputeCommand = Annotated[
    RaiseDispute | ProposeTerms | AcceptTerms | ObjectToMediator | AssignMediator | DeclareImpasse | SubmitRuling
    | ExtendPanel | ReferToAssembly | LodgeAppeal | WithdrawDispute | RecordInterimMeasure | ContributeToDraw,
    Field(discriminator="type"),
]

# --- events ---------------------------------------------------------------------------------------


class DisputeRaised(DomainEvent):
    type: Literal["DisputeRaised"] = "DisputeRaised"
    dispute_id: str
    alliance_id: str
    raiser: str
    respondents: list[str]
    subject: str
    description: str
    severity: Severity
    context: DisputeContext
    deadline: datetime


class TermsProposed(DomainEvent):
    type: Literal["TermsProposed"] = "TermsProposed"
    terms_id: str
    by: str
    text: str


class TermsAccepted(DomainEvent):
    type: Literal["TermsAccepted"] = "TermsAccepted"
    terms_id: str
    by: str


class DisputeSettled(DomainEvent):
    type: Literal["DisputeSettled"] = "DisputeSettled"
    terms_id: str
    stage: DisputeStage


class MediationStarted(DomainEvent):
    type: Literal["MediationStarted"] = "MediationStarted"
    deadline: datetime


class MediatorAssigned(DomainEvent):
    type: Literal["MediatorAssigned"] = "MediatorAssigned"
    mediator: str | None
    how: Literal["drawn", "chosen"]
    by: str | None = None
    seed: int | None = None
    pool: list[str] = []
    draw: draws.Draw | None = None
    """How the mediator was drawn (a verifiable draw); None for one chosen, or drawn before (by `seed`)."""


class MediatorObjected(DomainEvent):
    type: Literal["MediatorObjected"] = "MediatorObjected"
    by: str
    mediator: str
    reason: str


class ImpasseDeclared(DomainEvent):
    type: Literal["ImpasseDeclared"] = "ImpasseDeclared"
    by: str


class PanelDrawn(DomainEvent):
    type: Literal["PanelDrawn"] = "PanelDrawn"
    panelists: list[str]
    seed: int | None = None
    pool: list[str]
    deadline: datetime
    draw: draws.Draw | None = None


class RulingSubmitted(DomainEvent):
    type: Literal["RulingSubmitted"] = "RulingSubmitted"
    panelist: str
    ruling: RulingKind
    terms: str | None = None
    reasons: str


class PanelDecided(DomainEvent):
    type: Literal["PanelDecided"] = "PanelDecided"
    ruling: RulingKind
    terms: str | None = None
    reasons: list[str]
    votes: int
    appeal_deadline: datetime


class PanelStalled(DomainEvent):
    type: Literal["PanelStalled"] = "PanelStalled"
    rulings: int


class PanelExtended(DomainEvent):
    type: Literal["PanelExtended"] = "PanelExtended"
    by: str
    deadline: datetime


class ReferredToAssembly(DomainEvent):
    type: Literal["ReferredToAssembly"] = "ReferredToAssembly"
    by: str | None
    reason: str


class AppealLodged(DomainEvent):
    type: Literal["AppealLodged"] = "AppealLodged"
    by: str
    reason: str
    decision_id: str
    appeal_panel: list[str] = []
    """Who decides the appeal, drawn from `pool` with `seed` (empty in appeals lodged before appeal panels:
    every member who is not a party decided those)."""
    seed: int | None = None
    pool: list[str] = []


class AppealPanelDrawn(DomainEvent):
    type: Literal["AppealPanelDrawn"] = "AppealPanelDrawn"
    panel: list[str]
    draw: draws.Draw


class DrawOpened(DomainEvent):
    """accord commits to the secret of a draw; the parties may contribute until `closes_at`."""

    type: Literal["DrawOpened"] = "DrawOpened"
    number: int
    purpose: DrawPurpose
    pool: list[str]
    count: int
    algorithm: Literal["sha256-rank/1"] = draws.ALGORITHM
    commitment: str
    closes_at: datetime


class DrawContributed(DomainEvent):
    type: Literal["DrawContributed"] = "DrawContributed"
    number: int
    by: str
    contribution: str


class AppealDecided(DomainEvent):
    type: Literal["AppealDecided"] = "AppealDecided"
    decision_id: str
    decision_outcome: str
    upheld: bool


class RulingFinal(DomainEvent):
    type: Literal["RulingFinal"] = "RulingFinal"


class DisputeWithdrawn(DomainEvent):
    type: Literal["DisputeWithdrawn"] = "DisputeWithdrawn"
    by: str
    reason: str


class InterimMeasureRecorded(DomainEvent):
    type: Literal["InterimMeasureRecorded"] = "InterimMeasureRecorded"
    measure_id: str
    what: str
    until: datetime
    decided_by: str


class InterimMeasureEnded(DomainEvent):
    type: Literal["InterimMeasureEnded"] = "InterimMeasureEnded"
    measure_id: str


class DisputeReminderSent(DomainEvent):
    type: Literal["DisputeReminderSent"] = "DisputeReminderSent"
    stage: DisputeStage
    deadline: datetime
    members: list[str]


DisputeEvent = Annotated[
    DisputeRaised | TermsProposed | TermsAccepted | DisputeSettled | MediationStarted | MediatorAssigned
    | MediatorObjected | ImpasseDeclared | PanelDrawn | RulingSubmitted | PanelDecided | PanelStalled
    | PanelExtended | ReferredToAssembly | AppealLodged | AppealDecided | RulingFinal | DisputeWithdrawn
    | InterimMeasureRecorded | InterimMeasureEnded | DisputeReminderSent | DrawOpened | DrawContributed
    | AppealPanelDrawn,
    Field(discriminator="type"),
]
dispute_event = TypeAdapter(DisputeEvent)

# --- draws ----------------------------------------------------------------------------------------


def draw(pool: list[str], count: int, seed: int) -> list[str]:
    """A draw recorded before verifiable draws: CPython's `random` with the command's integer seed."""
    candidates = sorted(pool)
    return sorted(random.Random(seed).sample(candidates, min(count, len(candidates))))


def mediator_pool(state: DisputeState) -> list[str]:
    excluded = set(state.parties) | set(state.mediator_objections.values())
    return sorted(m for m in state.context.mediators if m not in excluded)


def panel_pool(state: DisputeState) -> list[str]:
    excluded = set(state.parties) | ({state.mediator} if state.mediator else set[str]())
    return sorted(m for m in state.context.members if m not in excluded)


def appeal_decision_id(dispute_id: str) -> str:
    return f"{APPEAL_PREFIX}{dispute_id}"


def appeal_pool(state: DisputeState) -> list[str]:
    """Who may be drawn to decide an appeal: the members pinned when the dispute was raised who are not
    parties and did not mediate or rule on it; when there are none, every member who is not a party."""
    excluded = {*state.parties, *([state.mediator] if state.mediator else []), *state.panel}
    neutral = sorted(m for m in state.context.members if m not in excluded)
    return neutral or sorted(m for m in state.context.members if m not in state.parties)


def appeal_electorate(state: DisputeState) -> list[str]:
    """Who decides the appeal: its panel; for an appeal lodged before appeal panels, every member who is
    not a party."""
    return state.appeal_panel or [m for m in state.context.members if m not in state.parties]


# --- the appeal -----------------------------------------------------------------------------------


def appeal_opening(state: DisputeState) -> OpenDecision:
    """The appeal of a panel's ruling: a consensus decision, among the members who are not parties and
    under the rules pinned when the dispute was raised, on one point: to uphold the ruling."""
    ruling, decision_id = state.ruling, state.appeal_decision
    if ruling is None or decision_id is None:
        raise ValueError(f"dispute {state.dispute_id!r} has no ruling under appeal")
    wording = {"uphold": "uphold the complaint", "dismiss": "dismiss the complaint", "terms": f"impose the terms: {ruling.terms}"}
    context = state.context
    return OpenDecision(
        actor="accord",
        decision_id=decision_id,
        alliance_id=state.alliance_id,
        title=f"Appeal in dispute {state.dispute_id} ({state.subject})",
        body=f"{state.appeal_by} appealed the panel's ruling. Agreeing upholds the ruling; the outcome is final.",
        points=[PointDraft(text=f"Uphold the panel's ruling to {wording[ruling.ruling.value]}")],
        context=DecisionContext(
            rules=context.decision_rules,
            principles=context.principles,
            electorate=appeal_electorate(state),
            coordinators=[m for m in context.coordinators if m not in state.parties],
            # An appeal's stall goes to its coordinators, who read the dispute; steering members do not.
            steering=[m for m in context.steering if m not in state.parties] if not state.appeal_panel else [],
        ),
        appeal_of=state.dispute_id,
    )


def appeal_decided(state: DisputeState, outcome: DecisionOutcome | None, at: datetime) -> AppealDecided:
    """The appeal's verdict: the ruling is upheld when the appeal decision adopted its one point; a decision
    that ended without an outcome counts as not adopted."""
    assert state.appeal_decision is not None
    outcome = outcome or DecisionOutcome.NOT_ADOPTED
    return AppealDecided(
        at=at, decision_id=state.appeal_decision, decision_outcome=outcome.value, upheld=outcome == DecisionOutcome.ADOPTED
    )


# --- decide ---------------------------------------------------------------------------------------


def _live(state: DisputeState) -> None:
    if not state.is_live:
        raise conflict(f"dispute {state.dispute_id!r} is {state.stage}; nothing more can happen in it")


def _stage(state: DisputeState, allowed: set[DisputeStage], action: str) -> None:
    _live(state)
    if state.stage not in allowed:
        names = " or ".join(sorted(s.value for s in allowed))
        raise conflict(f"dispute {state.dispute_id!r} is in {state.stage}; {action} only in {names}")


def _party(state: DisputeState, actor: str, action: str) -> None:
    if actor not in state.parties:
        raise forbidden(f"only the parties to dispute {state.dispute_id!r} may {action}")


def _coordinator(state: DisputeState, actor: str, action: str) -> None:
    if actor not in state.context.coordinators:
        raise forbidden(f"only a coordinator may {action}")


def raise_dispute(command: RaiseDispute, now: datetime) -> list[DisputeEvent]:
    members = set(command.context.members)
    if command.actor not in members:
        raise forbidden(f"only active members of {command.alliance_id!r} may raise a dispute")
    respondents = list(dict.fromkeys(command.respondents))
    if command.actor in respondents:
        raise invalid("a dispute cannot name its raiser as a respondent", "respondents")
    unknown = [r for r in respondents if r not in members]
    if unknown:
        raise invalid(f"respondents must be active members of {command.alliance_id!r}; not members: {', '.join(unknown)}", "respondents")
    procedure = command.context.procedure
    window = procedure.crisis.negotiation_window if command.severity == Severity.CRISIS else procedure.negotiation_window
    return [
        DisputeRaised(
            at=now, dispute_id=command.dispute_id, alliance_id=command.alliance_id, raiser=command.actor,
            respondents=respondents, subject=command.subject, description=command.description,
            severity=command.severity, context=command.context, deadline=now + window,
        )
    ]


def decide(state: DisputeState | None, command: DisputeCommand, now: datetime, key: bytes | None = None) -> list[DisputeEvent]:
    """The events of a command. `key` is the workflow's draw key (None: a run from before verifiable draws)."""
    if state is None:
        if not isinstance(command, RaiseDispute):
            raise not_found("this dispute has not been raised")
        return raise_dispute(command, now)
    match command:
        case RaiseDispute():
            raise conflict(f"dispute {state.dispute_id!r} was already raised")
        case ProposeTerms():
            _stage(state, TERMS_STAGES, "terms can be proposed")
            if command.actor not in state.parties and command.actor != state.mediator:
                raise forbidden("only the parties (or, in mediation, the mediator) may propose terms")
            if command.actor == state.mediator and state.stage != DisputeStage.MEDIATION:
                raise forbidden("only the parties may propose terms in negotiation")
            terms_id = f"t{state.next_terms}"
            proposed = TermsProposed(at=now, terms_id=terms_id, by=command.actor, text=command.text)
            # A party's own proposal counts as its acceptance.
            if command.actor in state.parties:
                return _maybe_settled(state, now, [proposed, TermsAccepted(at=now, terms_id=terms_id, by=command.actor)])
            return [proposed]
        case AcceptTerms():
            _stage(state, TERMS_STAGES, "terms can be accepted")
            _party(state, command.actor, "accept terms")
            terms = state.terms.get(command.terms_id)
            if terms is None or terms.stage != state.stage:
                raise not_found(f"no terms {command.terms_id!r} proposed in this {state.stage}", "terms_id")
            if command.actor in terms.accepted_by:
                raise conflict(f"{command.actor!r} already accepted terms {command.terms_id!r}")
            return _maybe_settled(state, now, [TermsAccepted(at=now, terms_id=command.terms_id, by=command.actor)])
        case ObjectToMediator():
            _stage(state, {DisputeStage.MEDIATION}, "a mediator can be objected to")
            _party(state, command.actor, "object to the mediator")
            if state.mediator is None:
                raise conflict("no mediator is assigned yet")
            if command.actor in state.mediator_objections:
                raise conflict(f"{command.actor!r} has already objected to a mediator once; each party may object once")
            objected = MediatorObjected(at=now, by=command.actor, mediator=state.mediator, reason=command.reason)
            after = evolve(state, objected)
            pool = mediator_pool(after)
            if key is not None:
                return [objected, *_draw(after, now, key, "mediator", pool, 1)]
            chosen = draw(pool, 1, command.seed)
            return [objected, MediatorAssigned(at=now, mediator=chosen[0] if chosen else None, how="drawn", seed=command.seed, pool=pool)]
        case AssignMediator():
            _stage(state, {DisputeStage.MEDIATION}, "a mediator can be assigned")
            _coordinator(state, command.actor, "assign a mediator")
            if command.mediator in state.parties:
                raise invalid(f"{command.mediator!r} is a party to this dispute and cannot mediate it", "mediator")
            if command.mediator not in state.context.mediators:
                raise invalid(
                    f"{command.mediator!r} is not on the mediator roster ({', '.join(state.context.mediators) or 'empty'})", "mediator"
                )
            if command.mediator in state.mediator_objections.values():
                raise invalid(f"a party has objected to {command.mediator!r}", "mediator")
            if command.mediator == state.mediator:
                raise conflict(f"{command.mediator!r} already mediates this dispute")
            return [MediatorAssigned(at=now, mediator=command.mediator, how="chosen", by=command.actor)]
        case DeclareImpasse():
            _stage(state, {DisputeStage.MEDIATION}, "an impasse can be declared")
            if command.actor != state.mediator:
                raise forbidden("only the mediator may declare an impasse")
            return [ImpasseDeclared(at=now, by=command.actor), *_to_panel(state, now, command.seed, key)]
        case SubmitRuling():
            _stage(state, {DisputeStage.PANEL, DisputeStage.PANEL_STALLED}, "rulings can be submitted")
            if command.actor not in state.panel:
                raise forbidden(f"only the panelists of dispute {state.dispute_id!r} may rule")
            if command.ruling == RulingKind.TERMS and not (command.terms or "").strip():
                raise invalid("a ruling of terms must state the terms", "terms")
            ruled = command.terms.strip() if command.ruling == RulingKind.TERMS and command.terms else None
            submitted = RulingSubmitted(at=now, panelist=command.actor, ruling=command.ruling, terms=ruled, reasons=command.reasons)
            return [submitted, *_majority(evolve(state, submitted), now)]
        case ExtendPanel():
            _stage(state, {DisputeStage.PANEL_STALLED}, "the panel can be extended")
            if command.actor not in state.context.coordinators and command.actor not in state.context.steering:
                raise forbidden("only coordinators and steering members may extend the panel")
            if state.panel_extended:
                raise conflict("the panel was already extended once; refer the dispute to the assembly")
            return [PanelExtended(at=now, by=command.actor, deadline=now + state.window("panel"))]
        case ReferToAssembly():
            _stage(state, {DisputeStage.PANEL_STALLED}, "the dispute can be referred to the assembly")
            if command.actor not in state.context.coordinators and command.actor not in state.context.steering:
                raise forbidden("only coordinators and steering members may refer a dispute to the assembly")
            return [ReferredToAssembly(at=now, by=command.actor, reason=command.reason)]
        case LodgeAppeal():
            _party(state, command.actor, "appeal")
            _stage(state, {DisputeStage.APPEAL_WINDOW}, "an appeal can be lodged")
            if state.stage_deadline and now > state.stage_deadline:
                raise conflict("the appeal window has closed")
            lodged = AppealLodged(at=now, by=command.actor, reason=command.reason, decision_id=appeal_decision_id(state.dispute_id))
            if command.seed is None and key is None:
                return [lodged]
            pool = appeal_pool(state)
            size = min(state.context.procedure.panel_size, len(pool))
            size -= 0 if size % 2 else 1  # odd, as the ruling panel's
            if key is not None:
                return [lodged, *_draw(evolve(state, lodged), now, key, "appeal_panel", pool, max(size, 1))]
            assert command.seed is not None
            return [lodged.model_copy(update={"appeal_panel": draw(pool, max(size, 1), command.seed), "seed": command.seed, "pool": pool})]
        case WithdrawDispute():
            _live(state)
            if command.actor != state.raiser:
                raise forbidden(f"only the member who raised the dispute ({state.raiser!r}) may withdraw it")
            if state.appeal_by is not None:
                raise conflict("an appeal is being decided; the dispute can no longer be withdrawn")
            return [DisputeWithdrawn(at=now, by=command.actor, reason=command.reason)]
        case RecordInterimMeasure():
            _live(state)
            if state.severity != Severity.CRISIS:
                raise conflict("interim measures are for disputes raised as a crisis")
            _coordinator(state, command.actor, "record interim measures")
            if command.until <= now:
                raise invalid("an interim measure must end in the future", "until")
            return [
                InterimMeasureRecorded(
                    at=now, measure_id=f"m{len(state.measures) + 1}", what=command.what, until=command.until,
                    decided_by=command.actor,
                )
            ]
        case ContributeToDraw():
            _stage(state, {DisputeStage.DRAWING}, "a draw takes contributions")
            _party(state, command.actor, "contribute to its draws")
            assert state.draw is not None
            if command.actor in state.draw.contributions:
                raise conflict(f"{command.actor!r} already contributed to this draw")
            contributed = DrawContributed(at=now, number=state.draw.number, by=command.actor, contribution=command.contribution)
            after = evolve(state, contributed)
            if key is not None and after.draw is not None and set(after.parties) <= set(after.draw.contributions):
                return [contributed, *_close_draw(after, now, key)]  # every party contributed: no need to wait
            return [contributed]
    raise invalid(f"unknown dispute command {type(command).__name__}")


def _maybe_settled(state: DisputeState, now: datetime, events: list[DisputeEvent]) -> list[DisputeEvent]:
    after = state
    for event in events:
        after = evolve(after, event)
    for terms in after.terms.values():
        if terms.stage == after.stage and set(after.parties) <= set(terms.accepted_by):
            return [*events, DisputeSettled(at=now, terms_id=terms.terms_id, stage=after.stage)]
    return events


def _to_panel(state: DisputeState, now: datetime, seed: int, key: bytes | None) -> list[DisputeEvent]:
    pool = panel_pool(state)
    size = min(state.context.procedure.panel_size, len(pool))
    size -= 0 if size % 2 else 1  # an odd panel always has a majority
    if size <= 0:
        return [ReferredToAssembly(at=now, by=None, reason="too few neutral members for a panel")]
    if key is not None:
        return _draw(state, now, key, "panel", pool, size)
    return [PanelDrawn(at=now, panelists=draw(pool, size, seed), seed=seed, pool=pool, deadline=now + state.window("panel"))]


# --- verifiable draws -----------------------------------------------------------------------------


def _secret(state: DisputeState, key: bytes, number: int) -> bytes:
    return draws.accord_secret(key, f"{state.alliance_id}/{state.dispute_id}", number)


def _draw(state: DisputeState, now: datetime, key: bytes, purpose: DrawPurpose, pool: list[str], count: int) -> list[DisputeEvent]:
    """A verifiable draw: opened for the parties' contributions, or made at once where the charter says so
    or where there is nothing to choose (the pool is no larger than the draw)."""
    number = state.draws
    secret = _secret(state, key, number)
    if state.context.procedure.draws == "immediate" or len(set(pool)) <= count:
        return _drawn(state, now, purpose, draws.draw(number, pool, count, secret, {}))
    return [
        DrawOpened(
            at=now, number=number, purpose=purpose, pool=sorted(set(pool)), count=count,
            commitment=draws.commitment(secret), closes_at=now + state.window("draw"),
        )
    ]


def _close_draw(state: DisputeState, now: datetime, key: bytes) -> list[DisputeEvent]:
    """The open draw, made with the contributions it has: accord reveals the secret it committed to."""
    pending = state.draw
    assert pending is not None
    secret = _secret(state, key, pending.number)
    if draws.commitment(secret) != pending.commitment:
        raise ValueError(f"the draw key of dispute {state.dispute_id!r} does not match the commitment of its draw {pending.number}")
    return _drawn(state, now, pending.purpose, draws.draw(pending.number, pending.pool, pending.count, secret, pending.contributions))


def _drawn(state: DisputeState, now: datetime, purpose: DrawPurpose, record: draws.Draw) -> list[DisputeEvent]:
    """The events a draw completes with, for what it was for."""
    first = record.drawn[0] if record.drawn else None
    match purpose:
        case "mediation":
            return [
                MediationStarted(at=now, deadline=now + state.window("mediation")),
                MediatorAssigned(at=now, mediator=first, how="drawn", pool=record.pool, draw=record),
            ]
        case "mediator":
            return [MediatorAssigned(at=now, mediator=first, how="drawn", pool=record.pool, draw=record)]
        case "panel":
            return [PanelDrawn(at=now, panelists=record.drawn, pool=record.pool, deadline=now + state.window("panel"), draw=record)]
        case "appeal_panel":
            return [AppealPanelDrawn(at=now, panel=record.drawn, draw=record)]


def _made(state: DisputeState, record: draws.Draw | None) -> dict[str, object]:
    """What a completed draw changes: no draw is open any more."""
    if record is None:
        return {}
    return {"draw": None, "draws": max(state.draws, record.number + 1)}


def _majority(state: DisputeState, now: datetime) -> list[DisputeEvent]:
    votes: dict[tuple[str, str | None], list[Ruling]] = {}
    for ruling in state.rulings.values():
        votes.setdefault(ruling.key, []).append(ruling)
    for (kind, terms), rulings in votes.items():
        if len(rulings) * 2 > len(state.panel):
            return [
                PanelDecided(
                    at=now, ruling=RulingKind(kind), terms=terms, reasons=[r.reasons for r in rulings], votes=len(rulings),
                    appeal_deadline=now + state.window("appeal"),
                )
            ]
    return []


# --- the clock ------------------------------------------------------------------------------------


def _reminder_at(state: DisputeState) -> datetime | None:
    if state.stage_deadline is None or not state.must_act():
        return None
    return state.stage_deadline - state.context.procedure.reminder_lead


def next_due(state: DisputeState) -> datetime | None:
    """The next moment the clock matters: a reminder, a stage deadline, an interim measure's end."""
    moments = [m.until for m in state.measures.values() if not m.ended]
    if state.is_live and state.stage_deadline is not None and state.stage != DisputeStage.APPEAL:
        moments.append(state.stage_deadline)
        reminder = _reminder_at(state)
        if reminder is not None and state.reminded_for != state.stage_deadline:
            moments.append(reminder)
    return min(moments) if moments else None


def on_time(state: DisputeState, now: datetime, seed: int = 0, key: bytes | None = None) -> list[DisputeEvent]:
    """The events due at `now` (none if nothing is). `key` as for `decide`."""
    events: list[DisputeEvent] = [
        InterimMeasureEnded(at=now, measure_id=m.measure_id) for m in state.measures.values() if not m.ended and now >= m.until
    ]
    deadline = state.stage_deadline
    if state.is_live and deadline is not None and state.stage != DisputeStage.APPEAL:
        if now >= deadline:
            events += _deadline_passed(state, now, seed, key)
        else:
            reminder = _reminder_at(state)
            if reminder is not None and now >= reminder and state.reminded_for != deadline:
                events.append(DisputeReminderSent(at=now, stage=state.stage, deadline=deadline, members=state.must_act()))
    return events


def _deadline_passed(state: DisputeState, now: datetime, seed: int, key: bytes | None) -> list[DisputeEvent]:
    match state.stage:
        case DisputeStage.NEGOTIATION if key is not None:
            return _draw(state, now, key, "mediation", mediator_pool(state), 1)
        case DisputeStage.NEGOTIATION:
            started = MediationStarted(at=now, deadline=now + state.window("mediation"))
            pool = mediator_pool(state)
            chosen = draw(pool, 1, seed)
            return [started, MediatorAssigned(at=now, mediator=chosen[0] if chosen else None, how="drawn", seed=seed, pool=pool)]
        case DisputeStage.MEDIATION:
            return _to_panel(state, now, seed, key)
        case DisputeStage.DRAWING if key is not None:
            return _close_draw(state, now, key)
        case DisputeStage.PANEL:
            return [PanelStalled(at=now, rulings=len(state.rulings))]
        case DisputeStage.APPEAL_WINDOW:
            return [RulingFinal(at=now)]
        case _:
            return []


# --- evolve ---------------------------------------------------------------------------------------


def audit_summary(state: DisputeState) -> tuple[Any, Any]:
    """What an audit report shows of a dispute beside its events: the procedure pinned, and where it ended."""
    return state.context.procedure, {"outcome": state.outcome, "stage": state.stage, "ruling": state.ruling}


def evolve(state: DisputeState | None, event: DisputeEvent) -> DisputeState:
    if isinstance(event, DisputeRaised):
        return DisputeState(
            dispute_id=event.dispute_id, alliance_id=event.alliance_id, raiser=event.raiser,
            respondents=event.respondents, subject=event.subject, description=event.description,
            severity=event.severity, context=event.context, stage=DisputeStage.NEGOTIATION,
            stage_deadline=event.deadline, raised_at=event.at,
        )
    if state is None:
        raise ValueError(f"{event.type} before DisputeRaised: the stream is corrupt")
    update: dict[str, object]
    match event:
        case TermsProposed():
            terms = Terms(terms_id=event.terms_id, text=event.text, by=event.by, stage=state.stage)
            update = {"terms": {**state.terms, terms.terms_id: terms}, "next_terms": state.next_terms + 1}
        case TermsAccepted():
            terms = state.terms[event.terms_id]
            accepted = terms.model_copy(update={"accepted_by": [*terms.accepted_by, event.by]})
            update = {"terms": {**state.terms, terms.terms_id: accepted}}
        case DisputeSettled():
            update = {
                "stage": DisputeStage.SETTLED, "outcome": f"settled on terms {event.terms_id}",
                "closed_at": event.at, "stage_deadline": None,
            }
        case MediationStarted():
            update = {"stage": DisputeStage.MEDIATION, "stage_deadline": event.deadline}
        case MediatorAssigned():
            update = {"mediator": event.mediator, **_made(state, event.draw)}
            if state.stage == DisputeStage.DRAWING and state.draw is not None:  # a redraw paused mediation
                resume = state.draw.resume_deadline
                update |= {"stage": DisputeStage.MEDIATION, "stage_deadline": resume and resume + (event.at - state.draw.opened_at)}
        case MediatorObjected():
            update = {"mediator_objections": {**state.mediator_objections, event.by: event.mediator}, "mediator": None}
        case ImpasseDeclared():
            update = {}
        case PanelDrawn():
            update = {"stage": DisputeStage.PANEL, "panel": event.panelists, "stage_deadline": event.deadline, **_made(state, event.draw)}
        case RulingSubmitted():
            ruling = Ruling(ruling=event.ruling, terms=event.terms, reasons=event.reasons, at=event.at)
            update = {"rulings": {**state.rulings, event.panelist: ruling}}
        case PanelDecided():
            ruling = Ruling(ruling=event.ruling, terms=event.terms, reasons="; ".join(event.reasons), at=event.at)
            update = {"stage": DisputeStage.APPEAL_WINDOW, "ruling": ruling, "stage_deadline": event.appeal_deadline}
        case PanelStalled():
            # No deadline while stalled: coordinators and steering decide when it moves on.
            update = {"stage": DisputeStage.PANEL_STALLED, "stage_deadline": None}
        case PanelExtended():
            update = {"stage": DisputeStage.PANEL, "panel_extended": True, "stage_deadline": event.deadline}
        case ReferredToAssembly():
            update = {"stage": DisputeStage.REFERRED, "outcome": "referred to the assembly", "closed_at": event.at, "stage_deadline": None}
        case AppealLodged():
            update = {
                "stage": DisputeStage.APPEAL, "appeal_by": event.by, "appeal_decision": event.decision_id,
                "appeal_panel": event.appeal_panel, "stage_deadline": None,
            }
        case AppealDecided():
            verdict = "ruling upheld on appeal" if event.upheld else "ruling overturned on appeal"
            update = {"stage": DisputeStage.FINAL, "outcome": verdict, "closed_at": event.at}
        case RulingFinal():
            update = {"stage": DisputeStage.FINAL, "outcome": "ruling final (no appeal)", "closed_at": event.at, "stage_deadline": None}
        case DisputeWithdrawn():
            update = {"stage": DisputeStage.WITHDRAWN, "outcome": "withdrawn", "closed_at": event.at, "stage_deadline": None}
        case InterimMeasureRecorded():
            measure = InterimMeasure(measure_id=event.measure_id, what=event.what, until=event.until, decided_by=event.decided_by)
            update = {"measures": {**state.measures, measure.measure_id: measure}}
        case InterimMeasureEnded():
            measure = state.measures[event.measure_id].model_copy(update={"ended": True})
            update = {"measures": {**state.measures, measure.measure_id: measure}}
        case DisputeReminderSent():
            update = {"reminded_for": event.deadline}
        case DrawOpened():
            pending = PendingDraw(
                number=event.number, purpose=event.purpose, pool=event.pool, count=event.count, commitment=event.commitment,
                opened_at=event.at, closes_at=event.closes_at,
                resume_deadline=state.stage_deadline if event.purpose == "mediator" else None,
            )
            update = {"stage": DisputeStage.DRAWING, "stage_deadline": event.closes_at, "draw": pending, "draws": event.number + 1}
        case DrawContributed():
            assert state.draw is not None
            contributions = {**state.draw.contributions, event.by: event.contribution}
            update = {"draw": state.draw.model_copy(update={"contributions": contributions})}
        case AppealPanelDrawn():
            update = {"stage": DisputeStage.APPEAL, "appeal_panel": event.panel, "stage_deadline": None, **_made(state, event.draw)}
        case _:  # pyright: ignore[reportUnnecessaryComparison]  # every known type is matched: a guard against the others
            raise ValueError(f"unknown dispute event {event.type}")
    return state.model_copy(update=update)


# --- notifications --------------------------------------------------------------------------------


_PURPOSES: Mapping[str, str] = {
    "mediation": "of the mediator", "mediator": "of another mediator", "panel": "of the panel",
    "appeal_panel": "of the appeal panel",
}


class DisputeNotice(Model):
    member_id: str
    kind: str
    message: str


def notices(state: DisputeState | None, event: DisputeEvent) -> list[DisputeNotice]:
    """Who is told of an event, given the state before it. Messages name the dispute and its stage,
    never its contents."""
    return told(evolve(state, event), event)


def told(after: DisputeState, event: DisputeEvent) -> list[DisputeNotice]:
    """Who is told of an event, given the state it leads to."""
    name = f"dispute {after.dispute_id}"
    parties = after.parties
    escalation = sorted(set(after.context.coordinators) | set(after.context.steering))

    def to(members: list[str], kind: str, message: str) -> list[DisputeNotice]:
        return [DisputeNotice(member_id=m, kind=kind, message=message) for m in dict.fromkeys(members)]

    match event:
        case DisputeRaised():
            told = to(after.respondents, "dispute_raised", f"{after.raiser} raised {name} naming you")
            if after.severity == Severity.CRISIS:
                told += to(escalation, "crisis_raised", f"{name} was raised as a crisis")
            return told
        case TermsProposed():
            return to([p for p in parties if p != event.by], "terms_proposed", f"terms {event.terms_id} proposed in {name}")
        case DisputeSettled():
            return to(parties, "dispute_settled", f"{name} is settled")
        case MediatorAssigned() if event.mediator:
            return to([*parties, event.mediator], "mediator_assigned", f"{event.mediator} mediates {name}")
        case MediatorAssigned():
            return to(after.context.coordinators, "mediator_needed", f"{name} needs a mediator: none left on the roster")
        case PanelDrawn():
            return to([*parties, *event.panelists], "panel_drawn", f"a panel ({', '.join(event.panelists)}) was drawn for {name}")
        case PanelDecided():
            return to(
                [*parties, *after.panel], "panel_decided",
                f"the panel ruled in {name}; appeals until {event.appeal_deadline:%Y-%m-%d %H:%M} UTC",
            )
        case PanelStalled():
            return to(
                escalation, "panel_stalled", f"the panel of {name} reached no majority in time: extend it once or refer to the assembly"
            )
        case AppealLodged() if event.appeal_panel:
            return [
                *to(parties, "dispute_appeallodged", f"{name}: {after.outcome or after.stage}"),
                *to(event.appeal_panel, "appeal_panel_drawn", f"you were drawn to decide the appeal in {name}"),
            ]
        case AppealPanelDrawn():
            return [
                *to(parties, "appeal_panel_drawn", f"an appeal panel ({', '.join(event.panel)}) was drawn for {name}"),
                *to(event.panel, "appeal_panel_drawn", f"you were drawn to decide the appeal in {name}"),
            ]
        case DrawOpened():
            return to(
                parties, "draw_opened",
                f"a draw ({_PURPOSES[event.purpose]}) in {name} is open until {event.closes_at:%Y-%m-%d %H:%M} UTC: "
                "contribute 32 random bytes of your own so that accord alone does not choose who is drawn",
            )
        case AppealLodged() | AppealDecided() | RulingFinal() | ReferredToAssembly():
            return to(parties, "dispute_" + event.type.lower(), f"{name}: {after.outcome or after.stage}")
        case DisputeWithdrawn():
            return to(parties, "dispute_withdrawn", f"{name} was withdrawn by {event.by}")
        case InterimMeasureRecorded():
            return to(
                [*parties, *escalation], "interim_measure", f"an interim measure in {name} runs until {event.until:%Y-%m-%d %H:%M} UTC"
            )
        case DisputeReminderSent():
            return to(
                event.members, "dispute_reminder", f"{name} moves on at {event.deadline:%Y-%m-%d %H:%M} UTC; you have something to do"
            )
        case _:
            return []
