"""Properties of the three pure deciders (alliance, decision, dispute) over arbitrary command sequences.

Hypothesis generates sequences of steps and plays them as the workflows do: `decide` (or `on_time`), then
`evolve` over the events. The steps are members' commands (from small pools: members of every role,
ids the process does not know, members suspended or removed before it began; real and unknown point
and terms ids; every stance with and without reason and principle), the clock striking after time has
passed (`on_time`), the workflow's timer (time moves to `next_due`, then `on_time`), and what the
workflows record by themselves (a dispute's appeal decision ending, a closed decision's news to its
alliance). Symbolic values ('@voter2', '@mediator', '@panel0', '@terms') name whoever or whatever holds
that seat when the step is played, so that sequences reach the late stages of a process without
knowing its draws in advance. Many steps are a command that fits the stage the process is in when the
step is played (a stance while a decision is open, a ruling while a panel sits), most other commands
come from the one who may send them, and some from anyone.

1. Robustness: no step raises anything but `Refused` (the dispute's sequences include interim measures
   whose end has no time zone, which the command's type accepts); a refusal records nothing, says what
   is wrong, and leaves the state as it was; no step changes the state it was given.
2. Decisions (events/decision.py: `evaluate`, `fallback_outcome`, `_close`): when a decision closes, a
   point carrying a block that cites a charter principle is blocked on principle, never adopted; an
   adopted point carries no block and no more objections than the pinned rules tolerate, and has quorum
   or, only under a recorded supermajority fallback, a supermajority of consent among consent and
   objections; a point that meets quorum without block or excess objection is adopted; the outcome
   follows from the points' fates (lapsed only under the lapse rule); a fallback closes only a stalled
   decision, by the rule the charter pinned; the pinned context never changes; stances come from the
   electorate; a closed or withdrawn decision records nothing more.
3. Disputes (events/dispute.py): a dispute settles on terms proposed in the stage it settles in and
   accepted by every party, and as soon as any terms are; a panel decides only when a strict majority
   of its panelists stand behind one ruling; rulings come from panelists; a mediator is on the roster,
   no party and not objected to; a panel is odd, of pinned members, with no party and not the mediator;
   an appeal panel is odd, with no party, and none who mediated or ruled while others are left; an
   appeal is decided by its panel and its decision opens; only the raiser withdraws.
4. Replay: every event survives the store's JSON round trip (canonical JSON read back through
   `Process.event_from_json` and through the upcasting path) as an equal event; folding the read-back
   events from nothing gives the decider's state after every step; each state survives its own JSON
   round trip (the read models and continue-as-new carry states).

Alliances are also held to their own invariants: an active coordinator always remains, and a removed
member never comes back.

A failing property prints, in its notes, the sequence as played: each step's time, its command with
symbolic values resolved, and its events or refusal.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from functools import cache
from itertools import product
from typing import Any

from decision_support import MEMBERS as DECISION_MEMBERS
from decision_support import charter as decision_charter
from dispute_support import RAISER, RESPONDENT, dispute_charter
from dispute_support import ROLES as DISPUTE_ROLES
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

from events import alliance, decision, dispute
from events.alliance import (
    AdmitMember,
    AllianceState,
    AmendCharter,
    DecisionResult,
    FoundAlliance,
    MemberStatus,
    ParkedPoint,
    ReinstateMember,
    RemoveMember,
    Role,
    SetRoles,
    SetWebhook,
    SuspendMember,
)
from events.charter import Charter
from events.decision import (
    AddPoint,
    AmendPoint,
    ApplyFallback,
    CloseDecision,
    DecisionClosed,
    DecisionEscalated,
    DecisionOutcome,
    DecisionState,
    ExtendDeadline,
    OpenDecision,
    PointDraft,
    PointOutcome,
    Stage,
    StanceKind,
    TakeStance,
    WithdrawDecision,
    WithdrawPoint,
)
from events.dispute import (
    TERMS_STAGES,
    AcceptTerms,
    AppealLodged,
    AssignMediator,
    DeclareImpasse,
    DisputeSettled,
    DisputeStage,
    DisputeState,
    DisputeWithdrawn,
    ExtendPanel,
    LodgeAppeal,
    ObjectToMediator,
    PanelDecided,
    PanelDrawn,
    ProposeTerms,
    RaiseDispute,
    RecordInterimMeasure,
    ReferredToAssembly,
    ReferToAssembly,
    RulingKind,
    RulingSubmitted,
    Severity,
    SubmitRuling,
    WithdrawDispute,
)
from events.hashing import canonical_json, load_json
from events.processes import ALLIANCE, DECISION, DISPUTE, Process
from events.rules import RefusalKind, Refused, build

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
MINUTE, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)

# Sized so that the whole file runs in well under a minute on two cores, derandomized so that CI runs the
# same sequences every time. No explain phase: on these long sequences it takes far longer than the
# shrinking, and the notes already spell out the failing sequence step by step.
PROPERTY = settings(
    max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
)  # fmt: skip
INVARIANTS = settings(PROPERTY, max_examples=700)
"""The invariants of decisions and disputes look at the late stages, which fewer sequences reach."""
ALLIANCE_PROPERTY = settings(PROPERTY, max_examples=100)
"""An alliance has no stages: fewer sequences go through every command it has."""

# --- the steps of a sequence ----------------------------------------------------------------------


@dataclass(frozen=True)
class Act:
    """A command, sent `after` the step before it."""

    after: timedelta
    command: Any


@dataclass(frozen=True)
class Tick:
    """The clock strikes `after` the step before it, whatever is due then (`on_time`)."""

    after: timedelta
    seed: int = 0


@dataclass(frozen=True)
class Wake:
    """The workflow's timer: time moves on to what the state says is due next (`next_due`), then strikes."""

    seed: int = 0


@dataclass(frozen=True)
class Interim:
    """An interim measure that lasts `lasts` from the moment it is recorded (`naive`: its end given without
    a time zone, as the command's type lets a caller of the Python API do)."""

    after: timedelta
    actor: str
    lasts: timedelta
    naive: bool = False


@dataclass(frozen=True)
class AppealEnds:
    """The appeal decision (a child workflow) ends with this outcome, or cannot run ('failed'), and the
    dispute workflow records what follows; outside an appeal nothing happens."""

    outcome: DecisionOutcome | str | None


@dataclass(frozen=True)
class Report:
    """A closed decision tells its alliance which points it parked and which parked points it took up."""

    after: timedelta
    result: DecisionResult


@dataclass(frozen=True)
class Fitting:
    """A command that fits the stage the process is in when the step is played (one of those listed for
    that stage, picked with `pick`), sent `after` the step before it: so that sequences go deep into a
    process without knowing in advance where it will be."""

    after: timedelta
    pick: int


Step = Act | Fitting | Tick | Wake | Interim | AppealEnds | Report

