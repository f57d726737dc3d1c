"""`accord demo`: a short, realistic showcase on the embedded stack that ends by itself.

It uses a running `accord dev` stack when there is one; otherwise it starts the embedded services
itself (in the data directory), runs a worker in-process, and stops everything at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import uuid
from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import cast

import click

from accord import costs, transparency
from accord.app import Accord, DisputeView
from accord.config import Settings, running_dev_stack
from accord.devstack import dev_services
from accord.examples import CHARTER
from accord.keeper import dev_signer
from accord.render import Output
from accord.runner import migrated_app
from accord.worker import build_worker
from events.access import Caller
from events.alliance import AdmitMember, FoundAlliance, ParkedPoint, ReinstateMember, Role, SetRoles, SuspendMember
from events.charter import Charter, load_charter
from events.decision import StanceKind, TakeStance
from events.dispute import AcceptTerms, ContributeToDraw, DisputeState, ProposeTerms
from events.ledger import EntryKind, InKind, RecordEntry
from events.log import TransparencyLog
from events.processes import DECISION
from events.rules import Refused


@contextlib.asynccontextmanager
async def demo_stack(settings: Settings) -> AsyncGenerator[tuple[Accord, str | None], None]:
    """The running dev stack if there is one, else the embedded services with a worker of our own."""
    stack = running_dev_stack(settings)
    if stack is not None:
        async with migrated_app(settings) as app:
            yield app, stack.ui_url
        return
    async with dev_services(settings) as endpoints:
        settings = settings.model_copy(update={"database_url": endpoints.database_url, "migration_database_url": endpoints.migration_url})
        async with (
            migrated_app(settings, temporal_address=endpoints.temporal_address) as app,
            build_worker(app.client, app.pool, app.task_queue),
        ):
            # This stack stops with the demo; its data stays in the data directory for `accord dev`.
            yield app, None


def demo_charter() -> Charter:
    """The example charter with short windows, so the demo's timers fire within seconds."""
    charter = load_charter(CHARTER)
    rules = charter.decisions.model_copy(
        update={
            "response_window": timedelta(seconds=8),
            "min_response_window": timedelta(seconds=1),
            "reminder_lead": timedelta(seconds=4),
            "escalation_window": timedelta(seconds=3),
            "extension": timedelta(seconds=5),
        }
    )
    seconds = timedelta(seconds=1)
    disputes = charter.disputes.model_copy(
        update={
            "negotiation_window": 4 * seconds,
            "mediation_window": 30 * seconds,
            "panel_window": 30 * seconds,
            "appeal_window": 10 * seconds,
            "reminder_lead": 2 * seconds,
            "draw_window": 10 * seconds,
            "crisis": charter.disputes.crisis.model_copy(
                update={"negotiation_window": 2 * seconds, "mediation_window": 10 * seconds,
                        "panel_window": 10 * seconds, "appeal_window": 5 * seconds, "draw_window": 5 * seconds}
            ),
        }
    )
    costs = charter.costs.model_copy(update={"tolerance": Decimal("0.15")})  # a young alliance: only a large drift is flagged
    return charter.model_copy(update={"decisions": rules, "disputes": disputes, "costs": costs})


class Narrator:
    """Tells the story as it happens: on stdout, or on stderr when stdout carries JSON."""

    def __init__(self, to_stderr: bool) -> None:
        self.lines: list[str] = []
        self.to_stderr = to_stderr

    def say(self, line: str) -> None:
        self.lines.append(line)
        click.echo(line, err=self.to_stderr)


