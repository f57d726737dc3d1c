"""The audit endpoints of the HTTP API: real PostgreSQL, real Temporal, requests through httpx's ASGI transport.

Auditor tokens are read-only: they reach the audit endpoints of their alliance and get 403 everywhere
else. Members of the alliance may read the same endpoints, a dispute's record only if they may read the
dispute; nobody else may, and another alliance does not even learn that a dispute exists.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from api_support import bearer, client_for, event_count, validation_error
from decision_support import alliance_with_members, charter

from accord.app import Accord
from accord.config import Settings
from events.alliance import AdmitMember, FoundAlliance, RemoveMember
from events.decision import StanceKind, TakeStance
from events.processes import DECISION, DISPUTE
from events.rules import RefusalKind, Refused
from events.store import EventStore, Receipt


def unique(prefix: str) -> str:
    # The Temporal server lives for the whole session: each test needs workflow ids of its own.
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass
class Audited:
    """An alliance of five (gw coordinator) with one decision closed when all had responded."""

    alliance_id: str
    decision_id: str
    receipts: list[Receipt]
    """Of dune's stance, the last command: the objection and the close it caused."""
    tokens: dict[str, str]
    """gw's and amber's (members), 'auditor' (an auditor's), 'outsider' (the founder of another alliance)."""

    @property
    def alliance_stream(self) -> str:
        return f"alliance-{self.alliance_id}"

    @property
    def decision_stream(self) -> str:
        return DECISION.stream_name(self.decision_id, self.alliance_id)

    def as_(self, who: str) -> dict[str, str]:
        return bearer(self.tokens[who])


@pytest.fixture
async def audited(app: Accord) -> Audited:
    alliance_id = await alliance_with_members(app, unique("rivers"))
    decision_id = unique("d")
    await app.open_decision(alliance_id, "amber", decision_id, "Joint campaign 2027", [{"text": "March on the river day"}])
    for member in ("gw", "amber", "birch", "cedar"):
        await app.decision_command(decision_id, TakeStance(actor=member, point_id="p1", stance=StanceKind.AGREE))
    last = await app.decision_command(
        decision_id, TakeStance(actor="dune", point_id="p1", stance=StanceKind.OBJECT, reason="too risky")
    )
    other = unique("lakes")
    await app.found_alliance(FoundAlliance(alliance_id=other, charter=charter(), founder_id="gw", founder_name="Lakers"))
    tokens = {
        "gw": (await app.issue_token(alliance_id, "gw", "gw", "test")).token,
        "amber": (await app.issue_token(alliance_id, "gw", "amber", "test")).token,
        "auditor": (await app.issue_auditor_token(alliance_id, "gw", "kpmg-2026")).token,
        "outsider": (await app.issue_token(other, "gw", "gw", "test")).token,
    }
    return Audited(alliance_id, decision_id, last.receipts, tokens)


@pytest.fixture
async def client(app: Accord) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app, Settings()) as api:
        yield api


def rules(**changes: Any) -> dict[str, Any]:
    """The example charter's decision rules as a client sends them, with some changed."""
    return {**charter().decisions.model_dump(mode="json"), **changes}


async def test_auditor_tokens_are_issued_by_coordinators_and_known_as_auditors(app: Accord, audited: Audited) -> None:
    identity = await app.authenticate(audited.tokens["auditor"])
    assert identity is not None
    assert (identity.alliance_id, identity.member_id, identity.auditor) == (
        audited.alliance_id, "auditor:kpmg-2026", True,
    )
    member = await app.authenticate(audited.tokens["amber"])
    assert member is not None and not member.auditor

    with pytest.raises(Refused) as not_coordinator:
        await app.issue_auditor_token(audited.alliance_id, "amber", "friendly-audit")
    assert not_coordinator.value.kind is RefusalKind.FORBIDDEN
    assert "only a coordinator may issue an auditor token" in not_coordinator.value.message
    with pytest.raises(Refused) as bad_label:
        await app.issue_auditor_token(audited.alliance_id, "gw", "KPMG 2026")
    assert (bad_label.value.kind, bad_label.value.field) == (RefusalKind.INVALID, "label")
    # A coordinator lists and revokes an auditor's tokens under the auditor's name.
    [info] = await app.tokens(audited.alliance_id, "gw", "auditor:kpmg-2026")
    assert (info.label, info.issued_by) == ("kpmg-2026", "gw")
    await app.revoke_token(audited.alliance_id, "gw", info.token_id)
    assert await app.authenticate(audited.tokens["auditor"]) is None


