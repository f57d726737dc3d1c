"""`accord dispute ...`: the dispute ladder from the command line.

Every command acts for the member named by `--as` (or ACCORD_AS) and takes `--json`. `show` and `list`
read as that member (without `--as`, as the operator, who reads everything), by the access policy
(events/access.py): a dispute's contents are for its parties, mediator, panelists and the coordinators;
other members see its id, alliance and stage, and nothing at all (the error of a dispute that does not
exist) where the charter keeps a dispute's existence confidential or to someone outside the alliance.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from accord.cli_common import EnumChoice, actor_option, command, reader_option, scope_option
from accord.render import Output

if TYPE_CHECKING:
    from accord.app import Accord, DisputeView
    from events.access import Caller, Outline
    from events.dispute import DisputeCommand, DisputeState


@click.group()
def dispute() -> None:
    """Disputes: raise, negotiate, mediate, rule, appeal; contents only for those involved."""


async def _send(app: Accord, dispute_id: str, alliance_id: str | None, command_: DisputeCommand, summary: str) -> Output:
    return Output.result(await app.dispute_command(dispute_id, command_, alliance_id=alliance_id), summary)


def _when(value: datetime | None) -> str:
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC" if value else "-"


# --- commands ---------------------------------------------------------------------------------------


@command(dispute, "raise")
@click.argument("alliance_id")
@click.argument("dispute_id")
@click.option("--respondent", "respondents", multiple=True, required=True, help="A member the dispute is with (repeat for several).")
@click.option("--subject", required=True, help="What the dispute is about, in a line.")
@click.option("--description", required=True, help="What happened; read only by those involved.")
@click.option("--severity", type=EnumChoice("events.dispute", "Severity"), default="normal", show_default=True,
              help="crisis: the charter's shorter windows, and coordinators and steering are told at once.")
@actor_option
async def raise_(
    app: Accord, alliance_id: str, dispute_id: str, respondents: tuple[str, ...], subject: str, description: str,
    severity: str, actor: str,
) -> Output:
    """Raise a dispute (an active member) with one or more members; direct negotiation starts now."""
    from accord.app import DisputeView
    from events.access import Caller

    result = await app.raise_dispute(alliance_id, actor, dispute_id, list(respondents), subject, description, severity)
    seen = await app.dispute(dispute_id, Caller.named(actor), alliance_id=alliance_id)
    deadline = seen.state.stage_deadline if isinstance(seen, DisputeView) else None
    return Output.result(result, f"raised dispute {dispute_id!r} with {', '.join(respondents)}; negotiate until {_when(deadline)}")


@command(dispute, "propose")
@click.argument("dispute_id")
@scope_option
@click.option("--text", required=True, help="The terms of a settlement.")
@actor_option
async def propose(app: Accord, dispute_id: str, alliance_id: str | None, text: str, actor: str) -> Output:
    """Propose terms (a party, or the mediator in mediation); a party's own proposal counts as its acceptance."""
    from events.dispute import ProposeTerms
    from events.rules import build

    return await _send(app, dispute_id, alliance_id, build(ProposeTerms, actor=actor, text=text), "terms proposed")


@command(dispute, "accept")
@click.argument("dispute_id")
@scope_option
@click.argument("terms_id")
@actor_option
async def accept(app: Accord, dispute_id: str, alliance_id: str | None, terms_id: str, actor: str) -> Output:
    """Accept terms (a party); the dispute is settled once every party accepted the same terms."""
    from events.dispute import AcceptTerms
    from events.rules import build

    return await _send(app, dispute_id, alliance_id, build(AcceptTerms, actor=actor, terms_id=terms_id), f"{actor} accepted {terms_id}")


@command(dispute, "object-mediator")
@click.argument("dispute_id")
@scope_option
@click.option("--reason", required=True)
@actor_option
async def object_mediator(app: Accord, dispute_id: str, alliance_id: str | None, reason: str, actor: str) -> Output:
    """Object to the mediator (a party, once): another mediator is drawn, never the one objected to."""
    from events.dispute import ObjectToMediator
    from events.rules import build

    return await _send(app, dispute_id, alliance_id, build(ObjectToMediator, actor=actor, reason=reason), "objection recorded")


@command(dispute, "assign-mediator")
@click.argument("dispute_id")
@scope_option
@click.argument("mediator")
@actor_option
async def assign_mediator(app: Accord, dispute_id: str, alliance_id: str | None, mediator: str, actor: str) -> Output:
    """Assign a mediator from the roster (a coordinator); never a party, never one a party objected to."""
    from events.dispute import AssignMediator
    from events.rules import build

    cmd = build(AssignMediator, actor=actor, mediator=mediator)
    return await _send(app, dispute_id, alliance_id, cmd, f"{mediator} mediates dispute {dispute_id!r}")


