"""How a time enters the API: ISO 8601 text with a timezone, existing in UTC.

Query filters (``since``, ``until``, ``as_of``) and body fields (a task's ``due_date``) share
this one type, so every time is refused the same way and with the field named.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator
from pydantic_core import PydanticCustomError

# A bare number, which pydantic would otherwise read as Unix time (``since=0`` as 1970).
_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")


def _not_a_number(value: Any) -> Any:
    """Times are ISO 8601 text in this API (docs/contract.md): a number is refused, not
    guessed to be seconds or milliseconds since 1970."""
    if (isinstance(value, int | float) and not isinstance(value, bool)) or (
        isinstance(value, str) and _NUMBER.fullmatch(value)
    ):
        raise PydanticCustomError(
            "iso_time_expected",
            "Give an ISO 8601 time with a timezone, e.g. 2026-01-31T09:00:00Z, not a number.",
        )
    return value


def _in_utc_range(value: datetime) -> datetime:
    """A time must exist in UTC too: 9999-12-31T23:59:59-14:00 is past the last datetime."""
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise PydanticCustomError(
            "time_out_of_range", "This time is out of range once converted to UTC."
        ) from None
    return value


IsoTime = Annotated[AwareDatetime, BeforeValidator(_not_a_number), AfterValidator(_in_utc_range)]
"""An ISO 8601 time with a timezone that exists in UTC: how every time enters the API."""