Performed = tuple[Any, Callable[[], list[Any]]]
"""What a step asks of a process (the command as sent, or 'clock'), and how the process answers it."""


@dataclass(frozen=True)
class Turn:
    """One step as played: the state it met, the command (resolved), what came of it, the state it left."""

    step: Step
    now: datetime
    before: Any
    asked: Any
    events: tuple[Any, ...]
    refused: Refused | None
    after: Any
    before_json: str | None = None
    """The state the step met, as JSON when the step began (when play() was asked for snapshots) ..."""
    before_json_afterwards: str | None = None
    """... and after decide (or on_time) and evolve had it: equal unless something changed it in place."""

    def __str__(self) -> str:
        outcome = repr(self.refused) if self.refused else repr([event.type for event in self.events])
        return f"{self.now:%m-%d %H:%M} {describe(self.asked)} -> {outcome}"

    def states_and_events(self, process: Process) -> Iterator[tuple[Any, Any]]:
        """Each event with the state it was folded into (the state the decider saw for it)."""
        state = self.before
        for event in self.events:
            yield state, event
            state = process.evolve(state, event)


def pinned(turns: list[Turn]) -> Any:
    """The context the process pinned when it began (by its first accepted command)."""
    return next(turn.after.context for turn in turns if turn.after is not None)


def as_json(state: Any) -> str:
    return "null" if state is None else state.model_dump_json()


def describe(asked: Any) -> str:
    """A step's command for the notes hypothesis prints with a failing sequence (without pinned contexts)."""
    if hasattr(asked, "model_dump"):
        return f"{type(asked).__name__}{asked.model_dump(exclude={'context', 'charter', 'type'})}"
    return str(asked)


PROCESS_CLOCKS: dict[str, Callable[[Any], datetime | None]] = {"decision": decision.next_due, "dispute": dispute.next_due}
"""When a process next needs the clock, for the workflow's timer (Wake); an alliance has no timers."""


def play(
    process: Process, steps: Sequence[Step], perform: Callable[[Any, Step, datetime], Performed], *, snapshots: bool = False
) -> list[Turn]:
    """Play the steps as a workflow does, from no state: `perform` says what a step asks (the command as
    sent) and how it is answered (decide or on_time: the events, or Refused); the events are folded with
    the process's own `evolve`. Anything else raised escapes, and fails the test that played the steps,
    with the sequence so far in its notes. `snapshots`: keep each state as JSON before and after its step."""
    state: Any = None
    now = T0
    turns: list[Turn] = []
    for step in steps:
        if isinstance(step, Wake):
            due = PROCESS_CLOCKS[process.kind](state) if state is not None else None
            now = max(now, due) if due is not None else now
        else:
            now += getattr(step, "after", timedelta(0))
        before, before_json = state, as_json(state) if snapshots else None
        asked, answer = perform(state, step, now)
        events: list[Any] = []
        refused: Refused | None = None
        with told(turns, f"{now:%m-%d %H:%M} {describe(asked)} -> raised"):
            try:
                events = answer()
            except Refused as refusal:
                refused = refusal
            for event in events:
                state = process.evolve(state, event)
        after_json = as_json(before) if snapshots else None
        turns.append(Turn(step, now, before, asked, tuple(events), refused, state, before_json, after_json))
    return turns


@contextmanager
def told(turns: list[Turn], *more: str) -> Iterator[None]:
    """On a failure inside, note the sequence as played (hypothesis prints the notes of a failing example):
    each step's time, its command with symbolic values resolved, and its events or refusal."""
    try:
        yield
    except BaseException:
        for line in [*map(str, turns), *more]:
            note(line)
        raise


# --- building sequences ---------------------------------------------------------------------------

NOBODY = "nobody"
"""What a seat names when nobody holds it: an id no process knows."""
SYMBOLIC_FIELDS = ("actor", "member_id", "point_id", "mediator", "terms_id")


def seated(state: Any, command: Any, holders: Callable[[Any, str], list[str]]) -> Any:
    """The command with each symbolic value ('@voter2', '@mediator', '@terms') replaced by whoever or
    whatever holds that seat in `state`: `holders(state, role)` lists them, the number picks one (cycling),
    no number picks the last; an empty seat names NOBODY."""
    changes: dict[str, str] = {}
    for field, value in command:
        if field in SYMBOLIC_FIELDS and isinstance(value, str) and value.startswith("@"):
            role = value[1:].rstrip("0123456789")
            number = value[1 + len(role) :]
            people = holders(state, role) if state is not None else []
            changes[field] = people[int(number or -1) % len(people)] if people else NOBODY
    return command.model_copy(update=changes) if changes else command


def commands(command_type: type[Any], **choices: Sequence[Any]) -> st.SearchStrategy[Any]:
    """Any command of the type whose fields take one of these values each."""
    return st.builds(command_type, **{field: st.sampled_from(values) for field, values in choices.items()})


def every(command_type: type[Any], **choices: Sequence[Any]) -> list[Any]:
    """Every command of the type whose fields take one of these values each."""
    fields = list(choices)
    return [command_type(**dict(zip(fields, values, strict=True))) for values in product(*choices.values())]


Fittings = dict[Any, list[tuple[int, list[Any]]]]
"""By stage: the commands that fit it, in families drawn as often as their weights say."""


def fitting(fittings: Fittings, stage: Any, pick: int) -> Any | None:
    """The command `pick` chooses among those that fit `stage` (None if none does)."""
    families = fittings.get(stage)
    if not families:
        return None
    chance = random.Random(pick)  # uniform however hypothesis draws `pick`
    family = chance.choices([family for _, family in families], weights=[weight for weight, _ in families])[0]
    return chance.choice(family)


picks = st.integers(min_value=0, max_value=2**16)


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of the strategies, each drawn as often as its weight says (`st.one_of` draws a strategy given
    twice no more often than one given once)."""
    table = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.integers(min_value=0, max_value=len(table) - 1).flatmap(table.__getitem__)  # a short repr in hypothesis's messages


def mostly(proper: st.SearchStrategy[Any], anything: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a command as it should come (from the one who may send it, say), sometimes anything."""
    return weighted((3, proper), (1, anything))


def sequences(
    first: st.SearchStrategy[Any], busy: st.SearchStrategy[Step], quiet: st.SearchStrategy[Step] | None = None
) -> st.SearchStrategy[list[Step]]:
    """The first command, then up to ten runs: bursts of up to ten `busy` steps (commands), or quiet
    spells of up to three `quiet` steps (the clock). Runs of runs make most sequences long enough to
    reach the late stages of a process, and still shrink to a few steps; bursts and spells give some
    sequences many commands before time moves (everyone responds), others long waits (stalls, timeouts)."""
    bursts = st.lists(busy, max_size=10)
    runs = bursts if quiet is None else st.one_of(bursts, st.lists(quiet, max_size=3))
    return st.builds(begun_with, first, st.lists(runs, max_size=10))


