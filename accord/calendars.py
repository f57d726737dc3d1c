"""A member's calendar: an iCalendar feed on a secret address, with the deadlines that concern it.

Each open decision the member may answer gives its reminder and its deadline; a stalled one, to its
coordinators, the end of its escalation window; each step of a dispute the member may read in full
gives the step's deadline. Events keep their UID as they move, so a calendar that polls the feed moves
them too. The address's secret is kept as a hash; making a new one ends the old.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from icalendar import Calendar, Event

from accord.app import Accord, DisputeView
from events.access import TokenHolder
from events.decision import Stage

__all__ = ["feed", "feed_holder", "new_feed"]

LENGTH = timedelta(minutes=30)
"""How long a deadline's event lasts in the calendar (a deadline is a moment; calendars show spans)."""


def _hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


async def new_feed(pool: asyncpg.Pool, holder: TokenHolder) -> str:
    """A new secret for the member's feed (the old one stops working)."""
    secret = secrets.token_urlsafe(32)
    await pool.execute(
        "INSERT INTO accord.member_contacts (alliance_id, member_id, calendar_hash, updated_by) VALUES ($1, $2, $3, $2)"
        " ON CONFLICT (alliance_id, member_id) DO UPDATE SET calendar_hash = $3, updated_at = now()",
        holder.alliance_id, holder.member_id, _hash(secret),
    )
    return secret


async def feed_holder(pool: asyncpg.Pool, secret: str) -> TokenHolder | None:
    row = await pool.fetchrow("SELECT alliance_id, member_id FROM accord.member_contacts WHERE calendar_hash = $1", _hash(secret))
    return TokenHolder(alliance_id=row["alliance_id"], member_id=row["member_id"]) if row else None


def _component(kind: type[Calendar] | type[Event], **properties: object) -> Any:
    """An iCalendar component with its properties (icalendar's `add` is untyped: kept to this one place)."""
    component: Any = kind()
    for name, value in properties.items():
        component.add(name.replace("_", "-"), value)
    return component


def _event(uid: str, summary: str, at: datetime, url: str, now: datetime) -> Any:
    start = at.astimezone(UTC)
    return _component(Event, uid=f"{uid}@accord", dtstamp=now, dtstart=start, dtend=start + LENGTH, summary=summary, url=url)


async def feed(accord: Accord, holder: TokenHolder, base_url: str) -> bytes:
    """The member's calendar now, read through the access policy as the member's own pages are."""
    now = datetime.now(UTC)
    calendar = _component(Calendar, prodid="-//accord//members' calendar//EN", version="2.0", x_wr_calname=f"accord: {holder.alliance_id}")
    me = holder.member_id
    for row in await accord.decisions(holder.alliance_id, holder):
        if row.stage not in (Stage.OPEN, Stage.STALLED):
            continue
        state = (await accord.decision(row.decision_id, holder)).state
        uid, url = f"decision-{state.alliance_id}.{state.decision_id}", f"{base_url}/web/decisions/{state.decision_id}"
        if state.stage == Stage.OPEN and me in state.context.electorate:
            reminder = state.deadline - state.rules.reminder_lead
            if reminder > now:
                calendar.add_component(_event(f"{uid}-reminder", f"Reminder: respond to {state.title}", reminder, url, now))
            calendar.add_component(_event(f"{uid}-deadline", f"Deadline: {state.title}", state.deadline, url, now))
        if state.stage == Stage.STALLED and me in state.context.coordinators and state.escalation_deadline:
            calendar.add_component(_event(f"{uid}-escalation", f"Stalled, act by: {state.title}", state.escalation_deadline, url, now))
    for seen in await accord.disputes(holder.alliance_id, holder):
        if isinstance(seen, DisputeView) and seen.state.is_live and seen.state.stage_deadline is not None:
            dispute, deadline = seen.state, seen.state.stage_deadline
            uid = f"dispute-{dispute.alliance_id}.{dispute.dispute_id}-{dispute.stage}"
            summary = f"Dispute {dispute.dispute_id}: end of {dispute.stage}"
            calendar.add_component(_event(uid, summary, deadline, f"{base_url}/web/disputes/{dispute.dispute_id}", now))
    ical: bytes = calendar.to_ical()
    return ical