@command(dispute, "impasse")
@click.argument("dispute_id")
@scope_option
@actor_option
async def impasse(app: Accord, dispute_id: str, alliance_id: str | None, actor: str) -> Output:
    """Declare an impasse (the mediator): a panel is drawn from the members who are neither parties nor mediator."""
    from events.dispute import DeclareImpasse
    from events.rules import build

    return await _send(app, dispute_id, alliance_id, build(DeclareImpasse, actor=actor), "impasse declared")


@command(dispute, "rule")
@click.argument("dispute_id")
@scope_option
@click.argument("ruling", type=EnumChoice("events.dispute", "RulingKind"))
@click.option("--terms", default=None, help="The terms imposed (a ruling of terms).")
@click.option("--reasons", required=True)
@actor_option
async def rule(app: Accord, dispute_id: str, alliance_id: str | None, ruling: str, terms: str | None, reasons: str, actor: str) -> Output:
    """Submit a ruling (a panelist): uphold, dismiss or terms; a majority of the panel decides."""
    from events.dispute import SubmitRuling
    from events.rules import build

    cmd = build(SubmitRuling, actor=actor, ruling=ruling, terms=terms, reasons=reasons)
    return await _send(app, dispute_id, alliance_id, cmd, f"{actor} ruled {ruling}")


@command(dispute, "extend-panel")
@click.argument("dispute_id")
@scope_option
@actor_option
async def extend_panel(app: Accord, dispute_id: str, alliance_id: str | None, actor: str) -> Output:
    """Give a panel without a majority one more window (coordinators and steering, once)."""
    from events.dispute import ExtendPanel
    from events.rules import build

    return await _send(app, dispute_id, alliance_id, build(ExtendPanel, actor=actor), "panel extended")


@command(dispute, "refer")
@click.argument("dispute_id")
@scope_option
@click.option("--reason", required=True)
@actor_option
async def refer(app: Accord, dispute_id: str, alliance_id: str | None, reason: str, actor: str) -> Output:
    """Refer a dispute whose panel reached no majority to the assembly (coordinators and steering)."""
    from events.dispute import ReferToAssembly
    from events.rules import build

    return await _send(app, dispute_id, alliance_id, build(ReferToAssembly, actor=actor, reason=reason), "referred to the assembly")


@command(dispute, "appeal")
@click.argument("dispute_id")
@scope_option
@click.option("--reason", required=True)
@actor_option
async def appeal(app: Accord, dispute_id: str, alliance_id: str | None, reason: str, actor: str) -> Output:
    """Appeal the panel's ruling (a party, within the appeal window): the members who are not parties decide, finally."""
    from events.dispute import LodgeAppeal
    from events.rules import build

    return await _send(app, dispute_id, alliance_id, build(LodgeAppeal, actor=actor, reason=reason), "appeal lodged")


@command(dispute, "contribute")
@click.argument("dispute_id")
@scope_option
@click.option("--contribution", default=None, metavar="HEX",
              help="32 random bytes of your own as 64 hex characters (default: made here from the system's randomness).")
@actor_option
async def contribute(app: Accord, dispute_id: str, alliance_id: str | None, contribution: str | None, actor: str) -> Output:
    """Contribute to the open draw (a party): the draw's seed then depends on your bytes too, so accord alone
    cannot choose who is drawn. The draw is made once every party has contributed, or when it closes."""
    import secrets

    from events.dispute import ContributeToDraw
    from events.rules import build

    mine = contribution if contribution is not None else secrets.token_hex(32)
    cmd = build(ContributeToDraw, actor=actor, contribution=mine)
    return await _send(app, dispute_id, alliance_id, cmd, f"{actor} contributed {mine} to the draw")


@command(dispute, "withdraw")
@click.argument("dispute_id")
@scope_option
@click.option("--reason", required=True)
@actor_option
async def withdraw(app: Accord, dispute_id: str, alliance_id: str | None, reason: str, actor: str) -> Output:
    """Withdraw the dispute (the member who raised it); the parties are told."""
    from events.dispute import WithdrawDispute
    from events.rules import build

    return await _send(app, dispute_id, alliance_id, build(WithdrawDispute, actor=actor, reason=reason), f"withdrew dispute {dispute_id!r}")


@command(dispute, "interim")
@click.argument("dispute_id")
@scope_option
@click.option("--what", required=True, help="The measure, e.g. 'no joint statements on the subject'.")
@click.option("--until", "until", default=None, metavar="MOMENT", help="When it ends: ISO 8601 (UTC unless an offset is given).")
@click.option("--for", "for_", default=None, metavar="DURATION", help="Or how long it runs from now: 3d, 36h, ...")
@actor_option
async def interim(
    app: Accord, dispute_id: str, alliance_id: str | None, what: str, until: str | None, for_: str | None, actor: str
) -> Output:
    """Record an interim measure in a crisis (a coordinator); it ends by itself when its time is up."""
    from events.dispute import RecordInterimMeasure
    from events.rules import build

    ends = _moment(until, for_)
    cmd = build(RecordInterimMeasure, actor=actor, what=what, until=ends)
    return await _send(app, dispute_id, alliance_id, cmd, f"interim measure until {_when(ends)}")


