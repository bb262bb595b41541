"""Factories for domain records used across test layers (events as ingest stores them, stream records)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.tracking.events import TrackedEvent

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def tracked_event(
    n: int = 0,
    profile_id: str = "p_one",
    *,
    event: str = "Product Viewed",
    type: str = "track",
    at: datetime | None = None,
    source_id: str = "web",
    **fields: Any,
) -> TrackedEvent:
    """Event number `n` of a profile, `n` minutes after T0 unless `at` is given."""
    timestamp = at or T0 + timedelta(minutes=n)
    return TrackedEvent(
        message_id=f"m{n}",
        source_id=source_id,
        type=type,  # type: ignore[arg-type]
        profile_id=profile_id,
        timestamp=timestamp,
        received_at=timestamp,
        event=event if type == "track" else None,
        **fields,
    )


def stream_record(event: TrackedEvent, sequence: int, name: str = "INSERT") -> dict[str, Any]:
    """An events-table stream record as Lambda delivers it (moto's lack `eventSourceARN`; so does this one)."""
    return {
        "eventID": f"{sequence:08x}",
        "eventName": name,
        "eventSource": "aws:dynamodb",
        "dynamodb": {"Keys": {"pk": {"S": event.key}}, "NewImage": event.to_item(), "SequenceNumber": str(sequence)},
    }
