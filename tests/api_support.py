"""Shared pieces of the HTTP API tests: an httpx client on the ASGI app, bearer headers, error shapes."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx

from accord.api import create_app
from accord.app import Accord
from accord.config import Settings


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def client_for(app: Accord, settings: Settings) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(app, settings))
    return httpx.AsyncClient(transport=transport, base_url="http://accord.test")


async def event_count(pool: asyncpg.Pool) -> int:
    return await pool.fetchval("SELECT count(*) FROM accord.events")


def validation_error(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    return error