async def run_demo(settings: Settings, json_output: bool = False) -> Output:
    tell = Narrator(to_stderr=json_output)
    async with demo_stack(settings) as (app, ui_url):
        alliance_id = f"rivers-{uuid.uuid4().hex[:6]}"
        charter = demo_charter()
        founded = await app.found_alliance(
            FoundAlliance(alliance_id=alliance_id, charter=charter, founder_id="greenwatch", founder_name="GreenWatch")
        )
        tell.say(f"1. GreenWatch founds {charter.name!r} as alliance {alliance_id!r} and is its first coordinator.")
        tell.say(f"   receipt: version 1, global position {founded.receipts[0].global_position}, hash {founded.receipts[0].hash[:16]}...")
        for member_id, name, roles in [
            ("fisherfolk", "Fisherfolk Union", [Role.MEMBER]),
            ("riverkeepers", "Riverkeepers", [Role.STEERING]),
            ("faithgroup", "Interfaith Climate Group", [Role.MEDIATOR]),
            ("wetlands", "Wetlands Trust", [Role.MEDIATOR]),
            ("students", "Students for Rivers", [Role.MEMBER]),
            ("anglers", "Anglers United", [Role.MEMBER]),
        ]:
            await app.alliance_command(
                alliance_id, AdmitMember(actor="greenwatch", member_id=member_id, name=name, roles=roles)
            )
        tell.say("2. Six organisations are admitted: a union, a steering member, two mediators, a student group, anglers.")
        try:
            await app.alliance_command(
                alliance_id, AdmitMember(actor="students", member_id="oilco", name="Oil Co Foundation")
            )
        except Refused as refusal:
            tell.say(f"3. Students try to admit a sponsor themselves and are refused: {refusal.message}")
        await app.alliance_command(
            alliance_id, SuspendMember(actor="greenwatch", member_id="students", reason="unpaid dues")
        )
        await app.alliance_command(alliance_id, ReinstateMember(actor="greenwatch", member_id="students"))
        await app.alliance_command(
            alliance_id, SetRoles(actor="greenwatch", member_id="riverkeepers", roles=[Role.COORDINATOR, Role.STEERING])
        )
        tell.say("4. Students are suspended and reinstated; Riverkeepers become co-coordinators.")
        await run_decision(app, alliance_id, tell)
        await run_dispute(app, alliance_id, tell)
        await run_ledger(app, alliance_id, tell)
        head = await app.alliance_head(alliance_id)
        report = await app.verify()
        tell.say(
            f"The record: the alliance's stream has {head.version} events (head hash {head.hash[:16]}...); "
            f"verify recomputed {report.events_checked} events in {report.streams_checked} streams: "
            f"{'intact' if report.ok else 'BROKEN'}."
        )
        await tell_the_log(app, settings, alliance_id, tell)
        tell.say(
            ("Where to look (the demo's own stack has stopped; under `accord dev` these find its data):\n"
             if ui_url is None else "Where to look:\n")
            + f"  accord alliance show {alliance_id}\n"
            f"  accord decision show campaign --alliance {alliance_id}\n"
            f"  accord alliance parked {alliance_id}\n"
            f"  accord dispute show banner --alliance {alliance_id} --as fisherfolk\n"
            f"  accord member notifications {alliance_id} riverkeepers --as greenwatch\n"
            f"  accord log checkpoint {alliance_id}; accord audit verify --alliance {alliance_id}\n"
            f"  psql: SELECT stream_version, event_type, data FROM accord.events WHERE stream_id = 'decision-{alliance_id}.campaign';\n"
            f"  Temporal Web UI: {ui_url or 'http://localhost:8233 under accord dev'}"
            f" (workflows alliance-{alliance_id}, decision-{alliance_id}.campaign)"
        )
    return Output({"alliance_id": alliance_id, "steps": tell.lines}, "")


