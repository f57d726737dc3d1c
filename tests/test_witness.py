"""Members' witnesses of an alliance's transparency log, end to end through the HTTP API.

Each member organisation names its witness's key, and its witness (accord/witness.py) fetches the newest
signed checkpoint with the member's token, checks the pinned log key and the consistency with the last
checkpoint it cosigned, cosigns, and sends the cosignature. A charter may ask for k cosignatures before a
checkpoint counts for proofs. When an operator rewrites the record and re-signs the log, the witness sees
the split view, keeps the evidence, reports it (a SplitViewReported event every active member is told of)
and never cosigns the rewritten log; accord refuses "evidence" that is none.

Real PostgreSQL, real Temporal dev server, the real FastAPI app through httpx's ASGI transport; no mocks.
"""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from api_support import bearer, client_for
from decision_support import (
    MEMBERS,
    alliance_with_members,
    behind_the_triggers,
    charter,
    notified,
    rechain,
    unique,
)
from pydantic import SecretStr

from accord.app import Accord
from accord.config import Settings
from accord.keeper import new_key_file
from accord.witness import Witness, witness_signer
from events.alliance import AdmitMember, FoundAlliance, Role, SuspendMember
from events.charter import Transparency
from events.decision import PointDraft, StanceKind, TakeStance
from events.errors import CorruptRecord
from events.log import CheckpointRecord, TransparencyLog
from events.merkle import leaf_hash, verify_inclusion
from events.notes import COSIGNATURE, Checkpoint, Signer, Verifier, split_note

LOG_NAME = "accord.test"


@pytest.fixture
def signer() -> Signer:
    """The deployment's log key."""
    return Signer.generate(LOG_NAME)


@pytest.fixture
def settings(signer: Signer) -> Settings:
    return Settings(log_key=SecretStr(str(signer)), log_name=LOG_NAME)


