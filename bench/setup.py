"""What the Temporal benchmarks open before they measure: an alliance with members, decisions."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from typing import Any, TypeVar

from accord.app import Accord
from events.alliance import AdmitMember, FoundAlliance
from events.charter import Charter

T = TypeVar("T")

FOUNDER = "m000"


def charter(**decision_rules: Any) -> Charter:
    """A charter like accord/examples/charter.toml, with some decision rules changed."""
    rules = {
        "quorum": 0.6,
        "response_window": "7d",
        "min_response_window": "1h",
        "max_response_window": "30d",
        "reminder_lead": "2d",
        "escalation_window": "3d",
        "extension": "5d",
        "max_extensions": 2,
        "fallback": "supermajority",
        "supermajority": 0.6667,
        "objection_tolerance": 1,
        **decision_rules,
    }
    return Charter.model_validate(
        {
            "name": "Benchmark Alliance",
            "principles": [
                {"id": "non-violence", "text": "We campaign by non-violent means only."},
                {"id": "independence", "text": "We accept no money from companies that pollute."},
            ],
            "decisions": rules,
            "disputes": {
                "negotiation_window": "14d", "mediation_window": "21d", "panel_window": "14d",
                "appeal_window": "7d", "panel_size": 3,
                "crisis": {"negotiation_window": "2d", "mediation_window": "3d", "panel_window": "3d",
                           "appeal_window": "2d"},
            },
        }
    )


def member_ids(count: int) -> list[str]:
    """The founder first, then the other members: m000, m001, ..."""
    return [f"m{i:03d}" for i in range(count)]


async def alliance(app: Accord, alliance_id: str, members: int, **decision_rules: Any) -> list[str]:
    """Found an alliance (m000 founds it) and admit the other members; returns every member id."""
    ids = member_ids(members)
    await app.found_alliance(
        FoundAlliance(alliance_id=alliance_id, charter=charter(**decision_rules), founder_id=FOUNDER,
                      founder_name="Founder")
    )
    for member in ids[1:]:
        await app.alliance_command(alliance_id, AdmitMember(actor=FOUNDER, member_id=member, name=member))
    return ids


async def bounded(calls: Iterable[Callable[[], Awaitable[T]]], concurrency: int) -> list[T]:
    """Run the calls with at most `concurrency` in flight; results in order."""
    gate = asyncio.Semaphore(concurrency)

    async def one(call: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await call()

    return await asyncio.gather(*(one(call) for call in calls))


async def open_decisions(app: Accord, alliance_id: str, ids: list[str], points: int, concurrency: int = 20) -> None:
    drafts = [{"text": f"point {i + 1}"} for i in range(points)]
    await bounded([partial(app.open_decision, alliance_id, FOUNDER, d, f"Decision {d}", drafts) for d in ids], concurrency)
