"""Times enter the API as ISO 8601 text with a timezone that exists in UTC."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import TypeAdapter, ValidationError

from interfaces.api.schemas.times import IsoTime

TIME: TypeAdapter[datetime] = TypeAdapter(IsoTime)


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("0", "iso_time_expected"),
        ("1700000000", "iso_time_expected"),
        (" 1.5e3 ", "iso_time_expected"),
        (0, "iso_time_expected"),
        ("2026-01-01T09:00:00", "timezone_aware"),
        ("9999-12-31T23:59:59-14:00", "time_out_of_range"),
        ("0001-01-01T00:00:00+01:00", "time_out_of_range"),
    ],
)
def test_numbers_naive_times_and_times_outside_utc_are_refused(value: object, error: str) -> None:
    with pytest.raises(ValidationError) as refused:
        TIME.validate_python(value)

    assert refused.value.errors()[0]["type"] == error


def test_an_iso_time_with_a_zone_is_kept_as_given() -> None:
    parsed = TIME.validate_python("2026-01-31T09:00:00+02:00")

    assert parsed.astimezone(UTC) == datetime(2026, 1, 31, 7, 0, tzinfo=UTC)