async def tell_the_log(app: Accord, settings: Settings, alliance_id: str, tell: Narrator) -> None:
    """Sign a checkpoint of the alliance's log with the dev stack's key, prove the decision's last event in it,
    and recompute the whole log from the record."""
    signer = dev_signer(settings)
    log = TransparencyLog(app.pool)
    await log.issue(alliance_id, signer, settings.log_name)
    checkpoint = await log.checkpoint(alliance_id)
    head = await app.store.head(DECISION.stream_name("campaign", alliance_id))
    proof = await log.prove(head.stream_id, head.version)
    report = await transparency.verify_log(app, alliance_id, None, [signer.verifier])
    tell.say(
        f"The log: every event is a leaf of the alliance's Merkle log; a checkpoint of {checkpoint.tree_size} leaves is "
        f"signed by {signer.name}, the decision's last event is leaf {proof.leaf_index}, proven in it with "
        f"{len(proof.proof)} hashes, and the log recomputed from the record {'holds' if report.ok else 'DOES NOT HOLD'}, "
        f"with {report.draws} draw(s) recomputed."
    )


async def run_decision(app: Accord, alliance_id: str, tell: Narrator) -> None:
    """A decision with a reminder, a stall, an automatic escalation, two points adopted and one parked."""
    decision_id = "campaign"  # ids are scoped to the alliance
    await app.open_decision(
        alliance_id, "riverkeepers", decision_id, "Spring campaign",
        [
            {"text": "A joint march on World Rivers Day"},
            {"text": "Publish the joint water-quality report"},
            {"text": "Accept HydroCorp's sponsorship of the march"},
        ],
    )
    tell.say("5. Riverkeepers propose the spring campaign in three points; everyone has 8 seconds to respond.")
    stances = [
        ("greenwatch", "p1", "agree", None, None), ("fisherfolk", "p1", "agree", None, None),
        ("riverkeepers", "p1", "agree", None, None), ("faithgroup", "p1", "concerns", None, None),
        ("greenwatch", "p2", "agree", None, None), ("riverkeepers", "p2", "agree", None, None),
        ("riverkeepers", "p3", "agree", None, None),
        ("students", "p3", "block", "HydroCorp pollutes the river we campaign for", "independence"),
    ]
    for member, point, kind, reason, principle in stances:
        await app.decision_command(
            decision_id,
            TakeStance(actor=member, point_id=point, stance=StanceKind(kind), reason=reason, principle=principle),
            alliance_id=alliance_id,
        )
    tell.say("6. Four members agree to the march; only two respond on the report; Students block the sponsorship,")
    tell.say("   citing the core principle 'independence'.")
    seen = 2 + len(stances)
    while True:
        events = await app.store.read_stream(DECISION.stream_name(decision_id, alliance_id), from_version=seen)
        for event in events:
            seen = event.stream_version + 1
            data = {k: ", ".join(cast("list[str]", v)) if isinstance(v, list) else v for k, v in event.data.items()}
            tell.say("   " + DEMO_STORY.get(event.event_type, event.event_type).format(**data))
        view = await app.decision(decision_id, alliance_id=alliance_id)
        if not view.state.is_live:
            break
        await asyncio.sleep(0.5)
    outcomes = ", ".join(f"{pid} {outcome}" for pid, outcome in view.state.outcomes.items())
    tell.say(f"7. Outcome: {view.state.outcome} ({outcomes}).")
    parked: dict[str, ParkedPoint] = {}
    for _ in range(20):  # the alliance records the parked point when the decision's signal arrives
        parked = (await app.alliance(alliance_id)).parked
        if parked:
            break
        await asyncio.sleep(0.25)
    tell.say(f"   Parked for more discussion: {', '.join(parked) or 'nothing'}.")


