"""The transparency log catches a rewritten record after Temporal has forgotten the processes.

Each alliance records a decision and a dispute on a Temporal dev server of the test's own; checkpoints are
signed; then that server is shut down and thrown away with every history it held, so that `accord audit
check` (pointed at another server) has nothing left to compare with. Then
the record is tampered with as someone with the database's owner rights could (recomputing the hash chains
so that `verify`'s chain check alone passes): an edited row, a deleted tail, a whole deleted stream, two
events swapped, a row inserted in the middle. `accord audit verify --alliance` and the verifier printed in
docs/audit.md (hashlib, cryptography and asyncpg only) each catch every one, and pass the honest log.

Real PostgreSQL, real Temporal dev server, the command line and the documented script as subprocesses.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from uuid import uuid4

import asyncpg
import pytest
from cli_support import Cli, cli_against
from decision_support import alliance_with_members, behind_the_triggers, rechain, unique
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from test_independent_verifier import run_verifier, verifier_script

from accord.app import Accord
from accord.binaries import binary
from accord.worker import build_worker
from events.decision import PointDraft, StanceKind, TakeStance
from events.log import TransparencyLog
from events.merkle import leaf_hash, verify_inclusion
from events.migrate import LOG_MIGRATION, migrate
from events.notes import Checkpoint, Signer, split_note
from events.store import EventStore, NewEvent
from workflows import search

LOG_NAME = "accord.test"


@pytest.fixture
def signer() -> Signer:
    return Signer.generate(LOG_NAME)


@pytest.fixture
def cli(tmp_path: Path, temporal_env: WorkflowEnvironment, db_url: str, task_queue: str, signer: Signer) -> Cli:
    run = cli_against(tmp_path, temporal_env, db_url, task_queue)
    run.env["ACCORD_LOG_KEY"] = str(signer)
    run.env["ACCORD_LOG_NAME"] = LOG_NAME
    return run


@asynccontextmanager
async def forgetful_temporal(app_pool: asyncpg.Pool) -> AsyncIterator[Accord]:
    """accord on a Temporal dev server of its own, in memory: when the block ends, the server and every
    history it held are gone, as a closed workflow's history is once the namespace's retention has passed."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"), data_converter=pydantic_data_converter, search_attributes=search.ALL,
    )
    async with env, build_worker(env.client, app_pool, "forgetful"):
        yield Accord(client=env.client, pool=app_pool, task_queue="forgetful")


async def recorded_alliance(app: Accord, log: TransparencyLog, signer: Signer) -> str:
    """An alliance with a decision and a dispute, and two checkpoints signed along the way."""
    alliance_id = await alliance_with_members(app, unique("rivers"))
    await app.open_decision(alliance_id, "amber", "spring", "Spring campaign", [PointDraft(text="March"), PointDraft(text="Banner")])
    assert await log.issue(alliance_id, signer, LOG_NAME) is not None
    await app.raise_dispute(alliance_id, "cedar", "banner", ["dune"], "The banner", "dune took the banner", "normal")
    for member, point in (("cedar", "p1"), ("dune", "p1"), ("cedar", "p2")):
        await app.decision_command("spring", TakeStance(actor=member, point_id=point, stance=StanceKind.AGREE), alliance_id=alliance_id)
    assert await log.issue(alliance_id, signer, LOG_NAME) is not None
    return alliance_id


# --- what someone with the owner's rights does --------------------------------------------------------


async def edit_a_row(conn: asyncpg.Connection, alliance_id: str) -> None:
    stream = f"decision-{alliance_id}.spring"
    await conn.execute(
        "UPDATE accord.events SET data = jsonb_set(data, '{stance}', '\"block\"') WHERE stream_id = $1 AND stream_version = 2", stream
    )
    await rechain(conn, stream)


async def delete_the_tail(conn: asyncpg.Connection, alliance_id: str) -> None:
    """The newest events and their leaves, and the log's size with them."""
    stream = f"decision-{alliance_id}.spring"
    gone = await conn.fetch(
        "DELETE FROM accord.events WHERE stream_id = $1 AND stream_version > 2 RETURNING global_position", stream
    )
    await conn.execute("DELETE FROM accord.log_leaves WHERE global_position = ANY($1::bigint[])", [r[0] for r in gone])


async def delete_a_stream(conn: asyncpg.Connection, alliance_id: str) -> None:
    """The whole dispute, its leaves, and the leaves after it renumbered so that the log has no gap."""
    gone = await conn.fetch("DELETE FROM accord.events WHERE stream_id = $1 RETURNING global_position", f"dispute-{alliance_id}.banner")
    await conn.execute("DELETE FROM accord.log_leaves WHERE global_position = ANY($1::bigint[])", [r[0] for r in gone])
    await conn.execute(
        "UPDATE accord.log_leaves l SET leaf_index = n.i FROM (SELECT global_position, row_number() OVER (ORDER BY leaf_index) - 1 AS i"
        " FROM accord.log_leaves WHERE alliance_id = $1) n WHERE l.global_position = n.global_position",
        alliance_id,
    )


