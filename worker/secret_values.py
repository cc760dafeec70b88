"""The secret values this process has handled, so that its log lines can mask them.

The worker's outbound activities remember each value they substitute into a call, the secret
command handler each value it stores, the API each value it seals: whatever then reaches a log
line (an exception's message, a library's debug output) is masked by the logging processor
(interfaces/log_masks.py). Kept in memory only, as long as the process lives, and bounded:
the most recent `LIMIT` values.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Iterable

LIMIT = 10_000
# Shorter values are not masked: they would mask ordinary words and numbers everywhere.
MIN_LENGTH = 6

_lock = threading.Lock()
_values: OrderedDict[str, None] = OrderedDict()
_pattern: re.Pattern[str] | None = None


def remember(values: Iterable[str]) -> None:
    global _pattern
    with _lock:
        changed = False
        for value in values:
            if len(value) < MIN_LENGTH:
                continue
            if value in _values:
                _values.move_to_end(value)
                continue
            _values[value] = None
            changed = True
            if len(_values) > LIMIT:
                _values.popitem(last=False)
        if changed:
            _pattern = None


def pattern() -> re.Pattern[str] | None:
    """One expression matching every remembered value (longest first), or None for none."""
    global _pattern
    if _pattern is not None or not _values:
        return _pattern
    with _lock:
        if _pattern is None and _values:
            ordered = sorted(_values, key=len, reverse=True)
            _pattern = re.compile("|".join(re.escape(value) for value in ordered))
        return _pattern
