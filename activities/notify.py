"""Delivering notifications from the outbox to members' webhooks or email, recording every attempt.

A member's webhook is read from the alliance's read model (kept by the appends of its events), its
address, language and choice of delivery by kind from its contact (`accord.member_contacts`), so a
change takes effect at once. A notification that goes neither way (the member chose none, or set up
neither) stays undelivered; the member reads it on the pages, through the CLI or the API.
"""

from __future__ import annotations

import json
import uuid

import asyncpg
import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from accord import mail
from accord.config import Settings
from events.errors import AccordError

DELIVER_NOTIFICATIONS = "deliver_notifications"

_WEBHOOKS = """
SELECT m.member_id, a.row -> 'members' -> m.member_id ->> 'webhook_url' AS webhook_url
FROM unnest($2::text[]) AS m(member_id)
JOIN accord.read_models a ON a.model = 'alliances' AND a.key = $1
"""
"""Members of an alliance ($1) and their webhooks now (NULL: none), from the alliance's read model
(AllianceState's own JSON: `members` by id, each with `webhook_url`)."""

WEBHOOK_SQL = f"SELECT webhook_url FROM ({_WEBHOOKS}) w"
"""A member's webhook now: `$2` is a one-member array."""

REACHABLE_SQL = f"""
SELECT w.member_id FROM ({_WEBHOOKS}) w
LEFT JOIN accord.member_contacts c ON c.alliance_id = $1 AND c.member_id = w.member_id
WHERE w.webhook_url IS NOT NULL OR c.email IS NOT NULL
"""
"""Which of some members have a webhook or an address now (one query for a whole batch): a delivery
activity is worth starting for their notifications (it then follows each member's choice by kind)."""


CONTACT_SQL = "SELECT email, language, delivery FROM accord.member_contacts WHERE alliance_id = $1 AND member_id = $2"


class NotifyActivities:
    def __init__(self, pool: asyncpg.Pool, http: httpx.AsyncClient | None = None, settings: Settings | None = None):
        self.pool = pool
        self.http = http or httpx.AsyncClient(timeout=10)
        self.settings = settings or Settings()

    @activity.defn(name=DELIVER_NOTIFICATIONS)
    async def deliver_notifications(self, notification_ids: list[uuid.UUID]) -> int:
        """Post each undelivered notification; raise (so Temporal retries with backoff) if any failed."""
        rows = await self.pool.fetch(
            "SELECT * FROM accord.notifications WHERE notification_id = ANY($1) AND delivered_at IS NULL",
            notification_ids,
        )
        delivered = 0
        failed: list[str] = []
        for row in rows:
            url = await self.pool.fetchval(WEBHOOK_SQL, row["alliance_id"], [row["member_id"]])
            contact = await self.pool.fetchrow(CONTACT_SQL, row["alliance_id"], row["member_id"])
            address = contact["email"] if contact and mail.can_send(self.settings) else None
            delivery: dict[str, str] = json.loads(contact["delivery"]) if contact else {}
            how = mail.channel(delivery, row["kind"], webhook=bool(url), email=bool(address))
            if how == "webhook":
                error = await self._post(url, row)
            elif how == "email" and address:
                error = await self._email(address, contact["language"] if contact else None, row)
            else:
                continue
            await self.pool.execute(
                "UPDATE accord.notifications SET attempts = attempts + 1, last_attempt_at = now(),"
                " last_error = $2, delivered_at = CASE WHEN $2::text IS NULL THEN now() END"
                " WHERE notification_id = $1",
                row["notification_id"],
                error,
            )
            if error:
                failed.append(f"{row['member_id']}: {error}")
            else:
                delivered += 1
        if failed:
            raise ApplicationError(f"{len(failed)} delivery(ies) failed: {'; '.join(failed)}")
        return delivered

    async def _email(self, address: str, language: str | None, row: asyncpg.Record) -> str | None:
        from accord.notify_mail import compose  # here: the workflows import this module for its activity's name

        try:
            await mail.send(self.settings, await compose(self.pool, self.settings, row, address, language))
        except AccordError as error:
            return error.message
        return None

    async def _post(self, url: str, row: asyncpg.Record) -> str | None:
        body = {
            "notification_id": str(row["notification_id"]),
            "alliance_id": row["alliance_id"],
            "process": row["stream_id"],
            "member_id": row["member_id"],
            "kind": row["kind"],
            "message": row["message"],
            "event_id": str(row["event_id"]),
            "created_at": row["created_at"].isoformat(),
        }
        try:
            response = await self.http.post(url, json=body)
        except httpx.HTTPError as error:
            return f"{type(error).__name__}: {error}"
        if response.is_success:
            return None
        return f"HTTP {response.status_code}"