def _moment(until: str | None, for_: str | None) -> datetime:
    from pydantic import TypeAdapter, ValidationError

    from events.rules import Duration, Refused

    if (until is None) == (for_ is None):
        raise Refused("give either --until MOMENT or --for DURATION", field="until")
    if for_ is not None:
        try:
            return datetime.now(UTC) + TypeAdapter(Duration).validate_python(for_)
        except ValidationError:
            raise Refused(f"--for {for_!r} must be a duration such as 3d, 36h or 1h30m", field="until") from None
    try:
        moment = datetime.fromisoformat(until or "")
    except ValueError:
        raise Refused(f"--until {until!r} must be an ISO 8601 moment such as 2026-05-01T18:00", field="until") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- reads --------------------------------------------------------------------------------------------


@command(dispute, "show")
@click.argument("dispute_id")
@scope_option
@reader_option
async def show(app: Accord, dispute_id: str, alliance_id: str | None, reader: Caller | None) -> Output:
    """Show a dispute: in full to its parties, mediator, panelists and the coordinators; its stage to other members."""
    from events.access import Outline

    seen = await app.dispute(dispute_id, reader, alliance_id=alliance_id)
    if isinstance(seen, Outline):
        return Output(seen, outline_text(seen))
    return Output(seen, dispute_text(seen))


@command(dispute, "list")
@click.argument("alliance_id")
@reader_option
async def list_(app: Accord, alliance_id: str, reader: Caller | None) -> Output:
    """List an alliance's disputes as MEMBER may see them."""
    from events.access import Outline

    rows = await app.disputes(alliance_id, reader)  # those whose existence is kept from MEMBER are left out
    lines: list[str] = []
    for seen in rows:
        if isinstance(seen, Outline):
            lines.append(f"{seen.dispute_id:24} {seen.stage:14} (confidential)")
        else:
            state = seen.state
            lines.append(f"{state.dispute_id:24} {state.stage:14} {state.severity:7} {state.subject}")
    return Output(rows, "\n".join(lines) or "no disputes you may see")


def outline_text(outline: Outline) -> str:
    return (
        f"dispute {outline.dispute_id} in {outline.alliance_id}: stage {outline.stage}\n"
        "its contents are for its parties, mediator, panelists and the coordinators"
    )


def dispute_text(view: DisputeView) -> str:
    state: DisputeState = view.state
    lines = [
        f"{state.subject} ({state.dispute_id}) in {state.alliance_id}: {state.raiser} with {', '.join(state.respondents)}",
        f"severity: {state.severity}; raised {_when(state.raised_at)}",
        f"stage: {state.stage}" + (f", deadline {_when(state.stage_deadline)}" if state.stage_deadline and state.is_live else "")
        + (f"; outcome: {state.outcome}" if state.outcome else ""),
        f"description: {state.description}",
    ]
    if state.mediator or state.mediator_objections:
        objections = ", ".join(f"{party} objected to {mediator}" for party, mediator in state.mediator_objections.items())
        lines.append(f"mediator: {state.mediator or 'none'}" + (f" ({objections})" if objections else ""))
    if state.draw:
        contributed = ", ".join(state.draw.contributions) or "nobody yet"
        lines.append(f"draw {state.draw.number} ({state.draw.purpose}) open until {_when(state.draw.closes_at)}: "
                     f"{state.draw.count} of {', '.join(state.draw.pool)}; accord committed to {state.draw.commitment}; "
                     f"contributed: {contributed}")
    if state.terms:
        lines.append("terms:")
        for terms in state.terms.values():
            lines.append(f"  {terms.terms_id} by {terms.by} in {terms.stage}: {terms.text}"
                         f"  [accepted by {', '.join(terms.accepted_by) or 'nobody yet'}]")
    if state.panel:
        lines.append(f"panel: {', '.join(state.panel)}" + ("  (extended once)" if state.panel_extended else ""))
        for panelist, ruling in state.rulings.items():
            lines.append(f"  {panelist}: {ruling.ruling}" + (f" ({ruling.terms})" if ruling.terms else "") + f": {ruling.reasons}")
    if state.ruling:
        lines.append(f"ruling: {state.ruling.ruling}" + (f" ({state.ruling.terms})" if state.ruling.terms else "")
                     + f": {state.ruling.reasons}")
    if state.appeal_by:
        lines.append(f"appealed by {state.appeal_by}: decision {state.appeal_decision}")
    for measure in state.measures.values():
        lines.append(f"interim measure {measure.measure_id} until {_when(measure.until)}"
                     f"{' (ended)' if measure.ended else ''}: {measure.what}")
    if view.must_act:
        lines.append(f"to act before the deadline: {', '.join(view.must_act)}")
    if view.next_due:
        lines.append(f"next timer: {_when(view.next_due)}")
    return "\n".join(lines)
