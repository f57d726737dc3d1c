"""Shared building blocks of the domain: refusals, identifiers, durations, the event base class.

Everything in `events/` is pure: no I/O, no clock, no randomness. Time comes in as an argument.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Protocol, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, PlainSerializer

from events.errors import AccordError


class RefusalKind(StrEnum):
    """Why a command was refused; the HTTP API maps these to status codes."""

    FORBIDDEN = "forbidden"  # the actor's role or status does not allow it (403)
    INVALID = "invalid"  # the input is wrong (422)
    NOT_FOUND = "not_found"  # the process or the member does not exist (404)
    CONFLICT = "conflict"  # the process is not in a state that allows it (409)


class Refused(AccordError):
    """A command that is not allowed or not valid. Nothing is recorded for it."""

    def __init__(self, message: str, kind: RefusalKind = RefusalKind.INVALID, field: str | None = None):
        super().__init__(message)
        self.kind = RefusalKind(kind)
        self.field = field

    def __reduce__(self) -> tuple[Any, ...]:
        return (Refused, (self.message, self.kind, self.field))


def forbidden(message: str) -> Refused:
    return Refused(message, RefusalKind.FORBIDDEN)


def invalid(message: str, field: str | None = None) -> Refused:
    return Refused(message, RefusalKind.INVALID, field)


def not_found(message: str, field: str | None = None) -> Refused:
    return Refused(message, RefusalKind.NOT_FOUND, field)


def conflict(message: str) -> Refused:
    return Refused(message, RefusalKind.CONFLICT)


_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def _slug(value: str) -> str:
    if not _SLUG.match(value):
        raise ValueError(
            f"{value!r} is not a valid id: use 1-63 lowercase letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
    return value


def _non_blank(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    return value


Slug = Annotated[str, AfterValidator(_slug)]
"""An identifier chosen by people (alliance, member, principle ids): short, lowercase, URL-safe."""

Text = Annotated[str, AfterValidator(_non_blank)]
"""Free text that must say something (names, titles, reasons)."""


_DURATION = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_UNITS = (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


MAX_DURATION_SECONDS = 999_999_999 * 86400
"""The longest duration Python's timedelta holds; a charter's windows are held to far less at the
edge (events/charter.py MAX_WINDOW), this only keeps a number too large from overflowing."""


def parse_duration(value: Any) -> Any:
    """Accept '7d', '36h', '1h30m', '2w', '45s' (and anything pydantic accepts: ISO 8601, seconds)."""
    if isinstance(value, str):
        match = _DURATION.match(value.strip())
        if match and any(match.groups()):
            seconds = sum(int(n or 0) * s for n, (_, s) in zip(match.groups(), _UNITS, strict=True))
            if seconds > MAX_DURATION_SECONDS:
                raise ValueError(f"is longer than any date accord can hold: at most {MAX_DURATION_SECONDS // 86400}d")
            return timedelta(seconds=seconds)
        if not value.strip().upper().startswith("P"):  # else pydantic takes '7 days' but says nothing useful on '7 hours'
            raise ValueError("must be a duration such as '7d', '36h', '1h30m', '45s' or ISO 8601 'P7D'")
    return value


def format_duration(value: timedelta) -> str:
    """The inverse of parse_duration, for people and for stored events: 129600s -> '1d12h'."""
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s"
    parts: list[str] = []
    for unit, size in _UNITS[1:]:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be a positive duration such as '7d', '36h' or '30m'")
    if value.microseconds:
        raise ValueError("must be a whole number of seconds")
    return value


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    AfterValidator(_positive),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
"""A positive duration, written '7d', '36h', '1h30m' in charters and stored events."""


M = TypeVar("M", bound=BaseModel)


class Model(BaseModel):
    """Base of every domain value: immutable and strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class DomainEvent(Model):
    """Base of every event. `type` is the stored event_type; `at` is when the decider accepted it."""

    schema_version: ClassVar[int] = 1
    type: str
    at: datetime


class Command(Protocol):
    """What every command has: the member it acts for."""

    @property
    def actor(self) -> str: ...


class Notice(Protocol):
    """Who is told what of an event (a row of the outbox)."""

    @property
    def member_id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def message(self) -> str: ...


def model_summary(error: Exception) -> tuple[str, str | None]:
    """Turn a pydantic ValidationError into (message, field): the message names every wrong field and
    why (one after another, separated by '; '), the field is the first of them."""
    from pydantic import ValidationError

    if isinstance(error, ValidationError) and error.errors():
        fields: list[str | None] = []
        messages: list[str] = []
        for each in error.errors():
            field = ".".join(str(part) for part in each["loc"]) or None
            message = each["msg"].removeprefix("Value error, ")
            fields.append(field)
            messages.append(f"{field}: {message}" if field else message)
        return "; ".join(messages), fields[0]
    return str(error), None


def build(model: type[M], **fields: Any) -> M:
    """Construct a command from loose input; a wrong field is refused naming the field and the reason."""
    from pydantic import ValidationError

    try:
        return model.model_validate(fields)
    except ValidationError as error:
        message, field = model_summary(error)
        raise invalid(message, field) from None
