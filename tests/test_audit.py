"""Audit end to end on real PostgreSQL and Temporal: replay, checks against the live workflow, tampering
of every kind a superuser can do, receipts, what-if, exports, and the `accord audit` commands.

Tampering goes behind the append-only triggers the way a superuser would (`ALTER TABLE ... DISABLE
TRIGGER USER`), in the test's own database. What each kind of tampering is caught by is the point:
verify recomputes the chain, so it catches an edited row but not a cut tail nor a chain rewritten with
fresh hashes; check compares the record with the workflow, whose head lives in Temporal's history.
"""

from __future__ import annotations

import asyncio
import gc
import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from cli_support import Cli, cli_against
from decision_support import CHARTER, alliance_with_members, behind_the_triggers, charter, eventually, final_state, rechain
from replay_support import AllianceThatWaitsBeforeRecording
from temporalio.testing import WorkflowEnvironment

from accord.app import Accord
from accord.audit import (
    CheckReport,
    alliance_streams,
    check,
    check_receipt,
    export,
    fold_log,
    replay,
    replay_history,
    whatif,
)
from events.alliance import (
    AdmitMember,
    AmendCharter,
    FoundAlliance,
    ReinstateMember,
    RemoveMember,
    Role,
    SetRoles,
    SetWebhook,
    SuspendMember,
)
from events.charter import DecisionRules, load_rules
from events.decision import StanceKind, TakeStance
from events.processes import DECISION, DISPUTE
from events.rules import RefusalKind, Refused
from events.store import EventStore, NewEvent
from workflows.alliance import AllianceWorkflow


def unique(prefix: str) -> str:
    # The Temporal servers live for the whole session: each test needs workflow ids of its own.
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def admit(member_id: str, name: str | None = None, roles: list[Role] | None = None) -> AdmitMember:
    return AdmitMember(actor="gw", member_id=member_id, name=name or member_id.title(), roles=roles or [Role.MEMBER])


async def small_alliance(app: Accord, *names: str) -> str:
    """gw founds an alliance and admits amber and birch (versions 1, 2, 3), named as given."""
    alliance_id = unique("rivers")
    await app.found_alliance(
        FoundAlliance(alliance_id=alliance_id, charter=charter(), founder_id="gw", founder_name="GreenWatch")
    )
    for member, name in zip(["amber", "birch"], [*names, None, None], strict=False):
        await app.alliance_command(alliance_id, admit(member, name))
    return alliance_id


async def stance(app: Accord, decision_id: str, member: str, point: str, kind: str, reason: str | None = None) -> None:
    await app.decision_command(
        decision_id, TakeStance(actor=member, point_id=point, stance=StanceKind(kind), reason=reason)
    )


def by_name(report: CheckReport) -> dict[str, Any]:
    return {c.name: c for c in report.checks}


async def edit_row(pool: asyncpg.Pool, stream_id: str, version: int, **changes: Any) -> None:
    """Change an event's data in place, leaving its hash as it was."""
    async with behind_the_triggers(pool) as conn:
        await conn.execute(
            "UPDATE accord.events SET data = data || $3::jsonb WHERE stream_id = $1 AND stream_version = $2",
            stream_id, version, json.dumps(changes),
        )


async def cut_tail(pool: asyncpg.Pool, stream_id: str) -> None:
    async with behind_the_triggers(pool) as conn:
        await conn.execute(
            "DELETE FROM accord.events WHERE stream_id = $1 AND stream_version ="
            " (SELECT max(stream_version) FROM accord.events WHERE stream_id = $1)",
            stream_id,
        )


async def rewrite_chain(pool: asyncpg.Pool, stream_id: str, version: int, **changes: Any) -> None:
    """Change an event's data and recompute every hash of the stream by the published rule."""
    async with behind_the_triggers(pool) as conn:
        await conn.execute(
            "UPDATE accord.events SET data = data || $3::jsonb WHERE stream_id = $1 AND stream_version = $2",
            stream_id, version, json.dumps(changes),
        )
        await rechain(conn, stream_id)


# --- replay ---------------------------------------------------------------------------------------


