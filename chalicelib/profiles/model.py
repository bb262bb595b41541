"""The real-time profile: one person's identities, traits, computed traits, scores, stage and segments, as stored.

The fold that builds it lives in `traits.py`; `fold`, `merge_profiles` and `FoldResult` are re-exported from here
lazily (PEP 562) because `traits.py` imports this module.

Layout of the stored item (`Profile.to_item`, DynamoDB low-level form):

| attribute    | type | meaning                                                                      |
|--------------|------|------------------------------------------------------------------------------|
| profile_id   | S    | partition key                                                                |
| version      | N    | optimistic-lock counter; `fold` bumps it by one whenever the profile changed |
| body         | B    | the whole model as MessagePack, LZ4-compressed (see below for older forms)  |
| stage        | S    | lifecycle stage, for stream consumers that filter on it                      |
| due_day      | S    | `YYYY-MM-DD`, key of the sparse GSI `by_due_day`; absent when nothing is due |
| merged_into  | S    | present once the profile was merged into another                             |

The body is compressed because DynamoDB bills a write unit per KB and a read unit per 4 KB: a busy profile's ~11 KB of
MessagePack (~13 KB as JSON) is ~4.7 KB as an LZ4 block (python-lz4's `lz4.block`: a 4-byte little-endian length,
then the block), so a profile write costs 5 units instead of 14 and a read 2 instead of 4. LZ4 over zstd: ~9 µs to
compress and ~2 µs to expand against ~22 and ~11 (the fold's throughput is a product figure), and a 1.4 MB wheel
against 5.5 MB for a ratio that saves one more write unit.

MessagePack rather than JSON (since 2026-12) because the fold reads and writes every body on every batch: msgspec
decodes it ~20% and encodes it ~55% faster (no float formatting or parsing, no string escaping), and it is ~20%
smaller. Nothing outside this module sees it: readers take `body_dict` (the JSON document's builtins) or `Profile`.
Bodies written earlier are read as they are: JSON text (`S`, until 2026-11) and LZ4-compressed JSON (2026-11); the
next write stores them as MessagePack.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
from typing import TYPE_CHECKING, Any, Literal

import msgspec
from msgspec import Struct, field

if TYPE_CHECKING:  # re-exported lazily below
    from types import ModuleType

    from chalicelib.profiles.fold import FoldResult, fold, merge_profiles  # noqa: F401

Stage = Literal["prospect", "new", "active", "loyal", "at_risk", "dormant", "churned"]
TransitionKind = Literal[
    "stage_changed",
    "score_crossed",
    "score_dropped",
    "segment_entered",
    "segment_exited",
    "cart_changed",
    "needs_group_changed",
]

MAX_RECENT_TRANSITIONS = 10  # older ones are history: a stream consumer only reads the current version's
MAX_ITEM_BYTES = 400 * 1024

# The stored profile is a msgspec Struct, not a pydantic model: it is read, folded and written on every batch, and
# msgspec decodes a 14 KB body in ~1/3 and encodes it in ~1/3 of pydantic's time, with attribute writes at plain-object
# speed (pydantic's `__setattr__` was ~1 µs, 40+ per fold). It is our own stored state, never outside input: every
# payload and config that arrives from outside is still validated by pydantic. Unknown fields are ignored on decode
# (older or newer writers), types are checked, and `kw_only` lets required and optional fields keep a readable order.
# Parts that body-JSON readers only `.get()` from (demographics, consent, transitions, viewed products, the internal
# activity) leave out fields at their default (`omit_defaults`), as the pydantic model's `exclude_none` did; the
# parts whose zeros readers compare (scores, computed counters, stage) are written in full.


class Transition(Struct, kw_only=True, omit_defaults=True):
    """Something that changed about a profile and that the scenario engine may react to.

    `version` is the profile version that recorded it, so a profiles-stream consumer takes the transitions whose
    version equals the NewImage version (the profile also keeps older ones in `recent_transitions`).
    """

    kind: TransitionKind
    name: str | None = None
    from_: str | float | None = field(default=None, name="from")
    to: str | float | None = None
    at: str
    version: int = 0


class Consent(Struct, kw_only=True, omit_defaults=True):
    """Permission to contact on one channel, last decision by event time."""

    status: Literal["opted_in", "opted_out"]
    at: str
    source: str | None = None


class Demographics(Struct, kw_only=True, omit_defaults=True):
    """Normalized view of identify traits (derived on every fold, never edited directly)."""

    first_name: str | None = None
    last_name: str | None = None
    name: str | None = None
    gender: str | None = None  # "female" / "male" / other value as given, lower-case
    birthday: str | None = None
    age: int | None = None
    city: str | None = None
    state: str | None = None  # upper-case; US state names mapped to their two-letter code
    country: str | None = None
    postal_code: str | None = None
    locale: str | None = None
    timezone: str | None = None


# Lazy sections hold MessagePack (the stored form): an empty array and an empty map.
_EMPTY_LIST = msgspec.Raw(b"\x90")
_EMPTY_MAP = msgspec.Raw(b"\x80")


class _SectionDecoder:
    """Decodes a lazy section: MessagePack, except in a body just decoded from JSON and not yet `materialized`."""

    __slots__ = ("_json", "_msgpack")

    def __init__(self, kind: Any) -> None:
        self._msgpack = msgspec.msgpack.Decoder(kind)
        self._json = msgspec.json.Decoder(kind)

    def decode(self, raw: msgspec.Raw) -> Any:
        # Sections are arrays or maps: JSON opens them with "[" or "{", which are small integers in MessagePack,
        # where arrays and maps open with 0x80-0x9f or 0xdc-0xdf.
        if memoryview(raw)[0] in _JSON_OPENERS:
            return self._json.decode(raw)
        return self._msgpack.decode(raw)


_JSON_OPENERS = frozenset(b"[{")


def _lazy(slot: str, kind: Any) -> Any:
    """A property over the field `slot`, which holds its stored MessagePack (`msgspec.Raw`, decoded as a slice of the
    body and written back verbatim) until the first read, and the decoded value from then on.

    The largest parts of a busy profile (viewed products, the cart view, transitions, the folded keys: ~half of its
    body) are untouched by most folds; skipping them halves the decode and encode of those folds. A section that
    fails to decode fails where it is read, inside the fold, which parks the events like any other fold failure.
    """
    decoder = _SectionDecoder(kind)

    def read(self: Any) -> Any:
        value = getattr(self, slot)
        if value.__class__ is msgspec.Raw:
            value = decoder.decode(value)
            setattr(self, slot, value)
        return value

    def write(self: Any, value: Any) -> None:
        setattr(self, slot, value)

    return property(read, write, doc=f"`{slot}`, decoded on first read")


def _same_fields(a: Any, b: object) -> bool:
    # Field-wise equality, but a still-encoded section must not be compared with a decoded one: decode both first.
    if type(a) is not type(b):
        return False
    for name in a._lazy_fields:
        getattr(a, name), getattr(b, name)
    return msgspec.structs.astuple(a) == msgspec.structs.astuple(b)


class ViewedProduct(Struct, kw_only=True, omit_defaults=True):
    """One recently viewed product, as the latest view described it (a struct: ~2x faster to decode than a dict)."""

    views: int = 1  # views counted in any arrival order (browse abandonment: "viewed 3+ times")
    product_id: str
    name: str | None = None
    price: float | None = None
    category: str | None = None
    url: str | None = None
    image_url: str | None = None
    at: str


class CartLine(Struct, kw_only=True, omit_defaults=True):
    """One product's line of the internal cart (`Activity.cart`): its net quantity and what the latest add said."""

    q: float  # added - removed - purchased, in any arrival order
    at: float  # epoch seconds of the latest change (a line untouched for the cart TTL expires)
    info_at: float = -1.0  # epoch seconds of the add that `name` and `price` come from
    name: str | None = None
    price: float | None = None


