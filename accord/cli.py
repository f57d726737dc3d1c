"""The `accord` command line: an operator's tool over the application layer.

Every command takes `--json`; errors go to stderr with a non-zero exit code (1: refused or failed,
2: bad usage or nothing configured). Commands that act for a member take `--as MEMBER` (or ACCORD_AS).

Loading this module imports click and little else, so that help and argument parsing are quick; each
command imports the application layer and the domain it needs when it runs (see accord.cli_common).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from accord.cli_common import EnumChoice, Reported, actor_option, command, load_settings, reader_option, report, run_command, scope_option
from accord.render import Output, decision_text, replay_text

if TYPE_CHECKING:
    import asyncpg

    from accord.app import Accord
    from accord.config import Settings
    from events.access import Caller
    from events.log import LogReport
    from events.store import VerifyReport

T = TypeVar("T")


ROLE = EnumChoice("events.alliance", "Role")


@click.group()
@click.version_option(package_name="accord")
def main() -> None:
    """accord: consensus decisions, dispute resolution and audit replay for alliances."""
    # Every command reads the ACCORD_* settings when it runs (load_settings): a bad value stops it
    # there, named, before anything else; help and usage errors never read them.


# --- running ---------------------------------------------------------------------------------------


@main.command()
def dev() -> None:
    """Run the whole stack here: embedded PostgreSQL and Temporal (unless configured), worker, HTTP API."""
    from accord.runner import run_dev

    _run_service(run_dev)


@main.command()
def worker() -> None:
    """Run the worker (migrates the database first); stops cleanly on SIGINT/SIGTERM."""
    from accord.runner import run_worker_service

    _run_service(run_worker_service)


@main.command()
def api() -> None:
    """Serve the HTTP API (OpenAPI document at /docs); stops cleanly on SIGINT/SIGTERM."""
    from accord.runner import run_api_service

    _run_service(run_api_service)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def demo(as_json: bool) -> None:
    """A short showcase end to end on the embedded stack; ends by itself and says where to look."""
    from accord.demo import run_demo
    from accord.logs import configure_logging

    settings = load_settings(as_json)
    configure_logging("warning" if "ACCORD_LOG_LEVEL" not in os.environ else settings.log_level)
    run_command(run_demo, as_json, needs_app=False, settings=settings, json_output=as_json)


def _run_service(service: Callable[[Settings], Coroutine[Any, Any, None]]) -> None:
    import asyncio

    from accord.logs import configure_logging

    settings = load_settings(False)
    configure_logging(settings.log_level)
    try:
        asyncio.run(service(settings))
    except Exception as error:  # noqa: BLE001 - one line and an exit code, as for every command
        sys.exit(report(error, False))


# --- db --------------------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """The event store: migrations and chain verification."""


async def _on_database(work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """Run `work` on one connection to the configured database, as the schema's owner where one is
    configured (ACCORD_MIGRATION_DATABASE_URL, or the dev stack's); the db commands need nothing else."""
    import asyncpg

    from accord.config import Settings, migration_url

    conn = await asyncpg.connect(migration_url(Settings()))
    try:
        return await work(conn)
    finally:
        await conn.close()


@command(db, needs_app=False)
async def migrate() -> Output:
    """Apply pending migrations (safe to run from several processes at once); needs only the database."""
    from events.migrate import migrate as apply

    applied = await _on_database(apply)
    return Output({"applied": applied}, "applied: " + ", ".join(applied) if applied else "database is up to date")


@command(db, needs_app=False)
async def rebuild() -> Output:
    """Fold the whole log into the read models again (alliances, decisions, disputes); needs only the database."""
    from events.projector import rebuild as refold

    rebuilt = await _on_database(refold)
    return Output(rebuilt._asdict(), f"rebuilt {rebuilt.rows} read model row(s) from {rebuilt.events} event(s)")


@command(db)
@click.option("--stream-prefix", default=None, help="Only streams whose id starts with this.")
async def verify(app: Accord, stream_prefix: str | None) -> Output:
    """Recompute every hash chain; exit 3 naming the first bad version of each broken stream."""
    return _verified(await app.verify(stream_prefix))


def _verified(report: VerifyReport, *, raise_broken: bool = True) -> Output:
    lines = [f"checked {report.events_checked} events in {report.streams_checked} streams"]
    lines += [f"BROKEN {b.stream_id} at version {b.version}: {b.reason}" for b in report.broken]
    output = Output(report, "\n".join(lines))
    return _broken_or(output) if raise_broken else output


def _broken_or(output: Output, chains: Output | None = None) -> Output:
    """`output`, or its report with exit 3 when the chains (`chains`, or `output` itself) are broken."""
    from events.errors import CorruptRecord

    broken = (chains or output).data.broken
    if broken:
        raise Reported(output, CorruptRecord(f"{len(broken)} broken stream(s)"))
    return output


# --- alliance --------------------------------------------------------------------------------------


@main.group()
def alliance() -> None:
    """Found and inspect alliances."""


@command(alliance)
@click.argument("charter_file", type=click.Path(path_type=Path))
@click.option("--id", "alliance_id", required=True, help="Alliance id (lowercase letters, digits, - and _).")
@click.option("--founder-id", required=True, help="Member id of the founder, the first coordinator.")
@click.option("--founder-name", required=True, help="Name of the founding organisation.")
@click.option("--founder-webhook", default=None, help="URL where the founder's notifications are posted.")
async def found(
    app: Accord, charter_file: Path, alliance_id: str, founder_id: str, founder_name: str, founder_webhook: str | None
) -> Output:
    """Found an alliance from a TOML charter; prints the founder's API token (shown once)."""
    from events.alliance import FoundAlliance
    from events.charter import load_charter
    from events.rules import build

    command_ = build(
        FoundAlliance,
        alliance_id=alliance_id,
        charter=load_charter(charter_file),
        founder_id=founder_id,
        founder_name=founder_name,
        founder_webhook_url=founder_webhook,
    )
    founded = await app.found_alliance(command_)
    return Output(
        founded,
        f"founded alliance {alliance_id!r} ({command_.charter.name}); {founder_id!r} is its first coordinator\n"
        f"{founder_id}'s API token (shown once, keep it safe): {founded.token.token}\n"
        + Output.receipts_text(founded.receipts),
    )


@command(alliance, "show")
@click.argument("alliance_id")
@reader_option
async def show_alliance(app: Accord, alliance_id: str, reader: Caller | None) -> Output:
    """Show an alliance: charter summary, members and roles."""
    state = await app.alliance(alliance_id, reader)
    return Output(state, Output.alliance_text(state))


@command(alliance, "list")
async def list_alliances(app: Accord) -> Output:
    """List the alliances in the event store."""
    rows = await app.alliances()
    text = "\n".join(f"{a.alliance_id:20} {a.name:40} founded {a.founded_at:%Y-%m-%d}  {a.events} events" for a in rows)
    return Output(rows, text or "no alliances yet")


@command(alliance)
@click.argument("alliance_id")
@reader_option
async def parked(app: Accord, alliance_id: str, reader: Caller | None) -> Output:
    """The alliance's parked points, kept for more discussion until a new decision takes them up."""
    points = list((await app.alliance(alliance_id, reader)).parked.values())
    text = "\n".join(f"{p.ref:24} {p.outcome:22} {p.text}" for p in points)
    return Output(points, text or "no parked points")


@command(alliance, "amend-charter")
@click.argument("alliance_id")
@click.argument("charter_file", type=click.Path(path_type=Path))
@click.option("--reason", required=True)
@actor_option
async def amend_charter(app: Accord, alliance_id: str, charter_file: Path, reason: str, actor: str) -> Output:
    """Replace the charter (coordinators); running processes keep the charter they pinned."""
    from events.alliance import AmendCharter
    from events.charter import load_charter
    from events.rules import build

    cmd = build(AmendCharter, actor=actor, charter=load_charter(charter_file), reason=reason)
    return Output.result(await app.alliance_command(alliance_id, cmd), "charter amended")


# --- member ----------------------------------------------------------------------------------------


@main.group()
def member() -> None:
    """Admit, suspend, reinstate and remove members; set their roles."""


@command(member)
@click.argument("alliance_id")
@click.argument("member_id")
@click.option("--name", required=True, help="Name of the member organisation.")
@click.option("--role", "roles", type=ROLE, multiple=True, default=["member"], show_default=True)
@click.option("--webhook", default=None, help="URL where this member's notifications are posted.")
@actor_option
async def admit(
    app: Accord, alliance_id: str, member_id: str, name: str, roles: tuple[str, ...], webhook: str | None, actor: str
) -> Output:
    """Admit a member (coordinators)."""
    from events.alliance import AdmitMember
    from events.rules import build

    cmd = build(AdmitMember, actor=actor, member_id=member_id, name=name, roles=list(roles), webhook_url=webhook)
    return Output.result(await app.alliance_command(alliance_id, cmd), f"admitted {member_id!r}")


@command(member)
@click.argument("alliance_id")
@click.argument("member_id")
@click.option("--reason", required=True)
@actor_option
async def suspend(app: Accord, alliance_id: str, member_id: str, reason: str, actor: str) -> Output:
    """Suspend a member (coordinators): a suspended member cannot act until reinstated."""
    from events.alliance import SuspendMember
    from events.rules import build

    cmd = build(SuspendMember, actor=actor, member_id=member_id, reason=reason)
    return Output.result(await app.alliance_command(alliance_id, cmd), f"suspended {member_id!r}")


@command(member)
@click.argument("alliance_id")
@click.argument("member_id")
@actor_option
async def reinstate(app: Accord, alliance_id: str, member_id: str, actor: str) -> Output:
    """Reinstate a suspended member (coordinators)."""
    from events.alliance import ReinstateMember
    from events.rules import build

    cmd = build(ReinstateMember, actor=actor, member_id=member_id)
    return Output.result(await app.alliance_command(alliance_id, cmd), f"reinstated {member_id!r}")


@command(member)
@click.argument("alliance_id")
@click.argument("member_id")
@click.option("--reason", required=True)
@actor_option
async def remove(app: Accord, alliance_id: str, member_id: str, reason: str, actor: str) -> Output:
    """Remove a member (coordinators; a member may also leave by removing themselves)."""
    from events.alliance import RemoveMember
    from events.rules import build

    cmd = build(RemoveMember, actor=actor, member_id=member_id, reason=reason)
    return Output.result(await app.alliance_command(alliance_id, cmd), f"removed {member_id!r}")


@command(member)
@click.argument("alliance_id")
@click.argument("member_id")
@click.option("--role", "roles", type=ROLE, multiple=True, required=True)
@actor_option
async def roles(app: Accord, alliance_id: str, member_id: str, roles: tuple[str, ...], actor: str) -> Output:
    """Set a member's roles (coordinators): coordinator, steering, mediator, member."""
    from events.alliance import SetRoles
    from events.rules import build

    cmd = build(SetRoles, actor=actor, member_id=member_id, roles=list(roles))
    return Output.result(await app.alliance_command(alliance_id, cmd), f"{member_id!r} now has roles {', '.join(roles)}")


@command(member)
@click.argument("alliance_id")
@click.argument("member_id")
@click.option("--url", default=None, help="Webhook URL; omit to clear it.")
@actor_option
async def webhook(app: Accord, alliance_id: str, member_id: str, url: str | None, actor: str) -> Output:
    """Set or clear where a member's notifications are delivered (the member or a coordinator)."""
    from events.alliance import SetWebhook
    from events.rules import build

    cmd = build(SetWebhook, actor=actor, member_id=member_id, webhook_url=url)
    return Output.result(await app.alliance_command(alliance_id, cmd), f"webhook of {member_id!r} set")


@command(member)
@click.argument("alliance_id")
@click.argument("member_id")
@click.option("--email", default=None, help="The address for sign-in links and email (kept beside the record, not in it).")
@click.option("--language", default=None, help="The language of the member's pages and emails: en or es.")
@click.option("--deliver", "deliver", multiple=True, metavar="KIND=WAY",
              help="How a kind of notification goes (or '*' for every other kind): email, webhook or none. Repeat for several.")
@click.option("--erase", is_flag=True, help="Forget the member's address, language and ways of delivery.")
@actor_option
async def contact(
    app: Accord, alliance_id: str, member_id: str, email: str | None, language: str | None, deliver: tuple[str, ...], erase: bool,
    actor: str,
) -> Output:
    """Set how a member is reached, or show it (the member or a coordinator)."""
    from accord import contacts
    from events.access import Caller
    from events.rules import invalid

    if any("=" not in pair for pair in deliver):
        raise invalid("--deliver takes KIND=WAY, e.g. --deliver reminder=email --deliver '*=none'", "deliver")
    delivery = dict(pair.split("=", 1) for pair in deliver)
    if email is None and language is None and not delivery and not erase:
        got = await contacts.contact(app, alliance_id, member_id, Caller.named(actor))
    else:
        got = await contacts.set_contact(
            app, alliance_id, actor, member_id, email=email, language=language, delivery=delivery, erase=erase
        )
    language_text = got.language or "(the browser's)"
    ways = ", ".join(f"{kind} by {way}" for kind, way in sorted(got.delivery.items())) or "as set up (webhook, else email)"
    return Output(got, f"{member_id}: email {got.email or '(none)'}, language {language_text}; notifications: {ways}")


@command(member, "witness-key")
@click.argument("alliance_id")
@click.argument("member_id")
@click.argument("key", required=False)
@actor_option
async def witness_key(app: Accord, alliance_id: str, member_id: str, key: str | None, actor: str) -> Output:
    """Name the public key of the member's witness (`accord witness init` prints it); omit KEY to stop it
    (the member only)."""
    from events.alliance import SetWitnessKey
    from events.rules import build

    cmd = build(SetWitnessKey, actor=actor, member_id=member_id, witness_key=key)
    done = f"{member_id}'s witness cosigns with {key}" if key else f"{member_id} has no witness now"
    return Output.result(await app.alliance_command(alliance_id, cmd), done)


@command(member, "list")
@click.argument("alliance_id")
@reader_option
async def list_members(app: Accord, alliance_id: str, reader: Caller | None) -> Output:
    """List an alliance's members with their roles and status."""
    state = await app.alliance(alliance_id, reader)
    members = list(state.members.values())
    return Output(members, Output.members_text(members))


@command(member)
@click.argument("alliance_id")
@click.argument("member_id")
@click.option("--limit", default=50, show_default=True)
@actor_option
async def notifications(app: Accord, alliance_id: str, member_id: str, limit: int, actor: str) -> Output:
    """A member's notifications, newest first, with their delivery (the member or a coordinator)."""
    rows = await app.notifications(alliance_id, actor, member_id, limit)
    text = "\n".join(
        f"{n.created_at:%Y-%m-%d %H:%M} {n.kind:18} {n.message}"
        + ("" if n.delivered_at else f"  [not delivered{': ' + n.last_error if n.last_error else ''}]")
        for n in rows
    )
    return Output(rows, text or "no notifications")


# --- decision --------------------------------------------------------------------------------------


@main.group()
def decision() -> None:
    """Consensus decisions: open, take stances, amend, escalate, inspect."""


STANCE = EnumChoice("events.decision", "StanceKind")


@command(decision, "open")
@click.argument("alliance_id")
@click.argument("decision_id")
@click.option("--title", required=True)
@click.option("--body", default="", help="The proposal's text or a link to it.")
@click.option("--point", "points", multiple=True, help="A point decided on its own (repeat for several).")
@click.option("--take-up", "take_up", multiple=True, metavar="DECISION/POINT", help="Take up a parked point as a point.")
@click.option("--window", default=None, help="Response window such as 7d or 36h (within the charter's limits).")
@actor_option
async def open_(
    app: Accord, alliance_id: str, decision_id: str, title: str, body: str,
    points: tuple[str, ...], take_up: tuple[str, ...], window: str | None, actor: str,
) -> Output:
    """Open a decision (any active member); the charter's rules and the electorate are pinned now."""
    from events.rules import Refused

    parked = (await app.alliance(alliance_id)).parked if take_up else {}
    drafts: list[dict[str, Any]] = [{"text": text} for text in points]
    for ref in take_up:
        if ref not in parked:
            raise Refused(f"{ref!r} is not on the parked list of {alliance_id!r} (see `accord alliance parked`)", field="take_up")
        drafts.append({"text": parked[ref].text, "origin": ref})
    if not drafts:
        raise Refused("a decision needs at least one --point or --take-up", field="points")
    result = await app.open_decision(alliance_id, actor, decision_id, title, drafts, body=body, response_window=window)
    view = await app.decision(decision_id, alliance_id=alliance_id)
    return Output.result(result, f"opened decision {decision_id!r}; respond by {view.state.deadline:%Y-%m-%d %H:%M} UTC")


@command(decision)
@click.argument("decision_id")
@scope_option
@click.argument("point_id")
@click.argument("stance", type=STANCE)
@click.option("--reason", default=None, help="Required to object or block.")
@click.option("--principle", default=None, help="A core principle (id) a block rests on.")
@actor_option
async def stance(
    app: Accord, decision_id: str, alliance_id: str | None, point_id: str, stance: str, reason: str | None,
    principle: str | None, actor: str,
) -> Output:
    """Take (or change) a stance on a point: agree, concerns, stand_aside, object, block."""
    from events.decision import TakeStance
    from events.rules import build

    cmd = build(TakeStance, actor=actor, point_id=point_id, stance=stance, reason=reason, principle=principle)
    return Output.result(await app.decision_command(decision_id, cmd, alliance_id=alliance_id), f"{actor} {stance} on {point_id}")


@command(decision)
@click.argument("decision_id")
@scope_option
@click.argument("point_id")
@click.option("--text", required=True)
@actor_option
async def amend(app: Accord, decision_id: str, alliance_id: str | None, point_id: str, text: str, actor: str) -> Output:
    """Amend a point's text (the proposer): its stances are cleared and their holders notified."""
    from events.decision import AmendPoint
    from events.rules import build

    cmd = build(AmendPoint, actor=actor, point_id=point_id, text=text)
    return Output.result(await app.decision_command(decision_id, cmd, alliance_id=alliance_id), f"amended {point_id}")


@command(decision, "add-point")
@click.argument("decision_id")
@scope_option
@click.option("--text", required=True)
@click.option("--origin", default=None, metavar="DECISION/POINT", help="The parked point this one takes up.")
@actor_option
async def add_point(app: Accord, decision_id: str, alliance_id: str | None, text: str, origin: str | None, actor: str) -> Output:
    """Add a point (the proposer)."""
    from events.decision import AddPoint
    from events.rules import build

    cmd = build(AddPoint, actor=actor, text=text, origin=origin)
    return Output.result(await app.decision_command(decision_id, cmd, alliance_id=alliance_id), "point added")


@command(decision, "withdraw-point")
@click.argument("decision_id")
@scope_option
@click.argument("point_id")
@actor_option
async def withdraw_point(app: Accord, decision_id: str, alliance_id: str | None, point_id: str, actor: str) -> Output:
    """Withdraw one point (the proposer)."""
    from events.decision import WithdrawPoint
    from events.rules import build

    cmd = build(WithdrawPoint, actor=actor, point_id=point_id)
    return Output.result(await app.decision_command(decision_id, cmd, alliance_id=alliance_id), f"withdrew {point_id}")


@command(decision)
@click.argument("decision_id")
@scope_option
@click.option("--reason", required=True)
@actor_option
async def withdraw(app: Accord, decision_id: str, alliance_id: str | None, reason: str, actor: str) -> Output:
    """Withdraw the whole decision (the proposer or a coordinator)."""
    from events.decision import WithdrawDecision
    from events.rules import build

    cmd = build(WithdrawDecision, actor=actor, reason=reason)
    return Output.result(await app.decision_command(decision_id, cmd, alliance_id=alliance_id), f"withdrew decision {decision_id!r}")


@command(decision)
@click.argument("decision_id")
@scope_option
@actor_option
async def extend(app: Accord, decision_id: str, alliance_id: str | None, actor: str) -> Output:
    """Extend a stalled decision's deadline (a coordinator; up to the charter's maximum)."""
    from events.decision import ExtendDeadline
    from events.rules import build

    result = await app.decision_command(decision_id, build(ExtendDeadline, actor=actor), alliance_id=alliance_id)
    return Output.result(result, f"extended decision {decision_id!r}")


@command(decision)
@click.argument("decision_id")
@scope_option
@actor_option
async def fallback(app: Accord, decision_id: str, alliance_id: str | None, actor: str) -> Output:
    """Apply the charter's fallback rule to a stalled decision (a coordinator)."""
    from events.decision import ApplyFallback
    from events.rules import build

    result = await app.decision_command(decision_id, build(ApplyFallback, actor=actor), alliance_id=alliance_id)
    view = await app.decision(decision_id, alliance_id=alliance_id)
    return Output.result(result, f"applied the {view.state.rules.fallback} rule: {view.state.outcome}")


@command(decision)
@click.argument("decision_id")
@scope_option
@actor_option
async def close(app: Accord, decision_id: str, alliance_id: str | None, actor: str) -> Output:
    """Close a stalled decision as it stands (a coordinator): points without quorum are parked."""
    from events.decision import CloseDecision
    from events.rules import build

    result = await app.decision_command(decision_id, build(CloseDecision, actor=actor), alliance_id=alliance_id)
    return Output.result(result, f"closed decision {decision_id!r}")


@command(decision, "show")
@click.argument("decision_id")
@scope_option
@reader_option
async def show_decision(app: Accord, decision_id: str, alliance_id: str | None, reader: Caller | None) -> Output:
    """Show a decision: stage, deadline, and per point the tally, the quorum and the rule that applies now."""
    view = await app.decision(decision_id, reader, alliance_id=alliance_id)
    return Output(view, decision_text(view))


@command(decision, "list")
@click.argument("alliance_id")
@reader_option
async def list_decisions(app: Accord, alliance_id: str, reader: Caller | None) -> Output:
    """List an alliance's decisions with their stage and outcome."""
    rows = await app.decisions(alliance_id, reader)
    text = "\n".join(
        f"{d.decision_id:20} {d.stage:10} {d.outcome or '':18} {d.title}" for d in rows
    )
    return Output(rows, text or "no decisions yet")


# --- audit -----------------------------------------------------------------------------------------


@main.group()
def audit() -> None:
    """Replay, check, verify and export the record; check receipts; test rule changes on the past."""


@command(audit, "replay")
@click.argument("stream")
@click.option("--at", "at", type=click.IntRange(min=1), default=None, help="Stop at this version of the stream.")
@click.option("--as-of", "as_of", type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"]),
              default=None, help="Stop at this moment (UTC unless an offset is given).")
@reader_option
async def audit_replay(app: Accord, stream: str, at: int | None, as_of: Any, reader: Caller | None) -> Output:
    """Rebuild a process (alliance-, decision-, dispute-<id>) from the record, at a version or a moment."""
    from accord.audit import replay

    if as_of is not None and as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=UTC)
    stream = await app.readable_record(stream, reader)
    replayed = await replay(app.store, stream, at=at, as_of=as_of)
    return Output(replayed, replay_text(replayed))


