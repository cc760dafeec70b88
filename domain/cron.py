"""Syntax check of 5-field cron expressions for `schedule` triggers.

Checked here rather than left to the scheduler so that a typo is refused when the definition is
saved, with the field named, instead of surfacing later as a schedule that never fires.
"""

from __future__ import annotations

from dataclasses import dataclass

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    first_name_value: int = 0


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day of month", 1, 31),
    _Field("month", 1, 12, _MONTHS, 1),
    _Field("day of week", 0, 7, _DAYS, 0),
)


def cron_problems(expression: str) -> list[str]:
    """Human sentences describing what is wrong with `expression`; empty when it is valid."""
    parts = expression.split()
    if len(parts) != len(_FIELDS):
        return [
            f"The cron expression {expression!r} has {len(parts)} field(s); it needs 5: "
            "minute hour day-of-month month day-of-week."
        ]
    problems: list[str] = []
    for part, field in zip(parts, _FIELDS, strict=True):
        for item in part.split(","):
            problem = _item_problem(item, field)
            if problem:
                problems.append(
                    f"In the cron expression {expression!r}, the {field.name} {problem}"
                )
    return problems


def _item_problem(item: str, field: _Field) -> str | None:
    if not item:
        return "has an empty list item."
    base, slash, step = item.partition("/")
    if slash and (not step.isdigit() or int(step) < 1):
        return f"step {step!r} in {item!r} must be a whole number of at least 1."
    if base == "*":
        return None
    low_text, dash, high_text = base.partition("-")
    low = _value(low_text, field)
    if low is None:
        return _out_of_range(low_text, field)
    if not dash:
        return None
    high = _value(high_text, field)
    if high is None:
        return _out_of_range(high_text, field)
    if low > high:
        return f"range {base!r} runs backwards."
    return None


def _value(text: str, field: _Field) -> int | None:
    if text.isdigit():
        number = int(text)
        return number if field.low <= number <= field.high else None
    upper = text.upper()
    if upper in field.names:
        return field.names.index(upper) + field.first_name_value
    return None


def _out_of_range(text: str, field: _Field) -> str:
    allowed = f"a number from {field.low} to {field.high}"
    if field.names:
        allowed += f" or a name such as {field.names[0]}"
    return f"value {text!r} is not {allowed}."