class ComputedTraits(Struct, kw_only=True):
    """Segment-style computed traits (counters, first/last, most frequent, unique lists). Bots never change them.

    `search_terms`, `viewed_products` and `cart` are properties over lazily decoded fields (see `_lazy`); construct
    with `search_terms_=` etc. and read or assign them by their plain names.
    """

    first_seen: str | None = None
    last_seen: str | None = None
    sessions: int = 0
    page_views: int = 0
    event_counts: dict[str, int] = field(default_factory=dict)
    type_counts: dict[str, int] = field(default_factory=dict)
    search_terms_: msgspec.Raw = field(default=_EMPTY_LIST, name="search_terms")  # [{"term", "at"}], newest first
    viewed_products_: msgspec.Raw = field(default=_EMPTY_LIST, name="viewed_products")  # most recent first
    cart_: msgspec.Raw = field(default=_EMPTY_LIST, name="cart")  # open: [{"product_id","name","price","quantity"}]
    cart_quantity: int = 0  # sum of the open cart's quantities
    cart_value: float = 0.0
    orders: int = 0
    revenue: float = 0.0
    average_order_value: float | None = None
    first_order_at: str | None = None
    last_order_at: str | None = None
    top_categories: list[str] = field(default_factory=list)  # by recency-decayed interest weight
    first_touch: dict[str, Any] | None = None  # {"campaign": {...}, "referrer_host", "at"}
    last_touch: dict[str, Any] | None = None

    search_terms = _lazy("search_terms_", list[dict[str, Any]])
    viewed_products = _lazy("viewed_products_", list[ViewedProduct])
    cart = _lazy("cart_", list[dict[str, Any]])
    _lazy_fields = ("search_terms", "viewed_products", "cart")
    __eq__ = _same_fields