async def swap_two_events(conn: asyncpg.Connection, alliance_id: str) -> None:
    """The stances at versions 2 and 3 of the decision trade places."""
    stream = f"decision-{alliance_id}.spring"
    await conn.execute(
        "UPDATE accord.events e SET data = o.data, metadata = o.metadata FROM accord.events o"
        " WHERE e.stream_id = $1 AND o.stream_id = $1 AND (e.stream_version, o.stream_version) IN ((2, 3), (3, 2))",
        stream,
    )
    await rechain(conn, stream)


async def insert_a_row(conn: asyncpg.Connection, alliance_id: str) -> None:
    """A stance nobody took, at version 2 of the decision; the versions after it move up by one."""
    stream = f"decision-{alliance_id}.spring"
    await conn.execute("UPDATE accord.events SET stream_version = stream_version + 1000 WHERE stream_id = $1 AND stream_version >= 2", stream)
    await conn.execute("UPDATE accord.events SET stream_version = stream_version - 999 WHERE stream_id = $1 AND stream_version > 1000", stream)
    await conn.execute(
        "INSERT INTO accord.events (stream_id, stream_version, event_id, event_type, data, metadata, recorded_at, prev_hash, hash)"
        " SELECT stream_id, 2, gen_random_uuid(), event_type, jsonb_set(data, '{member_id}', '\"birch\"'), metadata, recorded_at,"
        " prev_hash, hash FROM accord.events WHERE stream_id = $1 AND stream_version = 3",
        stream,
    )
    await rechain(conn, stream)


Tamper = Callable[[asyncpg.Connection, str], Awaitable[None]]

TAMPERINGS: dict[str, tuple[Tamper, str]] = {
    "an edited row with a recomputed chain": (edit_a_row, "does not hold"),
    "a deleted tail": (delete_the_tail, "was signed, but the log holds"),
    "a whole deleted stream": (delete_a_stream, "leaves were removed"),
    "two events swapped": (swap_two_events, "does not hold"),
    "a row inserted in the middle": (insert_a_row, "is not a leaf"),
}


async def tampered(pool: asyncpg.Pool, alliance_id: str, tamper: Tamper) -> None:
    async with behind_the_triggers(pool) as conn:
        await conn.execute("ALTER TABLE accord.log_leaves DISABLE TRIGGER USER")
        await tamper(conn, alliance_id)


async def documented_verifier(script: Path, db_url: str, signer: Signer) -> tuple[int, str]:
    return await run_verifier(script, db_url, "--log-key", str(signer.verifier))


async def test_each_tampering_is_caught_by_accord_and_by_the_documented_verifier_after_temporal_forgot(
    app_pool: asyncpg.Pool, store: EventStore, pool: asyncpg.Pool, cli: Cli, db_url: str, signer: Signer, tmp_path: Path
) -> None:
    log = TransparencyLog(pool)
    async with forgetful_temporal(app_pool) as app:
        honest, *victims = [await recorded_alliance(app, log, signer) for _ in range(len(TAMPERINGS) + 1)]
    gone = await cli(f"audit check decision-{honest}.spring")
    assert gone.code == 3 and "FAIL replay: Temporal has no workflow of this stream" in gone.stdout, gone

    script = verifier_script(tmp_path)
    verified = await cli(f"audit verify --alliance {honest}")
    assert verified.code == 0, verified
    assert f"log of {honest}: " in verified.stdout and "BROKEN" not in verified.stdout
    code, out = await documented_verifier(script, db_url, signer)
    assert code == 0, out
    assert f"log {honest}: " in out and "BROKEN" not in out
    wrong = tmp_path / "elsewhere"
    wrong.write_text(signer.sign(Checkpoint(f"{LOG_NAME}/nowhere", 1, bytes(32)).text()))
    refused = await cli(f"audit verify --alliance {honest} --checkpoint {wrong}")
    assert refused.code == 1 and f"not a checkpoint of the log of {honest}" in refused.stderr, refused

    for alliance_id, (what, (tamper, finding)) in zip(victims, TAMPERINGS.items(), strict=True):
        await tampered(pool, alliance_id, tamper)
        chains = await store.verify(stream_prefix=f"decision-{alliance_id}.")
        assert chains.ok or what == "a deleted tail", (what, chains)  # the chains were recomputed: they alone see nothing

        report = await cli(f"audit verify --alliance {alliance_id} --json")
        assert report.code == 3, (what, report)
        problems = report.json()["log"]["problems"]
        assert any(finding in problem for problem in problems), (what, problems)

        code, out = await documented_verifier(script, db_url, signer)
        assert code == 1, (what, out)
        assert any(line.startswith(f"BROKEN log {alliance_id}") or (line.startswith("BROKEN decision-") and alliance_id in line)
                   for line in out.splitlines()), (what, out)
        if what == "an edited row with a recomputed chain":  # without --alliance: every alliance's log
            everything = await cli("audit verify --json")
            assert everything.code == 3, everything
            found = {log["alliance_id"]: log["problems"] for log in everything.json()["logs"]}
            assert found[honest] == [] and found[alliance_id], found
        await heal(pool, alliance_id)  # out of the way of the next finding: the documented verifier reads every alliance


