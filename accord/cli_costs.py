"""`accord costs ...` and `accord responsibility ...`: the alliance's costs ledger from the command line.

A member records its own contributions (money, staff hours, in kind, expenses paid for the alliance);
a coordinator records for anyone and records exchange rates. A correction reverses an entry, with a
reason. The report sets each member's contributions against the shares the charter agreed, and flags a
difference beyond its tolerance. Every command acts for `--as` (or ACCORD_AS) and takes `--json`.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import click

from accord.cli_common import EnumChoice, actor_option, command, reader_option
from accord.render import Output

if TYPE_CHECKING:
    from accord.app import Accord
    from events.access import Caller
    from events.ledger import LedgerState

DAY = click.DateTime(formats=["%Y-%m-%d"])


@click.group()
def costs() -> None:
    """The costs ledger: who carried what for the alliance, against the shares it agreed."""


@click.group()
def responsibility() -> None:
    """The register of responsibilities: who has taken on what, until which review."""


@command(costs, "record")
@click.argument("alliance_id")
@click.argument("kind", type=EnumChoice("events.ledger", "EntryKind"))
@click.option("--for", "member_id", default=None, metavar="MEMBER", help="Who carried it (default: --as; a coordinator may name anyone).")
@click.option("--amount", default=None, help="In major units, such as 12.50 (money, in kind, expenses).")
@click.option("--currency", default=None, help="ISO 4217, such as EUR.")
@click.option("--hours", type=Decimal, default=None, help="Staff hours (hours).")
@click.option("--category", type=EnumChoice("events.ledger", "InKind"), default=None, help="What was given in kind.")
@click.option("--on", "on", type=DAY, default=None, help="When it was carried, YYYY-MM-DD (default: today).")
@click.option("--description", required=True)
@actor_option
async def record(
    app: Accord, alliance_id: str, kind: str, member_id: str | None, amount: str | None, currency: str | None,
    hours: Decimal | None, category: str | None, on: datetime | None, description: str, actor: str,
) -> Output:
    """Record a contribution: money, hours, in_kind (with --category) or an expense paid for the alliance."""
    from accord import costs as ledger_app
    from events.ledger import RecordEntry
    from events.rules import build

    day = on.date() if on is not None else date.today()
    entry = build(
        RecordEntry, actor=actor, kind=kind, member_id=member_id or actor, amount=amount, currency=currency, hours=hours,
        category=category, on=day, description=description,
    )
    result = await ledger_app.command(app, alliance_id, entry)
    return Output.result(result, f"recorded {kind} for {member_id or actor} on {day}")


@command(costs, "correct")
@click.argument("alliance_id")
@click.argument("entry_id")
@click.option("--reason", required=True)
@actor_option
async def correct(app: Accord, alliance_id: str, entry_id: str, reason: str, actor: str) -> Output:
    """Reverse an entry (its member, or a coordinator), with a reason; record the right one anew."""
    from accord import costs as ledger_app
    from events.ledger import CorrectEntry
    from events.rules import build

    result = await ledger_app.command(app, alliance_id, build(CorrectEntry, actor=actor, entry_id=entry_id, reason=reason))
    return Output.result(result, f"reversed entry {entry_id}")


@command(costs, "dispute")
@click.argument("alliance_id")
@click.argument("entry_id")
@click.argument("dispute_id")
@click.option("--reason", required=True, help="What is wrong with the entry.")
@actor_option
async def dispute_entry(app: Accord, alliance_id: str, entry_id: str, dispute_id: str, reason: str, actor: str) -> Output:
    """Dispute an entry (any member but the one it is for): a dispute is raised with that member, on the
    alliance's ladder, and the entry is marked with it."""
    from accord import costs as ledger_app

    result = await ledger_app.dispute_entry(app, alliance_id, actor, entry_id, dispute_id, reason)
    return Output.result(result, f"raised dispute {dispute_id!r} on entry {entry_id}")


@command(costs, "rates")
@click.argument("alliance_id")
@click.option("--currency", default=None, help="Record a rate of this currency (a coordinator) ...")
@click.option("--rate", type=Decimal, default=None, help="... as units of the reporting currency for one of it ...")
@click.option("--on", "on", type=DAY, default=None, help="... in force from this day, YYYY-MM-DD ...")
@click.option("--source", default=None, help="... taken from here (ECB, a bank's statement).")
@reader_option
async def rates(
    app: Accord, alliance_id: str, currency: str | None, rate: Decimal | None, on: datetime | None, source: str | None,
    reader: Caller | None,
) -> Output:
    """The exchange rates recorded; with --currency, --rate, --on, --source and --as, record one (a coordinator)."""
    from accord import costs as ledger_app
    from events.ledger import RecordRate
    from events.rules import Refused, build

    if currency is not None:
        if reader is None or rate is None or on is None or source is None:
            raise Refused("recording a rate needs --currency, --rate, --on, --source and --as (a coordinator)", field="rate")
        day = on.date()
        sent = build(RecordRate, actor=reader.member_id, currency=currency, rate=rate, on=day, source=source)
        return Output.result(await ledger_app.command(app, alliance_id, sent), f"recorded 1 {currency} = {rate} from {day}")
    state = await ledger_app.read(app, alliance_id, reader)
    lines = [f"{r.on}  1 {r.currency} = {r.rate}  ({r.source})" for r in sorted(state.rates, key=lambda r: (r.currency, r.on))]
    return Output(state.rates, "\n".join(lines) or "no rates recorded")