class Scores(Struct, kw_only=True):
    """Lead score. Engagement decays lazily: the value at time t is `engagement_raw * 0.5 ** ((t - engagement_at) /
    half-life)`; `engagement`/`total`/`grade` are that value as of the last fold, for readers without a clock."""

    engagement_raw: float = 0.0
    engagement_at: int | None = None  # epoch seconds the raw value refers to
    half_life_days: float = 30.0  # recorded so `current_engagement(profile, now)` needs no config
    engagement: float = 0.0
    fit: float = 0.0
    total: float = 0.0
    grade: str | None = None  # A1 (best) ... C3
    crossed: list[str] = field(default_factory=list)  # thresholds currently at or above


class Rfm(Struct, kw_only=True):
    """Recency/frequency/monetary quintile scores (5 = best) against the population's cut points."""

    r: int
    f: int
    m: int
    group: str


class Activity(Struct, kw_only=True, omit_defaults=True):
    """Compact internal bookkeeping the computed traits are derived from. Not addressable by segment rules.

    Times are epoch seconds. `lww` holds, per last-write-wins field, the (event time, event tag) of the value kept,
    so a late older event never overwrites a newer one and ties break the same way in any arrival order.

    `cart` is lazily decoded (see `_lazy`); `cart_expires` (the oldest line's time + the cart TTL, None for an empty
    cart) lets a fold see whether a line has expired without reading it. Bodies written before it existed read as 0.0,
    i.e. "check the lines".
    """

    first_ts: float | None = None
    last_ts: float | None = None
    sessions: list[list[float]] = field(default_factory=list)  # [[start, end]] ascending, most recent kept
    sessions_dropped: int = 0  # sessions older than the kept window
    daily: dict[str, dict[str, int]] = field(default_factory=dict)  # event name -> {"YYYY-MM-DD": count}
    pruned_day: str | None = None  # the day `daily` was last trimmed to its retention window
    cart_: msgspec.Raw = field(default=_EMPTY_MAP, name="cart")  # product_id -> CartLine
    cart_expires: float | None = 0.0
    order_ids: dict[str, float] = field(default_factory=dict)  # recent order id -> event time (dedupe)
    first_order_ts: float | None = None
    last_order_ts: float | None = None
    interests: dict[str, list[float]] = field(default_factory=dict)  # category -> [raw weight, epoch of raw]
    lww: dict[str, list[Any]] = field(default_factory=dict)  # field -> [event ts, applied_tag(event key)]

    cart = _lazy("cart_", dict[str, CartLine])
    _lazy_fields = ("cart",)
    __eq__ = _same_fields