async def heal(pool: asyncpg.Pool, alliance_id: str) -> None:
    """Remove the tampered alliance's record altogether (its log included), as a test's cleanup."""
    async with behind_the_triggers(pool) as conn:
        await conn.execute(
            "DELETE FROM accord.events e USING accord.log_leaves l WHERE l.global_position = e.global_position AND l.alliance_id = $1",
            alliance_id,
        )
        await conn.execute("DELETE FROM accord.events WHERE stream_id LIKE $1 OR stream_id LIKE $2", f"decision-{alliance_id}.%", f"dispute-{alliance_id}.%")
        for table in ("cosignatures", "checkpoints", "log_nodes", "log_leaves", "logs"):
            await conn.execute(f"DELETE FROM accord.{table} WHERE alliance_id = $1", alliance_id)  # the table names above


async def test_a_receipt_is_proven_in_a_signed_checkpoint_and_the_bundle_checks_offline(
    app: Accord, store: EventStore, pool: asyncpg.Pool, cli: Cli, signer: Signer, tmp_path: Path
) -> None:
    log = TransparencyLog(pool)
    alliance_id = await recorded_alliance(app, log, signer)
    stream = f"decision-{alliance_id}.spring"
    head = await store.head(stream)

    proved = await cli(f"audit prove {stream} {head.version} {head.hash} --json")
    assert proved.code == 0, proved
    proof: dict[str, Any] = proved.json()
    assert proof["stream_version"] == head.version and proof["event_hash"] == head.hash
    text, _ = split_note(proof["checkpoint"])
    checkpoint = Checkpoint.parse(text)
    verify_inclusion(
        proof["leaf_index"], checkpoint.size, leaf_hash(bytes.fromhex(head.hash)), [base64.b64decode(p) for p in proof["proof"]], checkpoint.root
    )
    first = (await cli(f"log checkpoints {alliance_id} --json")).json()[0]["tree_size"]
    for name, document in (("inclusion", proof), ("consistency", (await cli(f"log consistency {alliance_id} {first} --json")).json())):
        kept = tmp_path / f"{name}.json"
        kept.write_text(json.dumps(document))
        assert (await run_verifier(verifier_script(tmp_path), "--proof", str(kept), "--log-key", str(signer.verifier)))[0] == 0, name
        document["proof"] = document["proof"][::-1] if len(document["proof"]) > 1 else [base64.b64encode(bytes(32)).decode()]
        kept.write_text(json.dumps(document))
        code, out = await run_verifier(verifier_script(tmp_path), "--proof", str(kept), "--log-key", str(signer.verifier))
        assert code == 1 and "BROKEN: does not hold" in out, (name, out)
    wrong = await cli(f"audit prove {stream} {head.version} {'0' * 64}")
    assert wrong.code != 0 and "not of the event the record holds" in wrong.stderr

    bundle = tmp_path / "rivers.bundle.json"
    written = await cli(f"audit export --alliance {alliance_id} --bundle {bundle}")
    assert written.code == 0, written
    document = json.loads(bundle.read_text())
    assert document["format"] == "accord-audit-bundle/1" and len(document["checkpoints"]) == 2
    script = verifier_script(tmp_path)
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(script), "--bundle", str(bundle), "--log-key", str(signer.verifier),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0 and not err, (out, err)
    assert f"log {alliance_id}: {len(document['leaves'])} leaves; the checkpoint of" in out.decode()

    document["leaves"][3]["event"]["data"]["stance"] = "block"  # an edit of the bundle, chain and all
    bundle.write_text(json.dumps(document))
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(script), "--bundle", str(bundle), "--log-key", str(signer.verifier),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    assert process.returncode == 1 and "BROKEN" in out.decode(), out


