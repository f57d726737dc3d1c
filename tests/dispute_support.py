"""Shared set-up for dispute tests: a charter with small windows, an alliance with every role, clocks.

The alliance `rivers-…` (founded by gw):

    gw     coordinator          amber  steering
    birch  mediator             fern   mediator
    dune   mediator (and the respondent: a party on the roster, who must never mediate)
    cedar  the raiser           elm, hazel, ivy  members

so a panel of 3 is drawn from gw, amber, elm, hazel, ivy and whichever of birch/fern does not mediate.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any

import asyncpg
from decision_support import eventually
from temporalio.testing import WorkflowEnvironment

from accord.app import Accord, DisputeView
from accord.examples import CHARTER
from events.alliance import AdmitMember, FoundAlliance, Role
from events.charter import Charter, DisputeProcedure, load_charter
from events.dispute import DisputeContext, DisputeState
from events.draws import Draw, check
from events.processes import DISPUTE
from events.store import EventStore

RAISER, RESPONDENT, COORDINATOR, STEERING = "cedar", "dune", "gw", "amber"
ROLES: dict[str, list[Role]] = {
    "amber": [Role.STEERING],
    "birch": [Role.MEDIATOR],
    "fern": [Role.MEDIATOR],
    "dune": [Role.MEDIATOR],
    "cedar": [Role.MEMBER],
    "elm": [Role.MEMBER],
    "hazel": [Role.MEMBER],
    "ivy": [Role.MEMBER],
}
MEMBERS = sorted(["gw", *ROLES])
MEDIATORS = ["birch", "dune", "fern"]


def dispute_charter(crisis: dict[str, object] | None = None, **procedure: object) -> Charter:
    """The example charter with some dispute procedure settings changed ('1h', existence_confidential=True,
    crisis={'negotiation_window': '10m'}), validated as a charter is. Draws are made at once (`draws =
    "immediate"`) unless a test asks for open ones (`draws="open"`, test_verifiable_draws.py)."""
    base = load_charter(CHARTER)
    current = base.disputes.model_dump()
    raw = {**current, "draws": "immediate", **procedure, "crisis": {**current["crisis"], **(crisis or {})}}
    return base.model_copy(update={"disputes": DisputeProcedure.model_validate(raw)})


def context(charter: Charter | None = None) -> DisputeContext:
    """The pinned context of a dispute raised in the alliance above (for the pure decider's tests)."""
    charter = charter or dispute_charter()
    return DisputeContext(
        procedure=charter.disputes,
        decision_rules=charter.decisions,
        principles=[p.id for p in charter.principles],
        mediators=MEDIATORS,
        members=MEMBERS,
        coordinators=["gw"],
        steering=["amber"],
    )


def recomputed(data: dict[str, Any]) -> list[str]:
    """Who an event's verifiable draw drew, recomputed from its record, which must check (events/draws.py)."""
    record = Draw.model_validate(data["draw"])
    assert check(record) == [], check(record)
    return record.drawn


def unique(prefix: str) -> str:
    """An id of this test's own: the Temporal servers live for the whole session."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def alliance_for_disputes(app: Accord, alliance_id: str | None = None, *, founder: str = "gw", **procedure: Any) -> str:
    """Found the alliance above with `dispute_charter(**procedure)` and admit its members."""
    alliance_id = alliance_id or unique("rivers")
    await app.found_alliance(
        FoundAlliance(
            alliance_id=alliance_id, charter=dispute_charter(**procedure), founder_id=founder, founder_name="GreenWatch"
        )
    )
    await asyncio.gather(
        *(
            app.alliance_command(alliance_id, AdmitMember(actor=founder, member_id=m, name=m.title(), roles=roles))
            for m, roles in ROLES.items()
        )
    )
    return alliance_id


async def raise_between(
    app: Accord, alliance_id: str, dispute_id: str | None = None, *, severity: str = "normal"
) -> str:
    """cedar raises a dispute with dune."""
    dispute_id = dispute_id or unique("x")
    await app.raise_dispute(
        alliance_id, RAISER, dispute_id, [RESPONDENT], "Use of the shared banner",
        "dune took the banner to a rally we boycotted", severity,
    )
    return dispute_id


async def stream_of(app: Accord, dispute_id: str) -> str:
    """The name of the dispute's stream (and workflow), `dispute-<alliance>.<id>`, built from the alliance
    its state names."""
    return DISPUTE.stream_name(dispute_id, (await state_of(app, dispute_id)).alliance_id)


async def state_of(app: Accord, dispute_id: str) -> DisputeState:
    """The full state, as the coordinator reads it."""
    view = await app.dispute(dispute_id, None)
    assert isinstance(view, DisputeView)
    return view.state


async def in_stage(app: Accord, dispute_id: str, stage: str, timeout: float = 10.0) -> DisputeState:
    return await eventually(lambda: state_of(app, dispute_id), lambda s: s.stage == stage, timeout)


async def skip_to(env: WorkflowEnvironment, when: datetime) -> None:
    """Move the time-skipping server's clock to `when`, firing every timer on the way."""
    now = await env.get_current_time()
    if when > now:
        await env.sleep(when - now)


async def event_types(store: EventStore, stream: str) -> list[str]:
    return [e.event_type for e in await store.read_stream(stream)]


async def notified(pool: asyncpg.Pool, stream: str, kind: str) -> list[str]:
    """The members an outbox row of this kind was written for."""
    rows = await pool.fetch(
        "SELECT member_id FROM accord.notifications WHERE stream_id = $1 AND kind = $2 ORDER BY member_id", stream, kind
    )
    return [r["member_id"] for r in rows]


