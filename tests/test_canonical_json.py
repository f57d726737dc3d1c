"""The fast canonical JSON path writes exactly what rfc8785 writes, or defers to it.

The hash chain's specification is RFC 8785 (see events/hashing.py); `canonical_json` takes the
standard library's encoder where its output is provably the same. These properties compare the two
byte for byte on generated JSON values, including the cases where they would differ if the fast path
were taken wrongly: floats, integers at and beyond the safe range, keys above U+D800, control
characters, lone surrogates.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from events.hashing import canonical_bytes, canonical_json, envelope_bytes

SAFE = 2**53 - 1

keys = st.text(max_size=6) | st.sampled_from(["a", "b", "\U0001f600", "\uff61", "\ud7ff", "日本"])
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-SAFE, max_value=SAFE)
    | st.sampled_from([SAFE, -SAFE, 0, -1])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.text(alphabet=st.characters(max_codepoint=0x3F))
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(keys, children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=600, deadline=None)
@given(json_values)
def test_canonical_json_is_rfc8785_byte_for_byte(value: Any) -> None:
    assert canonical_json(value).encode("utf-8") == rfc8785.dumps(value)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(keys, json_values, max_size=6), st.dictionaries(keys, json_values, max_size=3))
def test_event_bytes_assembled_from_parts_equal_rfc8785_of_the_whole(data: dict, metadata: dict) -> None:
    event_id, at = uuid4(), datetime.now(UTC)
    whole = rfc8785.dumps({
        "stream_id": "decision-x", "stream_version": 7, "event_id": str(event_id), "event_type": "T",
        "data": data, "metadata": metadata, "recorded_at": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    })  # fmt: skip
    assert canonical_bytes("decision-x", 7, event_id, "T", data, metadata, at) == whole


@pytest.mark.parametrize(
    "bad",
    [SAFE + 1, -SAFE - 1, {"x": 2**60}, [float("inf")], "lone \ud800 surrogate", {"k": {1: "int key"}}, {"s": {1, 2}}],
)
def test_what_rfc8785_refuses_is_refused(bad: Any) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message is rfc8785's or the encoder's, whichever refuses
        canonical_json(bad)


def test_the_envelope_refuses_a_version_outside_the_integer_range() -> None:
    for version in (-1, 2**53, True, 1.0):
        with pytest.raises(ValueError, match="stream_version"):
            envelope_bytes("s", version, uuid4(), "T", "{}", "{}", "2026-01-01T00:00:00.000000Z")