class Profile(Struct, kw_only=True):
    """One person. Everything a segment, score or scenario reads about them."""

    profile_id: str
    version: int = 0
    created_at: str | None = None
    updated_at: str | None = None

    anonymous_ids: list[str] = field(default_factory=list)
    user_id: str | None = None
    email: str | None = None
    phone: str | None = None
    merged_into: str | None = None
    merged_from: list[str] = field(default_factory=list)

    traits: dict[str, Any] = field(default_factory=dict)  # identify traits as sent, last write by event time wins
    demographics: Demographics = field(default_factory=Demographics)
    consent: dict[str, Consent] = field(default_factory=dict)  # "email", "sms"
    computed: ComputedTraits = field(default_factory=ComputedTraits)
    scores: Scores = field(default_factory=Scores)
    stage: Stage = "prospect"
    stage_since: str | None = None
    due_day: str | None = None
    segments: list[str] = field(default_factory=list)
    rfm: Rfm | None = None
    needs_group: str | None = None
    group_value_percentile: float | None = None
    bot_events: int = 0

    activity: Activity = field(default_factory=Activity)
    # Replay guard: `applied_tag(event key)` -> epoch seconds applied, oldest first (profiles written before tags
    # existed hold full event keys, still honoured). `folded` is the full keys this version folded, for the
    # profiles-stream consumer that reads those events back. Both are lazily decoded (see `_lazy`).
    applied: dict[str, int] = field(default_factory=dict)
    folded_: msgspec.Raw = field(default=_EMPTY_LIST, name="folded")
    recent_transitions_: msgspec.Raw = field(default=_EMPTY_LIST, name="recent_transitions")

    folded = _lazy("folded_", list[str])

    @property
    def recent_transitions(self) -> list[Transition]:
        """The last `MAX_RECENT_TRANSITIONS` transitions, oldest first (decoded on first read)."""
        value = self.recent_transitions_
        if value.__class__ is msgspec.Raw:
            value = self.recent_transitions_ = _TRANSITIONS.decode(value)
        elif any(item.__class__ is msgspec.Raw for item in value):  # kept as stored by `add_transitions`
            value = self.recent_transitions_ = [
                _TRANSITION.decode(item) if item.__class__ is msgspec.Raw else item for item in value
            ]
        return value

    @recent_transitions.setter
    def recent_transitions(self, value: list[Transition]) -> None:
        self.recent_transitions_ = value

    def add_transitions(self, new: list[Transition]) -> None:
        """Append a fold's transitions and keep the last `MAX_RECENT_TRANSITIONS`. The kept ones stay as their stored
        JSON (a list of raw elements is all it takes to know where each one ends)."""
        kept = self.recent_transitions_
        if kept.__class__ is msgspec.Raw:
            kept = _RAW_ITEMS.decode(kept)
        self.recent_transitions_ = [*kept, *new][-MAX_RECENT_TRANSITIONS:]

    _lazy_fields = ("folded", "recent_transitions")
    __eq__ = _same_fields

    def to_json(self) -> bytes:
        """The body as JSON, for readers and tests (what is stored is `to_msgpack`, see the module docstring)."""
        return _JSON_ENCODER.encode(self.materialized())

    @classmethod
    def from_json(cls, body: bytes | str) -> Profile:
        """Inverse of `to_json`; also reads bodies written by the earlier pydantic model (same field names)."""
        return _JSON_DECODER.decode(body).materialized()

    def to_msgpack(self) -> bytes:
        """The body as stored (before compression): MessagePack, with untouched lazy sections copied verbatim."""
        return _ENCODER.encode(self)

    def materialized(self) -> Profile:
        """Decode every lazy section in place (JSON cannot carry a MessagePack slice); returns the profile itself.

        A body read from JSON holds its lazy sections as JSON slices until this runs: `from_json` and the JSON
        bodies of older items always call it, so a `Raw` in a profile is MessagePack everywhere else.
        """
        for part in (self.computed, self.activity, self):
            for name in part._lazy_fields:
                getattr(part, name)
        return self

    def copy(self) -> Profile:
        """A deep copy (an encode/decode round trip: faster than `copy.deepcopy` and exactly what is stored)."""
        return _DECODER.decode(_ENCODER.encode(self))

    def to_item(self) -> dict[str, Any]:
        """DynamoDB item in low-level attribute-value form (see the module docstring for the layout)."""
        body = self.to_msgpack()
        if len(body) > MAX_ITEM_BYTES - 4096:
            # Every list and map is capped, so this means a cap is missing: fail loudly rather than lose the write
            # (checked before compression, so the guarantee does not depend on how well a body compresses).
            raise ValueError(f"profile {self.profile_id} body is {len(body)} bytes, over the item budget")
        item: dict[str, Any] = {
            "profile_id": {"S": self.profile_id},
            "version": {"N": str(self.version)},
            "body": {"B": _lz4().compress(body)},
            "stage": {"S": self.stage},
        }
        if self.due_day:
            item["due_day"] = {"S": self.due_day}
        if self.merged_into:
            item["merged_into"] = {"S": self.merged_into}
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Profile:
        """Inverse of `to_item`, for GetItem/Query results and stream images (low-level form)."""
        body = body_bytes(item)
        # Items written before bodies were MessagePack hold JSON.
        profile = _JSON_DECODER.decode(body).materialized() if _is_json(body) else _DECODER.decode(body)
        if "version" in item:  # the top-level attribute is what conditional writes check
            profile.version = int(item["version"]["N"])
        return profile

    def new_transitions(self) -> list[Transition]:
        """Transitions recorded by the fold that produced this version (what a profiles-stream consumer acts on)."""
        return [t for t in self.recent_transitions if t.version == self.version]


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(Profile)
_JSON_ENCODER = msgspec.json.Encoder()
_JSON_DECODER = msgspec.json.Decoder(Profile)
_TRANSITIONS = _SectionDecoder(list[Transition])
_TRANSITION = _SectionDecoder(Transition)
_RAW_ITEMS = msgspec.msgpack.Decoder(list[msgspec.Raw])
_BUILTINS = msgspec.msgpack.Decoder()


