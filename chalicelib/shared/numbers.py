"""Numbers out of loosely typed data (stored JSON, event properties), for every wing that reads such data."""

from __future__ import annotations

from typing import Any


def to_number(value: Any) -> float | None:
    """A float from int/float/Decimal/numeric string; None otherwise (bool is not a number here, nor NaN or inf)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and number not in (float("inf"), float("-inf")) else None
