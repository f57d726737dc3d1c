"""Audit: rebuild any process from the event store, check it against the live workflow, receipts.

Replay folds the stored events through the same pure `evolve` functions the workflows use, so a
difference between the replayed state and the live one can only come from an altered record or a
code change; `check` shows which.
"""

from __future__ import annotations

import asyncio
import gc
import json
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from typing import Any, TypeAlias

from pydantic import BaseModel, TypeAdapter, ValidationError, computed_field
from temporalio.service import RPCError, RPCStatusCode

from accord import costs
from accord.app import Accord, send_update
from accord.worker import replayer
from events import ledger
from events.access import settings_hidden, without_settings
from events.alliance import AllianceState
from events.charter import DecisionRules
from events.decision import Stage, Tally, tally, unattended_close
from events.log import TransparencyLog
from events.processes import ALLIANCE, LEDGER, Process, log_of, parse_stream, process_of
from events.projector import streams_of
from events.rules import Refused, conflict, invalid, model_summary, not_found
from events.store import MAX_VERSION, EventStore, GlobalCheckpoint, LogRow, RecordedEvent, StreamHead
from workflows.shapes import Quarantine


class TimelineEntry(BaseModel):
    version: int
    global_position: int
    recorded_at: datetime
    event_type: str
    actor: str | None
    data: dict[str, Any]
    hash: str


class BadRow(BaseModel):
    """A stored event that the process cannot take as its own: where it is, what it claims, and why."""

    version: int
    event_type: str
    reason: str


class Replayed(BaseModel):
    stream_id: str
    kind: str
    version: int
    head_hash: str
    state: Any
    timeline: list[TimelineEntry]
    bad_rows: list[BadRow] = []
    """Events left out of the state because they do not fold: written outside accord (docs/reliability.md)."""


@dataclass
class Folded:
    state: Any
    bad_rows: list[BadRow] = field(default_factory=list[BadRow])


def fold(stream_id: str, events: list[RecordedEvent]) -> Folded:
    """The state a stream's events imply, through today's types (upcast) and today's evolve.

    An event that does not fold (an unknown type, data its type refuses, an event its process cannot
    take where it stands) is left out and reported, and the fold carries on with the rest: such a row
    was written outside accord, and its process is quarantined (docs/reliability.md)."""
    process = process_of(stream_id)
    folded = Folded(state=None)
    for event in events:
        try:
            typed = process.event(event.event_type, int(event.metadata.get("schema_version", 1)), event.data)
            folded.state = process.evolve(folded.state, typed)
        except Exception as error:  # noqa: BLE001 - whatever it is, this event cannot be part of the state
            reason = f"it does not fold: {_why(error)}"
            folded.bad_rows.append(BadRow(version=event.stream_version, event_type=event.event_type, reason=reason))
    return folded


def _why(error: BaseException) -> str:
    if isinstance(error, ValidationError):
        return model_summary(error)[0]
    if isinstance(error, Refused):
        return error.message
    if isinstance(error, KeyError):
        return f"{error.args[0]!r} is not an event type of this process"
    return f"{type(error).__name__}: {error}"


@dataclass
class FoldedLog:
    """Stream states rebuilt from the global log, and where to resume folding from."""

    states: dict[str, Any] = field(default_factory=dict[str, Any])
    checkpoint: GlobalCheckpoint = GlobalCheckpoint()
    events: int = 0


