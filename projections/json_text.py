"""Decoding JSON text on the read side: orjson, but exact for integers beyond 64 bits.

orjson decodes about three times faster than json.loads, and catch-up decodes every event's
data and every sealed personal attribute. It turns integers beyond 64 bits into floats, where
json.loads keeps them exact; such an integer has at least 20 digits, so a document with a run
of 19 digits goes to json.loads. The run is found by mapping every digit to "0" and anything
else to "x" (a regular expression for it cost more than the decoding it guards).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_DIGITS = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x78 for byte in range(256))
_LONG_RUN = b"0" * 19


def loads(data: str | bytes) -> Any:
    """The JSON value of `data` (UTF-8 bytes or text), as json.loads gives it."""
    raw = data.encode() if isinstance(data, str) else data
    if _LONG_RUN in raw.translate(_DIGITS):
        return json.loads(raw.decode("utf-8"))
    return orjson.loads(raw)
