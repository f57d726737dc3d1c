"""The benchmark suite at a tiny size, so its code cannot rot. Asserts shapes, never timings."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

# The suite runs from a checkout (`python -m bench` in the repository root); it is not installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import append, cli, log, peer, replay, scale, stances
from bench.__main__ import parse
from bench.report import Run, table
from bench.stack import Stack


@pytest.fixture
def stack(pg_server_dsn: str, temporal_env: WorkflowEnvironment) -> Stack:
    return Stack(
        server_url=pg_server_dsn,
        temporal_address=temporal_env.client.service_client.config.target_host,
        client=temporal_env.client,
        data_dir=Path(tempfile.mkdtemp(prefix="accord-bench-test-")),
    )


async def test_every_benchmark_runs_and_reports_against_its_baseline(stack: Stack, tmp_path: Path) -> None:
    run = Run(quick=True)
    await stances.run(stack, stances.TINY, run)
    await append.run(stack, append.TINY, run)
    await replay.run(stack, replay.TINY, run)
    await scale.run(stack, scale.TINY, run)
    await peer.run(stack, peer.TINY, run)
    await cli.run(stack, cli.TINY, run)
    await log.run(stack, log.TINY, run)

    benchmarks = {f.benchmark for f in run.figures}
    assert {"stances", "append", "replay", "scale", "cli", "log"} <= benchmarks
    assert {f.metric for f in run.figures if f.benchmark == "append"} >= {"batch append, 10 events, no log", "4 writers, 1 event each, no log"}
    assert ("peer" in benchmarks) == peer.available()
    for figure in run.figures:
        assert figure.baseline_name and figure.unit
        assert figure.ratio is None or figure.ratio >= 0
    assert run.details["replay"]["events_in_store"] == replay.TINY.events
    assert run.details["scale"]["accord"]["opened"] == scale.TINY.decisions
    assert run.details["stances"]["stance_events_recorded"] > 0
    assert all(len(samples) == cli.TINY.rounds for samples in run.details["cli"]["samples_ms"].values())

    out = tmp_path / "results.json"
    run.write(out)
    written = json.loads(out.read_text())
    assert written["figures"] and written["machine"]["cpus"]
    assert "ratio" in table(run.figures)


def test_the_command_line_names_benchmarks_and_sizes() -> None:
    args = parse(["replay", "append", "--quick", "--replay-events", "5000", "--out", "x.json"])
    assert args.names == ["replay", "append"] and args.size == "quick" and args.replay_events == 5000
    assert parse(["cli", "--tiny"]).names == ["cli"]
    assert parse([]).size == "full"
    with pytest.raises(SystemExit):
        parse(["nonsense"])