def begun_with(command: Any, runs: list[list[Step]]) -> list[Step]:
    """The sequence: the first command at the first moment, then the runs' steps one after another."""
    return [Act(timedelta(0), command), *(step for run in runs for step in run)]


pauses = st.sampled_from([timedelta(0), timedelta(0), MINUTE, MINUTE, HOUR, 6 * HOUR, DAY])
"""How long before a command: mostly little, so that much happens in each stage."""
time_passing = st.sampled_from([HOUR, DAY, 2 * DAY, 4 * DAY, 8 * DAY, 16 * DAY])
"""How long before the clock strikes by itself (a Tick): from an hour to past every window."""
SEEDS = [0, 1, 7, 2**40 + 3]
"""Seeds of draws (the workflow takes them from workflow.random())."""
seeds = st.sampled_from(SEEDS)

member_statuses = st.sampled_from([MemberStatus.ACTIVE] * 3 + [MemberStatus.SUSPENDED, MemberStatus.REMOVED])


def alliance_of(charter: Charter, memberships: Sequence[tuple[str, tuple[Role, ...], MemberStatus]]) -> AllianceState:
    """gw founds the alliance and admits these members, then suspends or removes some: the alliance a
    decision or dispute opened now pins."""
    steps: list[Any] = [FoundAlliance(alliance_id="rivers", charter=charter, founder_id="gw", founder_name="GreenWatch")]
    steps += [AdmitMember(actor="gw", member_id=m, name=m.title(), roles=list(roles)) for m, roles, _ in memberships]
    steps += [SuspendMember(actor="gw", member_id=m, reason="dues") for m, _, s in memberships if s == MemberStatus.SUSPENDED]
    steps += [RemoveMember(actor="gw", member_id=m, reason="left") for m, _, s in memberships if s == MemberStatus.REMOVED]
    state: AllianceState | None = None
    for command in steps:
        for event in alliance.decide(state, command, T0):
            state = alliance.evolve(state, event)
    assert state is not None
    return state


# --- alliances ------------------------------------------------------------------------------------

ALLIANCE_IDS = ["gw", "amber", "birch", "cedar", "zed"]
"""gw founds the alliance; amber, birch and cedar may be admitted (or not); zed never is."""
ALLIANCE_SEATS = ["@coordinator0", "@coordinator1", "@member0", "@member1", "@member2", "@suspended"]


def alliance_holders(state: AllianceState, role: str) -> list[str]:
    """'@coordinatorN' (active ones), '@memberN' (every member, removed ones too), '@suspended'."""
    suspended = sorted(m for m, member in state.members.items() if member.status == MemberStatus.SUSPENDED)
    return {"coordinator": state.with_role(Role.COORDINATOR), "member": sorted(state.members), "suspended": suspended}[role]


@cache
def example_charter() -> Charter:
    return decision_charter()


@cache
def amended_charters() -> tuple[Charter, ...]:
    base = example_charter()
    return (base, base.model_copy(update={"name": "Clean Rivers Alliance II"}), decision_charter(quorum=0.5, max_extensions=0))


def founding(actor: str = "gw") -> FoundAlliance:
    return FoundAlliance(alliance_id="rivers", charter=example_charter(), founder_id=actor, founder_name=actor.title())


ROLE_SETS = [[Role.MEMBER], [Role.COORDINATOR], [Role.STEERING, Role.MEDIATOR], [Role.COORDINATOR, Role.MEMBER]]
URLS = [None, "https://example.org/hook"]
REASONS = ["dues unpaid"]
MEMBER_IDS = [*ALLIANCE_SEATS, *ALLIANCE_IDS]
alliance_commands = weighted(
    (3, mostly(commands(AdmitMember, actor=["@coordinator0"], member_id=["amber", "birch", "cedar"], name=["Someone"], roles=ROLE_SETS),
               commands(AdmitMember, actor=ALLIANCE_IDS, member_id=ALLIANCE_IDS, name=["Someone"], roles=ROLE_SETS, webhook_url=URLS))),
    (2, mostly(commands(SuspendMember, actor=["@coordinator0", "@coordinator1"], member_id=MEMBER_IDS, reason=REASONS),
               commands(SuspendMember, actor=MEMBER_IDS, member_id=MEMBER_IDS, reason=REASONS))),
    (2, mostly(commands(ReinstateMember, actor=["@coordinator0"], member_id=["@suspended", "@member0"]),
               commands(ReinstateMember, actor=MEMBER_IDS, member_id=MEMBER_IDS))),
    (2, mostly(commands(RemoveMember, actor=["@coordinator0", "@coordinator1"], member_id=MEMBER_IDS, reason=REASONS),
               commands(RemoveMember, actor=MEMBER_IDS, member_id=MEMBER_IDS, reason=REASONS))),
    (2, mostly(commands(SetRoles, actor=["@coordinator0", "@coordinator1"], member_id=MEMBER_IDS, roles=ROLE_SETS),
               commands(SetRoles, actor=MEMBER_IDS, member_id=MEMBER_IDS, roles=ROLE_SETS))),
    (1, commands(SetWebhook, actor=MEMBER_IDS, member_id=MEMBER_IDS, webhook_url=[*URLS, "http://127.0.0.1:9/x"])),
    (1, commands(AmendCharter, actor=["@coordinator0", *ALLIANCE_IDS], charter=amended_charters(), reason=REASONS)),
    (1, st.builds(founding, st.sampled_from(["gw", "amber"]))),
)  # fmt: skip


@st.composite
def decision_results(draw: st.DrawFn) -> DecisionResult:
    """What a closed decision tells its alliance: points it parked, parked points it took up."""
    decision_id = draw(st.sampled_from(["d1", "d2"]))
    point_ids = draw(st.lists(st.sampled_from(["p1", "p2"]), unique=True, max_size=2))
    parked = [
        ParkedPoint(ref=f"{decision_id}/{p}", decision_id=decision_id, point_id=p, text=f"point {p}", outcome="parked", parked_at=T0)
        for p in point_ids
    ]
    taken_up = draw(st.lists(st.sampled_from(["d1/p1", "d1/p2", "d2/p1", "d9/p9"]), unique=True, max_size=2))
    return DecisionResult(decision_id=decision_id, parked=parked, taken_up=taken_up, closed_at=None)


alliance_steps = sequences(
    st.just(founding()), weighted((4, st.builds(Act, pauses, alliance_commands)), (1, st.builds(Report, pauses, decision_results())))
)


def perform_alliance(state: AllianceState | None, step: Step, now: datetime) -> Performed:
    if isinstance(step, Report):
        # The alliance workflow records a closed decision's news through record_decision_result.
        return step.result, lambda: alliance.record_decision_result(state, step.result, now) if state is not None else []
    assert isinstance(step, Act)
    command = seated(state, step.command, alliance_holders)
    return command, lambda: alliance.decide(state, command, now)


