"""Decision and dispute ids are scoped to their alliance: two alliances may use one id, and no answer tells
a member of one alliance which ids another uses. Streams recorded before ids were scoped keep working.

Real PostgreSQL, real Temporal; the HTTP API through httpx's ASGI transport, the command line as an
operator runs it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from api_support import bearer, client_for
from cli_support import cli_against
from decision_support import alliance_with_members, unique
from dispute_support import alliance_for_disputes
from temporalio.testing import WorkflowEnvironment

from accord.app import Accord
from accord.config import Settings
from events.decision import PointDraft, StanceKind, TakeStance
from events.processes import DECISION
from events.streams import StreamId
from workflows.shapes import DecisionRun


@pytest.fixture
async def api(app: Accord) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app, Settings()) as client:
        yield client


async def open_spring(app: Accord, alliance_id: str, decision_id: str = "spring") -> None:
    await app.open_decision(alliance_id, "amber", decision_id, "Spring campaign", [PointDraft(text="March")])


async def test_two_alliances_use_one_decision_id_and_each_sees_its_own(app: Accord, api: httpx.AsyncClient) -> None:
    rivers, lakes = await alliance_with_members(app, unique("rivers")), await alliance_with_members(app, unique("lakes"))
    for alliance_id in (rivers, lakes):
        await open_spring(app, alliance_id)
    await app.decision_command("spring", TakeStance(actor="cedar", point_id="p1", stance=StanceKind.AGREE), alliance_id=rivers)

    rivers_view = await app.decision("spring", alliance_id=rivers)
    lakes_view = await app.decision("spring", alliance_id=lakes)
    assert (rivers_view.state.alliance_id, lakes_view.state.alliance_id) == (rivers, lakes)
    assert "cedar" in rivers_view.state.points["p1"].stances and not lakes_view.state.points["p1"].stances
    assert await app.stream_of(DECISION, "spring", rivers) == f"decision-{rivers}.spring"

    token = (await app.issue_token(lakes, "gw", "cedar", "t")).token
    seen = await api.get("/decisions/spring", headers=bearer(token))
    assert seen.status_code == 200 and seen.json()["state"]["alliance_id"] == lakes


async def test_a_member_of_another_alliance_gets_the_same_answer_for_an_id_in_use_as_for_one_nobody_uses(
    app: Accord, api: httpx.AsyncClient
) -> None:
    rivers, lakes = await alliance_with_members(app, unique("rivers")), await alliance_with_members(app, unique("lakes"))
    await open_spring(app, rivers, "only-rivers")
    token = bearer((await app.issue_token(lakes, "gw", "cedar", "t")).token)

    def same(used: httpx.Response, unused: httpx.Response, used_id: str, unused_id: str) -> None:
        assert used.status_code == unused.status_code == 404, (used.text, unused.text)
        assert used.json()["detail"] == unused.json()["detail"].replace(unused_id, used_id)

    for path in ("/decisions/{}", "/audit/streams/decision-{}/replay"):
        same(await api.get(path.format("only-rivers"), headers=token), await api.get(path.format("no-such"), headers=token),
             "only-rivers", "no-such")
    stance = {"point_id": "p1", "stance": "agree"}
    same(await api.post("/decisions/only-rivers/stances", headers=token, json=stance),
         await api.post("/decisions/no-such/stances", headers=token, json=stance), "only-rivers", "no-such")
    full_name, missing_name = f"decision-{rivers}.only-rivers", f"decision-{rivers}.no-such"
    same(await api.get(f"/audit/streams/{full_name}/export", headers=token),
         await api.get(f"/audit/streams/{missing_name}/export", headers=token), full_name, missing_name)

    # Alliance ids are the one global namespace: any other alliance is refused alike, whether it exists or not.
    for path in ("", "/members", "/head", "/decisions", "/audit/verify"):
        there, nowhere = await api.get(f"/alliances/{rivers}{path}", headers=token), await api.get(f"/alliances/nowhere{path}", headers=token)
        assert there.status_code == nowhere.status_code == 403, (path, there.text, nowhere.text)

    # And the id is free in the other alliance.
    opened = await api.post(
        f"/alliances/{lakes}/decisions", headers=token, json={"decision_id": "only-rivers", "title": "Ours", "points": [{"text": "A point"}]}
    )
    assert opened.status_code == 201, opened.text
    assert opened.json()["receipts"][0]["stream_id"] == f"decision-{lakes}.only-rivers"


async def test_a_dispute_id_kept_secret_in_one_alliance_is_free_in_another(app: Accord, api: httpx.AsyncClient) -> None:
    rivers = await alliance_for_disputes(app, existence_confidential=True)
    lakes = await alliance_for_disputes(app)
    await app.raise_dispute(rivers, "cedar", "feud", ["dune"], "A secret", "Only the parties know")
    token = bearer((await app.issue_token(lakes, "gw", "cedar", "t")).token)
    assert (await api.get("/disputes/feud", headers=token)).status_code == 404
    raised = await api.post(
        f"/alliances/{lakes}/disputes", headers=token,
        json={"dispute_id": "feud", "respondents": ["dune"], "subject": "Ours", "description": "Our own"},
    )
    assert raised.status_code == 201, raised.text
    assert (await api.get("/disputes/feud", headers=token)).json()["state"]["subject"] == "Ours"


async def test_a_decision_recorded_before_ids_were_scoped_keeps_working(app: Accord, api: httpx.AsyncClient) -> None:
    rivers, lakes = await alliance_with_members(app, unique("rivers")), await alliance_with_members(app, unique("lakes"))
    legacy_id = unique("legacy")
    legacy_stream = str(StreamId("decision", legacy_id))  # as accord named every decision's stream before
    opening = await app.decision_opening(rivers, "amber", legacy_id, "From before", [PointDraft(text="March")])
    handle = await app.client.start_workflow("Decision", DecisionRun(decision_id=legacy_id), id=legacy_stream, task_queue=app.task_queue)
    await app._update(handle, opening)  # pyright: ignore[reportPrivateUsage]  # the start of an older accord

    assert await app.stream_of(DECISION, legacy_id, rivers) == legacy_stream
    token = bearer((await app.issue_token(rivers, "gw", "cedar", "t")).token)
    stance = await api.post(f"/decisions/{legacy_id}/stances", headers=token, json={"point_id": "p1", "stance": "agree"})
    assert stance.status_code == 200 and stance.json()["receipts"][0]["stream_id"] == legacy_stream
    assert "cedar" in (await app.decision(legacy_id, alliance_id=rivers)).state.points["p1"].stances
    replayed = await api.get(f"/audit/streams/{legacy_stream}/replay", headers=token)
    assert replayed.status_code == 200 and replayed.json()["stream_id"] == legacy_stream
    assert legacy_id in [row["decision_id"] for row in (await api.get(f"/alliances/{rivers}/decisions", headers=token)).json()]

    # Its id stays taken in its alliance, and is free in another; the other alliance cannot read it.
    again = await api.post(f"/alliances/{rivers}/decisions", headers=token, json={"decision_id": legacy_id, "title": "T", "points": [{"text": "P"}]})
    assert again.status_code == 409, again.text
    other = bearer((await app.issue_token(lakes, "gw", "cedar", "t")).token)
    assert (await api.get(f"/audit/streams/{legacy_stream}/replay", headers=other)).status_code == 404
    assert (await api.get(f"/decisions/{legacy_id}", headers=other)).status_code == 404
    fresh = await api.post(f"/alliances/{lakes}/decisions", headers=other, json={"decision_id": legacy_id, "title": "T", "points": [{"text": "P"}]})
    assert fresh.status_code == 201, fresh.text


async def test_the_command_line_asks_which_alliance_when_two_use_an_id(
    app: Accord, tmp_path: Path, temporal_env: WorkflowEnvironment, db_url: str, task_queue: str
) -> None:
    rivers, lakes = await alliance_with_members(app, unique("rivers")), await alliance_with_members(app, unique("lakes"))
    for alliance_id in (rivers, lakes):
        await open_spring(app, alliance_id)
    cli = cli_against(tmp_path, temporal_env, db_url, task_queue)
    ambiguous = await cli("decision stance spring p1 agree --as cedar")
    assert ambiguous.code == 1 and ambiguous.stdout == ""
    first, second = sorted((rivers, lakes))
    assert f"decision 'spring' is in alliances {first!r}, {second!r}: name one with --alliance" in ambiguous.stderr
    taken = await cli(f"decision stance spring p1 agree --as cedar --alliance {lakes} --json")
    assert taken.code == 0, taken.stderr
    assert taken.json()["receipts"][0]["stream_id"] == f"decision-{lakes}.spring"
    shown = await cli(f"audit replay decision-{lakes}.spring --json")
    assert shown.code == 0 and "cedar" in shown.json()["state"]["points"]["p1"]["stances"]
    unsure = await cli("audit replay decision-spring")
    assert unsure.code == 1 and f"or give its stream's full name ('decision-{first}.spring' or 'decision-{second}.spring')" in unsure.stderr
