"""The costs ledger as the CLI offers it: record, correct, rates, responsibilities, and the report.

A command is sent to the alliance's ledger (`ledger-<alliance>.costs`) with the alliance as it is now
filled in (its active members, its coordinators, its reporting currency), so that the ledger's decider
stays pure; the first command starts the ledger's workflow. Reading the ledger is for whoever may read
the alliance's record (its members, its auditors).
"""

from __future__ import annotations

from datetime import date, datetime

import jinja2

from accord.app import Accord
from events import access, ledger
from events.access import Caller
from events.alliance import AllianceState, Role
from events.currency import to_major
from events.decision import PointDraft
from events.ledger import LedgerCommand, LedgerContext, LedgerState, MarkDisputed, Report
from events.processes import ALLIANCE, LEDGER, LEDGER_ID
from events.projector import row_of
from events.rules import RefusalKind, Refused, conflict, forbidden
from events.text import clean_command
from workflows.shapes import CommandResult, LedgerRun

__all__ = ["chart_svg", "command", "context_of", "dispute_entry", "propose_rebalance", "read", "report", "report_text"]


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


async def dispute_entry(app: Accord, alliance_id: str, actor: str, entry_id: str, dispute_id: str, reason: str) -> CommandResult:
    """Raise a dispute on an entry, through the alliance's dispute ladder, with the member whose entry it is
    (any member but that one), and mark the entry with it."""
    entry = ledger.disputable(await read(app, alliance_id, None), actor, entry_id)
    carried = f"{to_major(entry.amount, entry.currency)} {entry.currency}" if entry.currency else f"{entry.hours} hours"
    what = f"{entry.kind.value}, {carried}, on {entry.on}: {entry.description}"
    description = f"{reason}\n\nEntry {entry.entry_id} of the costs ledger: {what}"
    raised = await app.raise_dispute(
        alliance_id, actor, dispute_id, [entry.member_id], f"Costs ledger entry {entry.entry_id}", description
    )
    await command(app, alliance_id, MarkDisputed(actor=actor, entry_id=entry_id, dispute_id=dispute_id))
    return raised


REBALANCE = "Rebalance: the members who carried less than their agreed share cover the alliance's next costs until the shares are met"
"""The one point of a rebalancing proposal when its proposer names none."""


async def propose_rebalance(
    app: Accord, alliance_id: str, actor: str, start: date, end: date, decision_id: str, points: list[str]
) -> CommandResult:
    """Open a decision of the alliance on a flagged imbalance, with the period's report in its body: by a
    coordinator, or by a member the report flags as carrying more than its agreed share."""
    got = await report(app, alliance_id, Caller.named(actor), start, end)
    alliance = await app.alliance(alliance_id)
    flagged = [line for line in got.members if line.flagged]
    if not flagged:
        raise conflict(f"the report from {start} to {end} flags no member beyond the tolerance ({got.tolerance}): nothing to rebalance")
    carrying = [line.member_id for line in flagged if line.difference > 0]
    if actor not in alliance.with_role(Role.COORDINATOR) and actor not in carrying:
        raise forbidden(
            "only a coordinator, or a member the report flags as carrying more than its agreed share "
            f"({', '.join(carrying) or 'none'}), may propose a rebalance"
        )
    body = f"The costs report this proposal acts on, as recorded:\n\n{report_text(got)}"
    drafts = [PointDraft(text=text) for text in points or [REBALANCE]]
    return await app.open_decision(alliance_id, actor, decision_id, f"Rebalance the costs of {start} to {end}", drafts, body=body)


def report_text(got: Report) -> str:
    lines = [
        f"costs of {got.alliance_id} from {got.start} to {got.end}, in {got.currency}: total {got.total}",
        f"{'member':20} {'money':>10} {'hours':>10} {'in kind':>10} {'expenses':>10} {'total':>10} {'share':>7} {'agreed':>7} {'diff':>8}",
    ]
    for line in got.members:
        k = line.by_kind
        lines.append(
            f"{line.member_id:20} {k['money']:>10} {k['hours']:>10} {k['in_kind']:>10} {k['expense']:>10} {line.total:>10} "
            f"{line.share:>7} {line.agreed:>7} {line.difference:>+8}" + ("  FLAGGED: beyond the tolerance" if line.flagged else "")
        )
    carried = ", ".join(f"{amount} {currency}" for currency, amount in got.by_currency.items())
    lines.append(f"carried: {carried or 'nothing'}; {got.hours} staff hours; tolerance {got.tolerance}")
    lines += [f"rate used: 1 {r.currency} = {r.rate} {got.currency} from {r.on} ({r.source})" for r in got.rates]
    return "\n".join(lines)


BAR, GAP, LEFT, SCALE = 12, 14, 140, 300
"""The chart's geometry, in pixels: a bar's height, the space between members, the room for names, a share of 1."""


def chart_svg(got: Report) -> str:
    """The report as an accessible SVG chart (a title, a description, labels, and the numbers in a table
    beside the bars): for each member, its agreed share above the share it carried, flagged ones marked."""
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("accord", "templates"), autoescape=True, undefined=jinja2.StrictUndefined
    )
    rows = [
        {"line": line, "y": 40 + index * (2 * BAR + GAP), "agreed_width": float(line.agreed) * SCALE,
         "actual_width": float(line.share) * SCALE}
        for index, line in enumerate(got.members)
    ]
    height = max(40 + len(rows) * (2 * BAR + GAP), 40 + 20 * (len(rows) + 2)) + 20
    return environment.get_template("costs_chart.svg.j2").render(
        report=got, rows=rows, bar=BAR, left=LEFT, table_x=LEFT + SCALE + 40, width=LEFT + SCALE + 420, height=height
    )