def play_alliance(steps: Sequence[Step], *, snapshots: bool = False) -> list[Turn]:
    return play(ALLIANCE, steps, perform_alliance, snapshots=snapshots)


# --- decisions ------------------------------------------------------------------------------------

DECISION_IDS = ["gw", *DECISION_MEMBERS, "oak", "elm", "zed"]
"""gw (founder, coordinator), amber, birch, cedar, dune (each maybe suspended or removed before the
decision opens), oak (suspended), elm (removed), zed (never a member)."""
PARKED = ["d0/p2", "d0/p3"]
VOTER_SEATS = ["@voter0", "@voter1", "@voter2", "@voter3", "@voter4"]
ANYONE_IN_A_DECISION = [*VOTER_SEATS, "@proposer", "@coordinator0", *DECISION_IDS]
POINT_SEATS = ["@point0", "@point1", "@point2", "@point"]
ANY_POINT = [*POINT_SEATS, "p1", "p4", "p9"]


def decision_holders(state: DecisionState, role: str) -> list[str]:
    """'@voterN', '@coordinatorN', '@proposer', '@pointN' (withdrawn ones too)."""
    return {
        "voter": state.context.electorate, "coordinator": state.context.coordinators, "proposer": [state.proposer],
        "point": list(state.points),
    }[role]  # fmt: skip


@cache
def pinned_decision_context(
    rules: tuple[float, int, str, int, float], roles: tuple[Role, ...], statuses: tuple[MemberStatus, ...]
) -> decision.DecisionContext:
    """The context a decision opened now pins (`pinned_context`): under the example charter with these
    decision rules (quorum, objection tolerance, fallback, extensions, supermajority), in an alliance
    where gw admitted DECISION_MEMBERS with these roles and then gave them these statuses, oak is
    suspended and elm removed; with two parked points it may take up."""
    quorum, tolerance, fallback, extensions, supermajority = rules
    charter = decision_charter(
        quorum=quorum, objection_tolerance=tolerance, fallback=fallback, max_extensions=extensions, supermajority=supermajority
    )
    memberships = [(m, (role,), status) for m, role, status in zip(DECISION_MEMBERS, roles, statuses, strict=True)]
    memberships += [("oak", (Role.COORDINATOR,), MemberStatus.SUSPENDED), ("elm", (Role.MEMBER,), MemberStatus.REMOVED)]
    return decision.pinned_context(alliance_of(charter, memberships)).model_copy(update={"parked": PARKED})


decision_rules = st.tuples(
    st.sampled_from([0.5, 0.6, 0.75, 1.0]), st.sampled_from([0, 1]), st.sampled_from(["supermajority", "lapse"]),
    st.sampled_from([0, 1, 2]), st.sampled_from([0.51, 2 / 3, 0.6667, 1.0]),
)  # fmt: skip
member_roles = st.sampled_from([Role.MEMBER, Role.STEERING, Role.COORDINATOR])
decision_contexts = st.builds(
    pinned_decision_context, decision_rules, st.tuples(*[member_roles] * len(DECISION_MEMBERS)),
    st.tuples(*[member_statuses] * len(DECISION_MEMBERS)),
)  # fmt: skip

DRAFTS = [PointDraft(text="A joint march"), PointDraft(text="A shared banner"), PointDraft(text="Take it up", origin="d0/p2")]
proper_openings = st.builds(
    OpenDecision, actor=st.just("gw"), decision_id=st.just("d1"), alliance_id=st.just("rivers"), title=st.just("Spring campaign"),
    points=st.lists(st.sampled_from(DRAFTS), min_size=1, max_size=3), response_window=st.sampled_from([None, HOUR, 3 * DAY]),
    context=decision_contexts,
)  # fmt: skip
any_openings = st.builds(
    OpenDecision, actor=st.sampled_from(DECISION_IDS), decision_id=st.sampled_from(["d1", "appeal-x1"]), alliance_id=st.just("rivers"),
    title=st.just("Spring campaign"),
    points=st.lists(st.sampled_from([*DRAFTS, PointDraft(text="Old", origin="d9/p9")]), min_size=1, max_size=2),
    response_window=st.sampled_from([None, MINUTE, 60 * DAY]), context=decision_contexts,
)  # fmt: skip
openings = mostly(proper_openings, any_openings)

CONSENT = [StanceKind.AGREE, StanceKind.CONCERNS, StanceKind.STAND_ASIDE]
DISSENT = [StanceKind.OBJECT, StanceKind.BLOCK]
TEXTS = ["A joint march", "A joint march by boat"]
decision_commands = weighted(
    (8, commands(TakeStance, actor=VOTER_SEATS, point_id=POINT_SEATS, stance=CONSENT, reason=[None, "fine"])),
    (4, commands(TakeStance, actor=VOTER_SEATS, point_id=POINT_SEATS, stance=DISSENT, reason=["it costs too much"], principle=[None, "independence"])),
    (3, commands(TakeStance, actor=ANYONE_IN_A_DECISION, point_id=ANY_POINT, stance=list(StanceKind), reason=[None, " ", "why not"],
                 principle=[None, "non-violence", "greenwashing"])),
    (2, mostly(commands(AmendPoint, actor=["@proposer"], point_id=POINT_SEATS, text=TEXTS),
               commands(AmendPoint, actor=ANYONE_IN_A_DECISION, point_id=ANY_POINT, text=TEXTS))),
    (2, mostly(commands(AddPoint, actor=["@proposer"], text=["One more"], origin=[None, "d0/p3"]),
               commands(AddPoint, actor=ANYONE_IN_A_DECISION, text=["One more"], origin=[None, "d0/p3", "d9/p9"]))),
    (2, mostly(commands(WithdrawPoint, actor=["@proposer"], point_id=POINT_SEATS),
               commands(WithdrawPoint, actor=ANYONE_IN_A_DECISION, point_id=ANY_POINT))),
    (1, commands(WithdrawDecision, actor=ANYONE_IN_A_DECISION, reason=["no longer needed"])),
    (2, mostly(commands(ExtendDeadline, actor=["@coordinator0"]), commands(ExtendDeadline, actor=ANYONE_IN_A_DECISION))),
    (2, mostly(commands(ApplyFallback, actor=["@coordinator0"]), commands(ApplyFallback, actor=ANYONE_IN_A_DECISION))),
    (2, mostly(commands(CloseDecision, actor=["@coordinator0"]), commands(CloseDecision, actor=ANYONE_IN_A_DECISION))),
    (1, openings),
)  # fmt: skip
DECISION_FITTINGS: Fittings = {
    Stage.OPEN: [
        (12, every(TakeStance, actor=VOTER_SEATS, point_id=POINT_SEATS, stance=CONSENT)),
        (2, every(TakeStance, actor=VOTER_SEATS, point_id=POINT_SEATS, stance=[StanceKind.OBJECT], reason=["it costs too much"])),
        (2, every(TakeStance, actor=VOTER_SEATS, point_id=POINT_SEATS, stance=[StanceKind.BLOCK], reason=["no"], principle=[None, "independence"])),
        (1, every(AmendPoint, actor=["@proposer"], point_id=POINT_SEATS, text=["A joint march by boat"])),
        (1, every(AddPoint, actor=["@proposer"], text=["One more"], origin=[None, "d0/p3"])),
        (1, every(WithdrawPoint, actor=["@proposer"], point_id=POINT_SEATS)),
    ],
    Stage.STALLED: [
        (1, every(ExtendDeadline, actor=["@coordinator0"])), (1, every(ApplyFallback, actor=["@coordinator0"])),
        (1, every(CloseDecision, actor=["@coordinator0"])), (2, every(TakeStance, actor=VOTER_SEATS, point_id=POINT_SEATS, stance=CONSENT)),
    ],
}  # fmt: skip
decision_steps = sequences(
    openings,
    weighted((3, st.builds(Fitting, pauses, picks)), (2, st.builds(Act, pauses, decision_commands))),
    weighted((1, st.builds(Tick, time_passing)), (2, st.builds(Wake))),
)


