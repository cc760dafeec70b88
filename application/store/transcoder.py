"""The event store's codec: plain JSON, defined in ``domain.codec`` and re-exported here.

The codec moved to ``domain`` so that the read side can rebuild aggregates from stored events
with the very same mapper without importing ``application``; these names keep working.
"""

from __future__ import annotations

from domain.codec import EventMapper, PlainJSONTranscoder

__all__ = ["EventMapper", "PlainJSONTranscoder"]
