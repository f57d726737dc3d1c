"""The transparency log as the CLI and the HTTP API offer it: checkpoints, proofs and verification for who
may read an alliance's record, and cosignatures and split views from its members' witnesses.

Who may read what is the access policy's (`events/access.py`): an alliance's checkpoints and consistency
proofs go to whoever may read the alliance's record (its members, its auditors); an event's inclusion proof
to whoever may read that event's stream (a dispute's only to its readers).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from typing import Any

from accord.app import Accord
from events import access, draws
from events.access import Caller, without_settings
from events.alliance import AllianceState, ReportSplitView
from events.hashing import format_recorded_at, load_json
from events.log import CheckpointRecord, ConsistencyProof, InclusionProof, LogReport, TransparencyLog, origin
from events.notes import Checkpoint, NoteError, Verifier, signed_by, split_note
from events.processes import ALLIANCE, DISPUTE
from events.projector import row_of, streams_of
from events.rules import forbidden, invalid, not_found
from events.streams import StreamId
from workflows.shapes import CommandResult

__all__ = ["bundle", "checkpoint", "checkpoints", "consistency", "cosign", "prove", "report_split_view", "verify_log"]


async def _readable(app: Accord, alliance_id: str, reader: Caller | None) -> TransparencyLog:
    access.speaks_for(reader, alliance_id, f"alliance {alliance_id!r}")  # another alliance's token: one refusal, whether it exists or not
    await app.readable_record(ALLIANCE.stream_name(alliance_id), reader)
    return TransparencyLog(app.pool)


async def _required(app: Accord, alliance_id: str) -> int:
    """How many witnesses' cosignatures the alliance's charter asks of a checkpoint: from its read model, so
    that proofs and verification need no Temporal (its history of the alliance may be long gone)."""
    row = await row_of(app.pool, ALLIANCE.listing, alliance_id)
    if row is None:
        raise not_found(f"no alliance {alliance_id!r} in the record", "alliance_id")
    state: AllianceState = row.row
    return state.charter.transparency.witnesses


async def checkpoint(app: Accord, alliance_id: str, reader: Caller | None, size: int | None = None) -> CheckpointRecord:
    """The checkpoint of `size` leaves, or the newest (whether or not it has its witnesses yet)."""
    return await (await _readable(app, alliance_id, reader)).checkpoint(alliance_id, size)


async def checkpoints(app: Accord, alliance_id: str, reader: Caller | None, since: int = 0) -> list[CheckpointRecord]:
    return await (await _readable(app, alliance_id, reader)).checkpoints(alliance_id, since=since)


async def consistency(app: Accord, alliance_id: str, reader: Caller | None, old: int, new: int | None = None) -> ConsistencyProof:
    return await (await _readable(app, alliance_id, reader)).consistency(alliance_id, old, new)


async def prove(
    app: Accord, stream_id: str, version: int, reader: Caller | None, *, hash_hex: str | None = None, size: int | None = None
) -> InclusionProof:
    """The inclusion proof of a stream's event (a receipt: stream, version and, if given, its hash) in its
    alliance's log, at the checkpoint of `size` leaves or else the newest one its charter's witnesses have
    cosigned."""
    stream_id = await app.readable_record(stream_id, reader)
    transparency = TransparencyLog(app.pool)
    proof = await transparency.prove(stream_id, version, size=size)
    if size is None:
        required = await _required(app, proof.alliance_id)
        if required:
            counted = await transparency.counted(proof.alliance_id, required)
            proof = await transparency.prove(stream_id, version, size=counted.tree_size)
    if hash_hex is not None and hash_hex.lower() != proof.event_hash:
        raise invalid(
            f"version {version} of {stream_id} has hash {proof.event_hash}, not {hash_hex.lower()}: the receipt is not "
            "of the event the record holds (`accord audit receipt` says more)",
            field="hash",
        )
    return proof


async def cosign(app: Accord, alliance_id: str, caller: Caller, size: int, line: str) -> CheckpointRecord:
    """Record a member's witness's cosignature of a checkpoint, checked with the key the member named
    (`accord witness` sends it)."""
    state = await app.alliance(alliance_id)
    member = state.member(caller.member_id)
    if member is None or not member.active or caller.auditor:
        raise forbidden(f"only an active member's witness cosigns the log of {alliance_id!r}")
    if member.witness_key is None:
        raise forbidden(
            f"{caller.member_id!r} has named no witness key: `accord witness init` makes one, and "
            "`accord member witness-key` names it"
        )
    return await TransparencyLog(app.pool).cosign(alliance_id, size, caller.member_id, Verifier.parse(member.witness_key), line)


async def report_split_view(  # the caller, the log's keys and name, and the evidence
    app: Accord, alliance_id: str, caller: Caller, keys: list[Verifier], log_name: str, reason: str, earlier: str, later: str
) -> CommandResult:
    """Record a member's witness's evidence that the log was shown two ways (an alliance event, so that it is
    in the record, its hash chain and its log, and every member is told), after checking that it is evidence:
    two checkpoints of this alliance's log, each signed with one of `keys`, that cannot both be true of the
    log as it is stored now."""
    older, newer = (_checkpoint(note, keys, what) for note, what in ((earlier, "earlier"), (later, "later")))
    for checkpoint, what in ((older, "earlier"), (newer, "later")):
        if checkpoint.origin != origin(log_name, alliance_id):
            raise invalid(f"{what}: the checkpoint is of the log {checkpoint.origin}, not of {origin(log_name, alliance_id)}", field=what)
    contradiction = await _contradiction(TransparencyLog(app.pool), alliance_id, older, newer)
    if contradiction is None:
        raise invalid(
            "the two checkpoints do not contradict each other: both are of the log as it is stored, the later extending "
            "the earlier", field="later",
        )
    command = ReportSplitView(actor=caller.member_id, reason=f"{reason}: {contradiction}", earlier=earlier, later=later)
    return await app.alliance_command(alliance_id, command)


def _checkpoint(note: str, keys: list[Verifier], what: str) -> Checkpoint:
    try:
        text, signatures = split_note(note)
        parsed = Checkpoint.parse(text)
    except NoteError as error:
        raise invalid(f"{what}: {error}", field=what) from None
    if not signed_by(text, signatures, keys):
        raise invalid(f"{what}: the checkpoint is not signed by this deployment's log key", field=what)
    return parsed


async def _contradiction(transparency: TransparencyLog, alliance_id: str, one: Checkpoint, other: Checkpoint) -> str | None:
    """Why two signed checkpoints cannot both be true; None when both are the stored log's."""
    if one.origin != other.origin:
        raise invalid(f"the checkpoints are of two logs ({one.origin}, {other.origin})", field="later")
    if one.size == other.size and one.root != other.root:
        return f"two roots for the log of {one.size} leaves"
    for checkpoint in (one, other):
        stored = await transparency.root_at(alliance_id, checkpoint.size)
        if stored != checkpoint.root:
            return f"the log of {checkpoint.size} leaves was signed with a root that the stored log does not have"
    return None


