"""Daily series for the console: events per day by type, active profiles per day, email outcomes per day (pure).

Stored as small StateTable counters, `pk=daily#<YYYY-MM-DD>`, one row (`sk`) per metric family:

| sk        | attributes                                   | written by                                         |
|-----------|----------------------------------------------|----------------------------------------------------|
| `events`  | one counter per event type (`track`, ...)    | the events-stream fold, ONE write per batch         |
| `active`  | `profiles`                                   | the same write                                      |
| `email`   | `sent`, `delivered`, `bounced`, `complaints` | the send hook and SES feedback, in the transaction  |
|           |                                              | of their existing per-message fact marker           |

How each stays exact:
- per message (sent, delivered, bounced, complaint): the increment rides in the report counter's own
  TransactWriteItems, behind the same `fact#` marker, so a redelivered SNS notification or a retried send hook adds
  nothing, at no extra marker write.
- per stream batch (events, active profiles): `batch_increments` counts only the checkpointed prefix of the batch,
  the records before the first one the fold asks to retry (Lambda re-delivers that one and everything after it). The
  write is a conditional marker `dailybatch#<first sequence>` (holding the last counted sequence) plus one ADD per
  day row, in one transaction: a re-delivered batch starting at the same record counts nothing; if it is longer than
  the first delivery, the store counts the records past the recorded last sequence under the next marker.
- active profiles: a profile counts on day D when the fold moved its `last_seen` from an earlier day to D (the fold
  tells the handler, `FoldStats.newly_active`), so later batches of the same day never count it again and a replayed
  event (already applied, nothing changes) counts nothing; historical imports (events dated in the past) do not count
  as activity today. These are counted for every profile written in the invocation, not only the prefix: after a
  partial failure the re-delivered records find the profile already at D. The day is that of the new `last_seen`
  (event time, UTC); events are counted on the UTC day of the fold's clock (the stream lags seconds behind ingest).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from chalicelib.shared.streams import sequence_of, sequence_order

COMPLAINT_LINE = 0.003  # the complaint rate above which SES reviews an account (0.1 % is its "keep below" target)
EMAIL_FIELDS = ("sent", "delivered", "bounced", "complaints")
MAX_DAYS = 93  # the longest range the admin route answers (a quarter), so one answer stays a few reads
ROWS = ("events", "active", "email")


def day_of(at: datetime) -> str:
    return at.strftime("%Y-%m-%d")


def day_pk(day: str) -> str:
    return f"daily#{day}"


@dataclass
class BatchIncrements:
    """What one stream batch adds: `rows[(day, sk)][field] = n`, under the marker of its first counted record."""

    first_sequence: str | None = None
    last_sequence: str | None = None
    rows: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)

    def add(self, day: str, sk: str, name: str, n: int = 1) -> None:
        if n:
            row = self.rows.setdefault((day, sk), {})
            row[name] = row.get(name, 0) + n

    @property
    def empty(self) -> bool:
        return not self.rows


def _event_types(record: Mapping[str, Any]) -> dict[str, int]:
    """Events per type of a record: one for an event's item, a group item's counts (tracking/events.py), no decode."""
    from chalicelib.tracking.events import item_types

    image = (record.get("dynamodb") or {}).get("NewImage") or {}
    out: dict[str, int] = {}
    for name, n in item_types(image).items():
        name = name if isinstance(name, str) and name.isidentifier() else "other"
        out[name] = out.get(name, 0) + n
    return out


def checkpointed(records: Sequence[Mapping[str, Any]], retry: Iterable[str]) -> list[Mapping[str, Any]]:
    """The records before the first one named in `retry`: those Lambda will not deliver again."""
    pending = set(retry)
    out: list[Mapping[str, Any]] = []
    for record in records:
        if sequence_of(record) in pending:
            break
        out.append(record)
    return out


def batch_increments(
    records: Sequence[Mapping[str, Any]],
    retry: Iterable[str],
    newly_active: Mapping[str, int],
    day: str,
    *,
    after: str | None = None,
) -> BatchIncrements:
    """Counts of one batch: the events of INSERT records (a group item holds several) of the checkpointed prefix by
    event type on `day` (those with a sequence
    number above `after` when given: the part of a re-delivered batch not yet counted), plus `newly_active`
    profiles per day.

    Example:
        >>> r = [{"eventName": "INSERT", "dynamodb": {"SequenceNumber": "1", "NewImage": {"type": {"S": "track"}}}}]
        >>> batch_increments(r, [], {"2026-01-02": 1}, "2026-01-02").rows
        {('2026-01-02', 'events'): {'track': 1, 'total': 1}, ('2026-01-02', 'active'): {'profiles': 1}}
    """
    from chalicelib.tracking.events import new_events_image

    out = BatchIncrements()
    for record in checkpointed(records, retry):
        sequence = sequence_of(record)
        if after is not None and sequence_order(sequence) <= sequence_order(after):
            continue
        out.first_sequence = out.first_sequence or sequence
        out.last_sequence = sequence
        if new_events_image(record) is None:
            continue  # a MODIFY, a moved item's INSERT or a REMOVE: events already counted (or gone)
        types = _event_types(record)
        for name, n in types.items():
            out.add(day, "events", name, n)
        out.add(day, "events", "total", sum(types.values()))
    for active_day, n in sorted(newly_active.items()):
        out.add(active_day, "active", "profiles", n)
    if out.first_sequence is None and not out.empty:
        # Only profiles became active (their records were all past a failure): mark them under the batch's first record.
        out.first_sequence = out.last_sequence = f"{sequence_of(records[0]) if records else '0'}#active"
    return out


def days_between(start: date, end: date) -> list[str]:
    """Every day from `start` to `end` inclusive, as `YYYY-MM-DD` (empty when end < start)."""
    return [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


def _rate(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def series(days: Sequence[str], rows: Mapping[tuple[str, str], Mapping[str, float]]) -> dict[str, Any]:
    """The answer of `GET /admin/reports/daily`: one entry per day (zeros for a day with no counter), event types seen
    in the range, and per day the delivery, bounce and complaint rates (bounces over sent, complaints over delivered,
    as SES computes them; None without a denominator), plus the complaint line.

    Example:
        >>> s = series(["2026-01-01"], {("2026-01-01", "email"): {"sent": 1000, "delivered": 990, "complaints": 4}})
        >>> s["days"][0]["complaint_rate"] > s["complaint_line"]
        True
    """
    types = sorted({name for (_, sk), row in rows.items() if sk == "events" for name in row if name != "total"})
    out = []
    for day in days:
        events = rows.get((day, "events"), {})
        email = rows.get((day, "email"), {})
        counts = {name: int(email.get(name, 0)) for name in EMAIL_FIELDS}
        out.append(
            {
                "day": day,
                "events": int(events.get("total", 0)),
                "events_by_type": {name: int(events.get(name, 0)) for name in types},
                "active_profiles": int(rows.get((day, "active"), {}).get("profiles", 0)),
                "email": counts,
                "delivery_rate": _rate(counts["delivered"], counts["sent"]),
                "bounce_rate": _rate(counts["bounced"], counts["sent"]),
                "complaint_rate": _rate(counts["complaints"], counts["delivered"]),
            }
        )
    return {"days": out, "event_types": types, "complaint_line": COMPLAINT_LINE}