async def test_replay_at_a_version_or_a_moment_gives_the_state_and_timeline_then(app: Accord, store: EventStore) -> None:
    alliance_id = await small_alliance(app)
    stream = f"alliance-{alliance_id}"
    events = await store.read_stream(stream)
    assert len(events) == 3
    between = events[1].recorded_at + (events[2].recorded_at - events[1].recorded_at) / 2
    assert events[1].recorded_at < between < events[2].recorded_at

    for then in (await replay(store, stream, at=2), await replay(store, stream, as_of=between)):
        assert sorted(then.state.members) == ["amber", "gw"]  # birch not yet admitted
        assert (then.version, then.head_hash) == (2, events[1].hash.hex())
        assert [(t.version, t.global_position, t.hash, t.event_type, t.actor) for t in then.timeline] == [
            (e.stream_version, e.global_position, e.hash.hex(), e.event_type, "gw") for e in events[:2]
        ]
    now = await replay(store, stream)
    assert sorted(now.state.members) == ["amber", "birch", "gw"]
    assert now.state == await app.alliance(alliance_id)

    with pytest.raises(Refused) as before_founding:
        await replay(store, stream, as_of=events[0].recorded_at - timedelta(seconds=1))
    assert before_founding.value.kind is RefusalKind.NOT_FOUND
    assert "has no events as of" in before_founding.value.message
    with pytest.raises(Refused) as version_zero:
        await replay(store, stream, at=0)
    assert version_zero.value.kind is RefusalKind.INVALID and version_zero.value.field == "at"

    # A decision: amber agrees, then objects; the replay before the change still shows the agreement.
    decision_id = unique("d")
    await app.open_decision(alliance_id, "gw", decision_id, "Joint campaign", [{"text": "March on the river day"}])
    await stance(app, decision_id, "gw", "p1", "agree")
    await stance(app, decision_id, "amber", "p1", "agree")
    await stance(app, decision_id, "amber", "p1", "object", reason="the date clashes with our AGM")
    decision_stream = DECISION.stream_name(decision_id, alliance_id)
    recorded = await store.read_stream(decision_stream)
    assert [e.event_type for e in recorded] == ["DecisionOpened", "StanceTaken", "StanceTaken", "StanceTaken"]
    changed_at = recorded[2].recorded_at + (recorded[3].recorded_at - recorded[2].recorded_at) / 2

    for before in (await replay(store, decision_stream, at=3), await replay(store, decision_stream, as_of=changed_at)):
        assert before.state.points["p1"].stances["amber"].stance == StanceKind.AGREE
        assert [t.hash for t in before.timeline] == [e.hash.hex() for e in recorded[:3]]
    after = await replay(store, decision_stream)
    assert after.state.points["p1"].stances["amber"].stance == StanceKind.OBJECT
    assert after.state.points["p1"].stances["amber"].reason == "the date clashes with our AGM"
    assert after.timeline[-1].actor == "amber"

    # The open decision is in step with its workflow on the dev server.
    report = await check(app, decision_stream)
    assert report.ok, report.checks
    assert sorted(await alliance_streams(app, alliance_id)) == sorted([stream, decision_stream])


# --- check: the record against the live workflow ---------------------------------------------------




async def test_check_passes_after_a_realistic_alliance_history_and_the_replayer_catches_a_code_change(
    app: Accord,
) -> None:
    alliance_id = await small_alliance(app)
    amended = charter(quorum=0.5)
    for command in [
        admit("cedar", "Cedar Collective", [Role.MEDIATOR]),
        SetRoles(actor="gw", member_id="amber", roles=[Role.COORDINATOR, Role.STEERING]),
        SuspendMember(actor="amber", member_id="birch", reason="dues unpaid"),
        ReinstateMember(actor="gw", member_id="birch"),
        SetWebhook(actor="cedar", member_id="cedar", webhook_url=None),
        AmendCharter(actor="gw", charter=amended, reason="smaller quorum"),
        RemoveMember(actor="birch", member_id="birch", reason="leaving"),
    ]:
        await app.alliance_command(alliance_id, command)
    stream = f"alliance-{alliance_id}"

    report = await check(app, stream)
    assert [(c.name, c.ok) for c in report.checks] == [("record", True), ("state", True), ("head", True), ("process", True), ("replay", True)], report
    assert report.ok
    assert by_name(report)["head"].detail.startswith("version 10, hash ")

    changed = await replay_history(app, stream, AllianceThatWaitsBeforeRecording)
    assert not changed.ok
    assert changed.detail.startswith("the history does not replay against this code")
    assert "nondetermin" in changed.detail.lower()
    assert (await replay_history(app, stream, AllianceWorkflow)).ok