async def fold_log(store: EventStore, folded: FoldedLog | None = None, *, page: int = 5000) -> FoldedLog:
    """Every stream's state, rebuilt from the global log: :func:`fold` at the speed of a log
    reader (:meth:`EventStore.read_log`), for projections and bulk audits.

    Pass the result of an earlier call to fold only what was recorded since: it is updated in place
    and returned. If an event cannot be folded (a corrupt stream raises), the result stops just
    before it, its checkpoint with it, so resuming never folds an event twice.
    The next page is requested before the current one is folded, so PostgreSQL works on it meanwhile.

    The states grow to millions of objects that live until the end; Python's cyclic collector
    would scan them all again and again as they grow (a third of the time, measured). So after
    each page every object alive is moved to the collector's permanent generation
    (``gc.freeze``), and put back when the fold ends (``gc.unfreeze``): the objects are the same,
    only not rescanned meanwhile. A process that froze objects itself keeps them frozen, and
    then the fold does not freeze at all.
    """
    folded = folded or FoldedLog()
    processes: dict[str, Process] = {}
    freeze = gc.get_freeze_count() == 0
    pending = asyncio.ensure_future(store.read_log(folded.checkpoint, limit=page))
    try:
        while True:
            rows, checkpoint = await pending
            if not rows:
                return folded
            pending = asyncio.ensure_future(store.read_log(checkpoint, limit=page))
            await asyncio.sleep(0)  # let the read start: it sends its query at its first await
            _fold_page(rows, folded, processes)
            if freeze:
                gc.freeze()
    finally:
        pending.cancel()
        if freeze:
            gc.unfreeze()


def _fold_page(rows: list[LogRow], folded: FoldedLog, processes: dict[str, Process]) -> None:
    """Fold the page's events into `folded`, moving its checkpoint past each one folded."""
    states = folded.states
    done = 0
    try:
        for row in rows:
            stream_id = row.stream_id
            process = processes.get(stream_id)
            if process is None:
                process = processes[stream_id] = process_of(stream_id)
            event = process.event_from_json(row.event_type, row.schema_version, row.data_json)
            states[stream_id] = process.evolve(states.get(stream_id), event)
            done += 1
    finally:
        # Where the page stopped, if an event could not be folded: the states hold exactly the
        # events up to the checkpoint, so resuming never folds one twice.
        if done:
            last = rows[done - 1]
            folded.checkpoint = GlobalCheckpoint(transaction_id=last.transaction_id, global_position=last.global_position)
            folded.events += done


def timeline(events: list[RecordedEvent]) -> list[TimelineEntry]:
    return [
        TimelineEntry(
            version=e.stream_version, global_position=e.global_position, recorded_at=e.recorded_at,
            event_type=e.event_type, actor=e.metadata.get("actor"), data=without_settings(e.data), hash=e.hash.hex(),
        )
        for e in events
    ]


def _a_version(version: int, field: str) -> None:
    if not 1 <= version <= MAX_VERSION:
        raise invalid(f"{field} must be a stream version from 1 to {MAX_VERSION}; {version} is not", field)


async def replay(store: EventStore, stream_id: str, *, at: int | None = None, as_of: datetime | None = None) -> Replayed:
    """A stream's state and timeline at a version or a moment (default: now)."""
    process = process_of(stream_id)
    if at is not None:
        _a_version(at, "at")
    events = await store.read_stream(stream_id, to_version=at, as_of=as_of)
    if not events:
        when = f" at version {at}" if at else (f" as of {as_of:%Y-%m-%d %H:%M:%S}" if as_of else "")
        raise not_found(f"stream {stream_id!r} has no events{when}", "stream")
    folded = fold(stream_id, events)
    state = settings_hidden(folded.state) if isinstance(folded.state, AllianceState) else folded.state
    return Replayed(
        stream_id=stream_id, kind=process.kind, version=events[-1].stream_version,
        head_hash=events[-1].hash.hex(), state=state, timeline=timeline(events), bad_rows=folded.bad_rows,
    )


Json: TypeAlias = "dict[str, Json] | list[Json] | str | int | float | bool | None"
"""A JSON value as Python holds it."""


