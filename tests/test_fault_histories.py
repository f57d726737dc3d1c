"""Histories recorded under faults replay against this code (a change that breaks them fails CI).

`tests/histories/faults/` holds the Temporal histories of the fault suite's kill-point tests
(`tests/faults/test_commit_kills.py`): workflow tasks lost after their append committed and retried at
another moment (the retry adopting what the lost attempt stored), Temporal killed before a task's
completion reached it, a store outage waited out with timers, a clock timer run by a fresh worker for a
query. To record them again after an intended, compatible change (say why in the commit):

    ACCORD_RECORD_HISTORIES=1 pytest tests/faults/test_commit_kills.py
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHistory

from accord.worker import replayer

RECORDED = Path(__file__).resolve().parent / "histories" / "faults"
HISTORIES = sorted(RECORDED.glob("*@*.json"))
"""NAME@WORKFLOW-ID.json: a replay runs under the workflow's own id, which the history does not hold."""


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def appends(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """The results of the local appends a history records (failed ones as {'failure': message})."""
    results = []
    for event in raw["events"]:
        marker = event.get("markerRecordedEventAttributes")
        if not marker or marker["markerName"] != "core_local_activity":
            continue
        if "failure" in marker:
            results.append({"failure": marker["failure"].get("message", "")})
        else:
            payload = marker["details"]["result"]["payloads"][0]["data"]
            results.append(json.loads(base64.b64decode(payload)))
    return results


def kinds(raw: dict[str, Any]) -> set[str]:
    return {event["eventType"] for event in raw["events"]}


def test_the_recordings_cover_each_way_a_task_is_lost() -> None:
    """Guards the recordings themselves: histories that never met a fault would prove little."""
    raws = {path.stem.partition("@")[0]: load(path) for path in HISTORIES}
    lost = {name for name, raw in raws.items() if "EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT" in kinds(raw)}
    adopted = {name for name, raw in raws.items() if any(result.get("ahead") for result in appends(raw))}
    waited_out = {name for name, raw in raws.items() if any("failure" in result for result in appends(raw))}
    # A retried attempt that decided as the lost one did (the clock decides at its due time, draws repeat
    # their seed) finds its own events stored and gets their receipts; commands that came back together
    # with others are adopted.
    assert {f"{what}-after_append" for what in ("stances", "stall", "draw")} <= lost, lost
    assert {"stances-after_append", "stances-after_append_temporal"} <= adopted, adopted
    assert "clock-under-queries" in lost
    assert "opening-during-a-store-outage" in waited_out


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem.partition("@")[0] for p in HISTORIES])
async def test_a_history_recorded_under_faults_replays(path: Path) -> None:
    workflow_id = path.stem.partition("@")[2]
    result = await replayer().replay_workflow(WorkflowHistory.from_json(workflow_id, load(path)))
    assert result.replay_failure is None
