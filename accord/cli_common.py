"""What every `accord` command shares: running it, printing its output or its error, exiting.

Kept apart from the command groups so that each group's module can import it without importing the
others (and without meeting `accord.cli` half-loaded when it runs as `python -m accord.cli`).
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import click
import structlog

from accord.app import Accord
from accord.config import Settings
from accord.failures import as_accord_error
from accord.render import Output
from events.errors import DEFECT_EXIT_CODE, Unavailable, exit_code
from events.rules import Refused


def emit_error(message: str, as_json: bool, **extra: Any) -> None:
    if as_json:
        click.echo(json.dumps({"error": message, **extra}), err=True)
    else:
        click.echo(f"error: {message}", err=True)


def emit(output: Output, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(output.json_data(), indent=2))
    elif output.text:
        click.echo(output.text)


def run_command(fn: Callable[..., Awaitable[Output]], as_json: bool, needs_app: bool, **kwargs: Any) -> None:
    """Run one command: connect, call, print; turn every expected failure into a clear message."""

    async def _run() -> Output:
        if not needs_app:
            return await fn(**kwargs)
        app = await Accord.connect(Settings())
        try:
            return await fn(app, **kwargs)
        finally:
            await app.close()

    code = 0
    try:
        emit(asyncio.run(_run()), as_json)
    except Exception as error:  # noqa: BLE001 - every failure ends as one line and an exit code
        code = report(error, as_json)
    _exit_now(code)


def report(error: Exception, as_json: bool) -> int:
    """Print an error as the error tree reads it (events/errors.py); return the exit code."""
    known = as_accord_error(error)
    if known is None:
        structlog.get_logger(__name__).debug("internal error", exc_info=error)  # the traceback, with ACCORD_LOG_LEVEL=debug
        emit_error(
            f"internal error ({type(error).__name__}: {error}): a defect of accord; please report it with the command you ran",
            as_json,
        )
        return DEFECT_EXIT_CODE
    extra: dict[str, Any] = {}
    if isinstance(known, Refused):
        extra = {"kind": known.kind.value, "field": known.field}
    elif isinstance(known, Unavailable):
        extra = {"outcome_unknown": known.outcome_unknown, "retry_after": known.retry_after}
    emit_error(known.message, as_json, **extra)
    return exit_code(known)


def _exit_now(code: int) -> None:
    """Exit without interpreter finalisation once the output is flushed.

    The Temporal client's native threads can still hold stderr while the interpreter shuts down,
    which aborts the process under load ("could not acquire lock ... at interpreter shutdown") and
    turns a clean exit code into a crash. A one-shot command has nothing left to clean up here: its
    database pool is closed and its output written.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def command(group: click.Group, name: str | None = None, *, needs_app: bool = True) -> Callable[..., Any]:
    """Register an async command on a group, with --json and uniform error handling."""

    def decorate(fn: Callable[..., Awaitable[Output]]) -> Callable[..., Any]:
        @group.command(name or fn.__name__.replace("_", "-"), help=fn.__doc__)
        @click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
        @functools.wraps(fn)
        def wrapper(as_json: bool, **kwargs: Any) -> None:
            run_command(fn, as_json, needs_app, **kwargs)

        return wrapper

    return decorate


def actor_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--as", "actor", required=True, envvar="ACCORD_AS", metavar="MEMBER", help="The member who acts (or ACCORD_AS)."
    )(fn)