async def test_an_auditor_reads_every_audit_endpoint(
    client: httpx.AsyncClient, audited: Audited, store: EventStore, pool: asyncpg.Pool
) -> None:
    auditor = audited.as_("auditor")
    count = await event_count(pool)

    verified = await client.get(f"/alliances/{audited.alliance_id}/audit/verify", headers=auditor)
    assert verified.status_code == 200, verified.text
    own_events = len(await store.read_stream(audited.alliance_stream)) + len(await store.read_stream(audited.decision_stream))
    assert verified.json() == {
        "ok": True,
        "streams": sorted([audited.alliance_stream, audited.decision_stream]),
        "events_checked": own_events,  # the other alliance's events are not this auditor's business
        "streams_checked": 2,
        "broken": [],
    }

    decision_events = await store.read_stream(audited.decision_stream)
    at_two = await client.get(f"/audit/streams/{audited.decision_stream}/replay", params={"at": 2}, headers=auditor)
    assert at_two.status_code == 200, at_two.text
    assert list(at_two.json()["state"]["points"]["p1"]["stances"]) == ["gw"]
    assert [t["hash"] for t in at_two.json()["timeline"]] == [e.hash.hex() for e in decision_events[:2]]
    moment = decision_events[1].recorded_at + (decision_events[2].recorded_at - decision_events[1].recorded_at) / 2
    as_of = await client.get(
        f"/audit/streams/{audited.decision_stream}/replay", params={"as_of": moment.isoformat()}, headers=auditor
    )
    assert as_of.status_code == 200 and as_of.json()["version"] == 2, as_of.text
    now = (await client.get(f"/audit/streams/{audited.decision_stream}/replay", headers=auditor)).json()
    assert (now["state"]["stage"], now["state"]["outcome"]) == ("closed", "adopted")
    assert validation_error(
        await client.get(f"/audit/streams/{audited.decision_stream}/replay", params={"at": 0}, headers=auditor)
    )["loc"] == ["query", "at"]
    # Beyond PostgreSQL's integer: refused at the edge, never sent to the database.
    beyond = await client.get(f"/audit/streams/{audited.decision_stream}/replay", params={"at": 2**31}, headers=auditor)
    assert validation_error(beyond)["loc"] == ["query", "at"]
    receipt = await client.get(f"/audit/receipts/{audited.decision_stream}/{2**40}/{'0' * 64}", headers=auditor)
    assert validation_error(receipt)["loc"] == ["path", "version"]

    checked = await client.get(f"/audit/streams/{audited.decision_stream}/check", headers=auditor)
    assert checked.status_code == 200, checked.text
    assert checked.json()["ok"] is True
    assert [(c["name"], c["ok"]) for c in checked.json()["checks"]] == [("record", True), ("state", True), ("head", True), ("process", True), ("replay", True)]

    head = await store.head(audited.decision_stream)
    exports = {
        fmt: await client.get(f"/audit/streams/{audited.decision_stream}/export", params={"format": fmt}, headers=auditor)
        for fmt in ("json", "jsonl", "md", "html")
    }
    assert {fmt: r.headers["content-type"] for fmt, r in exports.items()} == {
        "json": "application/json",
        "jsonl": "application/x-ndjson",
        "md": "text/markdown; charset=utf-8",
        "html": "text/html; charset=utf-8",
    }
    [report] = exports["json"].json()["reports"]
    assert report["head_hash"] == head.hash and report["outcome"]["outcome"] == "adopted"
    assert [json.loads(line)["version"] for line in exports["jsonl"].text.splitlines()] == list(range(1, head.version + 1))
    assert head.hash in exports["md"].text and head.hash in exports["html"].text
    whole = await client.get(f"/alliances/{audited.alliance_id}/audit/export", params={"format": "json"}, headers=auditor)
    assert whole.status_code == 200
    assert [r["stream_id"] for r in whole.json()["reports"]] == sorted([audited.alliance_stream, audited.decision_stream])
    assert (await client.get(
        f"/audit/streams/{audited.decision_stream}/export", params={"format": "pdf"}, headers=auditor
    )).status_code == 422

    receipt = audited.receipts[-1]
    kept = await client.get(f"/audit/receipts/{receipt.stream_id}/{receipt.stream_version}/{receipt.hash}", headers=auditor)
    assert kept.status_code == 200 and kept.json()["in_record"] is True, kept.text
    wrong = await client.get(f"/audit/receipts/{receipt.stream_id}/{receipt.stream_version}/{'f' * 64}", headers=auditor)
    assert wrong.status_code == 200 and wrong.json()["in_record"] is False
    assert wrong.json()["detail"] == f"the record holds hash {receipt.hash} at this version"
    missing = await client.get(f"/audit/receipts/{receipt.stream_id}/99/{receipt.hash}", headers=auditor)
    assert missing.json()["in_record"] is False and "has no version 99" in missing.json()["detail"]
    assert (await client.get(f"/audit/receipts/{receipt.stream_id}/1/not-a-hash", headers=auditor)).status_code == 422

    # Closed with one objection, tolerated by the charter; under a charter that tolerates none, parked.
    stricter = await client.post(
        f"/audit/decisions/{audited.decision_id}/whatif", json=rules(objection_tolerance=0), headers=auditor
    )
    assert stricter.status_code == 200, stricter.text
    assert (stricter.json()["actual_outcome"], stricter.json()["would_be_outcome"]) == ("adopted", "not_adopted")
    assert [(p["actual"], p["would_be"]) for p in stricter.json()["points"]] == [("adopted", "parked")]
    bad = await client.post(f"/audit/decisions/{audited.decision_id}/whatif", json=rules(quorum=1.5), headers=auditor)
    assert validation_error(bad)["loc"] == ["body", "quorum"]

    assert await event_count(pool) == count  # reading the audit wrote nothing


