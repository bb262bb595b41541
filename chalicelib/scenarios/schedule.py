"""Scenario time vocabulary: durations (`30m`, `1d12h`), 5-field cron expressions and IANA time zone names."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated

from pydantic import Field

_DURATION_RE = re.compile(r"^(?:\d+[wdhms])+$")
_DURATION_PART_RE = re.compile(r"(\d+)([wdhms])")
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def valid_timezone(value: str) -> str:
    """`value` if it names an IANA time zone, else ValueError (shared by every config field holding a zone)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


def parse_duration(text: str) -> timedelta:
    """Parse a duration such as `30m`, `1h`, `3d`, `2w` or a compound `1d12h` into a timedelta.

    Raises ValueError on anything else (no months/years: their length is ambiguous)."""
    if not isinstance(text, str) or not _DURATION_RE.match(text.strip()):
        raise ValueError(f"invalid duration {text!r}; use e.g. '30m', '1h', '3d', '2w' or '1d12h'")
    seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART_RE.findall(text.strip()))
    return timedelta(seconds=seconds)


def duration_field(value: str) -> str:
    parse_duration(value)
    return value.strip()


Duration = Annotated[str, Field(pattern=r"^(?:\d+[wdhms])+$", examples=["30m", "1h", "3d", "1d12h"])]

# --------------------------------------------------------------------------------------------------------------------
# Cron (standard 5 fields, evaluated in the trigger's time zone)
# --------------------------------------------------------------------------------------------------------------------

_CRON_LIMITS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))  # minute hour day-of-month month day-of-week(0/7=Sun)


def _parse_cron_field(text: str, lo: int, hi: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"bad step in {part!r}")
        if body == "*":
            start, stop = lo, hi
        elif "-" in body:
            a, b = body.split("-", 1)
            start, stop = int(a), int(b)
        else:
            start = int(body)
            stop = hi if step_text else start
        if not (lo <= start <= stop <= hi):
            raise ValueError(f"{part!r} outside {lo}-{hi}")
        values.update(range(start, stop + 1, step))
    return frozenset(values)


def parse_cron(expr: str) -> tuple[frozenset[int], ...]:
    """Parse `minute hour day-of-month month day-of-week` (`*`, lists, ranges, `*/n`; numeric only).

    Returns the five sets of allowed values. Raises ValueError with the offending field."""
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"cron {expr!r} must have 5 fields (minute hour day-of-month month day-of-week)")
    try:
        parsed = tuple(_parse_cron_field(f, lo, hi) for f, (lo, hi) in zip(fields, _CRON_LIMITS, strict=True))
    except ValueError as exc:
        raise ValueError(f"cron {expr!r}: {exc}") from None
    dow = parsed[4]
    if 7 in dow:  # 7 is Sunday too
        parsed = (*parsed[:4], frozenset(dow - {7} | {0}))
    return parsed


def cron_sets_match(sets: tuple[frozenset[int], ...], local_dt: datetime) -> bool:
    """True when the local minute `local_dt` is a fire time of the parsed cron `sets` (see `parse_cron`).

    Follows Vixie cron: when both day-of-month and day-of-week are restricted, either may match."""
    minute, hour, dom, month, dow = sets
    if local_dt.minute not in minute or local_dt.hour not in hour or local_dt.month not in month:
        return False
    cron_dow = (local_dt.weekday() + 1) % 7  # Python Monday=0 -> cron Sunday=0
    if len(dom) == 31 or len(dow) == 7:
        return local_dt.day in dom and cron_dow in dow
    return local_dt.day in dom or cron_dow in dow


def cron_matches(expr: str, local_dt: datetime) -> bool:
    """True when the (local, already converted) minute `local_dt` is a fire time of `expr`."""
    return cron_sets_match(parse_cron(expr), local_dt)