@command(audit, "check")
@click.argument("stream")
@reader_option
async def audit_check(app: Accord, stream: str, reader: Caller | None) -> Output:
    """Compare the record with the live workflow: state, head, and a replay of its Temporal history."""
    from accord.audit import check
    from events.errors import CorruptRecord

    stream = await app.readable_record(stream, reader)
    report = await check(app, stream)
    text = "\n".join(f"{'ok  ' if c.ok else 'FAIL'} {c.name}: {c.detail}" for c in report.checks)
    output = Output(report, text)
    if not report.ok:
        raise Reported(output, CorruptRecord(f"{stream}: {sum(not c.ok for c in report.checks)} check(s) failed"))
    return output


@command(audit, "resume")
@click.argument("stream")
async def audit_resume(app: Accord, stream: str) -> Output:
    """Have a quarantined process look at its repaired record again and take commands (docs/reliability.md)."""
    from accord.audit import resume
    from events.errors import CorruptRecord

    stream = await app.readable_record(stream, None)  # the operator's: a process's id without its alliance names its stream
    finding = await resume(app, stream)
    if finding is not None:
        raise CorruptRecord(f"still quarantined: {finding.message}")
    return Output({"stream_id": stream, "quarantined": False}, f"{stream} takes commands again")


@command(audit, "verify")
@click.option("--alliance", "alliance_id", default=None, help="Only the streams of this alliance.")
@click.option("--all", "all_streams", is_flag=True, help="Every stream (the default).")
@click.option("--checkpoint", "kept", multiple=True, type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="A checkpoint kept outside the record (a witness's <dir>/<alliance>/checkpoint, a report's): the log must "
              "still give its root (repeat for several).")
