"""Re-drive failed events after a fix: events the fold parked are stored again (the stream folds them anew, and the
replay guard makes a second fold a no-op), and messages refused at ingest are validated and ingested again.

Idempotent: a parked event keeps its key, and a refused message without a messageId gets one derived from its
failed-event row, so replaying the same day twice stores and folds nothing twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec

from chalicelib.tracking.events import TrackedEvent

if TYPE_CHECKING:
    from chalicelib.tracking.ingest import IngestService
    from chalicelib.tracking.ports import EventStore, FailedEvent

FOLD_FAILED = "fold_failed"
PAGE = 500


@dataclass
class ReplayReport:
    day: str
    examined: int = 0
    refolded: int = 0  # parked events stored again for the fold
    reingested: int = 0  # refused messages accepted this time
    still_refused: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # why a row could not be replayed -> count

    def skip(self, why: str) -> None:
        self.skipped[why] = self.skipped.get(why, 0) + 1


def replay_failed(
    day: str,
    ingest: IngestService,
    *,
    reason: str | None = None,
    profile_id: str | None = None,
) -> ReplayReport:
    """Replay one UTC day's failed events, optionally only those of one `reason` (error code) or one profile,
    through the ingest service's own stores."""
    report = ReplayReport(day)
    cursor: str | None = None
    while True:
        rows, cursor = ingest.failed.list(day, PAGE, cursor)
        for row in rows:
            code = str(row["reason"].get("error", ""))
            if reason is not None and code != reason:
                continue
            report.examined += 1
            if row["truncated"]:
                report.skip("truncated")
            elif code == FOLD_FAILED:
                _refold(row, ingest.events, profile_id, report)
            elif profile_id is None:
                _reingest(row, ingest, report)
        if cursor is None:
            return report


def _refold(row: FailedEvent, events: EventStore, profile_id: str | None, report: ReplayReport) -> None:
    try:
        event = msgspec.json.decode(row["raw"], type=TrackedEvent)
    except (msgspec.DecodeError, msgspec.ValidationError):
        report.skip("unreadable")
        return
    if profile_id is not None and event.profile_id != profile_id:
        return
    events.delete([event.stored_in()])  # a fresh INSERT on the stream: the fold sees it as new
    events.put_many([event])
    report.refolded += 1


def _reingest(row: FailedEvent, ingest: IngestService, report: ReplayReport) -> None:
    from chalicelib.tracking.ingest import RequestMeta

    try:
        message: Any = json.loads(row["raw"])
    except ValueError:
        report.skip("not_json")
        return
    if not isinstance(message, dict):
        report.skip("not_a_message")
        return
    keys = ingest.sources.keys(row["source_id"])
    if not keys:
        report.skip("unknown_source")
        return
    message.setdefault("messageId", f"replay-{row['day']}-{row['id']}")
    meta = RequestMeta(headers={}, query={})
    accepted, rejected = ingest.ingest(keys[0], [message], None, meta, batch=True, record_failures=False)
    report.reingested += len(accepted)
    report.still_refused += len(rejected)
