"""The stored events' JSON: what the standard library writes, whichever encoder wrote it (the
same text, but for a float's exponent: 1e-7 for 1e-07, the same number), and the same
refusals."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import pytest

from domain.codec import PlainJSONTranscoder, _default

VALUES: list[Any] = [
    {"first_name": "Zoë", "emoji": "😀", "quote": 'say "hi"\n', "nul_free": "a\tb"},
    {"n": [0, -1, 2**63 - 1, -(2**63), 1.5, -0.0, 123456.789, 1e16, True, False, None]},
    {"nested": {"a": [{"b": []}, {}], "c": {"d": {"e": "f"}}}},
    {"at": datetime(2024, 5, 1, 9, 0, tzinfo=UTC), "id": UUID(int=12345)},
    {"micro": datetime(2024, 5, 1, 9, 0, 0, 123456, tzinfo=UTC)},
    {"offset": datetime(2024, 5, 1, 9, 0, tzinfo=timezone(timedelta(hours=2)))},
    {"naive": datetime(2024, 5, 1, 9, 0)},
    {"big": 2**64, "bigger": -(10**30)},  # beyond orjson's integers
    {"long text": "x" * 5000},
]


def _standard(value: Any) -> bytes:
    return json.dumps(value, default=_default, ensure_ascii=False, separators=(",", ":")).encode()


@pytest.mark.parametrize("value", VALUES)
def test_it_writes_what_the_standard_library_writes(value: Any) -> None:
    assert PlainJSONTranscoder().encode(value) == _standard(value)


def test_a_float_with_a_small_exponent_is_the_same_number() -> None:
    value = {"tiny": [1e-7, 5e-324, -2.5e-10], "huge": 1.5e300}
    written = PlainJSONTranscoder().encode(value)
    assert json.loads(written) == json.loads(_standard(value)) == value


def test_a_value_json_cannot_carry_is_refused_as_before() -> None:
    with pytest.raises(TypeError, match="not JSON-native"):
        PlainJSONTranscoder().encode({"s": {1, 2}})
    with pytest.raises(UnicodeEncodeError):
        PlainJSONTranscoder().encode({"lone": "\ud800"})
