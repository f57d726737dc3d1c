"""The costs ledger as the CLI offers it: record, correct, rates, responsibilities, and the report.

A command is sent to the alliance's ledger (`ledger-<alliance>.costs`) with the alliance as it is now
filled in (its active members, its coordinators, its reporting currency), so that the ledger's decider
stays pure; the first command starts the ledger's workflow. Reading the ledger is for whoever may read
the alliance's record (its members, its auditors).
"""

from __future__ import annotations

from datetime import date, datetime

from accord.app import Accord
from events import access, ledger
from events.access import Caller
from events.alliance import AllianceState, Role
from events.ledger import LedgerCommand, LedgerContext, LedgerState, Report
from events.processes import ALLIANCE, LEDGER, LEDGER_ID
from events.projector import row_of
from events.rules import RefusalKind, Refused
from events.text import clean_command
from workflows.shapes import CommandResult, LedgerRun

__all__ = ["command", "context_of", "read", "report"]


def context_of(alliance: AllianceState) -> LedgerContext:
    return LedgerContext(
        members=sorted(m.member_id for m in alliance.active_members()),
        coordinators=alliance.with_role(Role.COORDINATOR),
        reporting=alliance.charter.costs.currency,
    )


async def command(app: Accord, alliance_id: str, command_: LedgerCommand, *, command_id: str | None = None) -> CommandResult:
    """Send a command to the alliance's ledger; the first one opens it."""
    access.not_an_auditor(Caller(member_id=command_.actor))
    state = await app.alliance(alliance_id)
    sent = clean_command(command_.model_copy(update={"context": context_of(state)}))
    stream = LEDGER.stream_name(LEDGER_ID, alliance_id)
    if (await app.store.head(stream)).version == 0:
        ledger.decide(None, sent, datetime.now().astimezone(), alliance_id)  # refuse bad input before starting anything
        try:
            return await app.start_process(LEDGER, LedgerRun(alliance_id=alliance_id), LEDGER_ID, sent, alliance_id=alliance_id)
        except Refused as refusal:
            if refusal.kind != RefusalKind.CONFLICT:
                raise
            # another command opened it meanwhile: this one goes to the ledger it opened
    return await app.process_command(stream, sent, command_id)


async def read(app: Accord, alliance_id: str, reader: Caller | None) -> LedgerState:
    """The alliance's ledger as its read model holds it (an empty one before the first entry)."""
    await app.readable_record(ALLIANCE.stream_name(alliance_id), reader)
    row = await row_of(app.pool, LEDGER.listing, f"{alliance_id}.{LEDGER_ID}")
    return row.row if row is not None else LedgerState(alliance_id=alliance_id)


async def report(app: Accord, alliance_id: str, reader: Caller | None, start: date, end: date) -> Report:
    """The ledger from `start` to `end` against the charter's shares, for the alliance's active members."""
    state = await read(app, alliance_id, reader)
    alliance = await app.alliance(alliance_id)
    return ledger.report(state, alliance.charter.costs, context_of(alliance).members, start, end)