async def test_the_bulk_fold_rebuilds_every_stream_as_replay_does_and_resumes_from_its_checkpoint(
    app: Accord, store: EventStore
) -> None:
    alliance_id = await alliance_with_members(app, unique("rivers"))
    decision_id = unique("d")
    await app.open_decision(alliance_id, "gw", decision_id, "Joint campaign", [{"text": "march"}, {"text": "petition"}])
    await stance(app, decision_id, "amber", "p1", "agree")
    await stance(app, decision_id, "birch", "p2", "object", reason="not this spring")
    await app.raise_dispute(alliance_id, "cedar", unique("x"), ["dune"], "Logo use", "dune used our logo unasked")
    streams = await alliance_streams(app, alliance_id)
    total = await store.pool.fetchval("SELECT count(*) FROM accord.events")

    folded = await eventually(lambda: fold_log(store, page=3), lambda f: f.events == total)

    assert sorted(folded.states) == sorted(streams) and len(streams) == 3
    for stream in streams:
        assert folded.states[stream] == (await replay(store, stream)).state, stream
    assert gc.get_freeze_count() == 0  # what the fold froze is back with the collector

    # Folding again from the result takes only what was recorded since.
    await stance(app, decision_id, "cedar", "p1", "concerns", reason="costs")
    resumed = await eventually(lambda: fold_log(store, folded), lambda f: f.events == total + 1)
    assert resumed.states[DECISION.stream_name(decision_id, alliance_id)] == (await replay(store, DECISION.stream_name(decision_id, alliance_id))).state
    assert resumed.states[DECISION.stream_name(decision_id, alliance_id)].points["p1"].stances["cedar"].stance == "concerns"

    # An event that cannot be folded stops the fold just before it, checkpoint included, so
    # folding again never applies an event twice.
    await stance(app, decision_id, "dune", "p2", "agree")
    orphan = {"at": "2026-01-01T00:00:00Z", "member_id": "gw", "point_id": "p1", "stance": "agree"}
    await store.append("decision-orphan", 0, [NewEvent(event_id=uuid.uuid4(), event_type="StanceTaken", data=orphan)])
    await eventually(lambda: store.read_log(resumed.checkpoint), lambda r: len(r[0]) == 2)
    with pytest.raises(ValueError, match="StanceTaken before DecisionOpened"):
        await fold_log(store, resumed)
    assert resumed.events == total + 2  # the stance before the orphan, and no more
    assert resumed.states[DECISION.stream_name(decision_id, alliance_id)].points["p2"].stances["dune"].stance == "agree"
    stopped = (dict(resumed.states), resumed.checkpoint, resumed.events)
    with pytest.raises(ValueError, match="StanceTaken before DecisionOpened"):
        await fold_log(store, resumed)
    assert (resumed.states, resumed.checkpoint, resumed.events) == stopped


async def test_a_cut_tail_escapes_verify_but_not_check_and_its_receipt_is_gone(
    app: Accord, store: EventStore, pool: asyncpg.Pool
) -> None:
    alliance_id = await small_alliance(app)
    stream = f"alliance-{alliance_id}"
    [founding] = await store.read_stream(stream, to_version=1)
    last = await app.alliance_command(alliance_id, admit("cedar"))  # version 4: its receipt is kept by cedar
    [receipt] = last.receipts
    assert (await check_receipt(store, stream, receipt.stream_version, receipt.hash)).in_record

    await cut_tail(pool, stream)

    # The limit of a hash chain: what is left is a valid chain, so verify finds nothing wrong.
    verified = await store.verify(streams=[stream])
    assert verified.ok and verified.events_checked == 3
    report = await check(app, stream)
    checks = by_name(report)
    assert not report.ok
    assert not checks["head"].ok
    assert "the store's head is version 3" in checks["head"].detail
    assert "the workflow holds version 4" in checks["head"].detail
    assert "members.cedar: in the workflow, missing in the record" in checks["state"].detail.splitlines()
    assert checks["replay"].ok  # the code did not change

    gone = await check_receipt(store, stream, receipt.stream_version, receipt.hash)
    assert not gone.in_record
    assert gone.detail == f"{stream!r} has no version 4: the event was removed or never recorded"
    # The receipts of what is left still hold; a wrong hash does not.
    assert (await check_receipt(store, stream, 1, founding.hash.hex().upper())).in_record
    wrong = "0" * 64
    mismatch = await check_receipt(store, stream, 1, wrong)
    assert not mismatch.in_record
    assert mismatch.detail == f"the record holds hash {founding.hash.hex()} at this version"


