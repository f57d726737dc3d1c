"""Processes of every kind, driven the way an alliance's members drive them, with every call's outcome kept.

One alliance of eight members runs decisions that everyone answers, decisions that are amended, decisions
that stall and escalate by themselves, stalls a coordinator closes or extends, and disputes settled in
negotiation, in mediation and by a panel, their mediators and panels drawn openly (the parties contributing, or
the draw closing by itself). Each scenario acts on what the process shows (so faults that
delay it change the path, not the verdict) and states what must hold when it ends. The ledger records
every command: its id (the Update's id, which is the `causation_id` of the events it records) and whether
the caller got receipts, a refusal, a failure, or an unknown outcome.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from accord.app import Accord, DisputeView
from events.alliance import AdmitMember, FoundAlliance, Role
from events.charter import Charter, load_charter
from events.decision import (
    AmendPoint,
    ApplyFallback,
    CloseDecision,
    DecisionState,
    ExtendDeadline,
    StanceKind,
    TakeStance,
)
from events.dispute import AcceptTerms, ContributeToDraw, DeclareImpasse, DisputeState, ProposeTerms, RulingKind, SubmitRuling
from events.errors import Unavailable
from events.processes import DECISION, DISPUTE
from events.rules import Refused
from events.store import Receipt
from faults.servers import ROOT

SECOND = timedelta(seconds=1)
COORDINATOR, STEERING = "gw", "amber"
ROLES = {
    "amber": [Role.STEERING], "birch": [Role.MEDIATOR], "fern": [Role.MEDIATOR],
    "cedar": [Role.MEMBER], "dune": [Role.MEMBER], "elm": [Role.MEMBER], "hazel": [Role.MEMBER],
}
MEMBERS = sorted([COORDINATOR, *ROLES])
PARTIES = ["cedar", "dune", "elm", "hazel"]


def fault_charter() -> Charter:
    """The example charter with windows of seconds, long enough that a fault's delay rarely changes a path."""
    charter = load_charter(ROOT / "accord" / "examples" / "charter.toml")
    rules = charter.decisions.model_copy(update={
        "response_window": 60 * SECOND, "min_response_window": SECOND, "reminder_lead": 15 * SECOND,
        "escalation_window": 30 * SECOND, "extension": 30 * SECOND,
    })
    disputes = charter.disputes.model_copy(update={
        "negotiation_window": 45 * SECOND, "mediation_window": 60 * SECOND, "panel_window": 60 * SECOND,
        "appeal_window": 10 * SECOND, "reminder_lead": 5 * SECOND, "draws": "open", "draw_window": 20 * SECOND,
        "crisis": charter.disputes.crisis.model_copy(update={
            "negotiation_window": 20 * SECOND, "mediation_window": 30 * SECOND, "panel_window": 30 * SECOND,
            "appeal_window": 5 * SECOND, "draw_window": 10 * SECOND,
        }),
    })
    return charter.model_copy(update={"decisions": rules, "disputes": disputes})


@dataclass
class Call:
    stream_id: str
    command_id: str
    what: str
    outcome: str = "pending"
    """ok (receipts), refused, failed (nothing recorded), unknown (Temporal did not confirm in time)."""
    receipts: list[Receipt] = field(default_factory=list)
    error: str | None = None


@dataclass
class Ledger:
    app: Accord
    rng: random.Random
    calls: list[Call] = field(default_factory=list)

    async def send(self, stream_id: str, what: str, call: Callable[[str], Awaitable[Any]]) -> bool:
        """Send one command under an id of the ledger's; True when it was recorded."""
        record = Call(stream_id=stream_id, command_id=str(uuid.uuid4()), what=what)
        self.calls.append(record)
        try:
            result = await call(record.command_id)
        except Refused as error:
            record.outcome, record.error = "refused", error.message
            return False
        except Unavailable as error:
            record.outcome, record.error = ("unknown" if error.outcome_unknown else "failed"), error.message
            return False
        record.outcome, record.receipts = "ok", list(result.receipts)
        return True

    async def pause(self, longest: float = 2.0) -> None:
        await asyncio.sleep(self.rng.uniform(0, longest))


# --- decisions ------------------------------------------------------------------------------------------


async def decision_state(app: Accord, decision_id: str) -> DecisionState:
    return (await app.decision(decision_id)).state


