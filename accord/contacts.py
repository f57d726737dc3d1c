"""How members are reached: their email address and language, kept beside the record, not in it.

An address is personal data that a member must be able to change and have erased; the record is
append-only and hash-chained. So contacts live in `accord.member_contacts`, set by the member itself or
by a coordinator (as a webhook is), readable by them alone, and never exported or replayed.
"""

from __future__ import annotations

import json
import re
from datetime import datetime

import asyncpg
from pydantic import BaseModel, field_validator

from accord.app import Accord
from accord.i18n import LANGUAGES
from accord.mail import CHANNELS
from events.access import Caller
from events.rules import invalid, not_found

__all__ = ["Contact", "contact", "members_at", "set_contact", "visited"]


_ADDRESS = re.compile(r"[^@\s<>\"(),;:\\\[\]]+@[^@\s<>\"(),;:\\\[\]]+\.[^@\s<>\"(),;:\\\[\].]+")


_KIND = re.compile(r"\*|[a-z][a-z_]{0,62}")


class Contact(BaseModel):
    alliance_id: str
    member_id: str
    email: str | None = None
    language: str | None = None
    delivery: dict[str, str] = {}
    """By kind of notification (or "*", every other kind): email, webhook or none."""
    last_visit: datetime | None = None

    @field_validator("delivery", mode="before")
    @classmethod
    def _from_jsonb(cls, value: object) -> object:
        return json.loads(value) if isinstance(value, str) else value


def _delivery(delivery: dict[str, str]) -> dict[str, str]:
    for kind, way in delivery.items():
        if not _KIND.fullmatch(kind):
            raise invalid(f"{kind[:80]!r} is not a kind of notification: use its name (decision_opened, reminder, ...) or '*'", "delivery")
        if way not in CHANNELS:
            raise invalid(f"{way[:80]!r} is not a way to deliver {kind!r}: use one of {', '.join(CHANNELS)}", "delivery")
    return delivery


def _address(email: str) -> str:
    email = email.strip()
    if len(email) > 254 or not _ADDRESS.fullmatch(email):
        raise invalid(f"{email[:80]!r} is not an email address: give one like 'name@example.org' (at most 254 characters)", "email")
    return email


def _language(language: str) -> str:
    if language not in LANGUAGES:
        raise invalid(f"{language!r} is not a language accord speaks: use one of {', '.join(LANGUAGES)}", "language")
    return language


async def set_contact(
    app: Accord, alliance_id: str, actor: str, member_id: str, *, email: str | None = None, language: str | None = None,
    delivery: dict[str, str] | None = None, erase: bool = False,
) -> Contact:
    """Set a member's address, language and ways of delivery by kind (the member, or a coordinator); what is
    not given stays as it was; `erase` forgets it all."""
    state = await app.self_or_coordinator(alliance_id, actor, member_id, "set another member's contact")
    if state.member(member_id) is None:
        raise not_found(f"no member {member_id!r} in alliance {alliance_id!r}", "member_id")
    if erase:
        await app.pool.execute("DELETE FROM accord.member_contacts WHERE alliance_id = $1 AND member_id = $2", alliance_id, member_id)
        return Contact(alliance_id=alliance_id, member_id=member_id)
    if email is None and language is None and not delivery:
        raise invalid("give an email address, a language or a way of delivery (or erase the contact)", "email")
    row = await app.pool.fetchrow(
        "INSERT INTO accord.member_contacts AS c (alliance_id, member_id, email, language, delivery, updated_by)"
        " VALUES ($1, $2, $3, $4, $5::jsonb, $6) ON CONFLICT (alliance_id, member_id) DO UPDATE SET"
        " email = coalesce($3, c.email), language = coalesce($4, c.language), delivery = c.delivery || $5::jsonb,"
        " updated_by = $6, updated_at = now() RETURNING alliance_id, member_id, email, language, delivery, last_visit",
        alliance_id, member_id, _address(email) if email is not None else None, _language(language) if language else None,
        json.dumps(_delivery(delivery or {})), actor,
    )
    assert row is not None  # an upsert returns its row
    return Contact(**dict(row))


async def contact(app: Accord, alliance_id: str, member_id: str, reader: Caller | None = None) -> Contact:
    """A member's contact, for the member itself, a coordinator, or the operator (`reader` None)."""
    if reader is not None:
        await app.self_or_coordinator(alliance_id, reader.member_id, member_id, "read another member's contact")
    row = await app.pool.fetchrow(
        "SELECT alliance_id, member_id, email, language, delivery, last_visit FROM accord.member_contacts"
        " WHERE alliance_id = $1 AND member_id = $2",
        alliance_id, member_id,
    )
    return Contact(**dict(row)) if row else Contact(alliance_id=alliance_id, member_id=member_id)


async def members_at(pool: asyncpg.Pool, email: str) -> list[tuple[str, str]]:
    """The (alliance, member) pairs whose address is `email` (compared without case)."""
    rows = await pool.fetch(
        "SELECT alliance_id, member_id FROM accord.member_contacts WHERE lower(email) = lower($1) ORDER BY alliance_id, member_id",
        email.strip(),
    )
    return [(row["alliance_id"], row["member_id"]) for row in rows]


async def visited(pool: asyncpg.Pool, alliance_id: str, member_id: str, at: datetime) -> datetime | None:
    """Note a visit of the member's inbox; the one before it, if any (what changed is what came after)."""
    before = await pool.fetchval(
        "SELECT last_visit FROM accord.member_contacts WHERE alliance_id = $1 AND member_id = $2", alliance_id, member_id
    )
    await pool.execute(
        "INSERT INTO accord.member_contacts (alliance_id, member_id, last_visit, updated_by) VALUES ($1, $2, $3, $2)"
        " ON CONFLICT (alliance_id, member_id) DO UPDATE SET last_visit = $3",
        alliance_id, member_id, at,
    )
    return before  # type: ignore[no-any-return]