def differences(expected: Json, actual: Json, path: str = "") -> list[str]:
    """Field-by-field differences between two JSON values, as readable lines."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        lines: list[str] = []
        for key in sorted(set(expected) | set(actual), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in actual:
                lines.append(f"{where}: in the record, missing in the workflow")
            elif key not in expected:
                lines.append(f"{where}: in the workflow, missing in the record")
            else:
                lines += differences(expected[key], actual[key], where)
        return lines
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        return [line for i, (e, a) in enumerate(zip(expected, actual, strict=True)) for line in differences(e, a, f"{path}[{i}]")]
    return [] if expected == actual else [f"{path or 'state'}: record says {expected!r}, workflow says {actual!r}"]


class Check(BaseModel):
    name: str
    ok: bool
    detail: str


class CheckReport(BaseModel):
    stream_id: str
    checks: list[Check]

    @computed_field  # type: ignore[prop-decorator]  # mypy takes no decorator above @property; pydantic's documented way
    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


async def check(app: Accord, stream_id: str) -> CheckReport:
    """(1) the record folds, (2) replayed state == live state, (3) store head == workflow's head,
    (4) the process is not quarantined, (5) its Temporal history replays against this code.
    A part that cannot be checked (the workflow does not answer) fails with the reason, never raises."""
    process = process_of(stream_id)
    workflow = process.workflow
    events = await app.store.read_stream(stream_id)
    if not events:
        raise not_found(f"stream {stream_id!r} has no events", "stream")
    folded = fold(stream_id, events)
    record_check = Check(
        name="record", ok=not folded.bad_rows,
        detail=f"all {len(events)} events fold into the process" if not folded.bad_rows else "\n".join(
            f"version {b.version} ({b.event_type}): {b.reason}" for b in folded.bad_rows
        ),
    )
    checks = [record_check]
    try:
        live = await app.present(parse_stream(stream_id))
        live_head: StreamHead = await app.present(parse_stream(stream_id), "head", StreamHead)
        quarantine: Quarantine | None = await app.query(stream_id, "quarantine", Quarantine | None, f"workflow {stream_id!r}")
    except Exception as error:  # noqa: BLE001 - the check reports it; the replay check below says more
        detail = _FORGOTTEN if _not_found(error) else f"the workflow does not answer: {error}"
        checks.append(Check(name="workflow", ok=False, detail=detail))
    else:
        checks += [_state_check(folded.state, live), _head_check(events, live_head), _process_check(quarantine)]
    checks.append(await replay_history(app, stream_id, workflow))
    return CheckReport(stream_id=stream_id, checks=checks)


def _state_check(replayed: Any, live: Any) -> Check:
    """The states compared with members' settings as the record's readers see them: a private setting
    that differs is named, its values never shown."""
    expected, actual = _jsonable(replayed), _jsonable(live)
    diff = [
        line.split(":", 1)[0] + ": differs (private)" if ".webhook_url:" in line else line
        for line in differences(expected, actual)
    ]
    return Check(
        name="state", ok=not diff,
        detail="the replayed state equals the workflow's state" if not diff else "\n".join(diff),
    )


def _head_check(events: list[RecordedEvent], live_head: Any) -> Check:
    store_head = events[-1]
    store = (store_head.stream_version, store_head.hash.hex())
    if store == (live_head.version, live_head.hash):
        return Check(name="head", ok=True, detail=f"version {store[0]}, hash {store[1]}")
    beyond = [e for e in events if e.stream_version > live_head.version]
    held = next((e for e in events if e.stream_version == live_head.version), None)
    if beyond and (live_head.version == 0 or (held is not None and held.hash.hex() == live_head.hash)):
        what = ", ".join(f"version {e.stream_version} ({e.event_type})" for e in beyond[:5])
        detail = f"the store holds events the workflow did not record, after its head (version {live_head.version}): {what}"
    else:
        detail = (
            f"the store's head is version {store[0]} hash {store[1][:16]}..., the workflow holds version "
            f"{live_head.version} hash {live_head.hash[:16]}...: the record was cut or rewritten"
        )
    return Check(name="head", ok=False, detail=detail)


def _process_check(quarantine: Any) -> Check:
    if quarantine is None:
        return Check(name="process", ok=True, detail="the process takes commands")
    return Check(name="process", ok=False, detail=quarantine.message)


def _jsonable(value: Any) -> Json:
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


async def resume(app: Accord, stream_id: str) -> Quarantine | None:
    """Ask a quarantined process to look at its stream again, after an operator repaired it; returns
    the finding that still holds (None: the process takes commands again)."""
    process = process_of(stream_id)
    workflow = process.workflow
    handle = app.client.get_workflow_handle_for(workflow.run, stream_id)
    try:
        return await send_update(handle, workflow.resume, patience=app.patience)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise not_found(f"no running workflow {stream_id!r}", "stream") from None
        raise


_FORGOTTEN = (
    "Temporal has no workflow of this stream: its history was deleted (the namespace's retention period passed, "
    "or someone deleted it), so the head it kept cannot be compared; the alliance's transparency log still proves "
    "the record (`accord audit verify --alliance`, docs/audit.md)"
)


def _not_found(error: BaseException) -> bool:
    """Whether Temporal answered that the workflow does not exist, somewhere in the error's chain."""
    current: BaseException | None = error
    while current is not None:
        if isinstance(current, RPCError) and current.status == RPCStatusCode.NOT_FOUND:
            return True
        current = current.__cause__ or current.__context__
    return False