async def until_decision(app: Accord, decision_id: str, done: Callable[[DecisionState], bool], timeout: float) -> DecisionState:
    """Poll a decision (through the workflow's query, which is retried while Temporal restarts)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            state = await decision_state(app, decision_id)
            if done(state):
                return state
        except Exception:  # noqa: BLE001 - Temporal or the worker may be down for a moment
            pass
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"decision {decision_id} did not get there within {timeout:.0f} s")
        await asyncio.sleep(0.5)


@dataclass
class Scenario:
    kind: str
    stream_id: str
    verdict: Callable[[Any], str | None]
    """The end state -> None when it is what the scenario expects, or what is wrong."""


async def stances(ledger: Ledger, alliance_id: str, decision_id: str, members: list[str], points: list[str]) -> bool:
    """True when every stance was recorded."""
    async def one(member: str, point: str) -> bool:
        await ledger.pause()
        command = TakeStance(actor=member, point_id=point, stance=StanceKind.AGREE)
        return await ledger.send(DECISION.stream_name(decision_id, alliance_id), f"stance {member} {point}",
                                 lambda cid: ledger.app.decision_command(decision_id, command, command_id=cid))

    return all(await asyncio.gather(*(one(m, p) for m in members for p in points)))


async def opening(start: Callable[[], Awaitable[Any]], timeout: float = 120) -> None:
    """Open a process as an operator's script would while things fail: try again until it answers,
    taking "already exists" as the earlier try's success."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            await start()
            return
        except Refused as error:
            if "already exists" in error.message:
                return
            raise
        except Unavailable:
            if asyncio.get_running_loop().time() > deadline:
                raise
        await asyncio.sleep(1)


async def open_decision(ledger: Ledger, alliance_id: str, decision_id: str, window: str | None = None) -> None:
    proposer = ledger.rng.choice(MEMBERS)
    await opening(lambda: ledger.app.open_decision(
        alliance_id, proposer, decision_id, f"Proposal {decision_id}", [{"text": "March together"}, {"text": "Share the costs"}],
        response_window=window,
    ))


def closed_as(*outcomes: str, how: tuple[str, ...] = ()) -> Callable[[DecisionState], str | None]:
    def verdict(state: DecisionState) -> str | None:
        if state.stage != "closed":
            return f"stage {state.stage}, expected closed"
        if state.outcome not in outcomes:
            return f"outcome {state.outcome}, expected one of {outcomes}"
        if how and state.closed_how not in how:
            return f"closed {state.closed_how}, expected one of {how}"
        return None

    return verdict


async def everyone_agrees(ledger: Ledger, alliance_id: str, decision_id: str) -> Scenario:
    await open_decision(ledger, alliance_id, decision_id)
    await stances(ledger, alliance_id, decision_id, MEMBERS, ["p1", "p2"])
    return Scenario("agreed", DECISION.stream_name(decision_id, alliance_id), closed_as("adopted"))


async def amended(ledger: Ledger, alliance_id: str, decision_id: str) -> Scenario:
    await open_decision(ledger, alliance_id, decision_id)
    await stances(ledger, alliance_id, decision_id, MEMBERS[:3], ["p1"])
    proposer = (await until_decision(ledger.app, decision_id, lambda s: True, 120)).proposer
    amend = AmendPoint(actor=proposer, point_id="p1", text="March together, on a Sunday")
    await ledger.send(DECISION.stream_name(decision_id, alliance_id), "amend p1",
                      lambda cid: ledger.app.decision_command(decision_id, amend, command_id=cid))
    await stances(ledger, alliance_id, decision_id, MEMBERS, ["p1", "p2"])

    def verdict(state: DecisionState) -> str | None:
        if state.points["p1"].text != amend.text:
            return f"p1 reads {state.points['p1'].text!r}, not the amendment"
        return closed_as("adopted")(state)

    return Scenario("amended", DECISION.stream_name(decision_id, alliance_id), verdict)


async def stalls_and_escalates(ledger: Ledger, alliance_id: str, decision_id: str) -> Scenario:
    await open_decision(ledger, alliance_id, decision_id, "20s")
    await stances(ledger, alliance_id, decision_id, MEMBERS[:2], ["p1"])
    return Scenario("escalated", DECISION.stream_name(decision_id, alliance_id), closed_as(
        "adopted", "partially_adopted", "not_adopted", how=("automatic",)))


async def coordinator_acts_on_stall(ledger: Ledger, alliance_id: str, decision_id: str, action: str) -> Scenario:
    """A stall that the coordinator closes, settles by the fallback rule, or extends (and then all answer)."""
    await open_decision(ledger, alliance_id, decision_id, "20s")
    await stances(ledger, alliance_id, decision_id, MEMBERS[:2], ["p1"])
    await until_decision(ledger.app, decision_id, lambda s: s.stage != "open", 120)
    command = {"close": CloseDecision, "fallback": ApplyFallback, "extend": ExtendDeadline}[action](actor=COORDINATOR)
    acted = await ledger.send(DECISION.stream_name(decision_id, alliance_id), action,
                              lambda cid: ledger.app.decision_command(decision_id, command, command_id=cid))
    expected = {"close": ("coordinator",), "fallback": ("fallback",), "extend": ("all_responded", "deadline")}[action]
    if action == "extend" and acted and not await stances(ledger, alliance_id, decision_id, MEMBERS, ["p1", "p2"]):
        expected += ("automatic",)  # a stance failed while the store was down: the extended decision may stall again
    verdict = closed_as("adopted", "partially_adopted", "not_adopted", "lapsed", how=expected if acted else ("automatic",))
    return Scenario(f"stall-{action}", DECISION.stream_name(decision_id, alliance_id), verdict)