async def test_an_edited_row_is_caught_by_verify_at_its_version_and_by_check_naming_the_field(
    app: Accord, store: EventStore, pool: asyncpg.Pool
) -> None:
    alliance_id = await small_alliance(app)
    stream = f"alliance-{alliance_id}"

    await edit_row(pool, stream, 2, name="Amber Oil Corp")

    verified = await store.verify(streams=[stream])
    [broken] = verified.broken
    assert (broken.stream_id, broken.version) == (stream, 2)
    assert broken.reason.startswith("hash mismatch")
    report = await check(app, stream)
    checks = by_name(report)
    assert not report.ok
    assert checks["state"].detail.splitlines() == [
        "members.amber.name: record says 'Amber Oil Corp', workflow says 'Amber'"
    ]
    assert checks["head"].ok  # the stored hashes were left alone: only verify and the state show it


async def test_a_rewritten_chain_passes_verify_but_not_check(
    app: Accord, store: EventStore, pool: asyncpg.Pool
) -> None:
    alliance_id = await small_alliance(app)
    stream = f"alliance-{alliance_id}"
    head_before = await store.head(stream)

    await rewrite_chain(pool, stream, 2, name="Amber Oil Corp")

    assert (await replay(store, stream)).state.members["amber"].name == "Amber Oil Corp"
    verified = await store.verify(streams=[stream])
    assert verified.ok and verified.events_checked == 3  # a consistent forgery, as far as the chain goes
    head_after = await store.head(stream)
    assert head_after.version == head_before.version and head_after.hash != head_before.hash
    report = await check(app, stream)
    checks = by_name(report)
    assert not checks["head"].ok
    assert f"hash {head_after.hash[:16]}..." in checks["head"].detail
    assert f"hash {head_before.hash[:16]}..." in checks["head"].detail
    assert "the record was cut or rewritten" in checks["head"].detail
    assert checks["state"].detail.splitlines() == [
        "members.amber.name: record says 'Amber Oil Corp', workflow says 'Amber'"
    ]


# --- a decision run to its close: check, what-if, export --------------------------------------------


async def test_a_lapsed_decision_checks_out_and_a_lower_quorum_would_have_adopted_its_parked_point(
    skipping_app: Accord, time_skipping_env: WorkflowEnvironment, store: EventStore
) -> None:
    app = skipping_app
    alliance_id = await alliance_with_members(app, unique("rivers"), fallback="lapse")  # 5 members, quorum 3
    decision_id = unique("d")
    await app.open_decision(
        alliance_id, "gw", decision_id, "Joint campaign 2027",
        [{"text": "March on the river day"}, {"text": "Sign the open letter"}],
    )
    for member in ("gw", "amber", "birch"):
        await stance(app, decision_id, member, "p1", "agree")
    for member in ("gw", "amber"):  # two of the three needed
        await stance(app, decision_id, member, "p2", "agree")
    lower_quorum = DecisionRules.model_validate({**charter().decisions.model_dump(), "quorum": 0.4, "fallback": "lapse"})

    with pytest.raises(Refused) as still_open:
        await whatif(store, DECISION.stream_name(decision_id, alliance_id), lower_quorum)
    assert still_open.value.kind is RefusalKind.CONFLICT
    assert "is open; what-if compares the outcome of a closed decision" in still_open.value.message

    final = await final_state(time_skipping_env, DECISION.stream_name(decision_id, alliance_id))
    assert final.outcomes == {"p1": "adopted", "p2": "parked"}
    assert (final.outcome, final.closed_how, final.rule_applied) == ("partially_adopted", "automatic", "lapse")
    decision_stream = DECISION.stream_name(decision_id, alliance_id)
    # The alliance records the parked point when the decision tells it.
    await eventually(lambda: app.alliance(alliance_id), lambda state: f"{decision_id}/p2" in state.parked)

    for stream in (decision_stream, f"alliance-{alliance_id}"):
        report = await check(app, stream)
        assert report.ok, report.checks

    head = await store.head(decision_stream)
    result = await whatif(store, DECISION.stream_name(decision_id, alliance_id), lower_quorum)
    assert (result.actual_outcome, result.would_be_outcome) == ("partially_adopted", "adopted")
    assert [(p.point_id, p.actual, p.would_be, p.changed) for p in result.points] == [
        ("p1", "adopted", "adopted", False),
        ("p2", "parked", "adopted", True),
    ]
    assert (result.points[1].tally.responded, result.points[1].tally.quorum_needed) == (2, 2)
    same_rules = await whatif(store, DECISION.stream_name(decision_id, alliance_id), final.rules)
    assert same_rules.would_be_outcome == final.outcome  # the what-if agrees with what happened
    assert await store.head(decision_stream) == head  # nothing written

    [report] = json.loads(await export(store, [decision_stream], "json", final.closed_at))["reports"]
    assert report["head_hash"] == (await store.head(decision_stream)).hash
    assert report["outcome"] == {
        "outcome": "partially_adopted", "closed_how": "automatic", "rule_applied": "lapse",
        "points": {"p1": "adopted", "p2": "parked"},
    }
    assert report["rules"]["quorum"] == 0.6 and report["rules"]["fallback"] == "lapse"
    assert [e["event_type"] for e in report["timeline"]][-3:] == ["DecisionStalled", "DecisionEscalated", "DecisionClosed"]


