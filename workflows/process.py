"""What every process workflow shares: its commands as Updates named after them (`take_stance`,
`propose_terms`, ...; each validated by the decider before anything is written), the handlers over its
committer (head, quarantine, resume), and the count of commands that tells it when to continue-as-new.

A workflow class declares its decider and its command union, and `command_updates(union)` gives it one
Update per command type, so that Temporal's history, `temporal workflow show` and the Web UI name what
happened. The Update `execute`, which took any command, stays for histories recorded before and for
callers that still send it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar, get_args

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from events.processes import update_name
    from events.rules import Command
    from events.store import StreamHead
    from workflows.shapes import CommandResult, Quarantine

from workflows.recording import Committer, E, S, decided

C = TypeVar("C", bound=Command)
"""A process's commands."""
W = TypeVar("W", bound=type)


class ProcessWorkflow(Generic[S, E, C]):
    committer: Committer[S, E]
    commands_this_run: int = 0

    @property
    def state(self) -> S | None:
        return self.committer.state

    def decide(self, state: S | None, command: C, now: datetime) -> Sequence[E]:
        """The process's decider."""
        raise NotImplementedError

    def prepare(self, command: C) -> C:
        """The command as the workflow decides it (a dispute gives a draw its seed here)."""
        return command

    async def command(self, command: C) -> CommandResult:
        self.commands_this_run += 1
        command = self.prepare(command)
        receipts = await self.committer.submit(lambda state, now: self.decide(state, command, now), command.actor)
        return CommandResult(receipts=receipts)

    def validate_command(self, command: C) -> None:
        if self.committer.already_recorded():
            return
        decided(self.decide, self.state, command, workflow.now())

    @workflow.update
    async def resume(self) -> Quarantine | None:
        """Look at a quarantined process's stream again (after an operator repaired it)."""
        return await self.committer.resume()

    @workflow.query
    def quarantine(self) -> Quarantine | None:
        return self.committer.quarantine

    @workflow.query
    def head(self) -> StreamHead:
        return self.committer.head


def command_updates(union: Any) -> Callable[[W], W]:
    """A class decorator (under `@workflow.defn`): an Update per command type of `union`, and `execute`."""

    def handler(name: str, command_type: Any, description: str | None) -> Any:
        async def update(self: ProcessWorkflow[Any, Any, Any], command: Any) -> CommandResult:
            return await self.command(command)

        def validate(self: ProcessWorkflow[Any, Any, Any], command: Any) -> None:
            self.validate_command(command)

        update.__name__ = update.__qualname__ = name
        update.__annotations__ = {"command": command_type, "return": CommandResult}
        validate.__annotations__ = {"command": command_type, "return": None}
        defined = workflow.update(name=name, description=description)(update)
        defined.validator(validate)
        return defined

    def decorate(cls: W) -> W:
        for command_type in get_args(get_args(union)[0]):
            name = update_name(command_type)
            setattr(cls, name, handler(name, command_type, (command_type.__doc__ or "").strip() or None))
        cls.execute = handler("execute", union, "Any command (as sent before each command had its own Update)")  # type: ignore[attr-defined]  # this decorator adds it
        return cls

    return decorate
