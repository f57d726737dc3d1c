"""What Temporal and asyncpg raise, read as accord's errors (the tree in `events/errors.py`).

The application layer calls `from_workflow` on what a workflow's Update answered; the CLI and the HTTP
API call `as_accord_error` on anything that reaches them, so that an outage is `Unavailable` wherever it
surfaces, and only a defect of accord is left unread.
"""

from __future__ import annotations

import socket

import asyncpg
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from events.errors import AccordError, CorruptRecord, Unavailable
from events.rules import RefusalKind, Refused

TRANSIENT = {
    RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED, RPCStatusCode.RESOURCE_EXHAUSTED,
}
"""What Temporal answers while it restarts, is unreachable, or has too many Updates in flight."""

_CUT_OFF = ("transport error", "connect error", "h2 protocol error", "connection reset", "broken pipe")
"""What the client reports, with status UNKNOWN, when the connection drops in the middle of a call."""

_DATABASE_DOWN = (
    ConnectionError, TimeoutError, socket.gaierror, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError, asyncpg.exceptions.InsufficientResourcesError,
)
"""What asyncpg raises when PostgreSQL refuses connections, is shutting down, restarting, overloaded, or
the connection was cut, or its host has no address. (The Temporal client raises its own errors, never
these.)"""


_UNSTORABLE = (asyncpg.exceptions.CharacterNotInRepertoireError, asyncpg.exceptions.UntranslatableCharacterError)
"""What PostgreSQL answers to text it cannot hold (a NUL in a text parameter or in jsonb), wherever it
comes from (an id in a path, say): invalid input, never a defect."""

LIBRARY_ERRORS: tuple[type[Exception], ...] = (
    RPCError, WorkflowUpdateFailedError, ApplicationError, *_DATABASE_DOWN, *_UNSTORABLE,
)
"""What the libraries raise that `as_accord_error` may read as accord's errors."""


def transient(error: RPCError) -> bool:
    return error.status in TRANSIENT or (
        error.status in (RPCStatusCode.UNKNOWN, RPCStatusCode.INTERNAL) and any(s in str(error).lower() for s in _CUT_OFF)
    )


def application_error(error: BaseException) -> ApplicationError | None:
    """The ApplicationError a workflow raised, from the error Temporal hands the client."""
    cause: BaseException | None = error.cause if isinstance(error, WorkflowUpdateFailedError) else error
    while cause is not None:
        if isinstance(cause, ApplicationError):
            return cause
        cause = cause.__cause__
    return None


def from_workflow(error: BaseException) -> AccordError | None:
    """The error a workflow answered a command with: a refusal (its kind and field carried in the
    details), a quarantine, input the database cannot store, or a command the store did not take."""
    cause = application_error(error)
    if cause is None:
        return None
    if cause.type == "Refused":
        kind, field = ([*list(cause.details), RefusalKind.INVALID, None])[:2]
        return Refused(cause.message, RefusalKind(kind), field)
    if cause.type == "Quarantined":
        return CorruptRecord(cause.message)
    if cause.type == "Unrecordable":  # input that the database cannot store (e.g. a NUL character)
        return Refused(cause.message, RefusalKind.INVALID)
    if cause.type in ("RecordingFailed", "InternalError"):
        return Unavailable(f"{cause.message}; nothing was recorded")
    return None


def as_accord_error(error: BaseException) -> AccordError | None:
    """`error` as accord's error, or None for a defect of accord."""
    if isinstance(error, AccordError):
        return error
    if isinstance(error, RPCError) and (transient(error) or error.status == RPCStatusCode.UNKNOWN):
        return Unavailable(f"Temporal did not answer ({error.message or error.status.name}): try again shortly")
    if isinstance(error, (WorkflowUpdateFailedError, ApplicationError)):
        return from_workflow(error)
    if isinstance(error, _UNSTORABLE):
        return Refused(f"the database cannot store this text ({error}): remove NUL and other control characters", RefusalKind.INVALID)
    if isinstance(error, _DATABASE_DOWN):
        return Unavailable(f"the database (PostgreSQL) did not answer ({type(error).__name__}: {error}): try again shortly")
    return None
