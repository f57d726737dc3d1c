"""Disputes over the HTTP API: raise, negotiate, mediate, rule, appeal; read as the token's member may.

The actor of every command is the token's member. What a caller reads follows the dispute's
confidentiality: the full dispute for its parties, mediator, panelists and the coordinators; an outline
(id, alliance, stage) for the alliance's other members; and for everyone else, or for anyone but its
readers where the charter keeps a dispute's existence confidential, exactly the 404 of a dispute that
does not exist. A command refused to a member who may know of the dispute answers 403/409/422.
"""

from __future__ import annotations

import structlog
from fastapi import APIRouter, status
from pydantic import AwareDatetime

from accord.api import (
    ERRORS,
    AccordDep,
    Actor,
    Body,
    Caller,
    Reader,
    ReasonRequest,
)
from accord.app import Accord, DisputeView
from events.access import Outline
from events.access import TokenHolder as Identity
from events.dispute import (
    AcceptTerms,
    AssignMediator,
    ContributeToDraw,
    DeclareImpasse,
    DisputeCommand,
    ExtendPanel,
    LodgeAppeal,
    ObjectToMediator,
    ProposeTerms,
    RecordInterimMeasure,
    ReferToAssembly,
    RulingKind,
    Severity,
    SubmitRuling,
    WithdrawDispute,
)
from events.draws import Contribution
from events.rules import Slug, Text
from workflows.shapes import CommandResult

log = structlog.get_logger("accord.api")

DISPUTE_ERRORS = {
    **ERRORS,
    404: {"description": "no such dispute, or one the caller may not know of (the same answer)"},
}


class RaiseDisputeRequest(Body):
    dispute_id: Slug
    respondents: list[Slug]
    """Members of the alliance; never the raiser."""
    subject: Text
    description: Text
    severity: Severity = Severity.NORMAL
    """`crisis`: the charter's shorter windows, and coordinators and steering are told at once."""


class TermsRequest(Body):
    text: Text


class MediatorRequest(Body):
    mediator: str


class RulingRequest(Body):
    ruling: RulingKind
    terms: str | None = None
    """The terms imposed, for a ruling of `terms`."""
    reasons: Text


class ContributionRequest(Body):
    contribution: Contribution
    """32 random bytes of the party's own, as 64 lowercase hexadecimal characters (`openssl rand -hex 32`)."""


class InterimRequest(Body):
    what: Text
    until: AwareDatetime
    """With its offset (2026-05-01T18:00:00Z)."""


# --- routes under the alliance ------------------------------------------------------------------------

alliance_disputes = APIRouter(prefix="/alliances/{alliance_id}/disputes", tags=["disputes"], responses=DISPUTE_ERRORS)


@alliance_disputes.post(
    "", status_code=status.HTTP_201_CREATED,
    summary="Raise a dispute (active members); negotiation starts, the procedure and rosters are pinned now",
)
async def raise_dispute(body: RaiseDisputeRequest, actor: Actor, accord: AccordDep) -> CommandResult:
    result = await accord.raise_dispute(
        actor.alliance_id, actor.member_id, body.dispute_id, body.respondents, body.subject, body.description,
        body.severity.value,
    )
    log.info("dispute raised", alliance=actor.alliance_id, actor=actor.member_id, dispute=body.dispute_id)
    return result


@alliance_disputes.get("", summary="The alliance's disputes: in full where the caller may read them, else their stage")
async def disputes(alliance_id: str, reader: Reader, accord: AccordDep) -> list[DisputeView | Outline]:
    return await accord.disputes(alliance_id, reader)


# --- routes of one dispute ------------------------------------------------------------------------------

dispute_routes = APIRouter(prefix="/disputes/{dispute_id}", tags=["disputes"], responses=DISPUTE_ERRORS)


@dispute_routes.get("", summary="A dispute: in full for its parties, mediator, panelists and coordinators; else its stage")
async def dispute(dispute_id: str, reader: Reader, accord: AccordDep) -> DisputeView | Outline:
    return await accord.dispute(dispute_id, reader)


async def _act(accord: Accord, caller: Identity, dispute_id: str, command: DisputeCommand) -> CommandResult:
    result = await accord.dispute_command(dispute_id, command, alliance_id=caller.alliance_id)
    log.info("command recorded", dispute=dispute_id, actor=caller.member_id, command=command.type)
    return result