def perform_decision(state: DecisionState | None, step: Step, now: datetime) -> Performed:
    match step:
        case Act() | Fitting():
            template = step.command if isinstance(step, Act) else fitting(DECISION_FITTINGS, state and state.stage, step.pick)
            if template is None:
                return "nothing fits", lambda: []
            command = seated(state, template, decision_holders)
            return command, lambda: decision.decide(state, command, now)
    return "clock", lambda: decision.on_time(state, now) if state is not None else []


def play_decision(steps: Sequence[Step], *, snapshots: bool = False) -> list[Turn]:
    return play(DECISION, steps, perform_decision, snapshots=snapshots)


# --- disputes -------------------------------------------------------------------------------------

DISPUTE_IDS = ["gw", *DISPUTE_ROLES, "oak", "zed"]
"""The members of tests/dispute_support.py's alliance (cedar raises, dune responds, birch, fern and dune
mediate, gw coordinates, amber steers; some maybe suspended or removed before the dispute is raised),
oak (suspended), zed (never a member)."""
PARTY_SEATS = ["@party0", "@party1"]
PANEL_SEATS = ["@panel0", "@panel1", "@panel2"]
ESCALATION_SEATS = ["@coordinator0", "@steering0"]
ANYONE_IN_A_DISPUTE = [*PARTY_SEATS, "@mediator", *PANEL_SEATS, *ESCALATION_SEATS, *DISPUTE_IDS]


def dispute_holders(state: DisputeState, role: str) -> list[str]:
    """'@partyN', '@mediator', '@panelN', '@coordinatorN', '@steeringN', '@termsN' ('@terms': the latest)."""
    return {
        "party": state.parties, "mediator": [state.mediator] if state.mediator else [], "panel": state.panel,
        "coordinator": state.context.coordinators, "steering": state.context.steering, "terms": list(state.terms),
    }[role]  # fmt: skip


SOMETIMES_AWAY = ["amber", "birch", "fern", "elm", "hazel"]
"""Members of dispute_support's alliance who may be suspended or removed before a dispute is raised."""


@cache
def pinned_dispute_context(panel_size: int, statuses: tuple[MemberStatus, ...]) -> dispute.DisputeContext:
    """The context a dispute raised now pins (`pinned_context`): dispute_support's alliance (and oak,
    suspended) with SOMETIMES_AWAY in these statuses, under a panel of `panel_size`."""
    away = dict(zip(SOMETIMES_AWAY, statuses, strict=True))
    memberships = [(m, tuple(roles), away.get(m, MemberStatus.ACTIVE)) for m, roles in DISPUTE_ROLES.items()]
    memberships += [("oak", (Role.MEDIATOR,), MemberStatus.SUSPENDED)]
    return dispute.pinned_context(alliance_of(dispute_charter(panel_size=panel_size), memberships))


dispute_contexts = st.builds(pinned_dispute_context, st.sampled_from([1, 3, 5]), st.tuples(*[member_statuses] * len(SOMETIMES_AWAY)))
proper_raisings = st.builds(
    RaiseDispute, actor=st.just(RAISER), dispute_id=st.just("x1"), alliance_id=st.just("rivers"),
    respondents=st.sampled_from([[RESPONDENT], [RESPONDENT, "ivy"]]), subject=st.just("The shared banner"),
    description=st.just("taken to a rally we boycotted"), severity=st.sampled_from(list(Severity)), context=dispute_contexts,
)  # fmt: skip
any_raisings = st.builds(
    RaiseDispute, actor=st.sampled_from([RAISER, "ivy", "oak", "zed"]), dispute_id=st.just("x1"), alliance_id=st.just("rivers"),
    respondents=st.sampled_from([[RESPONDENT], [RESPONDENT, RESPONDENT], [RAISER], ["zed"], ["oak"], ["hazel", RESPONDENT]]),
    subject=st.just("The shared banner"), description=st.just("taken to a rally we boycotted"),
    severity=st.sampled_from(list(Severity)), context=dispute_contexts,
)  # fmt: skip
raisings = mostly(proper_raisings, any_raisings)

TERMS = ["share the banner", "return the banner"]
GROUNDS = ["we tried"]
RULINGS = [
    *every(SubmitRuling, actor=PANEL_SEATS, ruling=[RulingKind.UPHOLD, RulingKind.DISMISS], reasons=GROUNDS),
    *every(SubmitRuling, actor=PANEL_SEATS, ruling=[RulingKind.TERMS], terms=["share the banner", "pay for a new one"], reasons=GROUNDS),
]
dispute_commands = weighted(
    (4, mostly(commands(ProposeTerms, actor=[*PARTY_SEATS, "@mediator"], text=TERMS), commands(ProposeTerms, actor=ANYONE_IN_A_DISPUTE, text=TERMS))),
    (4, mostly(commands(AcceptTerms, actor=PARTY_SEATS, terms_id=["@terms"]),
               commands(AcceptTerms, actor=ANYONE_IN_A_DISPUTE, terms_id=["@terms", "@terms0", "t1", "t9"]))),
    (2, mostly(commands(ObjectToMediator, actor=PARTY_SEATS, reason=GROUNDS, seed=SEEDS),
               commands(ObjectToMediator, actor=ANYONE_IN_A_DISPUTE, reason=GROUNDS, seed=SEEDS))),
    (2, mostly(commands(AssignMediator, actor=["@coordinator0"], mediator=["birch", "fern"]),
               commands(AssignMediator, actor=ANYONE_IN_A_DISPUTE, mediator=["birch", "fern", RESPONDENT, "elm", "oak", "@mediator"]))),
    (3, mostly(commands(DeclareImpasse, actor=["@mediator"], seed=SEEDS), commands(DeclareImpasse, actor=ANYONE_IN_A_DISPUTE, seed=SEEDS))),
    (8, mostly(commands(SubmitRuling, actor=PANEL_SEATS, ruling=[RulingKind.UPHOLD, RulingKind.DISMISS, RulingKind.TERMS],
                        terms=[None, "share the banner", "pay for a new one"], reasons=GROUNDS),
               commands(SubmitRuling, actor=ANYONE_IN_A_DISPUTE, ruling=list(RulingKind), terms=[None, " ", "share the banner"], reasons=GROUNDS))),
    (2, mostly(commands(ExtendPanel, actor=ESCALATION_SEATS), commands(ExtendPanel, actor=ANYONE_IN_A_DISPUTE))),
    (1, mostly(commands(ReferToAssembly, actor=ESCALATION_SEATS, reason=GROUNDS), commands(ReferToAssembly, actor=ANYONE_IN_A_DISPUTE, reason=GROUNDS))),
    # An appeal's seed is None in runs from before appeal panels.
    (4, mostly(commands(LodgeAppeal, actor=PARTY_SEATS, reason=GROUNDS, seed=[None, *SEEDS]),
               commands(LodgeAppeal, actor=ANYONE_IN_A_DISPUTE, reason=GROUNDS, seed=[None, 0]))),
    (1, commands(WithdrawDispute, actor=ANYONE_IN_A_DISPUTE, reason=GROUNDS)),
    (1, raisings),
)  # fmt: skip