MemberApi = Callable[[str, str], Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def member_api(app: Accord, settings: Settings) -> AsyncIterator[MemberApi]:
    """A client of the HTTP API per member, carrying that member's own token (as `accord witness` does)."""
    async with AsyncExitStack() as stack:

        async def open_for(alliance_id: str, member_id: str) -> httpx.AsyncClient:
            token = (await app.issue_token(alliance_id, member_id, member_id, "witness")).token
            client = await stack.enter_async_context(client_for(app, settings))
            client.headers.update(bearer(token))
            return client

        yield open_for


@dataclass
class Member:
    """A member organisation with its API client and its witness (key in its own directory)."""

    member_id: str
    http: httpx.AsyncClient
    directory: Path
    key: Signer
    witness: Witness

    @property
    def public_key(self) -> str:
        return str(self.key.verifier)

    def kept(self, alliance_id: str) -> Checkpoint:
        """The checkpoint the witness last cosigned, as its state file holds it."""
        text, _ = split_note((self.directory / alliance_id / "checkpoint").read_text())
        return Checkpoint.parse(text)


async def member_with_witness(
    member_api: MemberApi, tmp_path: Path, alliance_id: str, member_id: str, log_key: Verifier, *, name_key: bool = True
) -> Member:
    http = await member_api(alliance_id, member_id)
    directory = tmp_path / f"witness-{member_id}"
    key = new_key_file(directory / "key", f"{member_id}.example", COSIGNATURE)
    witness = Witness(http, alliance_id, member_id, log_key, witness_signer(directory), directory)
    member = Member(member_id, http, directory, key, witness)
    if name_key:
        named = await name_witness_key(member, alliance_id, member_id, member.public_key)
        assert named.status_code == 200, named.text
    return member


async def name_witness_key(member: Member, alliance_id: str, whose: str, key: str) -> httpx.Response:
    return await member.http.put(f"/alliances/{alliance_id}/members/{whose}/witness-key", json={"witness_key": key})


async def open_spring(app: Accord, alliance_id: str) -> None:
    """A decision with two stances: more leaves for the log."""
    await app.open_decision(alliance_id, "amber", "spring", "Spring campaign", [PointDraft(text="March"), PointDraft(text="Banner")])
    for member, point in (("cedar", "p1"), ("dune", "p2")):
        await app.decision_command("spring", TakeStance(actor=member, point_id=point, stance=StanceKind.AGREE), alliance_id=alliance_id)


async def issued(pool: asyncpg.Pool, alliance_id: str, signer: Signer) -> CheckpointRecord:
    checkpoint = await TransparencyLog(pool).issue(alliance_id, signer, LOG_NAME)
    assert checkpoint is not None, "the log did not grow: nothing to sign"
    return checkpoint


async def served(http: httpx.AsyncClient, alliance_id: str) -> dict[str, Any]:
    response = await http.get(f"/alliances/{alliance_id}/log/checkpoint")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def alliance_requiring_witnesses(app: Accord, witnesses: int) -> str:
    """As decision_support.alliance_with_members, with a charter asking `witnesses` cosignatures of a checkpoint."""
    alliance_id = unique("rivers")
    rules = charter().model_copy(update={"transparency": Transparency(witnesses=witnesses)})
    await app.found_alliance(FoundAlliance(alliance_id=alliance_id, charter=rules, founder_id="gw", founder_name="GreenWatch"))
    for member in MEMBERS:
        await app.alliance_command(alliance_id, AdmitMember(actor="gw", member_id=member, name=member.title(), roles=[Role.MEMBER]))
    assert (await app.alliance(alliance_id)).charter.transparency.witnesses == witnesses
    return alliance_id


# --- witnesses cosign ---------------------------------------------------------------------------------


async def test_two_members_witnesses_cosign_each_checkpoint_and_their_keys_are_their_own(
    app: Accord, pool: asyncpg.Pool, member_api: MemberApi, signer: Signer, tmp_path: Path
) -> None:
    alliance_id = await alliance_with_members(app, unique("rivers"))
    cedar = await member_with_witness(member_api, tmp_path, alliance_id, "cedar", signer.verifier, name_key=False)
    dune = await member_with_witness(member_api, tmp_path, alliance_id, "dune", signer.verifier, name_key=False)

    others = await name_witness_key(cedar, alliance_id, "dune", dune.public_key)
    assert others.status_code == 403, others.text
    assert "member's own to set" in others.json()["detail"]
    for malformed in ("not a key", str(signer.verifier)):  # garbage, and a log's key (type 0x01) rather than a witness's
        refused = await name_witness_key(cedar, alliance_id, "cedar", malformed)
        assert refused.status_code == 422, (malformed, refused.text)
        assert "witness_key" in refused.json()["detail"][0]["msg"]
    assert (await app.alliance(alliance_id)).members["cedar"].witness_key is None

    named = await name_witness_key(cedar, alliance_id, "cedar", cedar.public_key)
    assert named.status_code == 200, named.text
    taken = await name_witness_key(dune, alliance_id, "dune", cedar.public_key)
    assert taken.status_code == 409, taken.text
    assert "already 'cedar'" in taken.json()["detail"]
    named = await name_witness_key(dune, alliance_id, "dune", dune.public_key)
    assert named.status_code == 200, named.text
    state = await app.alliance(alliance_id)
    assert (state.members["cedar"].witness_key, state.members["dune"].witness_key) == (cedar.public_key, dune.public_key)

    first = await issued(pool, alliance_id, signer)
    for member in (cedar, dune):
        done = await member.witness.round()
        assert (done.outcome, done.tree_size) == ("cosigned", first.tree_size), done
        assert member.kept(alliance_id).size == first.tree_size

    record = await served(cedar.http, alliance_id)
    assert record["tree_size"] == first.tree_size
    assert sorted(record["witnesses"]) == ["cedar", "dune"]
    text, signatures = split_note(str(record["note"]))
    assert Checkpoint.parse(text) == Checkpoint(f"{LOG_NAME}/{alliance_id}", first.tree_size, base64.b64decode(first.root_hash))
    assert len(signatures) == 3, record["note"]
    by_name = {signature.name: signature for signature in signatures}
    assert signer.verifier.verify(text, by_name[LOG_NAME]) is None
    for member in (cedar, dune):
        cosigned_at = member.key.verifier.verify(text, by_name[f"{member.member_id}.example"])
        assert cosigned_at is not None and cosigned_at > 0

    for member in (cedar, dune):
        again = await member.witness.round()
        assert (again.outcome, again.tree_size) == ("unchanged", first.tree_size), again
    assert len(split_note(str((await served(dune.http, alliance_id))["note"]))[1]) == 3  # nothing added twice

    await open_spring(app, alliance_id)
    second = await issued(pool, alliance_id, signer)
    assert second.tree_size > first.tree_size
    proof = await cedar.http.get(f"/alliances/{alliance_id}/log/consistency", params={"old": first.tree_size})
    assert proof.status_code == 200 and proof.json()["proof"], proof.text  # a proof with nodes to check, not an empty one
    for member in (cedar, dune):
        done = await member.witness.round()
        assert (done.outcome, done.tree_size) == ("cosigned", second.tree_size), done
        assert member.kept(alliance_id) == Checkpoint(f"{LOG_NAME}/{alliance_id}", second.tree_size, base64.b64decode(second.root_hash))
    assert sorted((await served(cedar.http, alliance_id))["witnesses"]) == ["cedar", "dune"]


async def test_proofs_go_to_the_newest_checkpoint_the_charters_witnesses_cosigned(
    app: Accord, pool: asyncpg.Pool, member_api: MemberApi, signer: Signer, tmp_path: Path
) -> None:
    alliance_id = await alliance_requiring_witnesses(app, 2)
    cedar = await member_with_witness(member_api, tmp_path, alliance_id, "cedar", signer.verifier)
    dune = await member_with_witness(member_api, tmp_path, alliance_id, "dune", signer.verifier)
    stream = f"alliance-{alliance_id}"
    receipt = (await app.store.read_stream(stream))[0]  # the founding

    async def prove() -> httpx.Response:
        return await cedar.http.get(f"/audit/proofs/{stream}/1")

    checkpoint = await issued(pool, alliance_id, signer)
    for cosigners in ([], [cedar]):
        for member in cosigners:
            assert (await member.witness.round()).outcome == "cosigned"
        refused = await prove()
        assert refused.status_code == 404, (cosigners, refused.text)
        assert "has the 2 witnesses' cosignatures its charter asks for yet" in refused.json()["detail"], refused.text
    assert (await cedar.http.get(f"/alliances/{alliance_id}/log/verify")).json()["counted"] is None

    assert (await dune.witness.round()).outcome == "cosigned"
    proved = await prove()
    assert proved.status_code == 200, proved.text
    proof = proved.json()
    assert proof["tree_size"] == checkpoint.tree_size and proof["event_hash"] == receipt.hash.hex()
    text, signatures = split_note(proof["checkpoint"])
    assert len(signatures) == 3  # the log's and both witnesses'
    verify_inclusion(
        proof["leaf_index"], checkpoint.tree_size, leaf_hash(receipt.hash),
        [base64.b64decode(p) for p in proof["proof"]], Checkpoint.parse(text).root,
    )

    # a newer checkpoint that nobody cosigned yet does not count: proofs stay with the cosigned one
    await open_spring(app, alliance_id)
    newer = await issued(pool, alliance_id, signer)
    assert (await prove()).json()["tree_size"] == checkpoint.tree_size
    report = (await cedar.http.get(f"/alliances/{alliance_id}/log/verify")).json()
    assert report["problems"] == [], report
    assert (report["witnesses_required"], report["latest"], report["counted"]) == (2, newer.tree_size, checkpoint.tree_size), report


# --- a split view ---------------------------------------------------------------------------------------


async def rewrite_and_resign(pool: asyncpg.Pool, alliance_id: str, signer: Signer) -> CheckpointRecord:
    """What an operator with the database's owner rights and the log key could do: change a stance (the
    chain recomputed), throw the tree, checkpoints and cosignatures away, and sign the rewritten log."""
    stream = f"decision-{alliance_id}.spring"
    async with behind_the_triggers(pool) as conn:
        changed = await conn.execute(
            "UPDATE accord.events SET data = jsonb_set(data, '{stance}', '\"block\"') WHERE stream_id = $1 AND stream_version = 2",
            stream,
        )
        assert changed == "UPDATE 1"
        await rechain(conn, stream)
        for table in ("cosignatures", "checkpoints", "log_nodes"):
            await conn.execute(f"DELETE FROM accord.{table} WHERE alliance_id = $1", alliance_id)  # the names above
    return await issued(pool, alliance_id, signer)


async def test_a_witness_catches_a_rewritten_and_resigned_log_keeps_and_reports_the_evidence_and_never_cosigns_it(
    app: Accord, pool: asyncpg.Pool, member_api: MemberApi, signer: Signer, tmp_path: Path
) -> None:
    alliance_id = await alliance_with_members(app, unique("rivers"))
    await app.alliance_command(alliance_id, SuspendMember(actor="gw", member_id="birch", reason="dues unpaid"))
    assert not (await app.alliance(alliance_id)).members["birch"].active  # so birch is not told
    cedar = await member_with_witness(member_api, tmp_path, alliance_id, "cedar", signer.verifier)
    await open_spring(app, alliance_id)
    honest = await issued(pool, alliance_id, signer)
    assert (await cedar.witness.round()).outcome == "cosigned"
    stream = f"alliance-{alliance_id}"
    before = len(await app.store.read_stream(stream))

    rewritten = await rewrite_and_resign(pool, alliance_id, signer)
    assert rewritten.tree_size == honest.tree_size and rewritten.root_hash != honest.root_hash
    with pytest.raises(CorruptRecord) as caught:
        await cedar.witness.round()
    message = str(caught.value)
    assert "SPLIT VIEW" in message and f"two roots for the log of {honest.tree_size} leaves" in message, message
    assert "reported to the alliance" in message and "NOT reported" not in message, message

    [evidence] = (cedar.directory / alliance_id).glob("split-view-*.txt")
    assert str(evidence) in message
    kept = evidence.read_text()
    assert honest.note in kept and rewritten.note in kept, kept

    events = await app.store.read_stream(stream)
    assert len(events) == before + 1
    reported = events[-1]
    assert reported.event_type == "SplitViewReported", reported
    notes = (reported.data["earlier"], reported.data["later"])
    assert reported.data["reported_by"] == "cedar"
    assert notes == (honest.note, rewritten.note), notes
    assert "two roots" in reported.data["reason"]
    told = await notified(pool, stream, "split_view")
    assert sorted(row["member_id"] for row in told) == sorted(m for m in ["gw", *MEMBERS] if m != "birch"), told
    assert all(row["event_id"] == reported.event_id and "saw the alliance's log two ways" in row["message"] for row in told)

    # The rewritten log grows and is signed again: it cannot prove it extends what the witness cosigned.
    grown = await issued(pool, alliance_id, signer)
    assert grown.tree_size > honest.tree_size
    with pytest.raises(CorruptRecord) as again:
        await cedar.witness.round()
    assert "SPLIT VIEW" in str(again.value) and "does not extend" in str(again.value), again.value
    assert cedar.kept(alliance_id) == Checkpoint(f"{LOG_NAME}/{alliance_id}", honest.tree_size, base64.b64decode(honest.root_hash))
    assert (cedar.directory / alliance_id / "checkpoint").read_text() == honest.note
    assert (await served(cedar.http, alliance_id))["witnesses"] == []
    assert await pool.fetchval("SELECT count(*) FROM accord.cosignatures WHERE alliance_id = $1", alliance_id) == 0
    last = (await app.store.read_stream(stream))[-1]
    assert last.event_type == "SplitViewReported" and last.data["later"] == grown.note, last

    # The same split view seen again is neither kept nor reported twice: the alliance is told once.
    recorded = len(await app.store.read_stream(stream))
    with pytest.raises(CorruptRecord, match="seen before"):
        await cedar.witness.round()
    assert len(await app.store.read_stream(stream)) == recorded
    assert len(list((cedar.directory / alliance_id).glob("split-view-*.txt"))) == 2


async def test_accord_refuses_split_view_evidence_that_is_none(
    app: Accord, pool: asyncpg.Pool, member_api: MemberApi, signer: Signer
) -> None:
    alliance_id = await alliance_with_members(app, unique("rivers"))
    http = await member_api(alliance_id, "cedar")
    first = await issued(pool, alliance_id, signer)
    await open_spring(app, alliance_id)
    second = await issued(pool, alliance_id, signer)
    stream = f"alliance-{alliance_id}"
    before = len(await app.store.read_stream(stream))

    async def report(earlier: str, later: str) -> httpx.Response:
        body = {"reason": "seen by a member's witness", "earlier": earlier, "later": later}
        return await http.post(f"/alliances/{alliance_id}/log/split-views", json=body)

    for earlier, later in ((first.note, second.note), (second.note, second.note)):
        honest = await report(earlier, later)
        assert honest.status_code == 422, honest.text
        assert "do not contradict" in honest.json()["detail"][0]["msg"], honest.text

    forger = Signer.generate(LOG_NAME)  # the log's name, not its key
    other_root = Checkpoint(f"{LOG_NAME}/{alliance_id}", first.tree_size, b"\x07" * 32).text()
    forged = await report(first.note, forger.sign(other_root))
    assert forged.status_code == 422, forged.text
    [error] = forged.json()["detail"]
    assert error["loc"] == ["body", "later"] and "not signed by this deployment's log key" in error["msg"], error

    # Two checkpoints of another alliance's log that this one's stored log does not have: not evidence about this log.
    lakes = await alliance_with_members(app, unique("lakes"))
    theirs = await issued(pool, lakes, signer)
    await open_spring(app, lakes)
    theirs_forged = signer.sign(Checkpoint(f"{LOG_NAME}/{lakes}", theirs.tree_size, b"\x09" * 32).text())
    elsewhere = await report(theirs.note, theirs_forged)
    assert elsewhere.status_code == 422, elsewhere.text
    assert f"the checkpoint is of the log {LOG_NAME}/{lakes}, not of {LOG_NAME}/{alliance_id}" in elsewhere.text

    assert len(await app.store.read_stream(stream)) == before
    assert await notified(pool, stream, "split_view") == []


async def test_a_cosignature_that_does_not_hold_or_is_dated_in_the_future_is_refused_and_not_recorded(
    app: Accord, pool: asyncpg.Pool, member_api: MemberApi, signer: Signer, tmp_path: Path
) -> None:
    alliance_id = await alliance_with_members(app, unique("rivers"))
    cedar = await member_with_witness(member_api, tmp_path, alliance_id, "cedar", signer.verifier)
    checkpoint = await issued(pool, alliance_id, signer)
    text, _ = split_note(checkpoint.note)
    post = f"/alliances/{alliance_id}/log/cosignatures"

    # A line that carries a blank line moves the note's split: the witness's key would sign another text.
    other = "x\n"
    smuggled = cedar.key.cosign(text + "\n" + other, int(time.time()))
    injected = await cedar.http.post(post, json={"tree_size": checkpoint.tree_size, "line": other + "\n" + smuggled})
    assert injected.status_code == 422 and "one signature line" in injected.text, injected.text
    future = await cedar.http.post(post, json={"tree_size": checkpoint.tree_size, "line": cedar.key.cosign(text, 10**13)})
    assert future.status_code == 422 and "is not a moment up to now" in future.text, future.text
    someone_else = Signer.generate("cedar.example", COSIGNATURE).cosign(text, int(time.time()))
    forged = await cedar.http.post(post, json={"tree_size": checkpoint.tree_size, "line": someone_else})
    assert forged.status_code == 422 and "the cosignature does not hold" in forged.text, forged.text
    assert await pool.fetchval("SELECT count(*) FROM accord.cosignatures WHERE alliance_id = $1", alliance_id) == 0


async def test_a_witness_pinned_to_another_log_key_trusts_nothing_and_cosigns_nothing(
    app: Accord, pool: asyncpg.Pool, member_api: MemberApi, signer: Signer, tmp_path: Path
) -> None:
    alliance_id = await alliance_with_members(app, unique("rivers"))
    impostor = Signer.generate(LOG_NAME)  # a key of the same name: only the key tells them apart
    cedar = await member_with_witness(member_api, tmp_path, alliance_id, "cedar", impostor.verifier)
    await issued(pool, alliance_id, signer)

    with pytest.raises(CorruptRecord) as caught:
        await cedar.witness.round()
    message = str(caught.value)
    assert "cannot be trusted" in message and "not signed by the pinned log key" in message, message
    # During a rotation a witness pins the old key and the new: either one's checkpoint is trusted.
    rotating = Witness(cedar.http, alliance_id, "cedar", [impostor.verifier, signer.verifier], cedar.witness.signer, cedar.directory)
    assert (await rotating.round()).outcome == "cosigned"
    await pool.execute("DELETE FROM accord.cosignatures WHERE alliance_id = $1", alliance_id)
    (cedar.directory / alliance_id / "checkpoint").unlink()
    assert not (cedar.directory / alliance_id / "checkpoint").exists()
    assert (await served(cedar.http, alliance_id))["witnesses"] == []
    assert await pool.fetchval("SELECT count(*) FROM accord.cosignatures WHERE alliance_id = $1", alliance_id) == 0


async def test_the_recorded_evidence_is_the_two_signed_notes_and_each_verifies_with_the_log_key(
    app: Accord, pool: asyncpg.Pool, member_api: MemberApi, signer: Signer
) -> None:
    alliance_id = await alliance_with_members(app, unique("rivers"))
    http = await member_api(alliance_id, "cedar")
    await open_spring(app, alliance_id)
    honest = await issued(pool, alliance_id, signer)
    rewritten = await rewrite_and_resign(pool, alliance_id, signer)
    body = {"reason": "seen by a member's witness", "earlier": honest.note, "later": rewritten.note}
    reported = await http.post(f"/alliances/{alliance_id}/log/split-views", json=body)
    assert reported.status_code == 200, reported.text

    event = (await app.store.read_stream(f"alliance-{alliance_id}"))[-1]
    assert event.event_type == "SplitViewReported"
    for field, note in (("earlier", honest.note), ("later", rewritten.note)):
        text, [signature] = split_note(event.data[field])  # what anyone reading the record checks the evidence with
        signer.verifier.verify(text, signature)
        assert event.data[field] == note


async def test_one_members_witness_counts_once_however_many_keys_it_cosigned_with(
    app: Accord, pool: asyncpg.Pool, member_api: MemberApi, signer: Signer, tmp_path: Path
) -> None:
    alliance_id = await alliance_requiring_witnesses(app, 2)
    cedar = await member_with_witness(member_api, tmp_path, alliance_id, "cedar", signer.verifier)
    await issued(pool, alliance_id, signer)
    assert (await cedar.witness.round()).outcome == "cosigned"
    rekeyed = await member_with_witness(member_api, tmp_path / "rekeyed", alliance_id, "cedar", signer.verifier, name_key=False)
    renamed = await name_witness_key(rekeyed, alliance_id, "cedar", rekeyed.public_key)
    assert renamed.status_code == 200, renamed.text
    assert (await rekeyed.witness.round()).outcome == "cosigned"  # the same checkpoint, cedar's new key

    proved = await cedar.http.get(f"/audit/proofs/alliance-{alliance_id}/1")
    report = (await cedar.http.get(f"/alliances/{alliance_id}/log/verify")).json()
    assert (proved.status_code, report["counted"]) == (404, None), (proved.text, report)