# --- disputes -------------------------------------------------------------------------------------------


async def dispute_state(app: Accord, dispute_id: str) -> DisputeState:
    view = await app.dispute(dispute_id, None)
    assert isinstance(view, DisputeView)
    return view.state


async def drive_dispute(ledger: Ledger, alliance_id: str, dispute_id: str, path: str, timeout: float = 400) -> Scenario:
    """Raise a dispute and act in it as its people would, until it ends: `negotiation` settles there,
    `mediation` lets negotiation run out and settles with the drawn mediator, `panel` has the mediator
    declare an impasse and the panel rule."""
    app, stream = ledger.app, DISPUTE.stream_name(dispute_id, alliance_id)
    raiser, respondent = ledger.rng.sample(PARTIES, 2)
    await opening(lambda: app.raise_dispute(alliance_id, raiser, dispute_id, [respondent], f"Dispute {dispute_id}", "A disagreement"))

    async def send(what: str, command: Any) -> bool:
        await ledger.pause(1.0)
        return await ledger.send(stream, what, lambda cid: app.dispute_command(dispute_id, command, command_id=cid))

    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        try:
            state = await dispute_state(app, dispute_id)
        except Exception:  # noqa: BLE001 - Temporal or the worker may be down for a moment
            await asyncio.sleep(0.5)
            continue
        if not state.is_live:
            break
        stage = state.stage
        open_terms = [t for t in state.terms.values() if t.stage == stage]
        if stage == "negotiation" and path == "negotiation":
            if not open_terms:
                await send("propose", ProposeTerms(actor=raiser, text="An apology"))
            elif respondent not in open_terms[-1].accepted_by:
                await send("accept", AcceptTerms(actor=respondent, terms_id=open_terms[-1].terms_id))
        elif stage == "mediation" and state.mediator and path in ("negotiation", "mediation"):
            if not open_terms:
                await send("mediator proposes", ProposeTerms(actor=state.mediator, text="A joint statement"))
            else:
                for party in (raiser, respondent):
                    if party not in open_terms[-1].accepted_by:
                        await send(f"{party} accepts", AcceptTerms(actor=party, terms_id=open_terms[-1].terms_id))
        elif stage == "drawing" and state.draw is not None:
            # The raiser always adds its bytes, the respondent only sometimes: the draw is made at once or when it closes.
            for party in (raiser, *([respondent] if ledger.rng.random() < 0.5 else [])):
                if party not in state.draw.contributions:
                    await send(f"{party} contributes", ContributeToDraw(actor=party, contribution=ledger.rng.randbytes(32).hex()))
        elif stage == "mediation" and state.mediator and path == "panel":
            await send("impasse", DeclareImpasse(actor=state.mediator))
        elif stage in ("panel", "panel_stalled"):
            for panelist in state.panel:
                if panelist not in state.rulings:
                    ruling = SubmitRuling(actor=panelist, ruling=RulingKind.UPHOLD, reasons="The complaint holds")
                    if await send(f"{panelist} rules", ruling):
                        break
        await asyncio.sleep(0.5)

    def verdict(state: DisputeState) -> str | None:
        if path == "panel":
            return None if state.stage == "final" and state.ruling and state.ruling.ruling == "uphold" else (
                f"stage {state.stage}, ruling {state.ruling}: expected a final ruling to uphold")
        if state.stage != "settled":
            return f"stage {state.stage}, expected settled"
        return None

    return Scenario(f"dispute-{path}", stream, verdict)


# --- the whole run ----------------------------------------------------------------------------------------


async def found(app: Accord, alliance_id: str) -> None:
    await app.found_alliance(
        FoundAlliance(alliance_id=alliance_id, charter=fault_charter(), founder_id=COORDINATOR, founder_name="GreenWatch")
    )
    for member, roles in ROLES.items():
        await app.alliance_command(alliance_id, AdmitMember(actor=COORDINATOR, member_id=member, name=member.title(), roles=roles))


MIX: list[tuple[str, int]] = [
    ("agreed", 6), ("amended", 4), ("escalated", 4), ("stall-close", 2), ("stall-fallback", 2), ("stall-extend", 2),
    ("dispute-negotiation", 5), ("dispute-mediation", 5), ("dispute-panel", 4),
]
"""34 processes of every kind, as the issue's operator ran them."""


def launch(ledger: Ledger, alliance_id: str, kind: str, n: int) -> Awaitable[Scenario]:
    name = f"{alliance_id}-{kind}-{n}"
    match kind:
        case "agreed":
            return everyone_agrees(ledger, alliance_id, name)
        case "amended":
            return amended(ledger, alliance_id, name)
        case "escalated":
            return stalls_and_escalates(ledger, alliance_id, name)
        case "stall-close" | "stall-fallback" | "stall-extend":
            return coordinator_acts_on_stall(ledger, alliance_id, name, kind.removeprefix("stall-"))
        case _:
            return drive_dispute(ledger, alliance_id, name, kind.removeprefix("dispute-"))
