"""The tracked event: one Segment-spec message after validation and enrichment, as stored and folded."""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, TypedDict

import msgspec
from msgspec import Struct, field

from chalicelib.tracking import event_codec
from chalicelib.tracking.identity import clean_email

MessageType = Literal["track", "page", "screen", "identify", "group", "alias"]


def iso(dt: datetime) -> str:
    """Render a datetime as the ISO-8601 UTC form we store everywhere (millisecond precision, `Z`)."""
    if dt.tzinfo is None:  # naive: rendered through local time, where `fold` matters and equality ignores it
        return _render(dt)
    return _iso_aware(dt)


def _render(dt: datetime) -> str:
    if dt.tzinfo is not UTC:
        dt = dt.astimezone(UTC)
    # isoformat is C and ~2x faster than strftime; it renders +00:00, which we write as Z.
    return dt.isoformat(timespec="milliseconds")[:-6] + "Z"


# Aware datetimes that compare equal are the same instant, so they render the same: cached, because a fold renders
# the same `now` several times per profile (updated_at, stage and segment transitions).
_iso_aware = functools.lru_cache(maxsize=1024)(_render)
_EPOCH = date(1970, 1, 1)


@functools.lru_cache(maxsize=4096)
def utc_day(day_number: int) -> str:
    """`YYYY-MM-DD` of a UTC day counted from 1970-01-01 (`int(epoch_seconds // 86400)`); cached: folds reuse a few."""
    return (_EPOCH + timedelta(days=day_number)).isoformat()


class TrackedEvent(Struct, kw_only=True):
    """A validated, enriched message as it is stored in the events table and read back from its stream.

    `timestamp` is the corrected event time (Segment's receivedAt - (sentAt - originalTimestamp)); all folding and
    ordering uses it, never arrival order. `profile_id` is the profile the event was resolved to at ingest.

    A msgspec Struct rather than a pydantic model: it is built only from a message the tracking rules already
    validated (`domain/tracking.py`), and decoded from the stream once per record, where msgspec is ~5x faster (the
    scoring fold reads 20,000+ of them a second). Decoding still checks every field's type.
    """

    message_id: str
    source_id: str
    type: MessageType
    profile_id: str
    timestamp: datetime
    received_at: datetime
    sent_at: datetime | None = None
    original_timestamp: datetime | None = None
    anonymous_id: str | None = None
    user_id: str | None = None
    event: str | None = None  # track only
    name: str | None = None  # page / screen
    category: str | None = None  # page
    previous_id: str | None = None  # alias
    group_id: str | None = None  # group
    properties: dict[str, Any] = field(default_factory=dict)
    traits: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    integrations: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # unknown top-level fields, kept verbatim
    flags: list[str] = field(default_factory=list)  # e.g. "bot", "timestamp_clamped_future", "gpc"
    is_bot: bool = False

    @property
    def key(self) -> str:
        """The dedupe key: one message id per source is stored once."""
        return f"{self.source_id}#{self.message_id}"

    @property
    def unverified(self) -> bool:
        """A client source's order, refund, consent or alias without an identity token (tracking/trust.py): stored
        for the record, never folded, counted or acted on."""
        return "unverified" in self.flags

    @property
    def email(self) -> str | None:
        """The identify email (traits, else context traits), normalised as every email identity is."""
        context_traits = self.context.get("traits")
        from_context = context_traits.get("email") if isinstance(context_traits, dict) else None
        return clean_email(self.traits.get("email") or from_context)

    def to_item(self, expires_at: int | None = None) -> dict[str, Any]:
        """DynamoDB item (low-level attribute-value form). The message body is one JSON document (cheap to write and
        to read back from the stream, and free of the float/Decimal and empty-map pitfalls of nested attributes),
        stored deflated (`event_codec`: the item then fits one write unit)."""
        ts = iso(self.timestamp)
        item: dict[str, Any] = {
            "pk": {"S": self.key},
            "profile_id": {"S": self.profile_id},
            "ts_key": {"S": f"{ts}#{self.message_id}"},
            "type": {"S": self.type},
            event_codec.ATTRIBUTE: {"B": event_codec.encode(_ENCODER.encode(self))},
        }
        if self.event:
            item["event"] = {"S": self.event}
        if expires_at is not None:
            item["expires_at"] = {"N": str(expires_at)}
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> TrackedEvent:
        """Inverse of `to_item`, for items from GetItem/Query or a stream NewImage (both low-level form)."""
        event = _DECODER.decode(event_codec.body_text(item))
        # The profile id is the only attribute rewritten after ingest (identity merges re-point history).
        if "profile_id" in item:
            event.profile_id = item["profile_id"]["S"]
        return event

    def to_json(self) -> str:
        """The stored body (JSON text)."""
        return _ENCODER.encode(self).decode()

    def full(self) -> TrackedEvent:
        """The whole event (this one: see `StreamEvent` for the kind that is not)."""
        return self

    def summary(self) -> dict[str, Any]:
        """Compact JSON-able view for admin responses."""
        view = msgspec.to_builtins(self)
        return {k: v for k, v in view.items() if v is not None and k not in ("integrations", "extra")}


class FoldContext(TypedDict, total=False):
    """The context keys the fold reads (`traits._Folder`, `TrackedEvent.email`); a stream decode skips the others."""

    locale: Any
    timezone: Any
    campaign: Any
    referrer_search_terms: Any
    page: Any
    referrer: Any
    traits: Any
    device: Any  # push tokens (profiles/devices.py)
    app: Any


class StreamEvent(TrackedEvent, kw_only=True):
    """A tracked event as the fold reads it from the events stream: `context` holds only the keys the fold uses.

    The rest of a context (user agent, library, screen, IP, page title...) is half of a stored body and building it
    was a quarter of reading a record. Writing the event anywhere (re-pointing it to another profile, parking it)
    goes through `full`, which decodes the whole stored body again, so nothing is ever lost on the way back.
    """

    context: FoldContext = field(default_factory=dict)  # type: ignore[assignment]
    source_body: bytes = b""  # the stored body (JSON) this was decoded from (never itself stored)

    @classmethod
    def from_stream_image(cls, image: dict[str, Any]) -> StreamEvent:
        """A stream record's NewImage (low-level form) for the fold."""
        body = event_codec.body_text(image)
        event = _STREAM_DECODER.decode(body)
        event.source_body = body
        if "profile_id" in image:
            event.profile_id = image["profile_id"]["S"]
        return event

    def full(self) -> TrackedEvent:
        """The whole stored event, with the profile id this one now carries (the only field the fold rewrites)."""
        event = _DECODER.decode(self.source_body)
        event.profile_id = self.profile_id
        return event

    def to_item(self, expires_at: int | None = None) -> dict[str, Any]:
        return self.full().to_item(expires_at)

    def to_json(self) -> str:
        return self.full().to_json()

    def summary(self) -> dict[str, Any]:
        return self.full().summary()


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(TrackedEvent)
_STREAM_DECODER = msgspec.json.Decoder(StreamEvent)