@click.option("--log-key", "log_key", multiple=True, metavar="KEY",
              help="A public key of the log (repeat for several) besides ACCORD_LOG_KEY(_FILE)'s and ACCORD_LOG_PUBLIC_KEYS.")
@reader_option
async def audit_verify(
    app: Accord, alliance_id: str | None, all_streams: bool, kept: tuple[Path, ...], log_key: tuple[str, ...], reader: Caller | None
) -> Output:
    """Recompute the hash chains (with --as: those of the alliance the reader may read) and the transparency log
    of the alliance (without --alliance: of every alliance) from the record, checking every signed checkpoint
    and cosignature against it. Exit 3 naming the first bad version of each broken stream, and what a log lost."""
    from accord import transparency
    from accord.keeper import log_keys
    from events.errors import CorruptRecord
    from events.log import TransparencyLog
    from events.rules import Refused

    if reader is not None and not alliance_id:
        raise Refused("--as reads one alliance: give --alliance too", field="alliance")
    streams = await app.readable_streams(alliance_id, reader) if alliance_id else None
    chains = _verified(await app.store.verify(streams=streams), raise_broken=False)
    keys = log_keys(load_settings(as_json=False), log_key)
    notes = [path.read_text(encoding="utf-8") for path in kept]
    alliances = [alliance_id] if alliance_id else sorted(await TransparencyLog(app.pool).sequenced())
    for path, note in zip(kept, notes, strict=True):
        if not any(note.split("\n", 1)[0].endswith(f"/{a}") for a in alliances):
            named = " or ".join(alliances) or "any alliance"
            raise Refused(f"--checkpoint {path}: not a checkpoint of the log of {named}", field="checkpoint")
    reports = [await transparency.verify_log(app, a, reader, keys, notes) for a in alliances]
    logs: Any = reports[0] if alliance_id else reports
    output = Output({**chains.data.model_dump(), "log" if alliance_id else "logs": logs},
                    "\n".join([chains.text, *(_log_text(r) for r in reports)]))
    failed = [r for r in reports if not r.ok]
    if failed:
        raise Reported(output, CorruptRecord(f"the log of {failed[0].alliance_id!r} does not hold: {failed[0].problems[0]}"))
    return _broken_or(output, chains)


