"""The read side's JSON decoder gives what json.loads gives, big integers included."""

from __future__ import annotations

import json

import pytest

from projections.json_text import loads

DOCUMENTS = [
    '{"a":1,"b":[1.5,-2,"x"],"c":null,"d":true}',
    '{"score":18446744073709551616}',  # 2**64: beyond orjson's integers
    '{"id":12345678901234567890123,"n":"not a number 1234567890123456789012"}',
    '{"text":"caf\\u00e9 \\ud83d\\ude00","plain":"café"}',
    "[-9223372036854775808, 9223372036854775807]",
]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_it_decodes_as_the_standard_library_does(document: str) -> None:
    assert loads(document) == json.loads(document)
    assert loads(document.encode()) == json.loads(document)


def test_an_integer_beyond_64_bits_stays_exact() -> None:
    value = loads(b'{"big":123456789012345678901234567890}')["big"]
    assert isinstance(value, int) and value == 123456789012345678901234567890