def test_a_rules_file_with_a_wrong_value_is_refused_naming_the_field(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(CHARTER.read_text(encoding="utf-8").replace("quorum = 0.6 ", "quorum = 1.5 "), encoding="utf-8")
    with pytest.raises(Refused) as too_high:
        load_rules(rules)
    assert too_high.value.field == "rules.quorum"
    assert "decisions.quorum: Input should be less than or equal to 1" in too_high.value.message

    rules.write_text("[disputes]\n", encoding="utf-8")
    with pytest.raises(Refused) as no_table:
        load_rules(rules)
    assert no_table.value.field == "rules" and "has no [decisions] table" in no_table.value.message


# --- export ---------------------------------------------------------------------------------------


async def test_exports_carry_the_head_hash_and_html_escapes_what_members_wrote(app: Accord, store: EventStore) -> None:
    alliance_id = await small_alliance(app, "<script>alert(1)</script> & Co")
    streams = await alliance_streams(app, alliance_id)
    head = await store.head(f"alliance-{alliance_id}")
    events = await store.read_stream(f"alliance-{alliance_id}")
    when = events[-1].recorded_at

    document = json.loads(await export(store, streams, "json", when))
    [report] = document["reports"]
    assert (report["stream_id"], report["kind"]) == (f"alliance-{alliance_id}", "alliance")
    assert (report["head_version"], report["head_hash"]) == (head.version, head.hash)
    assert report["rules"]["name"] == "Clean Rivers Alliance"
    assert "outcome" in report and report["outcome"] is None  # an alliance has no outcome; a decision has
    assert [(e["version"], e["hash"]) for e in report["timeline"]] == [(e.stream_version, e.hash.hex()) for e in events]
    assert report["state"]["members"]["amber"]["name"] == "<script>alert(1)</script> & Co"

    lines = (await export(store, streams, "jsonl", when)).splitlines()
    assert [json.loads(line)["version"] for line in lines] == [1, 2, 3]
    assert {json.loads(line)["stream_id"] for line in lines} == {f"alliance-{alliance_id}"}
    assert json.loads(lines[-1])["hash"] == head.hash

    markdown = await export(store, streams, "md", when)
    assert f"- head: version 3, hash `{head.hash}`" in markdown

    html = await export(store, streams, "html", when)
    assert head.hash in html
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in html

    with pytest.raises(Refused) as unknown:
        await export(store, streams, "pdf", when)
    assert unknown.value.field == "format"


# --- the command line -----------------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path: Path, temporal_env: WorkflowEnvironment, db_url: str, task_queue: str) -> Cli:
    return cli_against(tmp_path, temporal_env, db_url, task_queue)


async def test_audit_commands_exit_0_on_an_intact_record_and_3_naming_what_is_wrong(
    app: Accord, cli: Cli, store: EventStore, pool: asyncpg.Pool
) -> None:
    alliance_id, tampered_id = await asyncio.gather(small_alliance(app), small_alliance(app))
    stream, tampered_stream = f"alliance-{alliance_id}", f"alliance-{tampered_id}"
    head = await store.head(stream)
    await edit_row(pool, tampered_stream, 2, name="Amber Oil Corp")

    # One round of subprocesses, run together: each costs about a second of CPU.
    intact, tampered, verified, broken, kept, wrong, auditor = await asyncio.gather(
        cli(f"audit check {stream}"),
        cli(f"audit check {tampered_stream}"),
        cli(f"audit verify --alliance {alliance_id}"),
        cli(f"audit verify --alliance {tampered_id}"),
        cli(f"audit receipt {stream} 3 {head.hash}"),
        cli(f"audit receipt {stream} 3 {'0' * 64}"),
        cli(f"token auditor {alliance_id} --label kpmg-2026 --as gw --json"),
    )
    beyond = await cli(f"audit receipt {stream} {2**31} {head.hash} --json")
    assert beyond.code == 1 and beyond.error_json()["field"] == "version", beyond
    # With --json, a failing report is still JSON on stdout, and the error JSON on stderr.
    for failing in await asyncio.gather(
        cli(f"audit check {tampered_stream} --json"),
        cli(f"audit verify --alliance {tampered_id} --json"),
        cli(f"audit receipt {stream} 3 {'0' * 64} --json"),
        cli(f"db verify --stream-prefix {tampered_stream} --json"),
    ):
        assert failing.code == 3, failing
        assert failing.json() and failing.error_json()["error"], failing
    assert intact.code == 0, intact.stderr
    assert intact.stdout.splitlines()[:4] == [
        "ok   record: all 3 events fold into the process",
        "ok   state: the replayed state equals the workflow's state",
        f"ok   head: version 3, hash {head.hash}",
        "ok   process: the process takes commands",
    ]
    assert intact.stdout.splitlines()[4].startswith("ok   replay: ")
    assert tampered.code == 3
    assert "FAIL state: members.amber.name: record says 'Amber Oil Corp', workflow says 'Amber'" in tampered.stdout
    assert f"error: {tampered_stream}: 1 check(s) failed" in tampered.stderr

    assert verified.code == 0 and verified.stdout.splitlines()[0] == "checked 3 events in 1 streams", verified.stderr
    assert f"log of {alliance_id}: 3 leaves, 0 checkpoint(s) checked, none holds yet; 3 leaves since" in verified.stdout
    assert broken.code == 3
    assert f"BROKEN {tampered_stream} at version 2: hash mismatch" in broken.stdout
    assert "error: 1 broken stream(s)" in broken.stderr

    assert kept.code == 0 and kept.stdout.startswith("in the record: "), kept.stderr
    assert wrong.code == 3 and f"NOT in the record: the record holds hash {head.hash}" in wrong.stdout
    assert f"error: receipt {stream} v3 is not in the record" in wrong.stderr

    assert auditor.code == 0, auditor.stderr
    identity = await app.authenticate(auditor.json()["token"])
    assert identity is not None and (identity.alliance_id, identity.member_id, identity.auditor) == (
        alliance_id, "auditor:kpmg-2026", True,
    )


async def test_a_dispute_is_checked_and_exported_like_any_process(app: Accord, store: EventStore) -> None:
    alliance_id = await alliance_with_members(app, unique("rivers"))
    dispute_id = unique("x")
    await app.raise_dispute(alliance_id, "cedar", dispute_id, ["dune"], "Logo use", "dune used our logo unasked")
    stream = DISPUTE.stream_name(dispute_id, alliance_id)

    report = await check(app, stream)
    assert report.ok, report.checks
    now = (await store.read_stream(stream))[-1].recorded_at
    [exported] = json.loads(await export(store, [stream], "json", now))["reports"]
    assert exported["kind"] == "dispute" and exported["head_hash"] == (await store.head(stream)).hash
    assert exported["rules"]["negotiation_window"] == "14d"
    assert stream in await alliance_streams(app, alliance_id)