DISPUTE_FITTINGS: Fittings = {
    DisputeStage.NEGOTIATION: [
        (1, every(ProposeTerms, actor=PARTY_SEATS, text=TERMS)), (1, every(AcceptTerms, actor=PARTY_SEATS, terms_id=["@terms"])),
    ],
    DisputeStage.MEDIATION: [
        (1, every(ProposeTerms, actor=["@mediator", *PARTY_SEATS], text=TERMS)), (2, every(AcceptTerms, actor=PARTY_SEATS, terms_id=["@terms"])),
        (2, every(ObjectToMediator, actor=PARTY_SEATS, reason=GROUNDS, seed=SEEDS)),
        (1, every(AssignMediator, actor=["@coordinator0"], mediator=["birch", "fern"])),
        (2, every(DeclareImpasse, actor=["@mediator"], seed=SEEDS)),
    ],
    # Parties, the mediator and other members would like to rule too (and are refused).
    DisputeStage.PANEL: [(4, RULINGS), (1, every(SubmitRuling, actor=[*PARTY_SEATS, "@mediator", *SOMETIMES_AWAY], ruling=[RulingKind.UPHOLD], reasons=GROUNDS))],
    DisputeStage.PANEL_STALLED: [
        (2, RULINGS), (1, every(ExtendPanel, actor=ESCALATION_SEATS)), (1, every(ReferToAssembly, actor=ESCALATION_SEATS, reason=GROUNDS)),
    ],
    # An appeal's seed is None in runs from before appeal panels; parties who would rather settle now are refused.
    DisputeStage.APPEAL_WINDOW: [
        (1, every(LodgeAppeal, actor=PARTY_SEATS, reason=GROUNDS, seed=[None, *SEEDS])), (1, every(ProposeTerms, actor=PARTY_SEATS, text=TERMS)),
    ],
}  # fmt: skip


def dispute_steps(*, naive_times: bool = False) -> st.SearchStrategy[list[Step]]:
    """A raising, then people's commands, interim measures, the clock, the workflow's timer and the end
    of an appeal in any order (`naive_times`: some interim measures end at a time without a zone)."""
    interims = st.builds(
        Interim, pauses, mostly(st.just("@coordinator0"), st.sampled_from(ANYONE_IN_A_DISPUTE)),
        st.sampled_from([-HOUR, timedelta(0), HOUR, 3 * DAY]), st.booleans() if naive_times else st.just(False),
    )  # fmt: skip
    appeal_ends = st.builds(AppealEnds, st.sampled_from([DecisionOutcome.ADOPTED, DecisionOutcome.NOT_ADOPTED, None, "failed"]))
    return sequences(
        raisings,
        weighted((6, st.builds(Fitting, pauses, picks)), (4, st.builds(Act, pauses, dispute_commands)), (1, interims)),
        weighted((2, st.builds(Tick, time_passing, seeds)), (2, st.builds(Wake, seeds)), (1, appeal_ends)),
    )


def perform_dispute(state: DisputeState | None, step: Step, now: datetime) -> Performed:
    match step:
        case Act() | Fitting():
            template = step.command if isinstance(step, Act) else fitting(DISPUTE_FITTINGS, state and state.stage, step.pick)
            if template is None:
                return "nothing fits", lambda: []
            command = seated(state, template, dispute_holders)
            return command, lambda: dispute.decide(state, command, now)
        case Interim():
            until = now + step.lasts
            measure = seated(state, RecordInterimMeasure(actor=step.actor, what="keep the banner stored", until=until), dispute_holders)
            # As a caller's input arrives: validated first (a time without a zone is refused there), then decided.
            given = {**measure.model_dump(), "until": until.replace(tzinfo=None) if step.naive else until}
            return measure, lambda: dispute.decide(state, build(RecordInterimMeasure, **given), now)
        case Tick() | Wake():
            return "clock", lambda: dispute.on_time(state, now, step.seed) if state is not None else []
        case AppealEnds() if state is not None and state.stage == DisputeStage.APPEAL:
            # What DisputeWorkflow._run_appeal records when its child decision ends, or cannot run.
            if step.outcome == "failed":
                return "appeal failed", lambda: [ReferredToAssembly(at=now, by=None, reason="the appeal decision could not run")]
            outcome = DecisionOutcome(step.outcome) if step.outcome else None
            return f"appeal {outcome}", lambda: [dispute.appeal_decided(state, outcome, now)]
    return "nothing", lambda: []


def play_dispute(steps: Sequence[Step], *, snapshots: bool = False) -> list[Turn]:
    return play(DISPUTE, steps, perform_dispute, snapshots=snapshots)


# --- 1. nothing but Refused, and a refusal changes nothing ------------------------------------------


def assert_robust(turns: list[Turn]) -> None:
    """play() already let any exception but Refused escape; here: the state each step met is unchanged
    by it (decide and evolve build new states), a refusal records nothing and leaves the state where it
    was, and every refusal says what is wrong with a kind the API knows."""
    for turn in turns:
        assert turn.before_json_afterwards == turn.before_json, f"{turn.asked!r} changed the state it was given"
        if turn.refused is not None:
            assert turn.events == () and as_json(turn.after) == turn.before_json
            assert turn.refused.kind in set(RefusalKind) and turn.refused.message.strip()


@ALLIANCE_PROPERTY
@given(alliance_steps)
def test_alliance_steps_raise_nothing_but_refused_and_a_refusal_changes_nothing(steps: list[Step]) -> None:
    turns = play_alliance(steps, snapshots=True)
    with told(turns):
        assert_robust(turns)


