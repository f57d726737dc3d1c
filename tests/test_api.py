"""The HTTP API end to end: real PostgreSQL, real Temporal, requests through httpx's ASGI transport.

Every refused request is checked twice: the status and reason it answers with, and that nothing was
recorded for it (the alliance's stream head and the count of all events are unchanged).
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import tomllib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from api_support import bearer, client_for, event_count, validation_error

import accord
from accord.api import serve
from accord.app import Accord
from accord.config import Settings
from accord.examples import CHARTER as CHARTER_FILE
from events.alliance import AdmitMember, FoundAlliance, Role
from events.charter import load_charter
from events.store import EventStore

ADMIN_TOKEN = "admin-" + uuid.uuid4().hex


@dataclass
class Alliance:
    alliance_id: str
    founder_id: str
    founder_token: str

    @property
    def stream_id(self) -> str:
        return f"alliance-{self.alliance_id}"

    def path(self, tail: str = "") -> str:
        return f"/alliances/{self.alliance_id}{tail}"


def new_alliance_id() -> str:
    # The Temporal server lives for the whole session: each test needs workflow ids of its own.
    return f"rivers-{uuid.uuid4().hex[:10]}"


def charter_json() -> dict[str, Any]:
    """The example charter as an API client sends it: the TOML document as JSON."""
    return tomllib.loads(CHARTER_FILE.read_text(encoding="utf-8"))


async def found(app: Accord, alliance_id: str | None = None, founder_id: str = "riverkeepers") -> Alliance:
    alliance_id = alliance_id or new_alliance_id()
    founded = await app.found_alliance(
        FoundAlliance(
            alliance_id=alliance_id,
            charter=load_charter(CHARTER_FILE),
            founder_id=founder_id,
            founder_name="River Keepers",
        )
    )
    return Alliance(alliance_id, founder_id, founded.token.token)


@pytest.fixture
async def alliance(app: Accord) -> Alliance:
    return await found(app)


@pytest.fixture
async def member_token(app: Accord, alliance: Alliance) -> str:
    """The token of `kayak-club`, an ordinary member (not a coordinator) of `alliance`."""
    await app.alliance_command(
        alliance.alliance_id,
        AdmitMember(actor=alliance.founder_id, member_id="kayak-club", name="Kayak Club", roles=[Role.MEMBER]),
    )
    issued = await app.issue_token(alliance.alliance_id, alliance.founder_id, "kayak-club", "setup")
    return issued.token


@pytest.fixture
async def client(app: Accord) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app, Settings(admin_token=ADMIN_TOKEN)) as api:
        yield api


@asynccontextmanager
async def nothing_recorded(store: EventStore, pool: asyncpg.Pool, alliance: Alliance) -> AsyncIterator[None]:
    head, count = await store.head(alliance.stream_id), await event_count(pool)
    yield
    assert await store.head(alliance.stream_id) == head
    assert await event_count(pool) == count


# --- service --------------------------------------------------------------------------------------


async def test_health_checks_database_and_temporal(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "temporal": "ok"}


async def test_health_names_the_part_that_failed(app: Accord, db_url: str) -> None:
    closed = await asyncpg.create_pool(db_url, min_size=1, max_size=1)
    await closed.close()
    broken = Accord(client=app.client, pool=closed, task_queue=app.task_queue)
    async with client_for(broken, Settings()) as api:
        response = await api.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["database"].startswith("unavailable")
    assert body["temporal"] == "ok"


async def test_openapi_document_lists_every_endpoint(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    assert document["info"]["title"] == "accord"
    assert document["info"]["version"] == accord.__version__
    paths = document["paths"]
    assert set(paths) >= {
        "/health",
        "/alliances",
        "/alliances/{alliance_id}",
        "/alliances/{alliance_id}/members",
        "/alliances/{alliance_id}/head",
        "/alliances/{alliance_id}/charter",
        "/alliances/{alliance_id}/members/{member_id}",
        "/alliances/{alliance_id}/members/{member_id}/suspend",
        "/alliances/{alliance_id}/members/{member_id}/reinstate",
        "/alliances/{alliance_id}/members/{member_id}/roles",
        "/alliances/{alliance_id}/members/{member_id}/webhook",
        "/alliances/{alliance_id}/members/{member_id}/tokens",
        "/alliances/{alliance_id}/tokens/{token_id}",
    }
    assert all(operation.get("summary") for path in paths.values() for operation in path.values())
    admit = paths["/alliances/{alliance_id}/members"]["post"]
    assert admit["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CommandResult"
    }
    assert "actor" not in document["components"]["schemas"]["AdmitRequest"]["properties"]
    docs = await client.get("/docs")
    assert docs.status_code == 200
    # The docs page works offline: every script and style it loads is served by accord itself.
    assets = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert assets and all(a.startswith("/docs/assets/") for a in assets), assets
    for asset in assets:
        served = await client.get(asset)
        assert served.status_code == 200 and len(served.content) > 500, asset


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_serve_listens_until_stop_is_set(app: Accord) -> None:
    settings = Settings(api_host="127.0.0.1", api_port=free_port())
    stop = asyncio.Event()
    server = asyncio.create_task(serve(app, settings, stop))
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.api_port}") as http:
        for _ in range(100):
            try:
                response = await http.get("/health")
                break
            except httpx.ConnectError:
                await asyncio.sleep(0.05)
        else:
            pytest.fail("the API never answered")
        assert response.json()["status"] == "ok"
    stop.set()
    await asyncio.wait_for(server, timeout=10)


# --- authentication -------------------------------------------------------------------------------


async def test_no_token_is_401(client: httpx.AsyncClient, alliance: Alliance) -> None:
    response = await client.get(alliance.path())
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "Authorization: Bearer" in response.json()["detail"]


async def test_wrong_token_is_401(
    client: httpx.AsyncClient, alliance: Alliance, store: EventStore, pool: asyncpg.Pool
) -> None:
    async with nothing_recorded(store, pool, alliance):
        response = await client.post(
            alliance.path("/members"), json={"member_id": "intruder", "name": "Intruder"}, headers=bearer("acc_wrong")
        )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json() == {"detail": "unknown or revoked token"}


async def test_revoked_token_is_401(client: httpx.AsyncClient, alliance: Alliance, member_token: str) -> None:
    assert (await client.get(alliance.path(), headers=bearer(member_token))).status_code == 200
    [info] = (await client.get(alliance.path("/members/kayak-club/tokens"), headers=bearer(member_token))).json()

    revoked = await client.delete(alliance.path(f"/tokens/{info['token_id']}"), headers=bearer(alliance.founder_token))
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None

    response = await client.get(alliance.path(), headers=bearer(member_token))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_token_of_another_alliance_is_403(
    app: Accord, client: httpx.AsyncClient, alliance: Alliance, store: EventStore, pool: asyncpg.Pool
) -> None:
    other = await found(app, founder_id="mountain-guard")
    assert (await client.get(alliance.path(), headers=bearer(other.founder_token))).status_code == 403
    async with nothing_recorded(store, pool, alliance):
        response = await client.post(
            alliance.path("/members"),
            json={"member_id": "spy", "name": "Spy"},
            headers=bearer(other.founder_token),
        )
    assert response.status_code == 403
    assert other.alliance_id in response.json()["detail"]


# --- refusals -------------------------------------------------------------------------------------


async def test_only_coordinators_admit_members(
    client: httpx.AsyncClient, alliance: Alliance, member_token: str, store: EventStore, pool: asyncpg.Pool
) -> None:
    async with nothing_recorded(store, pool, alliance):
        response = await client.post(
            alliance.path("/members"), json={"member_id": "friend", "name": "Friend"}, headers=bearer(member_token)
        )
    assert response.status_code == 403
    assert "only a coordinator may admit members" in response.json()["detail"]


async def test_the_actor_comes_from_the_token_not_the_body(
    client: httpx.AsyncClient, alliance: Alliance, member_token: str, store: EventStore, pool: asyncpg.Pool
) -> None:
    async with nothing_recorded(store, pool, alliance):
        response = await client.post(
            alliance.path("/members"),
            json={"member_id": "friend", "name": "Friend", "actor": alliance.founder_id},
            headers=bearer(member_token),
        )
    error = validation_error(response)
    assert error["loc"] == ["body", "actor"]
    assert error["type"] == "extra_forbidden"


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"member_id": "friend", "name": "   "}, "name", "must not be empty"),
        ({"member_id": "Bad Id!", "name": "Friend"}, "member_id", "is not a valid id"),
        ({"member_id": "friend", "name": "Friend", "roles": ["king"]}, "roles", "'coordinator', 'steering'"),
        ({"member_id": "friend", "name": "Friend", "roles": []}, "roles", "at least 1 item"),
        ({"member_id": "friend", "name": "Friend", "webhook_url": "not a url"}, "webhook_url", "URL"),
    ],
    ids=["empty-name", "bad-member-id", "bad-role", "no-role", "bad-webhook"],
)
async def test_bad_admission_is_422_naming_the_field(
    client: httpx.AsyncClient,
    alliance: Alliance,
    store: EventStore,
    pool: asyncpg.Pool,
    body: dict[str, Any],
    field: str,
    reason: str,
) -> None:
    async with nothing_recorded(store, pool, alliance):
        response = await client.post(alliance.path("/members"), json=body, headers=bearer(alliance.founder_token))
    error = validation_error(response)
    assert error["loc"][:2] == ["body", field]
    assert reason in error["msg"]


async def test_charter_amendment_with_quorum_above_one_is_422(
    client: httpx.AsyncClient, alliance: Alliance, store: EventStore, pool: asyncpg.Pool
) -> None:
    charter = charter_json()
    charter["decisions"]["quorum"] = 1.5
    async with nothing_recorded(store, pool, alliance):
        response = await client.put(
            alliance.path("/charter"),
            json={"charter": charter, "reason": "more consensus"},
            headers=bearer(alliance.founder_token),
        )
    error = validation_error(response)
    assert error["loc"] == ["body", "charter", "decisions", "quorum"]
    assert "less than or equal to 1" in error["msg"]


async def test_domain_refusal_of_bad_input_has_the_same_422_shape(
    client: httpx.AsyncClient, alliance: Alliance, store: EventStore, pool: asyncpg.Pool
) -> None:
    async with nothing_recorded(store, pool, alliance):
        response = await client.post(
            alliance.path("/members"),
            json={"member_id": alliance.founder_id, "name": "Twin"},
            headers=bearer(alliance.founder_token),
        )
    error = validation_error(response)
    assert error["loc"] == ["body", "member_id"]
    assert error["type"] == "value_error"
    assert "already taken" in error["msg"]


async def test_unknown_member_is_404(
    client: httpx.AsyncClient, alliance: Alliance, store: EventStore, pool: asyncpg.Pool
) -> None:
    async with nothing_recorded(store, pool, alliance):
        response = await client.post(
            alliance.path("/members/nobody/suspend"), json={"reason": "absent"}, headers=bearer(alliance.founder_token)
        )
    assert response.status_code == 404
    assert "no member 'nobody'" in response.json()["detail"]


async def test_suspending_a_suspended_member_is_409(
    client: httpx.AsyncClient, alliance: Alliance, member_token: str, store: EventStore, pool: asyncpg.Pool
) -> None:
    founder = bearer(alliance.founder_token)
    first = await client.post(alliance.path("/members/kayak-club/suspend"), json={"reason": "dues"}, headers=founder)
    assert first.status_code == 200
    async with nothing_recorded(store, pool, alliance):
        again = await client.post(
            alliance.path("/members/kayak-club/suspend"), json={"reason": "dues"}, headers=founder
        )
    assert again.status_code == 409
    assert again.json() == {"detail": "member 'kayak-club' is already suspended"}


async def test_removal_needs_a_reason(
    client: httpx.AsyncClient, alliance: Alliance, member_token: str, store: EventStore, pool: asyncpg.Pool
) -> None:
    async with nothing_recorded(store, pool, alliance):
        response = await client.delete(alliance.path("/members/kayak-club"), headers=bearer(alliance.founder_token))
    error = validation_error(response)
    assert error["loc"] == ["body", "reason"]


# --- what members do ------------------------------------------------------------------------------


async def test_founder_admits_suspends_reinstates_and_removes(
    client: httpx.AsyncClient, alliance: Alliance, store: EventStore
) -> None:
    founder = bearer(alliance.founder_token)

    admitted = await client.post(
        alliance.path("/members"),
        json={"member_id": "kayak-club", "name": "Kayak Club", "roles": ["member", "mediator"]},
        headers=founder,
    )
    assert admitted.status_code == 201, admitted.text
    [receipt] = admitted.json()["receipts"]
    assert receipt["stream_id"] == alliance.stream_id
    assert receipt["stream_version"] == 2
    assert receipt["global_position"] >= 2
    head = await store.head(alliance.stream_id)
    assert receipt["hash"] == head.hash
    assert (await client.get(alliance.path("/head"), headers=founder)).json() == head.model_dump()

    async def kayak_club() -> dict[str, Any]:
        members = (await client.get(alliance.path("/members"), headers=founder)).json()
        return next(m for m in members if m["member_id"] == "kayak-club")

    assert (await kayak_club())["roles"] == ["mediator", "member"]

    steps = [
        client.post(alliance.path("/members/kayak-club/suspend"), json={"reason": "unpaid dues"}, headers=founder),
        client.post(alliance.path("/members/kayak-club/reinstate"), headers=founder),
        client.put(alliance.path("/members/kayak-club/roles"), json={"roles": ["steering"]}, headers=founder),
        client.put(
            alliance.path("/members/kayak-club/webhook"),
            json={"webhook_url": "https://kayak.example/hook"},
            headers=founder,
        ),
    ]
    expected: list[dict[str, Any]] = [
        {"status": "suspended"},
        {"status": "active"},
        {"roles": ["steering"]},
        {"webhook_url": "https://kayak.example/hook"},
    ]
    for version, (step, change) in enumerate(zip(steps, expected, strict=True), start=3):
        response = await step
        assert response.status_code == 200, response.text
        assert response.json()["receipts"][0]["stream_version"] == version
        assert change.items() <= (await kayak_club()).items()

    removed = await client.request(
        "DELETE", alliance.path("/members/kayak-club"), json={"reason": "left the region"}, headers=founder
    )
    assert removed.status_code == 200, removed.text
    assert (await kayak_club())["status"] == "removed"
    assert (await store.head(alliance.stream_id)).version == 7


async def test_charter_amendment_records_the_new_charter(client: httpx.AsyncClient, alliance: Alliance) -> None:
    founder = bearer(alliance.founder_token)
    charter = charter_json()
    charter["decisions"]["quorum"] = 0.75
    response = await client.put(
        alliance.path("/charter"), json={"charter": charter, "reason": "more voices"}, headers=founder
    )
    assert response.status_code == 200, response.text
    state = (await client.get(alliance.path(), headers=founder)).json()
    assert state["charter"]["decisions"]["quorum"] == 0.75
    assert state["charter"]["decisions"]["response_window"] == "7d"


async def test_a_member_issues_a_token_for_themselves_and_uses_it(
    client: httpx.AsyncClient, alliance: Alliance, member_token: str
) -> None:
    issued = await client.post(
        alliance.path("/members/kayak-club/tokens"), json={"label": "laptop"}, headers=bearer(member_token)
    )
    assert issued.status_code == 201, issued.text
    token = issued.json()
    assert token["member_id"] == "kayak-club" and token["label"] == "laptop"

    state = await client.get(alliance.path(), headers=bearer(token["token"]))
    assert state.status_code == 200
    assert set(state.json()["members"]) == {alliance.founder_id, "kayak-club"}

    listed = (await client.get(alliance.path("/members/kayak-club/tokens"), headers=bearer(token["token"]))).json()
    assert [t["label"] for t in listed] == ["setup", "laptop"]
    assert all("token" not in t for t in listed)

    # The member leaves, by their own hand, with their new token: the actor is the token's member.
    left = await client.delete(
        alliance.path("/members/kayak-club"),
        params={"reason": "we merge with another group"},
        headers=bearer(token["token"]),
    )
    assert left.status_code == 200, left.text
    # A removed member's token no longer shows them the alliance.
    assert (await client.get(alliance.path(), headers=bearer(token["token"]))).status_code == 403


async def test_a_member_cannot_issue_tokens_for_others(
    client: httpx.AsyncClient, alliance: Alliance, member_token: str
) -> None:
    response = await client.post(
        alliance.path(f"/members/{alliance.founder_id}/tokens"), json={}, headers=bearer(member_token)
    )
    assert response.status_code == 403
    assert "only a coordinator" in response.json()["detail"]


# --- founding -------------------------------------------------------------------------------------


def founding_body(alliance_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "alliance_id": alliance_id,
        "founder_id": "riverkeepers",
        "founder_name": "River Keepers",
        "charter": charter_json(),
        **changes,
    }


async def test_founding_with_the_admin_token(client: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    alliance_id = new_alliance_id()
    response = await client.post("/alliances", json=founding_body(alliance_id), headers=bearer(ADMIN_TOKEN))
    assert response.status_code == 201, response.text
    founded = response.json()
    assert founded["alliance_id"] == alliance_id
    assert [r["stream_version"] for r in founded["receipts"]] == [1]
    assert founded["token"]["member_id"] == "riverkeepers"

    state = await client.get(f"/alliances/{alliance_id}", headers=bearer(founded["token"]["token"]))
    assert state.status_code == 200
    assert state.json()["name"] == "Clean Rivers Alliance"

    count = await event_count(pool)
    again = await client.post("/alliances", json=founding_body(alliance_id), headers=bearer(ADMIN_TOKEN))
    assert again.status_code == 409
    assert "already exists" in again.json()["detail"]
    assert await event_count(pool) == count


async def test_founding_refusals(
    app: Accord, client: httpx.AsyncClient, alliance: Alliance, pool: asyncpg.Pool
) -> None:
    count = await event_count(pool)
    body = founding_body(new_alliance_id())

    missing = await client.post("/alliances", json=body)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    assert (await client.post("/alliances", json=body, headers=bearer("acc_wrong"))).status_code == 401
    member = await client.post("/alliances", json=body, headers=bearer(alliance.founder_token))
    assert member.status_code == 403

    charter = charter_json()
    charter["decisions"]["quorum"] = 1.5
    bad = await client.post("/alliances", json={**body, "charter": charter}, headers=bearer(ADMIN_TOKEN))
    assert validation_error(bad)["loc"] == ["body", "charter", "decisions", "quorum"]

    # A window too long to be a date is refused when the charter is set, not when a decision opens.
    for window, loc, words in (
        ("99999999999999999999d", ["body", "charter", "decisions", "max_response_window"], "at most 999999999d"),
        ("999999999d", ["body", "charter", "decisions", "max_response_window"], "at most 3650d (ten years)"),
    ):
        charter = charter_json()
        charter["decisions"]["max_response_window"] = window
        long = await client.post("/alliances", json={**body, "charter": charter}, headers=bearer(ADMIN_TOKEN))
        error = validation_error(long)
        assert error["loc"] == loc and words in error["msg"], error

    # A number beyond a float in the raw JSON (read as infinity) is refused like any other, quoted as text.
    raw = json.dumps({**body, "charter": charter_json()}).replace('"quorum": 0.6', '"quorum": 1e400')
    assert "1e400" in raw
    infinite = await client.post("/alliances", content=raw, headers={**bearer(ADMIN_TOKEN), "Content-Type": "application/json"})
    error = validation_error(infinite)
    assert (error["loc"], error["input"]) == (["body", "charter", "decisions", "quorum"], "inf")

    async with client_for(app, Settings(admin_token=None)) as unconfigured:
        refused = await unconfigured.post("/alliances", json=body, headers=bearer(ADMIN_TOKEN))
    assert refused.status_code == 403
    assert "ACCORD_ADMIN_TOKEN" in refused.json()["detail"]
    assert "accord alliance found" in refused.json()["detail"]

    assert await event_count(pool) == count


async def test_a_members_webhook_is_for_the_member_and_the_coordinators_and_never_in_the_record_read_back(
    app: Accord, client: httpx.AsyncClient, alliance: Alliance, member_token: str
) -> None:
    """A webhook URL often holds a secret: another member sees that one is set, not what it is; replays
    and exports of the record never carry it (the hash chain, kept whole in the store, still verifies)."""
    secret_hook = "https://hooks.example/T0K3N-of-the-founder"
    founder = bearer(alliance.founder_token)
    answer = await client.put(alliance.path(f"/members/{alliance.founder_id}/webhook"), json={"webhook_url": secret_hook}, headers=founder)
    assert answer.status_code == 200, answer.text
    own_hook = "https://kayak.example/own"
    answer = await client.put(alliance.path("/members/kayak-club/webhook"), json={"webhook_url": own_hook}, headers=bearer(member_token))
    assert answer.status_code == 200, answer.text

    def hooks(members: list[dict[str, Any]]) -> dict[str, Any]:
        return {m["member_id"]: m["webhook_url"] for m in members}

    as_member = (await client.get(alliance.path("/members"), headers=bearer(member_token))).json()
    assert hooks(as_member) == {alliance.founder_id: "(private)", "kayak-club": own_hook}
    as_coordinator = (await client.get(alliance.path("/members"), headers=founder)).json()
    assert hooks(as_coordinator) == {alliance.founder_id: secret_hook, "kayak-club": own_hook}
    shown = (await client.get(alliance.path(), headers=bearer(member_token))).json()
    assert secret_hook not in json.dumps(shown)

    for read in (
        client.get(f"/audit/streams/{alliance.stream_id}/replay", headers=founder),
        client.get(alliance.path("/audit/export"), params={"format": "jsonl"}, headers=founder),
        client.get(alliance.path("/audit/export"), params={"format": "html"}, headers=founder),
    ):
        response = await read
        assert response.status_code == 200, response.text
        assert secret_hook not in response.text and own_hook not in response.text
        assert "(private)" in response.text
    verified = (await client.get(alliance.path("/audit/verify"), headers=founder)).json()
    assert verified["ok"] is True