async def replay_history(app: Accord, workflow_id: str, workflow: Any) -> Check:
    """Replay the workflow's Temporal history against the code deployed now."""
    try:
        history = await app.client.get_workflow_handle(workflow_id).fetch_history()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return Check(name="replay", ok=False, detail=_FORGOTTEN)
        raise
    result = await replayer(workflow).replay_workflow(history, raise_on_replay_failure=False)
    if result.replay_failure is None:
        return Check(name="replay", ok=True, detail=f"{len(history.events)} history events replay against this code")
    return Check(
        name="replay", ok=False,
        detail=f"the history does not replay against this code: {result.replay_failure}",
    )


class ReceiptCheck(BaseModel):
    stream_id: str
    version: int
    hash: str
    in_record: bool
    detail: str


async def check_receipt(store: EventStore, stream_id: str, version: int, hash_hex: str) -> ReceiptCheck:
    """Is this receipt (stream, version, hash) still in the record?"""
    _a_version(version, "version")
    events = await store.read_stream(stream_id, from_version=version, to_version=version)
    if not events:
        detail = f"{stream_id!r} has no version {version}: the event was removed or never recorded"
        return ReceiptCheck(stream_id=stream_id, version=version, hash=hash_hex, in_record=False, detail=detail)
    stored = events[0].hash.hex()
    same = stored == hash_hex.lower()
    detail = "the event is in the record with this hash" if same else f"the record holds hash {stored} at this version"
    return ReceiptCheck(stream_id=stream_id, version=version, hash=hash_hex, in_record=same, detail=detail)


async def alliance_streams(app: Accord, alliance_id: str) -> list[str]:
    """Every stream of an alliance: its own and those of its processes (from the read models)."""
    return await streams_of(app.pool, alliance_id)


# --- what-if --------------------------------------------------------------------------------------

STAGE_EVENTS = {"DecisionStalled", "DeadlineExtended", "DecisionEscalated", "DecisionClosed", "ReminderSent"}


class WhatIfPoint(BaseModel):
    point_id: str
    text: str
    actual: str
    would_be: str
    tally: Tally

    @property
    def changed(self) -> bool:
        return self.actual != self.would_be


class WhatIf(BaseModel):
    decision_id: str
    actual_outcome: str
    would_be_outcome: str
    rules: DecisionRules
    points: list[WhatIfPoint]
    assumption: str = (
        "the stances as they stood when the decision closed; a point lacking quorum is resolved by the "
        "fallback rule of the rules given, as if nobody had acted within the escalation window"
    )


async def whatif(store: EventStore, stream_id: str, rules: DecisionRules) -> WhatIf:
    """How the closed decision of `stream_id` would have ended under other decision rules. Nothing is written."""
    decision_id = parse_stream(stream_id).process_id
    events = await store.read_stream(stream_id)
    if not events:
        raise not_found(f"no decision {decision_id!r}", "decision")
    actual = fold(stream_id, events).state
    if actual.stage != Stage.CLOSED:
        raise conflict(f"decision {decision_id!r} is {actual.stage}; what-if compares the outcome of a closed decision")
    # The same stances, the other rules: fold everything but the clock's verdicts.
    kept = [e for e in events if e.event_type not in STAGE_EVENTS]
    state = fold(stream_id, kept).state
    state = state.model_copy(update={"context": state.context.model_copy(update={"rules": rules})})
    closed = unattended_close(state, actual.closed_at or actual.deadline)
    points = [
        WhatIfPoint(
            point_id=p.point_id, text=p.text, actual=actual.outcomes[p.point_id], would_be=closed.outcomes[p.point_id],
            tally=tally(state, p),
        )
        for p in state.active_points
    ]
    return WhatIf(
        decision_id=decision_id, actual_outcome=actual.outcome, would_be_outcome=closed.outcome, rules=rules, points=points,
    )


