"""Clean, bounded text at the edge of the domain: what a command may carry from a person.

Every command that enters accord through the application layer (and so through the CLI, the HTTP API
and the Python API) is passed through `clean_command` before anything is decided or recorded:

- no NUL, no other control character but newline and tab (a carriage return, alone or before a
  newline, becomes a newline), no lone surrogate (half of a UTF-16 pair, which UTF-8 cannot hold);
- text is NFC-normalised (the same words, composed the same way, hash the same), and trimmed;
- each kind of field has a maximum length (`LIMITS`, in characters), and a list at most `MAX_ITEMS`
  entries.

A refusal names the field (`points.1.text`) and what would be accepted. Events and states are not
checked when they are read: what was recorded before these limits keeps loading and replaying. What a
process builds itself (the `context` a decision or dispute pins) is not input and is left as it is.
"""

from __future__ import annotations

import unicodedata
from enum import Enum
from typing import Any, TypeVar, cast

from pydantic import BaseModel

from events.rules import invalid

LIMITS: dict[str, int] = {
    # names and one-line summaries
    "name": 200, "founder_name": 200, "title": 200, "subject": 200, "label": 200,
    # a point, terms, a principle, an interim measure
    "text": 4000, "what": 4000, "terms": 4000,
    # reasons
    "reason": 4000, "reasons": 8000,
    # the long texts: a proposal, what happened
    "body": 20000, "description": 20000,
}
"""The longest text each field may hold, by the field's name; any other text field holds TEXT_LIMIT."""
TEXT_LIMIT = 4000
MAX_ITEMS = 200
"""The most entries a list of a command may hold (where the domain sets no lower bound of its own)."""
NOT_INPUT = frozenset({"context", "earlier", "later"})
"""Fields a process fills itself (a decision's or dispute's pinned context), not a person; and signed notes (a
witness's evidence of a split view), kept byte for byte because their signatures are what checks them
(accord/transparency.py verifies both before the command is sent)."""

_ALLOWED_CONTROLS = {"\n", "\t"}
_NAMES = {"\x00": "NUL", "\x1b": "ESC", "\x7f": "DEL"}

M = TypeVar("M", bound=BaseModel)


def clean_command(command: M) -> M:
    """The command with its text cleaned, or a refusal naming the first field that cannot be."""
    cleaned = _clean(command, "")
    assert isinstance(cleaned, type(command))
    return cleaned


def clean_text(value: str, field: str) -> str:
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    for position, char in enumerate(value):
        category = unicodedata.category(char)
        if category == "Cs":
            raise invalid(
                f"{field}: holds half of a UTF-16 surrogate pair (U+{ord(char):04X}) at character {position + 1}, "
                "which is not text; send the whole character",
                field,
            )
        if category == "Cc" and char not in _ALLOWED_CONTROLS:
            name = _NAMES.get(char, "a control character")
            raise invalid(
                f"{field}: holds {name} (U+{ord(char):04X}) at character {position + 1}; "
                "text may hold letters, digits, punctuation, spaces, newlines and tabs",
                field,
            )
    value = unicodedata.normalize("NFC", value).strip()
    name = next((part for part in reversed(field.split(".")) if not part.isdigit()), "")
    limit = LIMITS.get(name, TEXT_LIMIT)
    if len(value) > limit:
        raise invalid(f"{field}: is {len(value)} characters long; at most {limit} are accepted", field)
    return value


def _clean(value: Any, field: str) -> Any:
    if isinstance(value, Enum):  # a choice among the domain's values (a stance, a role), not text
        return value
    if isinstance(value, str):
        return clean_text(value, field)
    if isinstance(value, BaseModel):
        changes = {
            name: cleaned
            for name, item in value
            if name not in NOT_INPUT and (cleaned := _clean(item, _join(field, name))) is not item
        }
        return value.model_copy(update=changes) if changes else value
    if isinstance(value, list | tuple | dict):
        return _clean_collection(cast(Any, value), field)
    return value


def _clean_collection(value: Any, field: str) -> Any:
    mapping = isinstance(value, dict)
    pairs: Any = value.items() if mapping else enumerate(value)  # pyright: ignore[reportUnknownVariableType]  # any list or mapping a command holds
    entries: list[tuple[Any, Any]] = list(pairs)
    if len(entries) > MAX_ITEMS:
        raise invalid(f"{field}: holds {len(entries)} entries; at most {MAX_ITEMS} are accepted", field)
    cleaned = [(key, _clean(item, _join(field, str(key)))) for key, item in entries]
    if all(new is old for (_, new), (_, old) in zip(cleaned, entries, strict=True)):
        return value
    return dict(cleaned) if mapping else type(value)(item for _, item in cleaned)


def _join(field: str, name: str) -> str:
    return f"{field}.{name}" if field else name