async def verify_log(
    app: Accord, alliance_id: str, reader: Caller | None, keys: list[Verifier], kept: Sequence[str] = ()
) -> LogReport:
    """Recompute the alliance's log from the record and check every checkpoint (events.log.TransparencyLog.verify),
    and say which one counts under the charter's witnesses."""
    transparency = await _readable(app, alliance_id, reader)
    report = await transparency.verify(alliance_id, keys, witnesses=await _required(app, alliance_id), kept=kept)
    streams = await streams_of(app.pool, alliance_id)
    readable = set(streams) if reader is None else set(await app.readable_streams(alliance_id, reader))
    report = await _with_draws(app, streams, readable, report)
    if reader is None or report.ok:
        return report
    # A problem in a stream the reader may not read (a dispute's) is told without naming the stream.
    hidden = set(streams) - readable
    problems = [
        functools.reduce(lambda text, stream: text.replace(stream, "a stream this reader may not read"), hidden, problem)
        for problem in report.problems
    ]
    return report.model_copy(update={"problems": problems})


_DRAW_EVENTS_SQL = """
SELECT stream_id, stream_version, event_type, data::text AS data FROM accord.events
WHERE stream_id = ANY($1::text[]) AND (event_type IN ('DrawOpened', 'DrawContributed') OR data ? 'draw')
ORDER BY stream_id, stream_version"""
"""The events of draws (opened, contributed to, made) of the given streams, in one read."""


async def _with_draws(app: Accord, streams: list[str], readable: set[str], report: LogReport) -> LogReport:
    """The report with every verifiable draw of the alliance's disputes recomputed from their events: what is
    wrong in any of them, and how many were made in those the reader may read (a count over the others would
    tell of disputes the reader may not know of)."""
    disputes = [s for s in streams if (parsed := StreamId.parse(s)) is not None and parsed.kind == DISPUTE.kind]
    rows = await app.pool.fetch(_DRAW_EVENTS_SQL, disputes)
    made, problems = 0, list[str]()
    for stream, events in itertools.groupby(rows, key=lambda row: str(row["stream_id"])):
        count, found = draws.check_stream(stream, ((e["stream_version"], e["event_type"], load_json(e["data"])) for e in events))
        made, problems = made + (count if stream in readable else 0), problems + found
    return report.model_copy(update={"draws": made, "problems": [*report.problems, *problems]})


async def bundle(app: Accord, alliance_id: str, reader: Caller | None, keys: list[Verifier]) -> dict[str, Any]:
    """The alliance's audit bundle: every leaf of its log in order, each with its event where the reader may
    read it (else its chain hash only, which is all the log needs), every checkpoint with its cosignatures,
    and the log's public keys. The verifier in docs/audit.md checks it offline."""
    readable = set(await app.readable_streams(alliance_id, reader))
    transparency = TransparencyLog(app.pool)
    leaves: list[dict[str, Any]] = []
    for row in await transparency.leaves(alliance_id):
        leaf: dict[str, Any] = {"leaf_index": row["leaf_index"], "hash": bytes(row["hash"]).hex() if row["hash"] else None}
        if row["stream_id"] in readable:
            data = load_json(row["data"])
            if reader is not None and without_settings(data) != data:
                # its place in its stream stays, so the stream's chain can still be followed past it
                leaf |= {"withheld": "members' settings", "stream_id": row["stream_id"], "stream_version": row["stream_version"]}
            else:
                leaf["event"] = {
                    "stream_id": row["stream_id"], "stream_version": row["stream_version"], "event_id": row["event_id"],
                    "event_type": row["event_type"], "data": data, "metadata": load_json(row["metadata"]),
                    "recorded_at": format_recorded_at(row["recorded_at"]),
                }
        else:
            leaf["withheld"] = "not readable by this reader"
        leaves.append(leaf)
    return {
        "format": BUNDLE_FORMAT,
        "alliance_id": alliance_id,
        "log_keys": [str(key) for key in keys],
        "witnesses_required": await _required(app, alliance_id),
        "leaves": leaves,
        "checkpoints": [record.note for record in await transparency.checkpoints(alliance_id)],
    }


BUNDLE_FORMAT = "accord-audit-bundle/1"