# --- export ---------------------------------------------------------------------------------------

EXPORT_FORMATS = ("json", "jsonl", "md", "html")


class StreamReport(BaseModel):
    """One process, self-contained: what happened, the rules pinned and applied, the outcome, the head."""

    stream_id: str
    kind: str
    head_version: int
    head_hash: str
    rules: Any
    outcome: Any
    state: Any
    timeline: list[TimelineEntry]
    bad_rows: list[BadRow] = []


class AuditExport(BaseModel):
    generated_at: datetime
    reports: list[StreamReport]
    checkpoints: list[str] = []
    """The newest signed checkpoint of each alliance's log when the report was made (C2SP signed notes): the
    report's events up to it can be proven in the log (`accord audit prove`)."""


def stream_report(replayed: Replayed) -> StreamReport:
    state = replayed.state  # None when the opening event itself is a bad row
    rules, outcome = (None, None) if state is None else process_of(replayed.stream_id).audit_summary(state)
    return StreamReport(
        stream_id=replayed.stream_id, kind=replayed.kind, head_version=replayed.version,
        head_hash=replayed.head_hash, rules=rules, outcome=outcome, state=state, timeline=replayed.timeline,
        bad_rows=replayed.bad_rows,
    )


async def export(store: EventStore, stream_ids: list[str], fmt: str, now: datetime) -> str:
    """A report of the streams; the caller has established that its reader may read each of them
    (Accord.readable_record, Accord.readable_streams: the access policy)."""
    if fmt not in EXPORT_FORMATS:
        raise invalid(f"unknown format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}", "format")
    reports = [stream_report(await replay(store, s)) for s in stream_ids]
    document = AuditExport(generated_at=now, reports=reports, checkpoints=await _newest_checkpoints(store, stream_ids))
    if fmt == "json":
        return document.model_dump_json(indent=2)
    if fmt == "jsonl":
        return "".join(
            json.dumps({"stream_id": r.stream_id, **entry.model_dump(mode="json")}, ensure_ascii=False) + "\n"
            for r in reports for entry in r.timeline
        )
    if fmt == "md":
        return render_markdown(document)
    return render_html(document, await _ledger_charts(store, reports))


async def _ledger_charts(store: EventStore, reports: list[StreamReport]) -> dict[str, str]:
    """For each ledger of the report, its chart of agreed against carried shares over all its entries, or
    why there is none (no entry yet, a currency without a rate), by stream: the HTML export embeds it."""
    charts: dict[str, str] = {}
    for report in reports:
        state = report.state
        if report.kind != LEDGER.kind or state is None:
            continue
        dates = [entry.on for entry in state.entries.values()]
        if not dates:
            charts[report.stream_id] = "<p>No chart: the ledger has no entry yet.</p>"
            continue
        alliance = (await replay(store, ALLIANCE.stream_name(state.alliance_id))).state
        try:
            got = ledger.report(state, alliance.charter.costs, costs.context_of(alliance).members, min(dates), max(dates))
        except Refused as error:
            charts[report.stream_id] = f"<p>No chart: {escape(error.message)}</p>"
            continue
        charts[report.stream_id] = costs.chart_svg(got)
    return charts


async def _newest_checkpoints(store: EventStore, stream_ids: list[str]) -> list[str]:
    alliances = sorted({log.alliance_id for s in stream_ids if (log := log_of(s)) is not None and log.alliance_id})
    notes: list[str] = []
    for alliance_id in alliances:
        try:
            notes.append((await TransparencyLog(store.pool).checkpoint(alliance_id)).note)
        except Refused:
            continue  # none signed yet
    return notes


def _checkpoint_lines(document: AuditExport) -> list[str]:
    if not document.checkpoints:
        return ["No checkpoint of the log was signed yet when this report was made."]
    return ["Made at the log's checkpoint (verify it with the log's public key; docs/audit.md):", *document.checkpoints]