@PROPERTY
@given(decision_steps)
def test_decision_steps_raise_nothing_but_refused_and_a_refusal_changes_nothing(steps: list[Step]) -> None:
    turns = play_decision(steps, snapshots=True)
    with told(turns):
        assert_robust(turns)


@PROPERTY
@given(dispute_steps(naive_times=True))
def test_dispute_steps_raise_nothing_but_refused_and_a_refusal_changes_nothing(steps: list[Step]) -> None:
    turns = play_dispute(steps, snapshots=True)
    with told(turns):
        assert_robust(turns)


# --- 2. decisions ---------------------------------------------------------------------------------


def exact(share: float) -> Fraction:
    """A share as the charter writes it (0.6 is 3/5), so the checks below need no float tolerance."""
    return Fraction(str(share))


def has_quorum(state: DecisionState, point: decision.Point) -> bool:
    return len(point.stances) >= 1 and len(point.stances) >= exact(state.rules.quorum) * len(state.context.electorate)


def count(point: decision.Point, *kinds: StanceKind) -> int:
    return sum(s.stance in kinds for s in point.stances.values())


def has_supermajority(state: DecisionState, point: decision.Point) -> bool:
    consent = count(point, StanceKind.AGREE, StanceKind.CONCERNS)
    cast = consent + count(point, StanceKind.OBJECT)
    return consent > 0 and Fraction(consent, cast) >= exact(state.rules.supermajority)


def assert_point_fates(state: DecisionState, closed: DecisionClosed) -> None:
    """The outcome of each point of `state` (the state the closing was decided on) under its pinned rules."""
    assert set(closed.outcomes) == set(state.points)
    for point_id, point in state.points.items():
        fate = closed.outcomes[point_id]
        assert (fate == PointOutcome.WITHDRAWN) == point.withdrawn, point_id
        if point.withdrawn:
            continue
        principled = any(s.stance == StanceKind.BLOCK and s.principle in state.context.principles for s in point.stances.values())
        # A block citing a core principle is never overridden: that point is blocked on principle, never adopted.
        assert (fate == PointOutcome.BLOCKED_ON_PRINCIPLE) == principled, (point_id, fate, point.stances)
        blocked = count(point, StanceKind.BLOCK) > 0
        tolerated = count(point, StanceKind.OBJECT) <= state.rules.objection_tolerance
        if fate == PointOutcome.ADOPTED:
            assert not blocked and tolerated, (point_id, point.stances)
            # Quorum, or (only when the closing records the supermajority fallback) a supermajority of consent.
            assert has_quorum(state, point) or (closed.rule == "supermajority" and has_supermajority(state, point)), (
                point_id,
                point.stances,
            )
        elif not blocked and tolerated and has_quorum(state, point):
            raise AssertionError(f"{point_id} met quorum with no block and tolerated objections, yet was {fate}")


def assert_decision_outcome(closed: DecisionClosed) -> None:
    fates = [f for f in closed.outcomes.values() if f != PointOutcome.WITHDRAWN]
    adopted = fates.count(PointOutcome.ADOPTED)
    if fates and adopted == len(fates):
        expected = DecisionOutcome.ADOPTED
    elif adopted:
        expected = DecisionOutcome.PARTIALLY_ADOPTED
    else:
        expected = DecisionOutcome.LAPSED if closed.rule == "lapse" else DecisionOutcome.NOT_ADOPTED
    assert closed.outcome == expected, (closed.outcomes, closed.rule, closed.outcome)


def assert_closing(state: DecisionState, closed: DecisionClosed) -> None:
    """How a decision closed agrees with the state it closed from, and the fallback rule it records."""
    assert state.is_live
    if closed.rule is not None:
        # A fallback applies only to a stalled decision, as the charter pinned it, after its escalation.
        assert closed.how in ("fallback", "automatic") and closed.rule == state.rules.fallback == state.rule_applied
        assert state.stage == Stage.STALLED
    else:
        assert closed.how in ("all_responded", "deadline", "coordinator")
    if closed.how == "all_responded":
        assert not state.pending_members()
    if closed.how == "deadline":
        assert state.stage == Stage.OPEN and closed.at >= state.deadline
    if closed.how in ("fallback", "coordinator"):
        assert state.stage == Stage.STALLED and closed.by in state.context.coordinators
    if closed.how == "automatic":
        assert state.escalation_deadline is not None and closed.at >= state.escalation_deadline


def assert_decision_state(state: DecisionState, pinned: decision.DecisionContext) -> None:
    assert state.context == pinned, "the pinned context changed"
    for point in state.points.values():
        for member, stance in point.stances.items():
            assert member in pinned.electorate, f"{member} is not in the electorate but has a stance on {point.point_id}"
            assert stance.principle is None or (stance.stance == StanceKind.BLOCK and stance.principle in pinned.principles)
            assert stance.stance not in (StanceKind.OBJECT, StanceKind.BLOCK) or stance.reason
    assert (state.outcome is not None) == (state.stage in (Stage.CLOSED, Stage.WITHDRAWN))


def assert_decisions_keep_their_rules(turns: list[Turn]) -> None:
    """Every closing, escalation and state of a played decision against its pinned rules."""
    for turn in turns:
        if turn.before is not None and not turn.before.is_live:
            assert not turn.events, f"a {turn.before.stage} decision recorded {turn.events}"
        for state, event in turn.states_and_events(DECISION):
            if isinstance(event, DecisionEscalated):
                assert event.rule == state.rules.fallback and (event.automatic or event.by in state.context.coordinators)
            if isinstance(event, DecisionClosed):
                assert_closing(state, event)
                assert_point_fates(state, event)
                assert_decision_outcome(event)
        if turn.after is not None:
            assert_decision_state(turn.after, pinned(turns))


@INVARIANTS
@given(decision_steps)
def test_decisions_adopt_only_what_their_pinned_rules_or_recorded_fallback_allow(steps: list[Step]) -> None:
    turns = play_decision(steps)
    with told(turns):
        assert_decisions_keep_their_rules(turns)


# --- 3. disputes ----------------------------------------------------------------------------------


def assert_seats(state: DisputeState, pinned: dispute.DisputeContext) -> None:
    """Who may sit where: never a party; a mediator from the roster that no party objected to; an odd
    panel drawn from the pinned members without the mediator."""
    assert state.context == pinned, "the pinned context changed"
    parties = set(state.parties)
    assert state.raiser not in state.respondents
    if state.mediator is not None:
        assert state.mediator not in parties and state.mediator in pinned.mediators
        assert state.mediator not in state.mediator_objections.values()
        assert state.mediator not in state.panel
    assert not parties & set(state.panel), f"party on the panel: {state.panel}"
    assert set(state.panel) <= set(pinned.members) and len(set(state.panel)) == len(state.panel)
    assert not state.panel or (len(state.panel) % 2 == 1 and len(state.panel) <= pinned.procedure.panel_size)
    assert set(state.rulings) <= set(state.panel)
    assert set(state.mediator_objections) <= parties
    assert not set(state.appeal_panel) & parties
    for terms in state.terms.values():
        assert set(terms.accepted_by) <= parties
        # Settling is immediate: terms of the stage the dispute is in never stand accepted by every party.
        if state.stage in TERMS_STAGES and terms.stage == state.stage:
            assert not parties <= set(terms.accepted_by), f"terms {terms.terms_id} accepted by all, yet {state.stage}"
    if state.stage in (DisputeStage.APPEAL_WINDOW, DisputeStage.APPEAL):
        assert state.ruling is not None
    assert state.is_live == (state.closed_at is None)


