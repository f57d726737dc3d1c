"""The services a benchmark run uses: embedded PostgreSQL and the Temporal dev server, in a temporary
data directory so a run never touches anyone's data; or the servers named by ACCORD_DATABASE_URL and
TEMPORAL_ADDRESS.

Every benchmark gets a database of its own on that server (created, migrated, dropped afterwards), so
benchmarks never see each other's rows. With ACCORD_DATABASE_URL the role must be allowed to create
databases; nothing is written to the database the URL names.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncGenerator, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from temporalio.client import Client

from accord.config import Settings
from accord.devstack import dev_services
from accord.temporal import connect
from events.migrate import migrate

if TYPE_CHECKING:
    from temporalio.api.workflowservice.v1 import GetSystemInfoRequest


def with_database(url: str, database: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


@dataclass
class Stack:
    server_url: str
    """A database URL on the server; benchmarks create their own databases next to it."""
    temporal_address: str
    client: Client
    data_dir: Path
    runner: str | None = None
    """An experiment: every worker process (accord's and the bare one) with this workflow runner."""

    @contextlib.asynccontextmanager
    async def database(self, name: str) -> AsyncGenerator[str, None]:
        """A fresh, migrated database of its own; dropped on exit."""
        database = f"accord_bench_{name}_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(self.server_url)
        try:
            await admin.execute(f'CREATE DATABASE "{database}" TEMPLATE template0')
            url = with_database(self.server_url, database)
            conn = await asyncpg.connect(url)
            try:
                await migrate(conn)
            finally:
                await conn.close()
            yield url
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            await admin.close()

    async def versions(self) -> dict[str, str]:
        conn = await asyncpg.connect(self.server_url)
        try:
            postgres = await conn.fetchval("SHOW server_version")
        finally:
            await conn.close()
        info = await self.client.workflow_service.get_system_info(_system_info_request())
        return {"postgresql": postgres, "temporal_server": info.server_version or temporal_cli_version()}


def _system_info_request() -> GetSystemInfoRequest:
    from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

    return GetSystemInfoRequest()


def temporal_cli_version() -> str:
    from accord.binaries import binary

    try:
        out = subprocess.run([binary("temporal"), "--version"], capture_output=True, text=True, timeout=10)
        return out.stdout.strip()
    except Exception:  # noqa: BLE001 - the version is informative only
        return "unknown"


@contextlib.asynccontextmanager
async def bench_stack(runner: str | None = None) -> AsyncGenerator[Stack, None]:
    """Start what is not configured, in a temporary data directory; remove it all afterwards."""
    data_dir = Path(tempfile.mkdtemp(prefix="accord-bench-"))
    try:
        settings = Settings(data_dir=data_dir)
        async with dev_services(settings) as endpoints:
            client = await connect(settings, address=endpoints.temporal_address)
            yield Stack(
                server_url=endpoints.migration_url,  # the owner's: benchmarks create databases of their own
                temporal_address=endpoints.temporal_address,
                client=client,
                data_dir=data_dir,
                runner=runner,
            )
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


# --- worker processes ------------------------------------------------------------------------------


@dataclass
class WorkerProcess:
    """A worker in a process of its own: its CPU and memory are its own, and psutil can read them."""

    process: subprocess.Popen[str]

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss(self) -> int:
        import psutil

        return psutil.Process(self.pid).memory_info().rss


@contextlib.contextmanager
def worker_process(
    stack: Stack, database_url: str, task_queue: str, kind: str, *extra: str
) -> Generator[WorkerProcess, None, None]:
    """`python -m bench.worker KIND`: accord's worker (build_worker) or a bare one; waits until it polls."""
    env = {
        **os.environ,
        "ACCORD_DATABASE_URL": database_url,
        "TEMPORAL_ADDRESS": stack.temporal_address,
        "ACCORD_TASK_QUEUE": task_queue,
    }
    if stack.runner is not None:
        extra = (*extra, "--runner", stack.runner)
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.worker", kind, *extra],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=str(Path(__file__).resolve().parent.parent),
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"the bench worker ({kind}) did not start: {line!r}")
        yield WorkerProcess(process)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# --- where the CPU goes --------------------------------------------------------------------------


def _tree(pid: int) -> list[Any]:
    import psutil

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _cpu_seconds(processes: list[Any]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except Exception:  # noqa: BLE001 - a process that has ended takes its CPU time with it
            continue
        total += times.user + times.system
    return total


class CpuMeter:
    """CPU seconds used by each part of the stack, so a benchmark can say where a call's time goes.

    On a machine of 2 cores that every part shares, throughput is CPU per call divided into the
    cores left over; this shows which part takes them. Parts that run elsewhere (a configured
    PostgreSQL or Temporal) are not measured. `others` is what the rest of the machine used.
    """

    def __init__(self, stack: Stack, workers: list[WorkerProcess]) -> None:
        self.stack = stack
        self.workers = workers

    def _groups(self) -> dict[str, list[Any]]:
        import psutil

        me = psutil.Process()
        groups: dict[str, list[Any]] = {"client": [me], "worker": []}
        for worker in self.workers:
            groups["worker"] += _tree(worker.pid)
        temporal = [c for c in me.children(recursive=True) if "temporal" in c.name()]
        if temporal:
            groups["temporal"] = [p for t in temporal for p in _tree(t.pid)]
        pid_file = self.stack.data_dir / "postgres" / "postmaster.pid"
        if pid_file.exists():
            groups["postgres"] = _tree(int(pid_file.read_text().split()[0]))
        return groups

    def snapshot(self) -> dict[str, float]:
        import psutil

        snap = {name: _cpu_seconds(processes) for name, processes in self._groups().items()}
        machine: dict[str, float] = psutil.cpu_times()._asdict()  # its fields are the platform's: read them by name
        snap["machine"] = sum(machine.get(f, 0.0) for f in ("user", "system", "nice", "irq", "softirq"))
        snap["wall"] = time.monotonic()
        return snap

    @staticmethod
    def per_call(before: dict[str, float], after: dict[str, float], calls: int) -> dict[str, float]:
        """Milliseconds of CPU per call for each part, and for the rest of the machine."""
        calls = max(calls, 1)
        parts = {k: (after[k] - before[k]) for k in before if k not in ("machine", "wall") and k in after}
        ours = sum(parts.values())
        result = {k: v / calls * 1000 for k, v in parts.items()}
        result["others"] = max(0.0, (after["machine"] - before["machine"]) - ours) / calls * 1000
        result["machine_busy_cores"] = (after["machine"] - before["machine"]) / max(after["wall"] - before["wall"], 1e-9)
        return result