def event_summary(data: dict[str, Any]) -> str:
    """An event's data in one line, with pinned charters and contexts named rather than spelled out."""
    shown = {k: ("(pinned)" if k in ("charter", "context") else v) for k, v in data.items() if k != "at"}
    return json.dumps(shown, ensure_ascii=False, default=str)


def render_markdown(document: AuditExport) -> str:
    lines = ["# accord audit report", "", f"Generated {document.generated_at:%Y-%m-%d %H:%M:%S} UTC.", ""]
    checkpoint = _checkpoint_lines(document)
    lines += [checkpoint[0], "", *(["```", *"".join(checkpoint[1:]).splitlines(), "```", ""] if len(checkpoint) > 1 else [])]
    for report in document.reports:
        lines += [
            f"## {report.stream_id}",
            "",
            f"- head: version {report.head_version}, hash `{report.head_hash}`",
            f"  (check it later with `accord audit receipt {report.stream_id} {report.head_version} {report.head_hash}`)",
        ]
        if report.outcome:
            lines.append(f"- outcome: {json.dumps(jsonable(report.outcome), ensure_ascii=False)}")
        lines += [
            f"- rules: `{json.dumps(jsonable(report.rules), ensure_ascii=False)}`", "",
            "| v | recorded (UTC) | actor | event | data |", "|---|---|---|---|---|",
        ]
        for e in report.timeline:
            data = escape(event_summary(e.data)).replace("|", "\\|")
            lines.append(f"| {e.version} | {e.recorded_at:%Y-%m-%d %H:%M:%S} | {e.actor or ''} | {e.event_type} | {data} |")
        lines.append("")
        if report.bad_rows:
            lines += ["**Left out of the state** (docs/reliability.md, 'Quarantine'):", ""]
            lines += [f"- version {b.version} ({escape(b.event_type, False)}): {escape(b.reason, False)}" for b in report.bad_rows]
            lines.append("")
    return "\n".join(lines)


def render_html(document: AuditExport, charts: dict[str, str] | None = None) -> str:
    """The report as one HTML page; `charts` holds, by stream, what to show above a stream's events (a
    ledger's chart of shares, inline SVG)."""
    charts = charts or {}
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>accord audit report</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px;vertical-align:top;font-size:90%}code{word-break:break-all}</style>",
        f"</head><body><h1>accord audit report</h1><p>Generated {document.generated_at:%Y-%m-%d %H:%M:%S} UTC.</p>",
    ]
    checkpoint = _checkpoint_lines(document)
    parts.append(f"<p>{escape(checkpoint[0])}</p>" + "".join(f"<pre>{escape(note)}</pre>" for note in checkpoint[1:]))
    for report in document.reports:
        parts.append(f"<h2>{escape(report.stream_id)}</h2><p>head: version {report.head_version}, hash <code>{report.head_hash}</code></p>")
        if report.outcome:
            parts.append(f"<p>outcome: <code>{escape(json.dumps(jsonable(report.outcome)))}</code></p>")
        parts.append(f"<p>rules: <code>{escape(json.dumps(jsonable(report.rules)))}</code></p>")
        if report.stream_id in charts:
            parts.append(f"<figure>{charts[report.stream_id]}</figure>")
        parts.append("<table><tr><th>v</th><th>recorded (UTC)</th><th>actor</th><th>event</th><th>data</th><th>hash</th></tr>")
        for e in report.timeline:
            parts.append(
                f"<tr><td>{e.version}</td><td>{e.recorded_at:%Y-%m-%d %H:%M:%S}</td><td>{escape(e.actor or '')}</td>"
                f"<td>{escape(e.event_type)}</td><td>{escape(event_summary(e.data))}</td><td><code>{e.hash[:16]}…</code></td></tr>"
            )
        parts.append("</table>")
        if report.bad_rows:
            parts.append("<p><strong>Left out of the state</strong> (docs/reliability.md, 'Quarantine'):</p><ul>")
            parts += [f"<li>version {b.version} ({escape(b.event_type)}): {escape(b.reason)}</li>" for b in report.bad_rows]
            parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)


def jsonable(value: Any) -> Any:
    return TypeAdapter(Any).dump_python(value, mode="json")