def _log_text(report: LogReport) -> str:
    newest = f"the newest that holds has {report.latest} leaves" if report.latest is not None else "none holds yet"
    counted = (
        f"; with the {report.witnesses_required} witnesses the charter asks for: {report.counted if report.counted is not None else 'none'}"
        if report.witnesses_required else ""
    )
    lines = [
        f"log of {report.alliance_id}: {report.leaves} leaves, {report.checkpoints} checkpoint(s) checked, {newest}{counted}; "
        f"{report.unsigned} leaves since; {report.draws} draw(s) recomputed"
    ]
    if not report.signatures_checked:
        lines.append("signatures NOT checked: no public key of the log is known (give --log-key, or set ACCORD_LOG_KEY_FILE)")
    lines += [f"BROKEN log: {problem}" for problem in report.problems]
    return "\n".join(lines)


@command(audit, "export")
@click.argument("stream", required=False)
@click.option("--alliance", "alliance_id", default=None, help="Every process of this alliance.")
@click.option("--format", "fmt", type=click.Choice(["json", "jsonl", "md", "html"]), default="md", show_default=True)
@click.option("--bundle", "bundle_file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="With --alliance: write the audit bundle (events in log order, checkpoints, keys) to this file instead.")
@reader_option
async def audit_export(
    app: Accord, stream: str | None, alliance_id: str | None, fmt: str, bundle_file: Path | None, reader: Caller | None
) -> Output:
    """A self-contained report: timeline, outcome, rules pinned and applied, head hash, the log's checkpoint
    (with --as: of what the reader may read); or, with --bundle, the alliance's audit bundle, which the
    verifier in docs/audit.md checks offline."""
    from accord.audit import export
    from events.rules import Refused

    if bool(stream) == bool(alliance_id):
        raise Refused("give either a STREAM or --alliance", field="stream")
    if bundle_file is not None:
        if not alliance_id:
            raise Refused("--bundle is of an alliance: give --alliance", field="bundle")
        return await _bundle(app, alliance_id, reader, bundle_file)
    if stream:
        stream = await app.readable_record(stream, reader)
    streams = [stream] if stream else await app.readable_streams(alliance_id or "", reader)
    document = await export(app.store, streams, fmt, datetime.now(UTC))
    return Output(json.loads(document) if fmt == "json" else {"format": fmt, "report": document}, document)


async def _bundle(app: Accord, alliance_id: str, reader: Caller | None, path: Path) -> Output:
    import asyncio

    from accord import transparency
    from accord.keeper import log_keys

    document = await transparency.bundle(app, alliance_id, reader, log_keys(load_settings(as_json=False)))
    await asyncio.to_thread(path.write_text, json.dumps(document, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    withheld = sum("event" not in leaf for leaf in document["leaves"])
    summary = {"path": str(path), "leaves": len(document["leaves"]), "withheld": withheld, "checkpoints": len(document["checkpoints"])}
    return Output(
        summary,
        f"wrote {path}: {len(document['leaves'])} leaves ({withheld} as their hash only), {len(document['checkpoints'])} checkpoint(s)",
    )


@command(audit, "receipt")
@click.argument("stream")
@click.argument("version", type=click.IntRange(min=1))
@click.argument("hash_hex", metavar="HASH")
@reader_option
async def audit_receipt(app: Accord, stream: str, version: int, hash_hex: str, reader: Caller | None) -> Output:
    """Is this receipt (stream, version, hash) still in the record? Exit 3 if not."""
    from accord.audit import check_receipt
    from events.errors import CorruptRecord

    stream = await app.readable_record(stream, reader)
    result = await check_receipt(app.store, stream, version, hash_hex)
    output = Output(result, f"{'in the record' if result.in_record else 'NOT in the record'}: {result.detail}")
    if not result.in_record:
        raise Reported(output, CorruptRecord(f"receipt {stream} v{version} is not in the record"))
    return output


@command(audit, "prove")
@click.argument("stream")
@click.argument("version", type=click.IntRange(min=1))
@click.argument("hash_hex", metavar="[HASH]", required=False)
@click.option("--size", type=click.IntRange(min=1), default=None,
              help="Prove it in the checkpoint of this many leaves (default: the newest that counts).")
@click.option("--format", "fmt", type=click.Choice(["text", "tlog-proof"]), default="text", show_default=True,
              help="tlog-proof: the C2SP tlog-proof file, for tools that read it.")
@reader_option
async def audit_prove(
    app: Accord, stream: str, version: int, hash_hex: str | None, size: int | None, fmt: str, reader: Caller | None
) -> Output:
    """Prove that a receipt's event (STREAM VERSION, and its HASH if given) is in its alliance's log: the
    inclusion proof to a signed checkpoint, which anyone can check offline (docs/audit.md)."""
    from accord import transparency

    proof = await transparency.prove(app, stream, version, reader, hash_hex=hash_hex, size=size)
    if fmt == "tlog-proof":
        return Output(proof, proof.tlog_proof().rstrip("\n"))
    text = (
        f"{proof.stream_id} version {proof.stream_version} is leaf {proof.leaf_index} of the log of {proof.alliance_id}, "
        f"in its checkpoint of {proof.tree_size} leaves\n"
        + "\n".join(f"  {p}" for p in proof.proof)
        + "\n" + proof.checkpoint.rstrip("\n")
    )
    return Output(proof, text)


@command(audit, "whatif")
@click.argument("decision_id")
@scope_option
@click.option("--rules", "rules_file", required=True, type=click.Path(path_type=Path),
              help="A TOML file with a [decisions] table (a charter will do).")
@reader_option
async def audit_whatif(app: Accord, decision_id: str, alliance_id: str | None, rules_file: Path, reader: Caller | None) -> Output:
    """How a closed decision would have ended under other decision rules; nothing is written."""
    from accord.audit import whatif
    from events.charter import load_rules
    from events.processes import DECISION
    from events.streams import StreamId

    stream = await app.readable_record(StreamId(DECISION.kind, decision_id), reader, alliance_id=alliance_id)
    result = await whatif(app.store, stream, load_rules(rules_file))
    lines = [f"{decision_id}: {result.actual_outcome} -> would be {result.would_be_outcome} (assuming {result.assumption})"]
    lines += [
        f"  {p.point_id}: {p.actual} -> {p.would_be}{'  (changed)' if p.changed else ''}  "
        f"[{p.tally.responded}/{p.tally.electorate} responded, quorum {p.tally.quorum_needed}]"
        for p in result.points
    ]
    return Output(result, "\n".join(lines))


# --- token -----------------------------------------------------------------------------------------


@main.group()
def token() -> None:
    """HTTP API tokens: each authenticates one member, or an auditor (read-only)."""


@command(token)
@click.argument("alliance_id")
@click.argument("member_id")
@click.option("--label", default="", help="What the token is for.")
@actor_option
async def issue(app: Accord, alliance_id: str, member_id: str, label: str, actor: str) -> Output:
    """Issue a token for a member (the member or a coordinator); shown once."""
    issued = await app.issue_token(alliance_id, actor, member_id, label)
    return Output(issued, f"token for {member_id!r} (shown once): {issued.token}\ntoken id: {issued.token_id}")


@command(token)
@click.argument("alliance_id")
@click.option("--label", required=True, help="Who the auditor is (an id such as audit-firm-2026).")
@actor_option
async def auditor(app: Accord, alliance_id: str, label: str, actor: str) -> Output:
    """Issue a read-only token for an auditor (coordinators): the HTTP audit endpoints and nothing else; shown once."""
    issued = await app.issue_auditor_token(alliance_id, actor, label)
    return Output(
        issued,
        f"auditor token for {issued.member_id!r} (shown once): {issued.token}\ntoken id: {issued.token_id}\n"
        f"it may call the audit endpoints of {alliance_id!r} only; list or revoke it as member {issued.member_id!r}",
    )


@command(token, "list")
@click.argument("alliance_id")
@click.argument("member_id")
@actor_option
async def list_tokens(app: Accord, alliance_id: str, member_id: str, actor: str) -> Output:
    """List a member's tokens (ids and labels, never the secrets)."""
    rows = await app.tokens(alliance_id, actor, member_id)
    text = "\n".join(
        f"{t.token_id}  {t.label or '-':20} issued {t.issued_at:%Y-%m-%d} by {t.issued_by}"
        + (f"  REVOKED {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "")
        for t in rows
    )
    return Output(rows, text or "no tokens")


@command(token)
@click.argument("alliance_id")
@click.argument("token_id", type=click.UUID)
@actor_option
async def revoke(app: Accord, alliance_id: str, token_id: Any, actor: str) -> Output:
    """Revoke a token (its member or a coordinator)."""
    info = await app.revoke_token(alliance_id, actor, token_id)
    return Output(info, f"revoked token {token_id}")


from accord.cli_costs import costs, responsibility  # noqa: E402  (likewise)
from accord.cli_dispute import dispute  # noqa: E402  (a group of its own module; it needs nothing from here at import)
from accord.cli_log import log  # noqa: E402  (likewise)
from accord.cli_witness import witness  # noqa: E402  (likewise)

main.add_command(costs)
main.add_command(responsibility)
main.add_command(dispute)
main.add_command(log)
main.add_command(witness)


if __name__ == "__main__":
    main()