def _is_json(body: bytes | str) -> bool:
    # A JSON body is an object ("{"); a MessagePack one is a map, whose first byte is 0x80-0x8f, 0xde or 0xdf.
    return body.__class__ is str or body[:1] == b"{"


def section_value(value: Any) -> Any:
    """A lazy section's value as builtins, whether still stored (a MessagePack `Raw`) or already decoded."""
    return _BUILTINS.decode(value) if value.__class__ is msgspec.Raw else value


def as_dict(value: Struct) -> dict[str, Any]:
    """A small stored struct (e.g. `Rfm`) as plain JSON-able builtins. Not for structs with lazily decoded sections
    (msgspec cannot turn a `Raw` into builtins): read those through `body_dict`."""
    return msgspec.to_builtins(value)


def body_bytes(item: dict[str, Any]) -> bytes | str:
    """The body of a stored profile item or stream image (low-level form), expanded: MessagePack, or the JSON of
    items written before 2026-12 (text when stored as `S`)."""
    attribute = item["body"]
    if "S" in attribute:  # written before bodies were compressed
        return attribute["S"]
    raw = attribute["B"]
    if isinstance(raw, str):  # a Lambda stream event carries binary attributes as base64 text
        raw = base64.b64decode(raw)
    return _lz4().decompress(raw)


def body_dict(item: dict[str, Any]) -> dict[str, Any]:
    """The body as plain builtins: what readers outside the fold (admin API, scenarios, delivery, exports) use.

    Field names and values are those of the JSON form (`to_json`), whichever form the item was stored in.
    """
    body = body_bytes(item)
    return msgspec.json.decode(body) if _is_json(body) else _BUILTINS.decode(body)


def body_json(item: dict[str, Any]) -> str:
    """The body as JSON text (`body_dict` encoded)."""
    body = body_bytes(item)
    if _is_json(body):
        return body if isinstance(body, str) else body.decode()
    return msgspec.json.encode(_BUILTINS.decode(body)).decode()


def stored_body(item: dict[str, Any]) -> bytes | str:
    """The body attribute's stored value as is: equal values mean the same body, with no need to expand it."""
    attribute = item["body"]
    if "S" in attribute:
        return attribute["S"]
    raw = attribute["B"]
    return base64.b64decode(raw) if isinstance(raw, str) else raw


@functools.cache
def _lz4() -> ModuleType:
    import lz4.block  # lazy: only the functions that read or write profiles pay for the import

    return lz4.block


def applied_tag(event_key: str) -> str:
    """A short stable tag of an event key (64-bit BLAKE2b, 11 characters) for the replay guard and tie-breaks.

    The guard holds every event applied in the last 26 hours; full keys (`source#messageId`, ~45 characters with a
    UUID message id) made it the largest map of a busy profile, and every byte is paid for on each profile write.
    A collision between two of at most a few thousand keys has odds of about 1 in 10^12.
    """
    digest = _blake2b(event_key.encode(), digest_size=8).digest()
    # `base64.urlsafe_b64encode(digest)[:11]` without its two Python layers (this runs once per folded event).
    return _b2a_base64(digest, newline=False)[:11].translate(_URLSAFE).decode()


_blake2b = hashlib.blake2b
_b2a_base64 = binascii.b2a_base64
_URLSAFE = bytes.maketrans(b"+/", b"-_")


def __getattr__(name: str) -> Any:
    if name in ("fold", "merge_profiles", "FoldResult"):
        from chalicelib.profiles import fold as traits

        return getattr(traits, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
