"""Decisions over the HTTP API end to end: real PostgreSQL, real Temporal, requests through httpx's ASGI transport.

Every refused request is checked twice: the status and reason it answers with, and that nothing was
recorded for it (the head of the decision's stream and the count of all events are unchanged).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from api_support import bearer, client_for, event_count, validation_error
from decision_support import MEMBERS, alliance_with_members
from temporalio.testing import WorkflowEnvironment

from accord.api import MAX_BODY_BYTES
from accord.app import Accord
from accord.config import Settings
from events.alliance import AdmitMember, Role, SuspendMember
from events.processes import DECISION
from events.store import EventStore

POINTS = ["March on the river day", "Accept the grant"]


@dataclass
class Decision:
    """An open decision with two points, proposed by `amber`, in an alliance of five (quorum 3)."""

    alliance_id: str
    decision_id: str
    tokens: dict[str, str]
    """Member id -> token. `gw` founded the alliance and is its coordinator; `amber` is on the steering group."""

    @property
    def stream_id(self) -> str:
        return DECISION.stream_name(self.decision_id, self.alliance_id)

    def path(self, tail: str = "") -> str:
        return f"/decisions/{self.decision_id}{tail}"

    def alliance_path(self, tail: str = "") -> str:
        return f"/alliances/{self.alliance_id}{tail}"

    def as_(self, member_id: str) -> dict[str, str]:
        return bearer(self.tokens[member_id])


def unique(prefix: str) -> str:
    # The Temporal server lives for the whole session: each test needs workflow ids of its own.
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def tokens_for(app: Accord, alliance_id: str, members: list[str]) -> dict[str, str]:
    issued = await asyncio.gather(*(app.issue_token(alliance_id, "gw", m, "test") for m in members))
    return {token.member_id: token.token for token in issued}


async def open_by_api(client: httpx.AsyncClient, app: Accord, **body: Any) -> Decision:
    alliance_id = await alliance_with_members(app, unique("rivers"))
    tokens = await tokens_for(app, alliance_id, ["gw", *MEMBERS])
    decision = Decision(alliance_id, unique("d"), tokens)
    opened = await client.post(
        decision.alliance_path("/decisions"),
        json={
            "decision_id": decision.decision_id,
            "title": "Joint campaign 2027",
            "points": [{"text": text} for text in POINTS],
            **body,
        },
        headers=decision.as_("amber"),
    )
    assert opened.status_code == 201, opened.text
    [receipt] = opened.json()["receipts"]
    assert (receipt["stream_id"], receipt["stream_version"]) == (decision.stream_id, 1)
    return decision


@pytest.fixture
async def client(app: Accord) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app, Settings()) as api:
        yield api


@pytest.fixture
async def decision(app: Accord, client: httpx.AsyncClient) -> Decision:
    return await open_by_api(client, app, body="Three rivers, one march.", response_window="10d")


@asynccontextmanager
async def nothing_recorded(store: EventStore, pool: asyncpg.Pool, decision: Decision) -> AsyncIterator[None]:
    head, count = await store.head(decision.stream_id), await event_count(pool)
    yield
    assert await store.head(decision.stream_id) == head
    assert await event_count(pool) == count


# --- what members do ------------------------------------------------------------------------------


async def test_members_take_stances_and_the_view_tallies_them(
    client: httpx.AsyncClient, decision: Decision, store: EventStore
) -> None:
    stances = [
        ("gw", {"point_id": "p1", "stance": "agree"}),
        ("birch", {"point_id": "p1", "stance": "concerns", "reason": "the date clashes with the harvest"}),
        ("cedar", {"point_id": "p2", "stance": "object", "reason": "strings attached"}),
        ("dune", {"point_id": "p2", "stance": "block", "reason": "funder pollutes", "principle": "independence"}),
    ]
    for version, (member, body) in enumerate(stances, start=2):
        response = await client.post(decision.path("/stances"), json=body, headers=decision.as_(member))
        assert response.status_code == 200, response.text
        [receipt] = response.json()["receipts"]
        assert (receipt["stream_id"], receipt["stream_version"]) == (decision.stream_id, version)
    assert receipt["hash"] == (await store.head(decision.stream_id)).hash

    response = await client.get(decision.path(), headers=decision.as_("cedar"))
    assert response.status_code == 200, response.text
    view = response.json()
    state = view["state"]
    assert (state["proposer"], state["stage"], state["body"]) == ("amber", "open", "Three rivers, one march.")
    assert state["context"]["electorate"] == sorted(["gw", *MEMBERS])
    # The actor is the token's member: each stance is filed under who sent it.
    assert state["points"]["p1"]["stances"]["gw"]["stance"] == "agree"
    assert state["points"]["p2"]["stances"]["dune"]["principle"] == "independence"

    p1, p2 = view["tallies"]
    assert p1["point_id"] == "p1"
    assert {k: v for k, v in p1["counts"].items() if v} == {"agree": 1, "concerns": 1}
    assert (p1["responded"], p1["electorate"], p1["quorum_needed"], p1["verdict"]) == (2, 5, 3, "no_quorum")
    assert (p2["principle_blocks"], p2["objections"], p2["verdict"]) == (["independence"], 1, "blocked_on_principle")
    assert view["pending_members"] == sorted(["gw", *MEMBERS])  # nobody has answered on both points
    assert view["next_due"] is not None


async def test_decisions_list_parked_points_and_notifications(client: httpx.AsyncClient, decision: Decision) -> None:
    listed = await client.get(decision.alliance_path("/decisions"), headers=decision.as_("birch"))
    assert listed.status_code == 200, listed.text
    [summary] = listed.json()
    assert summary["decision_id"] == decision.decision_id
    assert (summary["title"], summary["proposer"], summary["stage"], summary["outcome"]) == (
        "Joint campaign 2027", "amber", "open", None,
    )

    parked = await client.get(decision.alliance_path("/parked"), headers=decision.as_("birch"))
    assert parked.status_code == 200 and parked.json() == []

    own = await client.get(decision.alliance_path("/members/birch/notifications"), headers=decision.as_("birch"))
    assert own.status_code == 200, own.text
    [notice] = own.json()
    assert (notice["kind"], notice["stream_id"], notice["member_id"]) == ("decision_opened", decision.stream_id, "birch")
    assert "amber proposes 'Joint campaign 2027'" in notice["message"]

    by_coordinator = await client.get(decision.alliance_path("/members/birch/notifications"), headers=decision.as_("gw"))
    assert by_coordinator.status_code == 200 and by_coordinator.json() == own.json()
    by_peer = await client.get(decision.alliance_path("/members/birch/notifications"), headers=decision.as_("cedar"))
    assert by_peer.status_code == 403
    assert "only a coordinator" in by_peer.json()["detail"]


async def test_the_proposer_changes_the_proposal_then_withdraws_it(
    client: httpx.AsyncClient, decision: Decision, store: EventStore, pool: asyncpg.Pool
) -> None:
    amber = decision.as_("amber")
    assert (await client.post(decision.path("/stances"), json={"point_id": "p1", "stance": "agree"}, headers=amber)).status_code == 200

    amended = await client.put(decision.path("/points/p1"), json={"text": "March on river day, at noon"}, headers=amber)
    assert amended.status_code == 200, amended.text
    added = await client.post(decision.path("/points"), json={"text": "Print the banners"}, headers=amber)
    assert added.status_code == 201, added.text
    withdrawn = await client.delete(decision.path("/points/p2"), headers=amber)
    assert withdrawn.status_code == 200, withdrawn.text

    state = (await client.get(decision.path(), headers=amber)).json()["state"]
    assert state["points"]["p1"] == {
        "point_id": "p1", "text": "March on river day, at noon", "origin": None, "withdrawn": False, "stances": {},
    }
    assert state["points"]["p2"]["withdrawn"] is True
    assert state["points"]["p3"]["text"] == "Print the banners"

    async with nothing_recorded(store, pool, decision):
        by_other = await client.post(decision.path("/withdraw"), json={"reason": "not mine"}, headers=decision.as_("cedar"))
    assert by_other.status_code == 403
    assert "only the proposer ('amber') or a coordinator" in by_other.json()["detail"]

    response = await client.post(decision.path("/withdraw"), json={"reason": "the march was cancelled"}, headers=amber)
    assert response.status_code == 200, response.text
    [receipt] = response.json()["receipts"]
    assert receipt["stream_version"] == (await store.head(decision.stream_id)).version == 6

    state = (await client.get(decision.path(), headers=amber)).json()["state"]
    assert (state["stage"], state["outcome"]) == ("withdrawn", "withdrawn")
    [summary] = (await client.get(decision.alliance_path("/decisions"), headers=amber)).json()
    assert summary["stage"] == "withdrawn"

    async with nothing_recorded(store, pool, decision):
        late = await client.post(decision.path("/stances"), json={"point_id": "p1", "stance": "agree"}, headers=amber)
    assert late.status_code == 409, late.text
    assert late.json() == {"detail": f"decision {decision.decision_id!r} was withdrawn"}


# --- refusals -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "says"),
    [("we object\u0000", "holds NUL (U+0000)"), ("\ud800", "half of a UTF-16 surrogate pair"), ("x" * 4001, "at most 4000")],
)
async def test_text_that_is_not_clean_is_refused_at_the_edge_and_the_decision_goes_on(
    client: httpx.AsyncClient, decision: Decision, store: EventStore, pool: asyncpg.Pool, reason: str, says: str
) -> None:
    """One NUL byte froze a decision for minutes; now it is a 422 naming the field, nothing recorded."""
    body = json.dumps({"point_id": "p1", "stance": "object", "reason": reason})  # \ud800 as JSON text: no UTF-8 form
    headers = {**decision.as_("cedar"), "Content-Type": "application/json"}
    async with nothing_recorded(store, pool, decision):
        response = await client.post(decision.path("/stances"), content=body, headers=headers)
    error = validation_error(response)
    assert error["loc"] == ["body", "reason"] and says in error["msg"], error
    honest = await client.post(decision.path("/stances"), json={"point_id": "p1", "stance": "agree"}, headers=decision.as_("cedar"))
    assert honest.status_code == 200, honest.text


async def test_text_the_database_cannot_hold_is_refused_wherever_it_comes_from(
    client: httpx.AsyncClient, decision: Decision, store: EventStore, pool: asyncpg.Pool
) -> None:
    """A token's label is cleaned like a command's text, and a NUL in an id in the path is invalid input."""
    headers = {**decision.as_("cedar"), "Content-Type": "application/json"}
    async with nothing_recorded(store, pool, decision):
        labelled = await client.post(
            decision.alliance_path("/members/cedar/tokens"), content=json.dumps({"label": "laptop\u0000"}), headers=headers
        )
        in_path = await client.post("/decisions/d%00x/stances", json={"point_id": "p1", "stance": "agree"}, headers=headers)
    assert validation_error(labelled)["loc"] == ["body", "label"]
    assert in_path.status_code == 422, in_path.text
    assert "cannot store this text" in json.dumps(in_path.json())


async def test_a_body_over_the_limit_is_413_before_it_is_read(
    client: httpx.AsyncClient, decision: Decision, store: EventStore, pool: asyncpg.Pool
) -> None:
    big = json.dumps({"point_id": "p1", "stance": "object", "reason": "x" * (MAX_BODY_BYTES + 1)})

    async def streamed() -> AsyncIterator[bytes]:  # no declared length: counted as it arrives
        for start in range(0, len(big), 65536):
            yield big[start:start + 65536].encode()

    headers = {**decision.as_("cedar"), "Content-Type": "application/json"}
    async with nothing_recorded(store, pool, decision):
        declared = await client.post(decision.path("/stances"), content=big, headers=headers)
        chunked = await client.post(decision.path("/stances"), content=streamed(), headers=headers)
    for response in (declared, chunked):
        assert response.status_code == 413, response.text
        assert response.json() == {"detail": f"the request body is larger than {MAX_BODY_BYTES} bytes, the most this API reads"}


async def test_a_member_admitted_after_opening_is_not_in_the_electorate(
    app: Accord, client: httpx.AsyncClient, decision: Decision, store: EventStore, pool: asyncpg.Pool
) -> None:
    await app.alliance_command(
        decision.alliance_id,
        AdmitMember(actor="gw", member_id="estuary", name="Estuary", roles=[Role.MEMBER]),
    )
    decision.tokens |= await tokens_for(app, decision.alliance_id, ["estuary"])
    async with nothing_recorded(store, pool, decision):
        response = await client.post(
            decision.path("/stances"), json={"point_id": "p1", "stance": "agree"}, headers=decision.as_("estuary")
        )
    assert response.status_code == 403
    assert "'estuary' is not in the electorate" in response.json()["detail"]
    # Still a member of the alliance: the decision is visible to them.
    assert (await client.get(decision.path(), headers=decision.as_("estuary"))).status_code == 200


async def test_a_suspended_member_cannot_take_a_stance(
    app: Accord, client: httpx.AsyncClient, decision: Decision, store: EventStore, pool: asyncpg.Pool
) -> None:
    await app.alliance_command(decision.alliance_id, SuspendMember(actor="gw", member_id="dune", reason="unpaid dues"))
    async with nothing_recorded(store, pool, decision):
        response = await client.post(
            decision.path("/stances"), json={"point_id": "p1", "stance": "agree"}, headers=decision.as_("dune")
        )
    assert response.status_code == 403
    assert response.json()["detail"] == f"'dune' is suspended in alliance {decision.alliance_id!r} and cannot act"


async def test_unknown_point_and_unknown_decision_are_404(
    client: httpx.AsyncClient, decision: Decision, store: EventStore, pool: asyncpg.Pool
) -> None:
    async with nothing_recorded(store, pool, decision):
        response = await client.post(
            decision.path("/stances"), json={"point_id": "p9", "stance": "agree"}, headers=decision.as_("birch")
        )
        amend = await client.put(decision.path("/points/p9"), json={"text": "anything"}, headers=decision.as_("amber"))
        unknown = await client.post(
            "/decisions/no-such-decision/stances", json={"point_id": "p1", "stance": "agree"}, headers=decision.as_("birch")
        )
    assert response.status_code == amend.status_code == 404
    assert "has no point 'p9' (points: p1, p2)" in response.json()["detail"]
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "no decision 'no-such-decision'"}
    assert (await client.get("/decisions/no-such-decision", headers=decision.as_("birch"))).status_code == 404


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"point_id": "p1", "stance": "object"}, "reason", "a reason is required to object"),
        ({"point_id": "p1", "stance": "block", "reason": "  "}, "reason", "a reason is required to block"),
        (
            {"point_id": "p1", "stance": "block", "reason": "no", "principle": "thrift"},
            "principle",
            "unknown principle 'thrift'; the charter's principles are non-violence, independence, member-autonomy",
        ),
        ({"point_id": "p1", "stance": "veto"}, "stance", "'agree', 'concerns', 'stand_aside', 'object' or 'block'"),
        ({"point_id": "p1", "stance": "agree", "actor": "gw"}, "actor", "Extra inputs are not permitted"),
    ],
    ids=["object-without-reason", "block-with-blank-reason", "unknown-principle", "unknown-stance", "actor-in-body"],
)
async def test_bad_stance_is_422_naming_the_field(
    client: httpx.AsyncClient,
    decision: Decision,
    store: EventStore,
    pool: asyncpg.Pool,
    body: dict[str, Any],
    field: str,
    says: str,
) -> None:
    async with nothing_recorded(store, pool, decision):
        response = await client.post(decision.path("/stances"), json=body, headers=decision.as_("birch"))
    error = validation_error(response)
    assert error["loc"] == ["body", field]
    assert says in error["msg"]


async def test_only_the_proposer_amends(
    client: httpx.AsyncClient, decision: Decision, store: EventStore, pool: asyncpg.Pool
) -> None:
    async with nothing_recorded(store, pool, decision):
        response = await client.put(
            decision.path("/points/p1"), json={"text": "March at dawn"}, headers=decision.as_("birch")
        )
    assert response.status_code == 403
    assert response.json() == {"detail": "only the proposer ('amber') may amend it"}


@pytest.mark.parametrize(("action", "what"), [("extend", "extended"), ("fallback", "escalated"), ("close", "closed by a coordinator")])
async def test_escalation_of_an_open_decision_is_409(
    client: httpx.AsyncClient, decision: Decision, store: EventStore, pool: asyncpg.Pool, action: str, what: str
) -> None:
    async with nothing_recorded(store, pool, decision):
        response = await client.post(decision.path(f"/{action}"), headers=decision.as_("gw"))
    assert response.status_code == 409
    assert response.json()["detail"] == (
        f"decision {decision.decision_id!r} is open; only a stalled decision can be {what}"
    )


async def test_a_token_of_another_alliance_finds_no_such_decision_and_may_not_read_the_alliance(
    app: Accord, client: httpx.AsyncClient, decision: Decision, store: EventStore, pool: asyncpg.Pool
) -> None:
    # The other alliance has members with the same ids: only the token's alliance tells them apart.
    other = await alliance_with_members(app, unique("mountains"))
    stranger = bearer((await tokens_for(app, other, ["birch"]))["birch"])
    async with nothing_recorded(store, pool, decision):
        stance = await client.post(decision.path("/stances"), json={"point_id": "p1", "stance": "agree"}, headers=stranger)
        view = await client.get(decision.path(), headers=stranger)
        listed = await client.get(decision.alliance_path("/decisions"), headers=stranger)
    # Ids are scoped to their alliance: the other alliance has no such decision.
    assert (stance.status_code, view.status_code, listed.status_code) == (404, 404, 403)
    assert stance.json() == view.json() == {"detail": f"no decision {decision.decision_id!r}"}
    assert listed.json() == {"detail": f"this token belongs to alliance {other!r}, not to {decision.alliance_id!r}"}


async def test_no_token_is_401(
    client: httpx.AsyncClient, decision: Decision, store: EventStore, pool: asyncpg.Pool
) -> None:
    async with nothing_recorded(store, pool, decision):
        responses = [
            await client.post(decision.path("/stances"), json={"point_id": "p1", "stance": "agree"}),
            await client.get(decision.path()),
            await client.post(decision.path("/withdraw"), json={"reason": "why not"}),
            await client.get(decision.alliance_path("/decisions")),
        ]
    for response in responses:
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_opening_refusals(
    app: Accord, client: httpx.AsyncClient, decision: Decision, pool: asyncpg.Pool
) -> None:
    count = await event_count(pool)
    base = {"decision_id": unique("d"), "title": "Another", "points": [{"text": "Something"}]}
    too_short = await client.post(
        decision.alliance_path("/decisions"), json={**base, "response_window": "30m"}, headers=decision.as_("birch")
    )
    assert validation_error(too_short)["loc"] == ["body", "response_window"]
    assert "response window must lie between" in validation_error(too_short)["msg"]
    no_points = await client.post(
        decision.alliance_path("/decisions"), json={**base, "points": []}, headers=decision.as_("birch")
    )
    assert validation_error(no_points)["loc"] == ["body", "points"]
    again = await client.post(
        decision.alliance_path("/decisions"),
        json={**base, "decision_id": decision.decision_id},
        headers=decision.as_("birch"),
    )
    assert again.status_code == 409
    assert "already exists" in again.json()["detail"]
    assert await event_count(pool) == count


# --- the stalled path, on the time-skipping server ------------------------------------------------


async def stage_becomes(client: httpx.AsyncClient, decision: Decision, stage: str) -> dict[str, Any]:
    """The view once the decision reaches `stage`: the worker handles the timer a moment after time skips."""
    for _ in range(100):
        view = (await client.get(decision.path(), headers=decision.as_("gw"))).json()
        if view["state"]["stage"] == stage:
            return view
        await asyncio.sleep(0.05)
    raise AssertionError(f"decision stayed {view['state']['stage']!r}, never became {stage!r}")


async def test_a_coordinator_extends_a_stalled_decision_then_applies_the_fallback(
    skipping_app: Accord, time_skipping_env: WorkflowEnvironment, store: EventStore
) -> None:
    async with client_for(skipping_app, Settings()) as client:
        decision = await open_by_api(client, skipping_app, response_window="1d")
        await client.post(decision.path("/stances"), json={"point_id": "p1", "stance": "agree"}, headers=decision.as_("gw"))
        await time_skipping_env.sleep(timedelta(days=1, hours=1))
        await stage_becomes(client, decision, "stalled")

        extended = await client.post(decision.path("/extend"), headers=decision.as_("gw"))
        assert extended.status_code == 200, extended.text
        assert (await stage_becomes(client, decision, "open"))["state"]["extensions"] == 1

        await time_skipping_env.sleep(timedelta(days=5, hours=1))
        await stage_becomes(client, decision, "stalled")
        escalated = await client.post(decision.path("/fallback"), headers=decision.as_("gw"))
        assert escalated.status_code == 200, escalated.text
        assert len(escalated.json()["receipts"]) == 2  # DecisionEscalated, DecisionClosed

        view = await stage_becomes(client, decision, "closed")
        # One agree and no objection: the supermajority fallback adopts p1; p2 had no stance at all.
        assert view["state"]["outcomes"] == {"p1": "adopted", "p2": "parked"}
        assert view["state"]["closed_how"] == "fallback"

        # The closed decision tells its alliance what it parked (a signal, so a moment later).
        parked: list[dict[str, Any]] = []
        for _ in range(100):
            parked = (await client.get(decision.alliance_path("/parked"), headers=decision.as_("birch"))).json()
            if parked:
                break
            await asyncio.sleep(0.05)
        assert [(p["ref"], p["text"]) for p in parked] == [(f"{decision.decision_id}/p2", POINTS[1])]
