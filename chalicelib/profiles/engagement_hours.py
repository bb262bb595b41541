"""When a person engages: human opens and clicks by hour of day per channel, decaying, for send-time optimisation.

Hours are LOCAL to the person's time zone when the fold knows it (`demographics.timezone`), UTC otherwise, and the
histogram says which (`EngagementHours.zone`). Why local rather than UTC:
- habits are local ("reads mail over breakfast"): each engagement is converted with the UTC offset in force at its own
  instant, so a DST change moves nothing, where a UTC histogram would smear every habit over two buckets for weeks;
- a person who moves zone keeps their habits in local time: the histogram stays as it is and only its zone changes,
  where a UTC histogram would aim at the old zone's breakfast until the old engagements decayed;
- without a known zone the hours are kept in UTC (exact, not a guess) and rotated into local hours once, when a zone
  first becomes known; the send side reads UTC hours through the recipient's zone at send time.

Bounded: weights decay with a half-life of `HALF_LIFE_DAYS` (the one decay law, `scoring.lead_score`), so old habits
fade, and a bucket never exceeds `MAX_BUCKET_WEIGHT` (a burst of re-opens cannot own the histogram). Decay is lazy,
as for engagement and interests: weights are as of `at` (day start of the newest engagement); a late older engagement
is decayed to `at` instead, so the result does not depend on arrival order (up to float rounding). Replays never
reach here: the fold's applied-key guard drops them first.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any

from chalicelib.profiles.model import EngagementHours
from chalicelib.scoring.lead_score import decay

HALF_LIFE_DAYS = 60.0  # two months: a new job's commute shows within weeks, last year's habits are gone
MAX_BUCKET_WEIGHT = 100.0
HOURS = 24
DAY = 86400.0

# The human engagements that count, per channel. Machine opens and clicks (`... (Machine)`, decided by
# engagement/classification.py) are not here: a security scanner's fetch says nothing about when a person reads.
# SMS links are not tracked yet (texts carry no click-tracked links); an `SMS Link Clicked` event would map to "sms".
ENGAGEMENT_EVENTS: dict[str, str] = {
    "Email Opened": "email",
    "Email Link Clicked": "email",
    "SMS Link Clicked": "sms",
}


@functools.lru_cache(maxsize=256)
def zone_info(name: str | None) -> tzinfo | None:
    """The IANA zone of `name`, None when absent or unknown (the fold then counts UTC hours)."""
    if not name:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _hour(ts: float, zone: tzinfo | None) -> int:
    if zone is None:
        return int(ts // 3600 % HOURS)
    return datetime.fromtimestamp(ts, zone).hour


def _rotate(weights: list[float], shift: int) -> list[float]:
    """`weights` moved `shift` hours later (UTC hour h becomes local hour h + offset)."""
    shift %= HOURS
    return weights[-shift:] + weights[:-shift] if shift else list(weights)


def _offset_hours(zone: tzinfo, at: float) -> int:
    offset = datetime.fromtimestamp(at, zone).utcoffset()
    return round(offset.total_seconds() / 3600) if offset is not None else 0


def record(histogram: EngagementHours | None, ts: float, zone_name: str | None) -> EngagementHours:
    """Add one human engagement at epoch `ts` to `histogram` (created when None), in the hours of `zone_name`.

    Changes `histogram` in place and returns it."""
    zone = zone_info(zone_name)
    name = zone_name if zone is not None else None
    if histogram is None:
        histogram = EngagementHours(zone=name)
    elif histogram.zone != name and name is not None:
        if histogram.zone is None:  # UTC hours until now: into local hours, once (the offset of the newest one)
            histogram.hours = _rotate(histogram.hours, _offset_hours(zone, histogram.at or ts))  # type: ignore[arg-type]
        histogram.zone = name  # a move between known zones keeps the local hours: habits travel with the person
    elif histogram.zone is not None and name is None:
        zone = zone_info(histogram.zone)  # the zone became unreadable: keep counting in the zone the hours are in
    day = ts // DAY * DAY
    weights = histogram.hours
    if len(weights) != HOURS:
        weights = histogram.hours = [0.0] * HOURS
    if day > histogram.at:
        if histogram.at:
            factor = decay(1.0, day - histogram.at, HALF_LIFE_DAYS)
            weights[:] = [w * factor for w in weights]
        histogram.at = day
        added = 1.0
    else:
        added = decay(1.0, histogram.at - day, HALF_LIFE_DAYS)
    hour = _hour(ts, zone)
    weights[hour] = min(weights[hour] + added, MAX_BUCKET_WEIGHT)
    return histogram


def merge(mine: EngagementHours | None, theirs: EngagementHours) -> EngagementHours:
    """Two people found to be one (identity merge): weights decayed to the later reference day and added."""
    if mine is None:
        return EngagementHours(zone=theirs.zone, at=theirs.at, hours=list(theirs.hours))
    zone = mine.zone or theirs.zone
    at = max(mine.at, theirs.at)
    parts = []
    for part in (mine, theirs):
        weights = list(part.hours) if len(part.hours) == HOURS else [0.0] * HOURS
        if part.zone is None and zone is not None:
            weights = _rotate(weights, _offset_hours(zone_info(zone) or UTC, part.at or at))
        factor = decay(1.0, at - part.at, HALF_LIFE_DAYS) if part.at else 1.0
        parts.append([w * factor for w in weights])
    return EngagementHours(zone=zone, at=at, hours=[min(a + b, MAX_BUCKET_WEIGHT) for a, b in zip(*parts, strict=True)])


def local_weights(profile: Mapping[str, Any], channel: str, now: datetime, tz: tzinfo) -> list[float]:
    """The person's engagement weights on `channel` by LOCAL hour of `tz`, decayed to `now` (24 zeros when none).

    `profile` is the body document (`codec.body_dict`). Hours kept in UTC (zone unknown at fold time) are rotated by
    `tz`'s offset at `now`; local hours are taken as local to `tz`, the recipient's zone at send time."""
    section = profile.get("engagement_hours")
    entry = section.get(channel) if isinstance(section, Mapping) else None
    if not isinstance(entry, Mapping):
        return [0.0] * HOURS
    weights = entry.get("hours")
    if not isinstance(weights, Sequence) or len(weights) != HOURS:
        return [0.0] * HOURS
    values = [float(w) if isinstance(w, int | float) else 0.0 for w in weights]
    at = entry.get("at")
    if isinstance(at, int | float) and at:
        factor = decay(1.0, now.timestamp() - at, HALF_LIFE_DAYS)
        values = [w * factor for w in values]
    if entry.get("zone") is None:
        offset = now.astimezone(tz).utcoffset()
        values = _rotate(values, round(offset.total_seconds() / 3600) if offset is not None else 0)
    return values
