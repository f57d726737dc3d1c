"""Delivering notifications from the outbox to members' webhooks, recording every attempt.

A member's webhook is read from the alliance's read model (kept by the appends of its events), so a
changed URL takes effect at once. Members without a webhook read their notifications through the
CLI or the API; their rows stay undelivered.
"""

from __future__ import annotations

import uuid

import asyncpg
import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

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

WITH_WEBHOOK_SQL = f"SELECT member_id FROM ({_WEBHOOKS}) w WHERE webhook_url IS NOT NULL"
"""Which of some members have a webhook now (one query for a whole batch)."""


class NotifyActivities:
    def __init__(self, pool: asyncpg.Pool, http: httpx.AsyncClient | None = None):
        self.pool = pool
        self.http = http or httpx.AsyncClient(timeout=10)

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
            if not url:
                continue
            error = await self._post(url, row)
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
            raise ApplicationError(f"{len(failed)} webhook delivery(ies) failed: {'; '.join(failed)}")
        return delivered

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