async def test_a_tampered_record_answers_200_with_what_failed(
    client: httpx.AsyncClient, audited: Audited, pool: asyncpg.Pool
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("ALTER TABLE accord.events DISABLE TRIGGER USER")
        await conn.execute(
            "UPDATE accord.events SET data = jsonb_set(data, '{name}', '\"Amber Oil Corp\"')"
            " WHERE stream_id = $1 AND stream_version = 2",  # amber's admission
            audited.alliance_stream,
        )
        await conn.execute("ALTER TABLE accord.events ENABLE TRIGGER USER")

    checked = await client.get(f"/audit/streams/{audited.alliance_stream}/check", headers=audited.as_("auditor"))
    assert checked.status_code == 200, checked.text
    assert checked.json()["ok"] is False
    [state] = [c for c in checked.json()["checks"] if c["name"] == "state"]
    assert state == {
        "name": "state", "ok": False, "detail": "members.amber.name: record says 'Amber Oil Corp', workflow says 'Amber'",
    }
    verified = await client.get(f"/alliances/{audited.alliance_id}/audit/verify", headers=audited.as_("amber"))
    assert verified.status_code == 200 and verified.json()["ok"] is False
    [broken] = verified.json()["broken"]
    assert (broken["stream_id"], broken["version"]) == (audited.alliance_stream, 2)


async def test_an_auditor_token_is_read_only(
    client: httpx.AsyncClient, audited: Audited, store: EventStore, pool: asyncpg.Pool
) -> None:
    auditor = audited.as_("auditor")
    head, count = await store.head(audited.alliance_stream), await event_count(pool)
    alliance = f"/alliances/{audited.alliance_id}"
    refused = [
        await client.get(alliance, headers=auditor),
        await client.get(f"{alliance}/members", headers=auditor),
        await client.post(f"{alliance}/members", json={"member_id": "eel", "name": "Eel"}, headers=auditor),
        await client.post(f"{alliance}/members/gw/tokens", json={"label": "sneaky"}, headers=auditor),
        await client.post(
            f"{alliance}/decisions", json={"decision_id": unique("d"), "title": "T", "points": [{"text": "x"}]},
            headers=auditor,
        ),
        await client.get(f"/decisions/{audited.decision_id}", headers=auditor),
        await client.post(
            f"/decisions/{audited.decision_id}/stances", json={"point_id": "p1", "stance": "agree"}, headers=auditor
        ),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused)
    assert refused[0].json()["detail"] == (
        "'auditor:kpmg-2026' is an auditor: read-only, it may use only the audit reads "
        "(`accord audit ...`; over HTTP /alliances/<alliance>/audit/... and /audit/...)"
    )
    assert len({r.json()["detail"] for r in refused}) == 1
    assert await store.head(audited.alliance_stream) == head and await event_count(pool) == count


async def test_other_alliances_and_anonymous_callers_are_kept_out(
    client: httpx.AsyncClient, app: Accord, audited: Audited
) -> None:
    receipt = audited.receipts[-1]
    routes = [
        ("GET", f"/alliances/{audited.alliance_id}/audit/verify"),
        ("GET", f"/alliances/{audited.alliance_id}/audit/export"),
        ("GET", f"/audit/streams/{audited.alliance_stream}/replay"),
        ("GET", f"/audit/streams/{audited.decision_stream}/replay"),
        ("GET", f"/audit/streams/{audited.decision_stream}/check"),
        ("GET", f"/audit/streams/{audited.decision_stream}/export"),
        ("GET", f"/audit/receipts/{receipt.stream_id}/{receipt.stream_version}/{receipt.hash}"),
        ("POST", f"/audit/decisions/{audited.decision_id}/whatif"),
    ]

    async def call(method: str, path: str, headers: dict[str, str]) -> httpx.Response:
        return await client.request(method, path, headers=headers, json=rules() if method == "POST" else None)

    for method, path in routes:
        member = await call(method, path, audited.as_("amber"))
        assert member.status_code == 200, (path, member.text)
        outsider = await call(method, path, audited.as_("outsider"))
        if path.startswith("/alliances/"):  # the alliance named: refused alike whether it exists or not
            assert outsider.status_code == 403, (path, outsider.text)
            detail = outsider.json()["detail"]
            assert detail.startswith("this token belongs to alliance 'lakes-") and detail.endswith(f"not to {audited.alliance_id!r}")
        else:  # a stream of another alliance: as if it did not exist
            assert outsider.status_code == 404, (path, outsider.text)
            assert outsider.json()["detail"].endswith("has no events"), (path, outsider.text)
        anonymous = await call(method, path, {})
        assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"
        assert (await call(method, path, bearer("acc_unknown"))).status_code == 401

    unknown = await client.get("/audit/streams/petition-x/replay", headers=audited.as_("amber"))
    assert unknown.status_code == 404 and "is not a stream accord knows" in unknown.json()["detail"]
    nothing = await client.get("/audit/streams/decision-never-opened/check", headers=audited.as_("amber"))
    assert nothing.status_code == 404
    # A member who has left reads nothing more.
    await app.alliance_command(
        audited.alliance_id, RemoveMember(actor="amber", member_id="amber", reason="leaving")
    )
    gone = await client.get(f"/audit/streams/{audited.decision_stream}/replay", headers=audited.as_("amber"))
    assert gone.status_code == 403 and "is no longer a member" in gone.json()["detail"]


async def test_a_dispute_record_is_kept_from_members_who_may_not_read_the_dispute(
    client: httpx.AsyncClient, app: Accord, audited: Audited
) -> None:
    dispute_id = unique("x")
    await app.raise_dispute(audited.alliance_id, "cedar", dispute_id, ["dune"], "Logo use", "dune used our logo unasked")
    stream = DISPUTE.stream_name(dispute_id, audited.alliance_id)
    party = bearer((await app.issue_token(audited.alliance_id, "gw", "cedar", "test")).token)

    for reader in (party, audited.as_("gw"), audited.as_("auditor")):  # a party, a coordinator, the auditor
        replayed = await client.get(f"/audit/streams/{stream}/replay", headers=reader)
        assert replayed.status_code == 200 and replayed.json()["state"]["subject"] == "Logo use", replayed.text
    kept_out = await client.get(f"/audit/streams/{stream}/export", headers=audited.as_("amber"))
    assert kept_out.status_code == 403
    assert kept_out.json()["detail"] == (
        f"the record of dispute {dispute_id!r} is for its parties, mediator, panel and the coordinators; "
        "'amber' is none of them"
    )
    # Another alliance gets the answer a dispute that does not exist gets.
    outsider = await client.get(f"/audit/streams/{stream}/replay", headers=audited.as_("outsider"))
    assert outsider.status_code == 404 and outsider.json()["detail"] == f"stream {stream!r} has no events"
    missing = await client.get("/audit/streams/dispute-never-raised/replay", headers=audited.as_("amber"))
    never = DISPUTE.stream_name("never-raised", audited.alliance_id)  # a process's id names it in the reader's alliance
    assert missing.status_code == 404 and missing.json()["detail"] == f"stream {never!r} has no events"
    for reader, sees in ((audited.as_("amber"), False), (party, True), (audited.as_("auditor"), True)):
        verified = await client.get(f"/alliances/{audited.alliance_id}/audit/verify", headers=reader)
        assert (stream in verified.json()["streams"]) is sees
        exported = await client.get(f"/alliances/{audited.alliance_id}/audit/export", headers=reader)
        assert (stream in {r["stream_id"] for r in exported.json()["reports"]}) is sees
        assert "Logo use" in exported.text or not sees

async def test_where_the_charter_keeps_disputes_secret_a_member_learns_nothing_of_one(
    client: httpx.AsyncClient, app: Accord
) -> None:
    base = charter()
    secret = base.model_copy(update={"disputes": base.disputes.model_copy(update={"existence_confidential": True})})
    alliance_id = unique("quiet")
    await app.found_alliance(FoundAlliance(alliance_id=alliance_id, charter=secret, founder_id="gw", founder_name="GW"))
    for member in ("amber", "birch", "cedar"):
        await app.alliance_command(alliance_id, AdmitMember(actor="gw", member_id=member, name=member.title()))
    dispute_id = unique("x")
    await app.raise_dispute(alliance_id, "birch", dispute_id, ["cedar"], "Logo use", "cedar used our logo unasked")
    bystander = bearer((await app.issue_token(alliance_id, "gw", "amber", "test")).token)

    hidden = await client.get(f"/audit/streams/dispute-{dispute_id}/check", headers=bystander)
    assert hidden.status_code == 404 and hidden.json()["detail"] == f"stream {DISPUTE.stream_name(dispute_id, alliance_id)!r} has no events"
    verified = await client.get(f"/alliances/{alliance_id}/audit/verify", headers=bystander)
    assert verified.json()["streams"] == [f"alliance-{alliance_id}"]

async def test_the_openapi_document_lists_the_audit_endpoints(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert {
        "/alliances/{alliance_id}/audit/verify",
        "/alliances/{alliance_id}/audit/export",
        "/audit/streams/{stream_id}/replay",
        "/audit/streams/{stream_id}/check",
        "/audit/streams/{stream_id}/export",
        "/audit/receipts/{stream_id}/{version}/{hash}",
        "/audit/decisions/{decision_id}/whatif",
    } <= set(paths)
    assert set(paths["/audit/streams/{stream_id}/export"]["get"]["responses"]["200"]["content"]) == {
        "application/json", "application/x-ndjson", "text/markdown", "text/html",
    }
