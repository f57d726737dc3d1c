"""A notification of the outbox as an email: in the member's language, with a link to the page of its
process and, while a decision waits for the member's stance, a one-click link per point and stance.

A one-click link only opens a confirmation page (mail scanners follow links); the stance is taken when
the member confirms there (accord/web.py, /web/answer/...).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg

from accord import sessions
from accord.config import Settings
from accord.i18n import environment, translations
from accord.mail import Mail
from events.decision import DecisionState, StanceKind
from events.processes import DECISION, DISPUTE
from events.store import EventStore
from events.streams import StreamId

__all__ = ["ANSWERABLE", "compose"]

ANSWERABLE = frozenset({"decision_opened", "reminder", "stance_cleared", "point_added", "deadline_extended"})
"""The kinds of notification that ask for a stance: their emails carry one-click answers."""


def _page(settings: Settings, stream: StreamId | None) -> str:
    if stream is not None and stream.kind == DECISION.kind:
        return f"{settings.base_url}/web/decisions/{stream.process_id}"
    if stream is not None and stream.kind == DISPUTE.kind:
        return f"{settings.base_url}/web/disputes/{stream.process_id}"
    return f"{settings.base_url}/web/alliance"


async def _decision(store: EventStore, stream: str) -> DecisionState | None:
    state: Any = None
    for event in await store.read_stream(stream):
        typed = DECISION.event(event.event_type, int(event.metadata.get("schema_version", 1)), event.data)
        state = DECISION.evolve(state, typed)
    return state  # type: ignore[no-any-return]


async def _answers(pool: asyncpg.Pool, settings: Settings, row: asyncpg.Record) -> list[tuple[str, str, list[tuple[StanceKind, str]]]]:
    """(point, its text, [(stance, link)]) for each point the member has not answered yet."""
    stream = StreamId.parse(row["stream_id"])
    if row["kind"] not in ANSWERABLE or stream is None or stream.kind != DECISION.kind:
        return []
    state = await _decision(EventStore(pool), row["stream_id"])
    member = row["member_id"]
    if state is None or not state.is_live or member not in state.context.electorate or state.deadline <= datetime.now(UTC):
        return []
    answers: list[tuple[str, str, list[tuple[StanceKind, str]]]] = []
    for point in state.active_points:
        if member in point.stances:
            continue
        links: list[tuple[StanceKind, str]] = []
        for stance in StanceKind:
            answer = sessions.Answer(
                alliance_id=row["alliance_id"], member_id=member, decision_id=state.decision_id, point_id=point.point_id,
                stance=stance.value,
            )
            links.append((stance, f"{settings.base_url}/web/answer/{await sessions.new_answer_link(pool, answer, state.deadline)}"))
        answers.append((point.point_id, point.text, links))
    return answers


async def compose(pool: asyncpg.Pool, settings: Settings, row: asyncpg.Record, address: str, language: str | None) -> Mail:
    """The email of an outbox row for the member at `address`."""
    from accord.web import STANCE_LABELS  # the pages' own words for the stances

    language = language or "en"
    values = {
        "message": row["message"], "page": _page(settings, StreamId.parse(row["stream_id"])),
        "answers": await _answers(pool, settings, row), "stances": STANCE_LABELS, "settings_page": f"{settings.base_url}/web/settings",
    }
    env = environment(language)
    subject = translations(language).gettext("accord: %(message)s") % {"message": row["message"][:120]}
    return Mail(
        to=address, subject=subject,
        text=env.get_template("email/notification.txt").render(**values), html=env.get_template("email/notification.html").render(**values),
    )