async def run_dispute(app: Accord, alliance_id: str, tell: Narrator) -> None:
    """A dispute that climbs from negotiation to mediation and settles there."""
    dispute_id = "banner"
    await app.raise_dispute(
        alliance_id, "fisherfolk", dispute_id, ["students"], "Use of the union's banner",
        "The students carried our union banner at a rally we had not agreed to join.",
    )
    tell.say("8. Fisherfolk raise a dispute with the Students over a banner; 4 seconds to negotiate.")
    await app.dispute_command(
        dispute_id, ProposeTerms(actor="fisherfolk", text="An apology in the next newsletter"), alliance_id=alliance_id
    )
    tell.say("   Fisherfolk propose an apology; the Students do not answer, and negotiation runs out.")
    drawing = await _wait_for_stage(app, alliance_id, dispute_id, "drawing")
    assert drawing.draw is not None
    tell.say(
        f"9. Negotiation runs out and a mediator draw opens: accord commits to its secret "
        f"({drawing.draw.commitment[:16]}...), and each party may add 32 random bytes of its own."
    )
    for party in ("fisherfolk", "students"):
        await app.dispute_command(
            dispute_id, ContributeToDraw(actor=party, contribution=secrets.token_hex(32)), alliance_id=alliance_id
        )
    state = await _wait_for_stage(app, alliance_id, dispute_id, "mediation")
    tell.say(
        f"   Both parties contribute, accord reveals its secret, and {state.mediator} is drawn: neither accord nor one "
        "party chose, and anyone can recompute the draw from its event."
    )
    await app.dispute_command(
        dispute_id, ProposeTerms(actor=state.mediator or "", text="A joint statement, and the banner returned by Friday"),
        alliance_id=alliance_id,
    )
    await app.dispute_command(dispute_id, AcceptTerms(actor="fisherfolk", terms_id="t2"), alliance_id=alliance_id)
    await app.dispute_command(dispute_id, AcceptTerms(actor="students", terms_id="t2"), alliance_id=alliance_id)
    state = await _wait_for_stage(app, alliance_id, dispute_id, "settled")
    tell.say(f"10. The mediator's terms are accepted by both parties: {state.outcome}.")
    outsider = await app.dispute(dispute_id, Caller.named("anglers"), alliance_id=alliance_id)
    tell.say(f"   Anglers, not involved, see only that it exists and its stage: {outsider.model_dump(mode='json')}")


async def run_ledger(app: Accord, alliance_id: str, tell: Narrator) -> None:
    """A week of the costs ledger: money, hours and a venue in kind, one imbalance flagged."""
    today = datetime.now(UTC).date()
    for entry in [
        RecordEntry(actor="greenwatch", kind=EntryKind.IN_KIND, member_id="greenwatch", on=today, amount="600.00", currency="EUR",
                    category=InKind.VENUE, description="the hall for the assembly"),
        RecordEntry(actor="fisherfolk", kind=EntryKind.MONEY, member_id="fisherfolk", on=today, amount="120.00", currency="EUR",
                    description="printing"),
        RecordEntry(actor="students", kind=EntryKind.HOURS, member_id="students", on=today, hours=Decimal(6), description="minutes"),
    ]:
        await costs.command(app, alliance_id, entry)
    got = await costs.report(app, alliance_id, None, today, today)
    flagged = ", ".join(f"{m.member_id} ({m.share} against {m.agreed})" for m in got.members if m.flagged)
    tell.say(
        f"11. The costs ledger: GreenWatch lends the hall, Fisherfolk pay the printing, Students give 6 hours; "
        f"{got.total} {got.currency} in all, shared equally by the charter. Flagged beyond the tolerance of {got.tolerance}: {flagged}."
    )


async def _wait_for_stage(app: Accord, alliance_id: str, dispute_id: str, stage: str) -> DisputeState:
    while True:
        view = await app.dispute(dispute_id, None, alliance_id=alliance_id)
        assert isinstance(view, DisputeView)
        if view.state.stage == stage:
            return view.state
        await asyncio.sleep(0.5)


DEMO_STORY = {
    "ReminderSent": "reminder: {members} have not responded on every point",
    "DecisionStalled": "deadline: no quorum on {without_quorum}; the decision stalls and coordinators and steering are told",
    "DecisionEscalated": "nobody acted within the escalation window: the charter's '{rule}' rule applies by itself",
    "DecisionClosed": "closed ({how}): {outcome}",
}
