"""The costs ledger over the HTTP API: the same commands and reads as `accord costs` and `accord
responsibility`, with the same access policy (accord/costs.py): the token's member acts (for itself, or
for anyone when a coordinator); whoever may read the alliance's record (its members, its auditors) reads
the ledger, its rates, its report and its register."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import Field

from accord import costs
from accord.api import ERRORS, AccordDep, Actor, Body, Reader
from events import access
from events.currency import Currency
from events.ledger import (
    CorrectEntry,
    EntryKind,
    HandOver,
    InKind,
    LedgerState,
    RecordEntry,
    RecordRate,
    Release,
    Report,
    Responsibility,
    TakeResponsibility,
)
from events.rules import Slug, Text
from workflows.shapes import CommandResult


class EntryRequest(Body):
    kind: EntryKind
    member_id: Slug | None = None
    """Who carried it (default: the token's member; a coordinator may name anyone)."""
    on: date
    amount: str | None = Field(default=None, max_length=40)
    """In major units, as text ("12.50"): money, in kind, expenses."""
    currency: Currency | None = None
    hours: Decimal | None = Field(default=None, gt=0, le=10_000)
    category: InKind | None = None
    description: Text


class CorrectionRequest(Body):
    reason: Text


class RateRequest(Body):
    currency: Currency
    rate: Decimal = Field(gt=0, le=Decimal(10) ** 9)
    on: date
    source: Text


class TakeRequest(Body):
    responsibility_id: Slug
    what: Text
    owner: Slug | None = None
    start: date
    review: date


class ProposalRequest(Body):
    decision_id: Slug
    start: date
    """The first day of the report the proposal acts on."""
    end: date
    points: list[Text] = Field(default=[], max_length=20)
    """What to decide (default: one point to rebalance)."""


class HandOverRequest(Body):
    to: Slug


ledger_routes = APIRouter(prefix="/alliances/{alliance_id}", tags=["costs"], responses=ERRORS)


@ledger_routes.post(
    "/costs/entries", status_code=status.HTTP_201_CREATED, summary="Record a contribution (for oneself; a coordinator for anyone)"
)
async def record(alliance_id: str, body: EntryRequest, actor: Actor, accord: AccordDep) -> CommandResult:
    fields = body.model_dump(exclude={"member_id"})
    command = RecordEntry(actor=actor.member_id, member_id=body.member_id or actor.member_id, **fields)
    return await costs.command(accord, alliance_id, command)


@ledger_routes.post("/costs/entries/{entry_id}/correction", summary="Reverse an entry, with a reason (its member, or a coordinator)")
async def correct(alliance_id: str, entry_id: str, body: CorrectionRequest, actor: Actor, accord: AccordDep) -> CommandResult:
    return await costs.command(accord, alliance_id, CorrectEntry(actor=actor.member_id, entry_id=entry_id, reason=body.reason))


class DisputeEntryRequest(Body):
    dispute_id: Slug
    reason: Text


@ledger_routes.post(
    "/costs/entries/{entry_id}/disputes", status_code=status.HTTP_201_CREATED,
    summary="Dispute an entry (any member but the one it is for): a dispute is raised with that member",
)
async def dispute_entry(alliance_id: str, entry_id: str, body: DisputeEntryRequest, actor: Actor, accord: AccordDep) -> CommandResult:
    return await costs.dispute_entry(accord, alliance_id, actor.member_id, entry_id, body.dispute_id, body.reason)


@ledger_routes.post(
    "/costs/rates", status_code=status.HTTP_201_CREATED, summary="Record an exchange rate to the reporting currency (coordinators)"
)
async def record_rate(alliance_id: str, body: RateRequest, actor: Actor, accord: AccordDep) -> CommandResult:
    return await costs.command(accord, alliance_id, RecordRate(actor=actor.member_id, **body.model_dump()))


@ledger_routes.post(
    "/costs/proposals", status_code=status.HTTP_201_CREATED,
    summary="Open a decision on a flagged imbalance, the report attached (a coordinator, or a member flagged as carrying more)",
)
async def propose(alliance_id: str, body: ProposalRequest, actor: Actor, accord: AccordDep) -> CommandResult:
    return await costs.propose_rebalance(accord, alliance_id, actor.member_id, body.start, body.end, body.decision_id, body.points)


@ledger_routes.get("/costs", summary="The ledger: its entries (reversed ones marked), rates and responsibilities")
async def ledger(alliance_id: str, reader: Reader, accord: AccordDep) -> LedgerState:
    access.speaks_for(reader, alliance_id, f"alliance {alliance_id!r}")
    return await costs.read(accord, alliance_id, reader)


@ledger_routes.get(
    "/costs/report", summary="Each member's contributions over a period against its agreed share, flagged beyond the tolerance"
)
async def report(
    alliance_id: str, reader: Reader, accord: AccordDep,
    start: Annotated[date, Query(alias="from", description="the first day, YYYY-MM-DD")],
    end: Annotated[date, Query(alias="to", description="the last day, YYYY-MM-DD")],
) -> Report:
    access.speaks_for(reader, alliance_id, f"alliance {alliance_id!r}")
    return await costs.report(accord, alliance_id, reader, start, end)


@ledger_routes.post(
    "/responsibilities", status_code=status.HTTP_201_CREATED, summary="Take on a responsibility (for oneself; a coordinator for anyone)"
)
async def take(alliance_id: str, body: TakeRequest, actor: Actor, accord: AccordDep) -> CommandResult:
    fields = body.model_dump(exclude={"owner"})
    command = TakeResponsibility(actor=actor.member_id, owner=body.owner or actor.member_id, **fields)
    return await costs.command(accord, alliance_id, command)


@ledger_routes.post("/responsibilities/{responsibility_id}/hand-over", summary="Hand a responsibility over (its holder, or a coordinator)")
async def hand_over(alliance_id: str, responsibility_id: str, body: HandOverRequest, actor: Actor, accord: AccordDep) -> CommandResult:
    return await costs.command(accord, alliance_id, HandOver(actor=actor.member_id, responsibility_id=responsibility_id, to=body.to))


@ledger_routes.post("/responsibilities/{responsibility_id}/release", summary="Release a responsibility (its holder, or a coordinator)")
async def release(alliance_id: str, responsibility_id: str, body: CorrectionRequest, actor: Actor, accord: AccordDep) -> CommandResult:
    return await costs.command(accord, alliance_id, Release(actor=actor.member_id, responsibility_id=responsibility_id, reason=body.reason))


@ledger_routes.get("/responsibilities", summary="The register: who holds what, until which review")
async def responsibilities(alliance_id: str, reader: Reader, accord: AccordDep) -> list[Responsibility]:
    access.speaks_for(reader, alliance_id, f"alliance {alliance_id!r}")
    state = await costs.read(accord, alliance_id, reader)
    return [r for r in state.responsibilities.values() if not r.released]


routers = (ledger_routes,)
