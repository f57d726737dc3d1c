"""Signing in to the pages: one-time links sent by email, API tokens pasted, and the sessions they open.

A link's secret and a session's secret are shown once (in the email, in the cookie) and kept only as
SHA-256 hashes. A link works once and for ACCORD_SIGN_IN_MINUTES; a session for ACCORD_SESSION_DAYS or
until its member signs out; each session has its own form token, which every form it posts must carry.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

import asyncpg
from pydantic import BaseModel

from events.access import TokenHolder

__all__ = [
    "Answer", "WebSession", "answer_of", "end_session", "link_holder", "new_answer_link", "new_link", "open_session", "session_of",
    "use_link",
]


class WebSession(BaseModel):
    holder: TokenHolder
    csrf_token: str


def _hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


async def new_link(pool: asyncpg.Pool, alliance_id: str, member_id: str, minutes: int) -> str:
    """A one-time sign-in secret for the member, good for `minutes`."""
    secret = secrets.token_urlsafe(32)
    await pool.execute(
        "INSERT INTO accord.sign_in_links (link_hash, alliance_id, member_id, expires_at) VALUES ($1, $2, $3, $4)",
        _hash(secret), alliance_id, member_id, datetime.now(UTC) + timedelta(minutes=minutes),
    )
    return secret


async def use_link(pool: asyncpg.Pool, secret: str) -> TokenHolder | None:
    """The member a sign-in secret stands for, spending it; None when it is unknown, used or expired."""
    row = await pool.fetchrow(
        "UPDATE accord.sign_in_links SET used_at = now() WHERE link_hash = $1 AND used_at IS NULL AND expires_at > now()"
        " RETURNING alliance_id, member_id",
        _hash(secret),
    )
    return TokenHolder(alliance_id=row["alliance_id"], member_id=row["member_id"]) if row else None


async def link_holder(pool: asyncpg.Pool, secret: str) -> TokenHolder | None:
    """Whom an unspent, unexpired sign-in secret is for, without spending it (the confirmation page)."""
    row = await pool.fetchrow(
        "SELECT alliance_id, member_id FROM accord.sign_in_links WHERE link_hash = $1 AND used_at IS NULL AND expires_at > now()",
        _hash(secret),
    )
    return TokenHolder(alliance_id=row["alliance_id"], member_id=row["member_id"]) if row else None


async def open_session(pool: asyncpg.Pool, holder: TokenHolder, days: int) -> str:
    """A new session for the member; its secret, for the cookie."""
    secret = secrets.token_urlsafe(32)
    await pool.execute(
        "INSERT INTO accord.web_sessions (session_hash, alliance_id, member_id, csrf_token, expires_at) VALUES ($1, $2, $3, $4, $5)",
        _hash(secret), holder.alliance_id, holder.member_id, secrets.token_urlsafe(24), datetime.now(UTC) + timedelta(days=days),
    )
    return secret


async def session_of(pool: asyncpg.Pool, secret: str) -> WebSession | None:
    row = await pool.fetchrow(
        "SELECT alliance_id, member_id, csrf_token FROM accord.web_sessions"
        " WHERE session_hash = $1 AND ended_at IS NULL AND expires_at > now()",
        _hash(secret),
    )
    if row is None:
        return None
    return WebSession(holder=TokenHolder(alliance_id=row["alliance_id"], member_id=row["member_id"]), csrf_token=row["csrf_token"])


async def end_session(pool: asyncpg.Pool, secret: str) -> None:
    await pool.execute("UPDATE accord.web_sessions SET ended_at = now() WHERE session_hash = $1 AND ended_at IS NULL", _hash(secret))


class Answer(BaseModel):
    """What a one-click link of a notification email stands for."""

    alliance_id: str
    member_id: str
    decision_id: str
    point_id: str
    stance: str


async def new_answer_link(pool: asyncpg.Pool, answer: Answer, expires_at: datetime) -> str:
    secret = secrets.token_urlsafe(32)
    await pool.execute(
        "INSERT INTO accord.answer_links (link_hash, alliance_id, member_id, decision_id, point_id, stance, expires_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        _hash(secret), answer.alliance_id, answer.member_id, answer.decision_id, answer.point_id, answer.stance, expires_at,
    )
    return secret


async def answer_of(pool: asyncpg.Pool, secret: str, *, spend: bool = False) -> Answer | None:
    """What an unspent, unexpired one-click link stands for (spending it, when told to); else None."""
    query = (
        "UPDATE accord.answer_links SET used_at = now() WHERE link_hash = $1 AND used_at IS NULL AND expires_at > now()"
        " RETURNING alliance_id, member_id, decision_id, point_id, stance"
        if spend else
        "SELECT alliance_id, member_id, decision_id, point_id, stance FROM accord.answer_links"
        " WHERE link_hash = $1 AND used_at IS NULL AND expires_at > now()"
    )
    row = await pool.fetchrow(query, _hash(secret))
    return Answer(**dict(row)) if row else None
