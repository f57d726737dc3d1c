"""Every failure a user of accord can meet, as one tree. The CLI and the HTTP API each turn a branch into
its own answer (`accord/failures.py` turns what the libraries raise into these first), so no traceback,
asyncpg or Temporal exception reaches a user.

    AccordError                 .message says what is wrong, and what would be accepted or what to do
    ├── Refused                 not allowed or not valid; nothing was recorded         CLI exit 1
    │                           .kind: forbidden 403, invalid 422, not_found 404,
    │                           conflict 409                                           (events/rules.py)
    ├── Unavailable             PostgreSQL or Temporal is down or did not answer in    CLI exit 75
    │                           time; nothing was recorded, unless .outcome_unknown:   API 503 + Retry-After
    │                           then the command may yet be recorded (once), so look
    │                           at the process before sending it again
    ├── CorruptRecord           the record is not what accord wrote: a chain that      CLI exit 3, API 409
    │                           does not verify, an audit check that fails, a receipt
    │                           that the record does not hold, a process
    │                           quarantined because its stream holds what it did not
    │                           write (it refuses commands until the record is
    │                           repaired and `accord audit resume` has run)
    ├── ConcurrencyError        an append after a version that is no longer the        CLI exit 1, API 409
    │                           stream's head, or an event id already taken            (events/store.py)
    └── ConfigurationError      accord cannot run as configured: nothing to connect    CLI exit 2, API 500
        │                       to, a setting out of range, a missing binary
        └── MigrationError      the database's applied migrations disagree with this   (events/migrate.py)
                                version's

Anything else is a defect of accord: the CLI says so in one line (exit 70) and the API answers 500 with
a reference to the log line that holds the traceback.
"""

from __future__ import annotations

from typing import Any


class AccordError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unavailable(AccordError):
    """A service accord needs did not answer: retry after `retry_after` seconds."""

    def __init__(self, message: str, *, outcome_unknown: bool = False, retry_after: int = 5) -> None:
        super().__init__(message)
        self.outcome_unknown = outcome_unknown
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[Any, ...]:
        return (_unavailable, (self.message, self.outcome_unknown, self.retry_after))


def _unavailable(message: str, outcome_unknown: bool, retry_after: int) -> Unavailable:
    return Unavailable(message, outcome_unknown=outcome_unknown, retry_after=retry_after)


class CorruptRecord(AccordError):
    """The record is not what accord wrote."""


class ConfigurationError(AccordError):
    """accord cannot run with these settings or this installation; the message says what to set or install."""


EXIT_CODES: dict[type[AccordError], int] = {Unavailable: 75, CorruptRecord: 3, ConfigurationError: 2, AccordError: 1}
"""The CLI's exit code per branch (75 is sysexits' EX_TEMPFAIL: try again later); 70 for a defect."""

DEFECT_EXIT_CODE = 70


def exit_code(error: AccordError) -> int:
    return next(code for branch, code in EXIT_CODES.items() if isinstance(error, branch))