@dispute_routes.post("/terms", summary="Propose terms (a party, or the mediator in mediation); a party's own count as accepted")
async def propose_terms(dispute_id: str, body: TermsRequest, caller: Caller, accord: AccordDep) -> CommandResult:
    return await _act(accord, caller, dispute_id, ProposeTerms(actor=caller.member_id, text=body.text))


@dispute_routes.post("/terms/{terms_id}/accept", summary="Accept terms (a party); all parties accepting settles the dispute")
async def accept_terms(dispute_id: str, terms_id: str, caller: Caller, accord: AccordDep) -> CommandResult:
    return await _act(accord, caller, dispute_id, AcceptTerms(actor=caller.member_id, terms_id=terms_id))


@dispute_routes.post("/mediator/objection", summary="Object to the mediator (each party once): another one is drawn")
async def object_to_mediator(dispute_id: str, body: ReasonRequest, caller: Caller, accord: AccordDep) -> CommandResult:
    return await _act(accord, caller, dispute_id, ObjectToMediator(actor=caller.member_id, reason=body.reason))


@dispute_routes.put("/mediator", summary="Assign a mediator from the roster (coordinators); never a party")
async def assign_mediator(dispute_id: str, body: MediatorRequest, caller: Caller, accord: AccordDep) -> CommandResult:
    return await _act(accord, caller, dispute_id, AssignMediator(actor=caller.member_id, mediator=body.mediator))


@dispute_routes.post("/impasse", summary="Declare an impasse (the mediator): a panel is drawn")
async def declare_impasse(dispute_id: str, caller: Caller, accord: AccordDep) -> CommandResult:
    return await _act(accord, caller, dispute_id, DeclareImpasse(actor=caller.member_id))


@dispute_routes.post("/rulings", summary="Submit a ruling (a panelist); a majority of the panel decides")
async def submit_ruling(dispute_id: str, body: RulingRequest, caller: Caller, accord: AccordDep) -> CommandResult:
    return await _act(accord, caller, dispute_id, SubmitRuling(actor=caller.member_id, **dict(body)))


@dispute_routes.post("/panel/extend", summary="Give a panel without a majority one more window (coordinators, steering)")
async def extend_panel(dispute_id: str, caller: Caller, accord: AccordDep) -> CommandResult:
    return await _act(accord, caller, dispute_id, ExtendPanel(actor=caller.member_id))


@dispute_routes.post("/refer", summary="Refer a dispute whose panel stalled to the assembly (coordinators, steering)")
async def refer(dispute_id: str, body: ReasonRequest, caller: Caller, accord: AccordDep) -> CommandResult:
    return await _act(accord, caller, dispute_id, ReferToAssembly(actor=caller.member_id, reason=body.reason))


@dispute_routes.post("/appeal", summary="Appeal the panel's ruling (a party, within the appeal window)")
async def appeal(dispute_id: str, body: ReasonRequest, caller: Caller, accord: AccordDep) -> CommandResult:
    return await _act(accord, caller, dispute_id, LodgeAppeal(actor=caller.member_id, reason=body.reason))


@dispute_routes.post(
    "/draw/contributions",
    summary="Contribute to the open draw (a party): its seed then depends on your bytes too; made once every party has",
)
async def contribute(dispute_id: str, body: ContributionRequest, caller: Caller, accord: AccordDep) -> CommandResult:
    return await _act(accord, caller, dispute_id, ContributeToDraw(actor=caller.member_id, contribution=body.contribution))


@dispute_routes.post("/withdraw", summary="Withdraw the dispute (the member who raised it)")
async def withdraw(dispute_id: str, body: ReasonRequest, caller: Caller, accord: AccordDep) -> CommandResult:
    return await _act(accord, caller, dispute_id, WithdrawDispute(actor=caller.member_id, reason=body.reason))


@dispute_routes.post("/interim", summary="Record an interim measure in a crisis (coordinators); it ends by itself")
async def interim(dispute_id: str, body: InterimRequest, caller: Caller, accord: AccordDep) -> CommandResult:
    command = RecordInterimMeasure(actor=caller.member_id, what=body.what, until=body.until)
    return await _act(accord, caller, dispute_id, command)


routers = (alliance_disputes, dispute_routes)
