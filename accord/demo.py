"""`accord demo`: a short, realistic showcase on the embedded stack that ends by itself.

It uses a running `accord dev` stack when there is one; otherwise it starts the embedded services
itself (in the data directory), runs a worker in-process, and stops everything at the end.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import click

from accord.app import Accord
from accord.config import Settings, running_dev_stack
from accord.devstack import dev_services
from accord.render import Output
from accord.runner import migrated_app
from accord.worker import build_worker
from events.alliance import AdmitMember, FoundAlliance, ReinstateMember, Role, SetRoles, SuspendMember
from events.charter import Charter, load_charter
from events.rules import Refused

EXAMPLE_CHARTER = Path(__file__).resolve().parent.parent / "examples" / "charter.toml"


@contextlib.asynccontextmanager
async def demo_stack(settings: Settings) -> AsyncIterator[tuple[Accord, str | None]]:
    """The running dev stack if there is one, else the embedded services with a worker of our own."""
    stack = running_dev_stack(settings)
    if stack is not None:
        async with migrated_app(settings) as app:
            yield app, stack.ui_url
        return
    async with dev_services(settings) as endpoints:
        settings = settings.model_copy(update={"database_url": endpoints.database_url})
        async with migrated_app(settings, temporal_address=endpoints.temporal_address) as app:
            async with build_worker(app.client, app.pool, app.task_queue):
                yield app, endpoints.ui_url


def demo_charter() -> Charter:
    """The example charter with short windows, so the demo's timers fire within seconds."""
    charter = load_charter(EXAMPLE_CHARTER)
    rules = charter.decisions.model_copy(
        update={
            "response_window": timedelta(seconds=8),
            "min_response_window": timedelta(seconds=1),
            "reminder_lead": timedelta(seconds=4),
            "escalation_window": timedelta(seconds=4),
            "extension": timedelta(seconds=5),
        }
    )
    return charter.model_copy(update={"decisions": rules})


class Narrator:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def say(self, line: str) -> None:
        self.lines.append(line)
        click.echo(line, err=True)


async def run_demo(settings: Settings) -> Output:
    tell = Narrator()
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
            ("students", "Students for Rivers", [Role.MEMBER]),
        ]:
            await app.alliance_command(
                alliance_id, AdmitMember(actor="greenwatch", member_id=member_id, name=name, roles=roles)
            )
        tell.say("2. Four organisations are admitted: a union, a steering member, a mediator, a student group.")
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
        head = await app.alliance_head(alliance_id)
        report = await app.verify(f"alliance-{alliance_id}")
        tell.say(
            f"5. The record: {head.version} events in stream alliance-{alliance_id}, head hash {head.hash[:16]}...; "
            f"verify checked {report.events_checked} events: {'intact' if report.ok else 'BROKEN'}."
        )
        tell.say(
            "Where to look:\n"
            f"  accord alliance show {alliance_id}\n"
            f"  psql: SELECT stream_version, event_type, data FROM accord.events WHERE stream_id = 'alliance-{alliance_id}';\n"
            f"  Temporal Web UI: {ui_url or '(your Temporal server)'} (workflow alliance-{alliance_id})"
        )
    return Output({"alliance_id": alliance_id, "steps": tell.lines}, "")
