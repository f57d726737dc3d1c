"""Running the real `accord` command in a subprocess, as an operator does, against the test's services."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def error_json(self) -> Any:
        return json.loads(self.stderr)


@dataclass
class Cli:
    env: dict[str, str]
    cwd: Path

    async def __call__(self, command_line: str, timeout: float = 60) -> Ran:
        """Run `accord <command_line>`, split as a shell would, the way an operator does."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "accord.cli",
            *shlex.split(command_line),
            env=self.env,
            cwd=self.cwd,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=timeout)
        assert process.returncode is not None
        return Ran(process.returncode, stdout.decode(), stderr.decode())


def clean_environment(home: Path) -> dict[str, str]:
    """This environment without any accord or Temporal settings, and a HOME with no dev stack in it."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ACCORD_", "TEMPORAL_")) and k not in {"XDG_CONFIG_HOME", "ACCORD_AS"}
    }
    env["HOME"] = str(home)
    return env


def cli_against(home: Path, temporal_env: WorkflowEnvironment, db_url: str, task_queue: str) -> Cli:
    """The command line pointed at the test's dev server, database and task queue (its worker runs in the test)."""
    env = clean_environment(home)
    env["TEMPORAL_ADDRESS"] = temporal_env.client.service_client.config.target_host
    env["ACCORD_DATABASE_URL"] = db_url
    env["ACCORD_TASK_QUEUE"] = task_queue
    return Cli(env, ROOT)  # so that accord/examples/charter.toml is found as in the README
