"""The tracked event: one Segment-spec message after validation and enrichment, as stored and folded."""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, TypedDict

import msgspec
from msgspec import Struct, field

from chalicelib.tracking import event_codec
from chalicelib.tracking.identity import clean_email

MessageType = Literal["track", "page", "screen", "identify", "group", "alias"]
# The events table's key (cost issue 19): HASH `profile_id`, RANGE `ts_key` = `{hour}#{pk}` (`time_bucket` of the
# item's latest event, then its pk: unique in a profile). A profile's history is a Query of its partition, newest hour
# first, with no index to pay a second write unit for. The hour, not the exact time: the corrected time of a message
# moves with each delivery (it counts from `receivedAt`), the hour almost never does, so a retried message or batch
# lands on the same key and its conditional put is refused or its item overwritten (dedupe, replay safety). `pk` (an
# event's key, or a group's) stays on every item: the name the fold, the archive and dedupe know an item by.
ItemRef = tuple[str, str]  # (profile_id, ts_key): where an item is


def time_bucket(dt: datetime) -> str:
    """The UTC hour (`YYYY-MM-DDTHH`) that starts an item's `ts_key`."""
    return iso(dt)[:13]


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
    def ts_key(self) -> str:
        """The sort key of this event's own item in its profile's partition: event hour, then the key (unique)."""
        return f"{time_bucket(self.timestamp)}#{self.key}"

    def stored_in(self) -> ItemRef:
        """The table key of the item this event is stored in: its own (a stream event from a group knows the
        group's, and the profile it is stored under)."""
        return self.profile_id, self.ts_key

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
        item: dict[str, Any] = {
            "pk": {"S": self.key},
            "profile_id": {"S": self.profile_id},
            "ts_key": {"S": self.ts_key},
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
    item_pk: str = ""  # the group item it came in (never itself stored); "" for an item of its own
    # The table key of the item it came in (never itself stored): the fold may change `profile_id`, not where it is.
    item_profile_id: str = ""
    item_ts_key: str = ""

    def stored_in(self) -> ItemRef:
        if self.item_ts_key:
            return self.item_profile_id, self.item_ts_key
        return super().stored_in()

    def stored_at(self, item: dict[str, Any]) -> None:
        """Note the item this event is now stored in (after a move: `put_many`)."""
        self.item_profile_id, self.item_ts_key = item_ref(item)
        self.item_pk = item["pk"]["S"] if is_group(item) else ""

    @classmethod
    def from_stream_image(cls, image: dict[str, Any]) -> StreamEvent:
        """A stream record's NewImage (low-level form) for the fold."""
        body = event_codec.body_text(image)
        event = _STREAM_DECODER.decode(body)
        event.source_body = body
        if "profile_id" in image:
            event.profile_id = event.item_profile_id = image["profile_id"]["S"]
        if "ts_key" in image:
            event.item_ts_key = image["ts_key"]["S"]
        return event

    @classmethod
    def all_from_stream_image(cls, image: dict[str, Any]) -> list[StreamEvent]:
        """Every event of a stream record's NewImage: one for an event item, each of a group item's."""
        if GROUP_COUNT not in image:
            return [cls.from_stream_image(image)]
        pk = image["pk"]["S"]
        profile_id, ts_key = item_ref(image)
        out: list[StreamEvent] = []
        for body in event_codec.bodies(image):
            event = _STREAM_DECODER.decode(body)
            event.source_body = body
            event.profile_id = event.item_profile_id = profile_id
            event.item_pk = pk
            event.item_ts_key = ts_key
            out.append(event)
        return out

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


def item_ref(item: dict[str, Any]) -> ItemRef:
    """Where an item (or a stream image) is: its table key."""
    return item["profile_id"]["S"], item["ts_key"]["S"]


_TS_KEY = re.compile(r"\d{4}-\d\d-\d\dT\d\d#.")


def is_ts_key(ref: str) -> bool:
    """Whether `ref` is a `ts_key` (`{hour}#{pk}`), not a pk (how items were named before the table's key)."""
    return _TS_KEY.match(ref) is not None


def table_key(ref: ItemRef) -> dict[str, Any]:
    """The DynamoDB key (attribute-value form) of an item."""
    return {"profile_id": {"S": ref[0]}, "ts_key": {"S": ref[1]}}


# An identity merge moves a profile's items to the winner's partition: a Put under the new key, then a Delete of the
# old. The Put is an INSERT on the stream, of events every stream reader (fold, archive, daily counters) has already
# taken from their first INSERT; `moved_from` (the profile they came from) marks it so they skip it, as they skip
# MODIFYs (an item rewritten in place) and REMOVEs (the old key deleted, TTL, erasure).
MOVED_FROM = "moved_from"


def moved(item: dict[str, Any], from_profile: str) -> dict[str, Any]:
    """`item` marked as a copy moved from `from_profile` (its events are not new)."""
    return {**item, MOVED_FROM: {"S": from_profile}}


def new_events_image(record: Any) -> dict[str, Any] | None:
    """The NewImage of an events-stream record that brings new events (an INSERT not of a moved item), else None."""
    if record.get("eventName") != "INSERT":
        return None
    image = (record.get("dynamodb") or {}).get("NewImage") or {}
    return None if MOVED_FROM in image else image


# -- group items -----------------------------------------------------------------------------------------------------
# A request's events of one profile are stored as ONE item (issue 19: an item per event was the largest per-event
# cost after the recommendations): `pk` = `GROUP_PREFIX` + a hash of the events' sorted keys (the same batch re-sent
# rewrites the same item, a stream MODIFY that the fold and the archive ignore), `profile_id`, `ts_key` (the hour of the
# group's LATEST event: history reads newest first and can stop exactly, see `history_order`), `n` (how many events),
# `types` (events per type, for the daily counters without a decode) and the bodies deflated together
# (`event_codec.encode_many`). One event alone keeps the item form of one event (`TrackedEvent.to_item`).
GROUP_PREFIX = "g#"
GROUP_COUNT = "n"
GROUP_TYPES = "types"
# An item holds at most 400 KB; deflated bodies are never larger than their JSON (plus a few bytes), so a group's
# JSON is cut at this size (a batch is at most 500 KB of JSON).
MAX_GROUP_JSON_BYTES = 256 * 1024


def is_group(item: dict[str, Any]) -> bool:
    """A group item (or its stream image), as opposed to the item of one event."""
    return GROUP_COUNT in item


def group_key(event_keys: Iterable[str]) -> str:
    """The deterministic pk of a group of events: 128 bits of BLAKE2b of their sorted keys."""
    digest = hashlib.blake2b("\n".join(sorted(event_keys)).encode(), digest_size=16).digest()
    return GROUP_PREFIX + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def group_items(events: list[TrackedEvent], expires_at: int | None = None) -> list[dict[str, Any]]:
    """The items of one profile's events from one request: one group item (cut at `MAX_GROUP_JSON_BYTES`), or the
    item of a lone event. Deterministic: the same events give the same items, in any order."""
    ordered = sorted({e.key: e for e in events}.values(), key=lambda e: e.key)
    chunks: list[list[tuple[TrackedEvent, bytes]]] = [[]]
    size = 0
    for event in ordered:
        body = _ENCODER.encode(event.full())
        if chunks[-1] and size + len(body) > MAX_GROUP_JSON_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append((event, body))
        size += len(body) + 1
    return [
        group_item(chunk, expires_at) if len(chunk) > 1 else chunk[0][0].full().to_item(expires_at)
        for chunk in chunks
        if chunk
    ]


def group_item(
    entries: list[tuple[TrackedEvent, bytes]],
    expires_at: int | None = None,
    pk: str | None = None,
    ts_key: str | None = None,
) -> dict[str, Any]:
    """One group item from (event, stored JSON body) pairs of one profile. `pk`, `ts_key`: keep an existing group's
    (a rewrite without some of its events: the same item, whose `ts_key`, the hour of its latest event before, is
    still an upper bound of its events' hours), else derived from the events."""
    events = [e for e, _ in entries]
    profile_ids = {e.profile_id for e in events}
    if len(profile_ids) != 1:
        raise ValueError(f"a group item holds one profile's events, not {len(profile_ids)} profiles'")
    pk = pk or group_key(e.key for e in events)
    latest = max(e.timestamp for e in events)
    types = Counter(e.type for e in events)
    item: dict[str, Any] = {
        "pk": {"S": pk},
        "profile_id": {"S": events[0].profile_id},
        "ts_key": {"S": ts_key or f"{time_bucket(latest)}#{pk}"},
        GROUP_COUNT: {"N": str(len(events))},
        GROUP_TYPES: {"S": ",".join(f"{name}:{n}" for name, n in sorted(types.items()))},
        event_codec.ATTRIBUTE: {"B": event_codec.encode_many([body for _, body in entries])},
    }
    if expires_at is not None:
        item["expires_at"] = {"N": str(expires_at)}
    return item


def expand(item: dict[str, Any]) -> list[TrackedEvent]:
    """Every event stored in an item (GetItem/Query form or a stream NewImage): one, or a group's."""
    if not is_group(item):
        return [TrackedEvent.from_item(item)]
    profile_id = item["profile_id"]["S"]
    out: list[TrackedEvent] = []
    for body in event_codec.bodies(item):
        event = _DECODER.decode(body)
        event.profile_id = profile_id
        out.append(event)
    return out


def item_event_count(item: dict[str, Any]) -> int:
    """How many events an item holds, without decoding it."""
    return int(item[GROUP_COUNT]["N"]) if is_group(item) else 1


def item_types(item: dict[str, Any]) -> dict[str, int]:
    """Events per type of an item or stream image, without decoding it (an unreadable attribute counts as "other")."""
    if is_group(item):
        out: dict[str, int] = {}
        for part in str(item.get(GROUP_TYPES, {}).get("S", "")).split(","):
            name, _, n = part.partition(":")
            if name and n.isdigit():
                out[name] = out.get(name, 0) + int(n)
        return out
    value = (item.get("type") or {}).get("S")
    return {value if isinstance(value, str) else "other": 1}


def rewrite_without(item: dict[str, Any], drop: Iterable[str]) -> dict[str, Any] | None:
    """The item without the events whose keys are in `drop` (same key: a stream MODIFY), or None when nothing is left.
    Only a group item can keep some of its events."""
    dropped = set(drop)
    if not is_group(item):
        return None if TrackedEvent.from_item(item).key in dropped else item
    profile_id = item["profile_id"]["S"]
    kept: list[tuple[TrackedEvent, bytes]] = []
    for body in event_codec.bodies(item):
        event = _DECODER.decode(body)
        event.profile_id = profile_id
        if event.key not in dropped:
            kept.append((event, body))
    if not kept:
        return None
    expires = int(item["expires_at"]["N"]) if "expires_at" in item else None
    # One kept event is still a group (of one) under its key.
    return group_item(kept, expires, pk=item["pk"]["S"], ts_key=item["ts_key"]["S"])