def assert_dispute_event(state: DisputeState, event: Any, now: datetime) -> None:
    """What an event needs of the state it was decided on."""
    match event:
        case DisputeSettled():
            assert state.stage == event.stage and event.stage in TERMS_STAGES
            terms = state.terms[event.terms_id]
            assert terms.stage == event.stage and set(state.parties) <= set(terms.accepted_by)
        case PanelDecided():
            assert state.stage in (DisputeStage.PANEL, DisputeStage.PANEL_STALLED)
            behind = [p for p in state.panel if p in state.rulings and state.rulings[p].key == (event.ruling.value, event.terms)]
            assert len(behind) == event.votes and 2 * event.votes > len(state.panel), (state.panel, state.rulings, event)
        case RulingSubmitted():
            assert event.panelist in state.panel
        case PanelDrawn():
            assert not set(event.panelists) & set(state.parties) and state.mediator not in event.panelists
        case DisputeWithdrawn():
            assert event.by == state.raiser
        case AppealLodged():
            assert event.by in state.parties and state.stage == DisputeStage.APPEAL_WINDOW
            assert_appeal_panel(state, event)
        case _:
            pass


def assert_appeal_panel(state: DisputeState, lodged: AppealLodged) -> None:
    """An appeal panel (drawn when the workflow gives the appeal a seed) is an odd number of pinned members,
    no party, and no one who mediated or ruled on the dispute while some other member is left."""
    panel = set(lodged.appeal_panel)
    if lodged.seed is None:
        assert not panel
        return
    members, parties = set(state.context.members), set(state.parties)
    assert panel <= members and not panel & parties and len(panel) == len(lodged.appeal_panel)
    assert len(panel) <= state.context.procedure.panel_size and (len(panel) % 2 == 1 or not members - parties)
    involved = {*state.panel, *([state.mediator] if state.mediator else [])}
    if members - parties - involved:
        assert not panel & involved, f"{panel & involved} mediated or ruled, yet decide the appeal"


def assert_appeal_opens(state: DisputeState, now: datetime) -> None:
    """An appeal is decided by its panel (or, before appeal panels, by every member who is not a party),
    never by a party, and its decision opens."""
    opening = dispute.appeal_opening(state)
    assert not set(opening.context.electorate) & set(state.parties)
    assert not state.appeal_panel or opening.context.electorate == state.appeal_panel
    assert [type(e) for e in decision.decide(None, opening, now)] == [decision.DecisionOpened]


def assert_disputes_keep_their_procedure(turns: list[Turn]) -> None:
    """Every event and state of a played dispute against its pinned procedure."""
    for turn in turns:
        if turn.before is not None and not turn.before.is_live:
            assert not [e for e in turn.events if not isinstance(e, dispute.InterimMeasureEnded)], turn.events
        for state, event in turn.states_and_events(DISPUTE):
            if state is not None:
                assert_dispute_event(state, event, turn.now)
        if turn.after is not None:
            assert_seats(turn.after, pinned(turns))
            if turn.after.stage == DisputeStage.APPEAL:
                assert_appeal_opens(turn.after, turn.now)
            if turn.after.stage == DisputeStage.SETTLED:
                assert turn.after.outcome is not None and turn.after.outcome.startswith("settled on terms ")


@INVARIANTS
@given(dispute_steps())
def test_disputes_settle_rule_and_seat_people_only_as_the_procedure_allows(steps: list[Step]) -> None:
    turns = play_dispute(steps)
    with told(turns):
        assert_disputes_keep_their_procedure(turns)


# --- alliances ------------------------------------------------------------------------------------


def assert_alliance_keeps_its_members_straight(turns: list[Turn]) -> None:
    """An active coordinator always remains, a removed member never comes back, parked points keep their refs."""
    removed: set[str] = set()
    for turn in turns:
        state = turn.after
        if state is None:
            continue
        assert state.with_role(Role.COORDINATOR), "no active coordinator left"
        now_removed = {m for m, member in state.members.items() if member.status == MemberStatus.REMOVED}
        assert removed <= now_removed, f"{removed - now_removed} came back"
        removed = now_removed
        assert all(ref == point.ref for ref, point in state.parked.items())


@ALLIANCE_PROPERTY
@given(alliance_steps)
def test_an_alliance_keeps_an_active_coordinator_and_never_readmits_a_removed_member(steps: list[Step]) -> None:
    turns = play_alliance(steps)
    with told(turns):
        assert_alliance_keeps_its_members_straight(turns)


# --- 4. replay: the record folds to the same states -------------------------------------------------


def stored_and_read_back(process: Process, event: Any) -> Any:
    """The event as the store writes its data (canonical JSON, without its type) and reads it back, by
    both paths: straight into today's type, and through the upcasters."""
    data_json = canonical_json(event.model_dump(mode="json", exclude={"type"}))
    version = process.schema_version(event.type)
    straight = process.event_from_json(event.type, version, data_json)
    upcast = process.event(event.type, version, load_json(data_json))
    assert straight == upcast
    return straight


def assert_replays(process: Process, turns: list[Turn]) -> None:
    replayed: Any = None
    for turn in turns:
        for event in turn.events:
            read_back = stored_and_read_back(process, event)
            assert read_back == event, f"{event.type} does not survive the JSON round trip"
            replayed = process.evolve(replayed, read_back)
        assert replayed == turn.after, f"replaying the record does not give the state after {turn.asked!r}"
        if turn.after is not None:
            assert type(turn.after).model_validate_json(turn.after.model_dump_json()) == turn.after


@ALLIANCE_PROPERTY
@given(alliance_steps)
def test_alliance_records_replay_to_the_deciders_states(steps: list[Step]) -> None:
    turns = play_alliance(steps)
    with told(turns):
        assert_replays(ALLIANCE, turns)


@PROPERTY
@given(decision_steps)
def test_decision_records_replay_to_the_deciders_states(steps: list[Step]) -> None:
    turns = play_decision(steps)
    with told(turns):
        assert_replays(DECISION, turns)


@PROPERTY
@given(dispute_steps())
def test_dispute_records_replay_to_the_deciders_states(steps: list[Step]) -> None:
    turns = play_dispute(steps)
    with told(turns):
        assert_replays(DISPUTE, turns)
