"""A fault test's view of its stack: the servers, the workers it runs, and the application layer."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from test_replay import without_stack_traces

from accord.app import Accord
from events.notes import Signer
from faults.servers import ROOT, Postgres, Temporal, WorkerProcess

RECORDED_FAULTS = ROOT / "tests" / "histories" / "faults"


@dataclass
class FaultStack:
    root: Path
    postgres: Postgres
    temporal: Temporal
    database_url: str
    app: Accord
    signer: Signer = field(default_factory=lambda: Signer.generate("faults.accord"))
    """The deployment's log key: its workers sign checkpoints with it, and the checks verify them with it."""
    workers: list[WorkerProcess] = field(default_factory=list)

    @property
    def plan(self) -> Path:
        return self.root / "plan.json"

    def worker(self, *, harmful: bool = False) -> WorkerProcess:
        """Start a worker process: `accord worker` itself, or the fault worker that follows the plan."""
        env = {
            "TEMPORAL_ADDRESS": self.temporal.address,
            "ACCORD_DATABASE_URL": self.database_url,
            "ACCORD_TASK_QUEUE": self.app.task_queue,
            "ACCORD_LOG_LEVEL": "info",
            "ACCORD_FAULT_PLAN": str(self.plan),
            "ACCORD_LOG_NAME": "faults.accord",
            "ACCORD_LOG_KEY": str(self.signer),
        }
        if self.temporal.process is not None:
            env["ACCORD_FAULT_TEMPORAL_PGID"] = str(self.temporal.process.pid)
        name = f"worker-{len(self.workers) + 1}"
        worker = WorkerProcess(
            name=name, env=env, log_path=self.root / f"{name}.log",
            module="faults.worker" if harmful else "accord.cli", args=() if harmful else ("worker",),
        )
        worker.start()
        self.workers.append(worker)
        return worker

    def arm(self, point: str, stream: str, event_type: str | None = None) -> None:
        """The next append to a stream starting with `stream` (and holding an event of `event_type`, if
        given) meets the fault `point` (faults.worker)."""
        self.plan.write_text(json.dumps({"point": point, "stream": stream, "event_type": event_type}))

    @property
    def fired(self) -> bool:
        return self.plan.with_suffix(".fired").exists()

    async def record_history(self, stream: str, name: str) -> None:
        """With ACCORD_RECORD_HISTORIES=1, keep the stream's Temporal history under tests/histories/faults/
        as NAME@WORKFLOW-ID.json (replayed by test_fault_histories.py: a replay needs the workflow's id)."""
        if os.environ.get("ACCORD_RECORD_HISTORIES") != "1":
            return
        history = await self.app.client.get_workflow_handle(stream).fetch_history()
        RECORDED_FAULTS.mkdir(parents=True, exist_ok=True)
        (RECORDED_FAULTS / f"{name}@{stream}.json").write_text(
            json.dumps(without_stack_traces(history.to_json_dict()), indent=1) + "\n", encoding="utf-8"
        )

    async def restore(self) -> None:
        """Every server running again (after a test that failed half-way through a fault)."""
        if not self.postgres.running:
            self.postgres.start()
        if self.temporal.process is None or self.temporal.process.poll() is not None:
            await self.temporal.start()

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {w.name}\n{w.log_path.read_text(errors='replace')[-20000:]}" for w in self.workers)
