"""The hash chain of the event store: the exact rule, so anyone can recompute it.

Every event of a stream carries ``hash``, which covers the event and the ``hash`` of the event
before it in the same stream (``prev_hash``). Changing, removing or reordering a recorded event
therefore breaks the chain at that event, and :meth:`events.store.EventStore.verify` names it.

The specification, complete enough to check a database with ``hashlib``, ``rfc8785`` and any
PostgreSQL driver:

1. ``prev_hash`` of version 1 of a stream is ``GENESIS_HASH``: 32 zero bytes. ``prev_hash`` of
   version N > 1 is the ``hash`` of version N-1 of the same stream.
2. The canonical bytes of an event are the RFC 8785 (JSON Canonicalization Scheme) serialisation
   of this JSON object::

       {
         "stream_id":      <text>,
         "stream_version": <integer>,
         "event_id":       <uuid as lowercase hyphenated text, e.g. "0b0c...-...">,
         "event_type":     <text>,
         "data":           <the data object>,
         "metadata":       <the metadata object>,
         "recorded_at":    <UTC time as "YYYY-MM-DDTHH:MM:SS.ffffffZ", always 6 fraction digits>
       }

   RFC 8785 sorts object keys (by UTF-16 code units), writes no whitespace, writes numbers the
   way ECMAScript does (IEEE 754 doubles; integers beyond +/-(2**53 - 1) are refused) and strings
   as UTF-8 with minimal escaping.
3. ``hash = sha256(prev_hash || canonical_bytes)``.

Reading back from PostgreSQL: ``data`` and ``metadata`` are jsonb, which reorders keys and
rewrites numbers (``1e-7`` comes back as ``0.0000001``, ``1e20`` as ``100000000000000000000``).
RFC 8785 is insensitive to both, as long as the jsonb text is parsed back into the same values:
take ``data::text``, parse it with ``json.loads(text, parse_int=parse_json_int)`` (see
:func:`load_json`) and canonicalise the result. ``parse_json_int`` turns an integer literal outside
the RFC 8785 integer range into a float; such a literal can only be a large float that jsonb
printed in full, because an integer that large is refused when the event is recorded.
``recorded_at`` comes back as timestamptz and is formatted as in step 2.

A verifier in a dozen lines::

    import hashlib, json, rfc8785
    prev = bytes(32)
    for row in rows_of_one_stream_ordered_by_version:
        canonical = rfc8785.dumps({
            "stream_id": row["stream_id"], "stream_version": row["stream_version"],
            "event_id": str(row["event_id"]), "event_type": row["event_type"],
            "data": load_json(row["data_text"]), "metadata": load_json(row["metadata_text"]),
            "recorded_at": row["recorded_at"].astimezone(timezone.utc)
                                             .strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        })
        assert row["prev_hash"] == prev
        assert row["hash"] == hashlib.sha256(prev + canonical).digest()
        prev = row["hash"]
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import rfc8785

__all__ = [
    "GENESIS_HASH",
    "HASH_SIZE",
    "canonical_bytes",
    "canonical_json",
    "chain_hash",
    "envelope_bytes",
    "format_recorded_at",
    "load_json",
    "parse_json_int",
]

HASH_SIZE = 32
GENESIS_HASH = bytes(HASH_SIZE)
"""``prev_hash`` of the first event of every stream."""

# The integer range RFC 8785 accepts (the integers an IEEE 754 double holds exactly).
_MAX_SAFE_INTEGER = 2**53 - 1


def format_recorded_at(recorded_at: datetime) -> str:
    """``recorded_at`` as it enters the canonical bytes: UTC, microseconds, a trailing Z."""
    if recorded_at.tzinfo is None or recorded_at.utcoffset() is None:
        raise ValueError("recorded_at must be timezone-aware; a naive time is ambiguous")
    return recorded_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_bytes(
    stream_id: str,
    stream_version: int,
    event_id: UUID | str,
    event_type: str,
    data: dict[str, Any],
    metadata: dict[str, Any],
    recorded_at: datetime,
) -> bytes:
    """The RFC 8785 bytes of one event, as specified in the module docstring.

    Raises ``rfc8785.CanonicalizationError`` (a ``ValueError``) for values JSON cannot carry
    exactly: NaN or infinite floats, integers beyond +/-(2**53 - 1), non-string keys.
    """
    return envelope_bytes(
        stream_id, stream_version, event_id, event_type,
        canonical_json(data), canonical_json(metadata), format_recorded_at(recorded_at),
    )  # fmt: skip


def envelope_bytes(
    stream_id: str,
    stream_version: int,
    event_id: UUID | str,
    event_type: str,
    data_json: str,
    metadata_json: str,
    recorded_at_text: str,
) -> bytes:
    """:func:`canonical_bytes` from data and metadata already in canonical JSON, and
    ``recorded_at`` already formatted by :func:`format_recorded_at`.

    RFC 8785 is compositional: the canonical form of an object is its sorted members, each value in
    its own canonical form. So the event's bytes can be assembled from the canonical text of data and
    metadata, and the store keeps that same text for the ``jsonb`` columns instead of serialising
    them a second time. The envelope's keys, sorted, are: data, event_id, event_type, metadata,
    recorded_at, stream_id, stream_version.
    """
    if type(stream_version) is not int or not 0 <= stream_version <= _MAX_SAFE_INTEGER:
        raise ValueError(f"stream_version must be an integer from 0 to 2**53 - 1, got {stream_version!r}")
    # UUID() normalises any accepted spelling to lowercase hyphenated text.
    event_id_text = str(event_id if type(event_id) is UUID else UUID(str(event_id)))
    text = (
        f'{{"data":{data_json},"event_id":"{event_id_text}","event_type":{canonical_json(event_type)},'
        f'"metadata":{metadata_json},"recorded_at":"{recorded_at_text}",'
        f'"stream_id":{canonical_json(stream_id)},"stream_version":{stream_version}}}'
    )
    return text.encode("utf-8")


# Python's encoder with these settings writes what RFC 8785 writes for strings (the same minimal
# escapes, control characters as lowercase \u00xx, everything else as itself), integers, booleans,
# null, arrays and objects whose keys sort the same way by code point as by UTF-16 code unit.
_PLAIN_ENCODER = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":")
)
# Below U+D800 a code point is one UTF-16 code unit of the same value, so both orders agree.
_UTF16_ORDER_DIFFERS = re.compile("[\ud800-\U0010ffff]")


def canonical_json(value: Any) -> str:
    """RFC 8785 text of one JSON value (``rfc8785.dumps`` decoded), fast where that is exact.

    Values made only of strings, booleans, null, integers within +/-(2**53 - 1), lists and objects
    whose keys all lie below U+D800 are written by the standard library's encoder, which gives the
    same text; anything else (a float, a large integer, an astral key, a type JSON lacks) goes to
    ``rfc8785``, which either writes it the ECMAScript way or refuses it with
    ``rfc8785.CanonicalizationError``.
    """
    if _plain(value):
        try:
            text = _PLAIN_ENCODER.encode(value)
            text.encode("utf-8")  # a lone surrogate cannot be written; rfc8785 says so below
            return text
        except UnicodeEncodeError:
            pass
    return rfc8785.dumps(value).decode("utf-8")


def _plain(value: Any) -> bool:
    kind = type(value)  # pyright: ignore[reportUnknownVariableType]  # the type of an Any, which pyright calls Unknown
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or not (key.isascii() or not _UTF16_ORDER_DIFFERS.search(key)):
                return False
            if not _plain_leaf(item) and not _plain(item):
                return False
        return True
    if kind is list:
        return all(_plain_leaf(item) or _plain(item) for item in value)
    return _plain_leaf(value)


def _plain_leaf(value: Any) -> bool:
    """A scalar written the same by both encoders (checked without a call per leaf where it can be)."""
    kind = type(value)  # pyright: ignore[reportUnknownVariableType]  # the type of an Any, which pyright calls Unknown
    if kind is str or kind is bool or value is None:
        return True
    return kind is int and -_MAX_SAFE_INTEGER <= value <= _MAX_SAFE_INTEGER


def chain_hash(prev_hash: bytes, canonical: bytes) -> bytes:
    """``sha256(prev_hash || canonical)``: the hash recorded with an event."""
    if len(prev_hash) != HASH_SIZE:
        raise ValueError(f"prev_hash must be {HASH_SIZE} bytes, got {len(prev_hash)}")
    return hashlib.sha256(prev_hash + canonical).digest()


def parse_json_int(literal: str) -> int | float:
    """Parse a JSON integer literal read back from jsonb.

    jsonb prints every number in plain decimal, so a large float such as 1e20 comes back as an
    integer literal. Integers that large are never recorded (RFC 8785 refuses them), so such a
    literal is read as the float it was.
    """
    value = int(literal)
    if -_MAX_SAFE_INTEGER <= value <= _MAX_SAFE_INTEGER:
        return value
    return float(literal)


def load_json(text: str) -> Any:
    """Parse jsonb text (``data::text``) into the values that were hashed."""
    return _JSONB_DECODER.decode(text)


# Built once: json.loads(text, parse_int=...) would build a new decoder on every call.
_JSONB_DECODER = json.JSONDecoder(parse_int=parse_json_int)