async def test_upgrading_a_record_kept_before_the_log_makes_its_events_the_first_leaves(app: Accord, pool: asyncpg.Pool) -> None:
    alliance_id = await alliance_with_members(app, unique("rivers"))
    await app.open_decision(alliance_id, "amber", "spring", "Spring campaign", [PointDraft(text="March")])
    legacy = "decision-" + unique("before-scoping")  # a stream named before ids were scoped, found by its read model
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO accord.read_models (model, key, alliance_id, position, version, row)"
            " SELECT 'decisions', $2, alliance_id, position, version, row FROM accord.read_models WHERE model = 'decisions' AND key = $1",
            f"{alliance_id}.spring", legacy.removeprefix("decision-"),
        )
    await EventStore(pool).append(legacy, 0, [NewEvent(event_id=uuid4(), event_type="Note", data={"n": 1})])
    expected = await pool.fetch(
        "SELECT global_position FROM accord.events WHERE stream_id = ANY($1::text[]) ORDER BY transaction_id, global_position",
        [f"alliance-{alliance_id}", f"decision-{alliance_id}.spring", legacy],
    )
    async with pool.acquire() as conn:  # as the database stood before the log's migration
        await conn.execute("DROP TABLE accord.cosignatures, accord.checkpoints, accord.log_nodes, accord.log_leaves, accord.logs")
        await conn.execute("DELETE FROM accord.schema_migrations WHERE name = $1", LOG_MIGRATION)
        assert await migrate(conn) == [LOG_MIGRATION]

    leaves = await pool.fetch("SELECT leaf_index, global_position FROM accord.log_leaves WHERE alliance_id = $1 ORDER BY leaf_index", alliance_id)
    assert [r["global_position"] for r in leaves] == [r["global_position"] for r in expected]
    assert [r["leaf_index"] for r in leaves] == list(range(len(expected)))
    assert await pool.fetchval("SELECT size FROM accord.logs WHERE alliance_id = $1", alliance_id) == len(expected)
    report = await TransparencyLog(pool).verify(alliance_id, [])
    assert report.ok and report.leaves == len(expected), report


async def test_a_log_rewritten_and_signed_again_fails_against_a_checkpoint_kept_outside_the_record(
    app: Accord, pool: asyncpg.Pool, cli: Cli, db_url: str, signer: Signer, tmp_path: Path
) -> None:
    log = TransparencyLog(pool)
    alliance_id = await recorded_alliance(app, log, signer)
    kept = tmp_path / "kept-checkpoint"  # as a witness keeps it: <dir>/<alliance>/checkpoint
    kept.write_text((await log.checkpoint(alliance_id)).note)

    async with behind_the_triggers(pool) as conn:  # the operator rewrites a stance, then the log and its checkpoints
        await edit_a_row(conn, alliance_id)
        for table in ("cosignatures", "checkpoints", "log_nodes"):
            await conn.execute(f"DELETE FROM accord.{table} WHERE alliance_id = $1", alliance_id)  # the names above
    assert await log.issue(alliance_id, signer, LOG_NAME) is not None

    fooled = await cli(f"audit verify --alliance {alliance_id}")
    assert fooled.code == 0, fooled  # the record alone agrees with itself: why members keep checkpoints
    caught = await cli(f"audit verify --alliance {alliance_id} --checkpoint {kept}")
    assert caught.code == 3 and "kept outside the record does not hold" in caught.stdout, caught
    code, out = await run_verifier(verifier_script(tmp_path), db_url, "--log-key", str(signer.verifier), "--checkpoint", str(kept))
    assert code == 1 and f"BROKEN log {alliance_id}: the checkpoint of" in out and "kept outside the record" in out, out


async def test_a_finding_in_a_dispute_is_told_without_its_name_to_who_may_not_read_the_dispute(
    app: Accord, pool: asyncpg.Pool, signer: Signer
) -> None:
    from accord import transparency
    from events.access import Caller

    alliance_id = await recorded_alliance(app, TransparencyLog(pool), signer)
    dispute = f"dispute-{alliance_id}.banner"
    async with pool.acquire() as conn:  # the dispute's event loses its leaf: an event written around the append
        await conn.execute(
            "DELETE FROM accord.log_leaves WHERE global_position = (SELECT global_position FROM accord.events WHERE stream_id = $1)",
            dispute,
        )
    operator = await transparency.verify_log(app, alliance_id, None, [signer.verifier])
    outsider = await transparency.verify_log(app, alliance_id, Caller.named("amber"), [signer.verifier])
    party = await transparency.verify_log(app, alliance_id, Caller.named("cedar"), [signer.verifier])
    assert any(dispute in p for p in operator.problems) and any(dispute in p for p in party.problems), operator
    assert outsider.problems and not any("banner" in p for p in outsider.problems), outsider.problems
    assert any("a stream this reader may not read" in p for p in outsider.problems), outsider.problems
