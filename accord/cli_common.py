"""What every `accord` command shares: running it, printing its output or its error, exiting.

Kept apart from the command groups so that each group's module can import it without importing the
others (and without meeting `accord.cli` half-loaded when it runs as `python -m accord.cli`).

The command modules import only click when they load: `accord --help` and argument parsing need
nothing else. The application layer, the domain and the Temporal client are imported by the
command that runs, inside its function (docs/performance.md, the `cli` benchmark).
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from accord.config import Settings
    from accord.render import Output


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


def load_settings(as_json: bool) -> Settings:
    """The ACCORD_* settings, read as a command starts: a value that is not valid stops it here, named,
    with exit code 2, before anything runs."""
    from pydantic import ValidationError

    from accord.config import Settings, settings_error

    try:
        return Settings()
    except ValidationError as error:
        emit_error(settings_error(error), as_json)
        sys.exit(2)


class Reported(Exception):
    """A command's report that ends in an error (a broken chain, a failed check): the report is printed
    as the command's output (JSON with --json), then the error, with its exit code."""

    def __init__(self, output: Output, error: Exception) -> None:
        super().__init__(str(error))
        self.output = output
        self.error = error


def run_command(fn: Callable[..., Awaitable[Output]], as_json: bool, needs_app: bool, **kwargs: Any) -> None:
    """Run one command: connect, call, print; turn every expected failure into a clear message."""
    settings = load_settings(as_json)

    import asyncio

    from accord.app import Accord

    async def _run() -> Output:
        if not needs_app:
            return await fn(**kwargs)
        app = await Accord.connect(settings)
        try:
            return await fn(app, **kwargs)
        finally:
            await app.close()

    code = 0
    try:
        emit(asyncio.run(_run()), as_json)
    except Reported as reported:
        emit(reported.output, as_json)
        code = report(reported.error, as_json)
    except Exception as error:  # noqa: BLE001 - every failure ends as one line and an exit code
        code = report(error, as_json)
    _exit_now(code)


def report(error: Exception, as_json: bool) -> int:
    """Print an error as the error tree reads it (events/errors.py); return the exit code."""
    import structlog

    from accord.failures import as_accord_error
    from events.errors import DEFECT_EXIT_CODE, Unavailable, exit_code
    from events.rules import Refused

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


def reader_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`--as MEMBER` for a read: it then shows what that member (or 'auditor:<label>') may see, as the HTTP
    API shows it to their token; without it, the operator reads everything."""
    return click.option(
        "--as", "reader", default=None, envvar="ACCORD_AS", metavar="MEMBER", callback=_caller,
        help="Read as this member, or as 'auditor:<label>' (or ACCORD_AS); without it, as the operator, who reads everything.",
    )(fn)


def scope_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`--alliance A` for a command on a decision or dispute: ids are scoped to an alliance (two may use
    the same one); without it, the process of that id in whichever alliance has one."""
    return click.option(
        "--alliance", "alliance_id", default=None, envvar="ACCORD_ALLIANCE", metavar="ALLIANCE",
        help="The alliance the decision or dispute is in (or ACCORD_ALLIANCE); needed only where two alliances use its id.",
    )(fn)


def _caller(_context: click.Context, _parameter: click.Parameter, member_id: str | None) -> Any:
    from events.access import Caller

    return Caller.named(member_id) if member_id else None


class EnumChoice(click.Choice):  # type: ignore[type-arg]  # Choice is generic from click 8.2 on, and accord takes 8.1
    """A choice among the values of an enum of the domain, imported when the choice is first shown or
    checked rather than when the command line is built (the domain's modules load pydantic models)."""

    def __init__(self, module: str, name: str) -> None:
        # Not Choice.__init__: it would store the choices now; `choices` below reads them on first use.
        self.enum = (module, name)
        self.case_sensitive = True

    @functools.cached_property
    def choices(self) -> tuple[str, ...]:  # type: ignore[override]  # read on first use, in place of Choice's attribute
        module, name = self.enum
        return tuple(member.value for member in getattr(importlib.import_module(module), name))