@command(costs, "report")
@click.argument("alliance_id")
@click.option("--from", "start", type=DAY, required=True, help="The first day, YYYY-MM-DD.")
@click.option("--to", "end", type=DAY, required=True, help="The last day, YYYY-MM-DD.")
@click.option("--chart", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Also write the report as an SVG chart of agreed against actual shares to this file.")
@reader_option
async def report(
    app: Accord, alliance_id: str, start: datetime, end: datetime, chart: str | None, reader: Caller | None
) -> Output:
    """Each member's contributions over a period against its agreed share; a difference beyond the charter's
    tolerance is flagged."""
    import asyncio
    from pathlib import Path

    from accord import costs as ledger_app

    got = await ledger_app.report(app, alliance_id, reader, start.date(), end.date())
    text = ledger_app.report_text(got)
    if chart is not None:
        await asyncio.to_thread(Path(chart).write_text, ledger_app.chart_svg(got), encoding="utf-8")
        text += f"\nchart written to {chart}"
    return Output(got, text)


@command(costs, "propose")
@click.argument("alliance_id")
@click.argument("decision_id")
@click.option("--from", "start", type=DAY, required=True, help="The first day of the report, YYYY-MM-DD.")
@click.option("--to", "end", type=DAY, required=True, help="The last day of the report, YYYY-MM-DD.")
@click.option("--point", "points", multiple=True, help="A point to decide (repeat; default: one point to rebalance).")
@actor_option
async def propose(
    app: Accord, alliance_id: str, decision_id: str, start: datetime, end: datetime, points: tuple[str, ...], actor: str
) -> Output:
    """Turn a flagged imbalance into a decision of the alliance, with the report attached (a coordinator, or a
    member the report flags as carrying more than its agreed share)."""
    from accord import costs as ledger_app

    result = await ledger_app.propose_rebalance(app, alliance_id, actor, start.date(), end.date(), decision_id, list(points))
    return Output.result(result, f"opened decision {decision_id!r} to rebalance the costs of {start.date()} to {end.date()}")



@command(responsibility, "take")
@click.argument("alliance_id")
@click.argument("responsibility_id")
@click.option("--what", required=True, help="What is taken on, e.g. 'convene the monthly meeting'.")
@click.option("--owner", default=None, metavar="MEMBER", help="Who holds it (default: --as; a coordinator may name anyone).")
@click.option("--start", "start", type=DAY, default=None, help="From, YYYY-MM-DD (default: today).")
@click.option("--review", "review", type=DAY, required=True, help="When it is reviewed, YYYY-MM-DD; a reminder comes a week before.")
@actor_option
async def take(
    app: Accord, alliance_id: str, responsibility_id: str, what: str, owner: str | None, start: datetime | None, review: datetime,
    actor: str,
) -> Output:
    """Take on a responsibility (for oneself, or a coordinator for anyone)."""
    from accord import costs as ledger_app
    from events.ledger import TakeResponsibility
    from events.rules import build

    first = start.date() if start is not None else date.today()
    sent = build(
        TakeResponsibility, actor=actor, responsibility_id=responsibility_id, what=what, owner=owner or actor, start=first,
        review=review.date(),
    )
    return Output.result(await ledger_app.command(app, alliance_id, sent), f"{owner or actor} holds {responsibility_id!r}")


@command(responsibility, "hand-over")
@click.argument("alliance_id")
@click.argument("responsibility_id")
@click.option("--to", "to", required=True, metavar="MEMBER")
@actor_option
async def hand_over(app: Accord, alliance_id: str, responsibility_id: str, to: str, actor: str) -> Output:
    """Hand a responsibility over to another member (its holder, or a coordinator)."""
    from accord import costs as ledger_app
    from events.ledger import HandOver
    from events.rules import build

    sent = build(HandOver, actor=actor, responsibility_id=responsibility_id, to=to)
    return Output.result(await ledger_app.command(app, alliance_id, sent), f"{to} now holds {responsibility_id!r}")


@command(responsibility, "release")
@click.argument("alliance_id")
@click.argument("responsibility_id")
@click.option("--reason", required=True)
@actor_option
async def release(app: Accord, alliance_id: str, responsibility_id: str, reason: str, actor: str) -> Output:
    """Release a responsibility (its holder, or a coordinator)."""
    from accord import costs as ledger_app
    from events.ledger import Release
    from events.rules import build

    sent = build(Release, actor=actor, responsibility_id=responsibility_id, reason=reason)
    return Output.result(await ledger_app.command(app, alliance_id, sent), f"released {responsibility_id!r}")


@command(responsibility, "list")
@click.argument("alliance_id")
@reader_option
async def list_(app: Accord, alliance_id: str, reader: Caller | None) -> Output:
    """The register: who holds what, from when, until which review."""
    from accord import costs as ledger_app

    state: LedgerState = await ledger_app.read(app, alliance_id, reader)
    held = [r for r in state.responsibilities.values() if not r.released]
    lines = [f"{r.responsibility_id:24} {r.owner:16} {r.start} -> review {r.review}  {r.what}" for r in held]
    return Output(held, "\n".join(lines) or "nobody holds a responsibility yet")
