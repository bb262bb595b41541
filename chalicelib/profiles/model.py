"""The real-time profile: one person's identities, traits, computed traits, scores, stage and segments (plain data).

This is the model every reader and the fold work on: plain msgspec Structs, constructed with their field names and
compared field by field. How a profile is stored (the DynamoDB item, its compressed MessagePack body, the sections left
undecoded until first read) is the business of `codec.py` alone.

The stored profile is a msgspec Struct, not a pydantic model: it is read, folded and written on every batch, and
msgspec decodes a 14 KB body in ~1/3 and encodes it in ~1/3 of pydantic's time, with attribute writes at plain-object
speed (pydantic's `__setattr__` was ~1 µs, 40+ per fold). It is our own stored state, never outside input: every
payload and config that arrives from outside is still validated by pydantic. Unknown fields are ignored on decode
(older or newer writers), types are checked, and `kw_only` lets required and optional fields keep a readable order.
Parts that body-JSON readers only `.get()` from (demographics, consent, transitions, viewed products, the internal
activity) leave out fields at their default (`omit_defaults`), as the pydantic model's `exclude_none` did; the
parts whose zeros readers compare (scores, computed counters, stage) are written in full.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from msgspec import Struct, field

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


class Transition(Struct, kw_only=True, omit_defaults=True):
    """Something that changed about a profile and that the scenario engine may react to.

    `version` is the profile version that recorded it, so a profiles-stream consumer takes the transitions whose
    version equals the NewImage version (the profile also keeps older ones in `recent_transitions`).
    `by` says what recorded it when that was not the person: `"backfill"` for a segment entry or exit a backfill found
    in an existing profile (segment triggers skip those unless the scenario says `include_existing`).
    """

    kind: TransitionKind
    name: str | None = None
    from_: str | float | None = field(default=None, name="from")
    to: str | float | None = None
    at: str
    version: int = 0
    by: str | None = None


class Consent(Struct, kw_only=True, omit_defaults=True):
    """Permission to contact on one channel, last decision by event time."""

    status: Literal["opted_in", "opted_out"]
    at: str
    source: str | None = None


class Device(Struct, kw_only=True, omit_defaults=True):
    """One app install's push token (`Profile.devices`, keyed by the token): see profiles/devices.py.

    Times are epoch seconds of the events that said so, so that any arrival order (and a merge) gives the same
    answer: `at` the latest event naming the token, `permission_at` the latest notification-permission report,
    `removed_at` the latest unregistration (the device is live when it was named again after it)."""

    platform: str  # "ios" / "android"
    app: str | None = None  # context.app.namespace: the bundle id / package name
    at: float = 0.0
    enabled: bool | None = None  # the app's notification permission; None: never reported
    permission_at: float = 0.0
    removed_at: float = 0.0


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


class ViewedProduct(Struct, kw_only=True, omit_defaults=True):
    """One recently viewed product, as the latest view described it (a struct: ~2x faster to decode than a dict)."""

    views: int = 1  # views counted in any arrival order (browse abandonment: "viewed 3+ times")
    product_id: str
    name: str | None = None
    price: float | None = None
    category: str | None = None
    url: str | None = None
    image_url: str | None = None
    currency: str | None = None  # the price's own currency (mail never shows a EUR price with the shop's symbol)
    at: str


class CartLine(Struct, kw_only=True, omit_defaults=True):
    """One product's line of the internal cart (`Activity.cart`): its net quantity and what the latest add said."""

    q: float  # added - removed - purchased, in any arrival order
    at: float  # epoch seconds of the latest change (a line untouched for the cart TTL expires)
    info_at: float = -1.0  # epoch seconds of the add that `name` and `price` come from
    name: str | None = None
    price: float | None = None
    # What mail needs to show and link the line: the price's own currency, and the product's page and image (URLs
    # already limited to the source's own sites by tracking/trust.py).
    currency: str | None = None
    url: str | None = None
    image_url: str | None = None


class EngagementHours(Struct, kw_only=True):
    """One channel's human opens and clicks by hour of day, decaying: when this person tends to read
    (`profiles/engagement_hours.py` keeps the rules; delivery's send-time optimisation reads it).

    `hours[h]` is the weight of hour h, local to `zone` (None: UTC hours, the zone was unknown when they were counted),
    as of `at` (epoch seconds, day start of the newest engagement)."""

    zone: str | None = None
    at: float = 0.0
    hours: list[float] = field(default_factory=lambda: [0.0] * 24)


class ComputedTraits(Struct, kw_only=True):
    """Segment-style computed traits (counters, first/last, most frequent, unique lists). Bots never change them."""

    first_seen: str | None = None
    last_seen: str | None = None
    sessions: int = 0
    page_views: int = 0
    event_counts: dict[str, int] = field(default_factory=dict)
    type_counts: dict[str, int] = field(default_factory=dict)
    search_terms: list[dict[str, Any]] = field(default_factory=list)  # [{"term", "at"}], newest first
    viewed_products: list[ViewedProduct] = field(default_factory=list)  # most recent first
    cart: list[dict[str, Any]] = field(default_factory=list)  # open: [{"product_id","name","price","quantity"}]
    cart_quantity: int = 0  # sum of the open cart's quantities
    cart_value: float = 0.0
    orders: int = 0
    revenue: float = 0.0
    average_order_value: float | None = None
    first_order_at: str | None = None
    last_order_at: str | None = None
    top_categories: list[str] = field(default_factory=list)  # by recency-decayed interest weight
    # Products bought, most recent order first (recommendations leave them out); at most traits.MAX_PURCHASED.
    purchased_products: list[str] = field(default_factory=list)
    first_touch: dict[str, Any] | None = None  # {"campaign": {...}, "referrer_host", "at"}
    last_touch: dict[str, Any] | None = None


class Scores(Struct, kw_only=True):
    """Lead score. Engagement decays lazily (`scoring.decay` of `engagement_raw` since `engagement_at`);
    `engagement`/`total`/`grade` are its value as of the last fold, for readers without a clock."""

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


class Predictions(Struct, kw_only=True):
    """A buyer's CLV predictions (BG/NBD + Gamma-Gamma, `chalicelib/predictions`) as of `computed_at`, from the
    models fitted at `model_fitted_at`, for the order history `orders` / `revenue`. A fold recomputes them when that
    history or the models changed, or on the first fold of a new UTC day (age moves them slowly): a page view does
    not pay for two hypergeometric series.

    The propensity fields (`churn_risk`, `purchase_30d`, `response` per channel, `uplift` and `uplift_rank` per
    scenario) come from the models fitted at `propensity_fitted_at` and are refreshed on the same occasions; they
    exist for non-buyers too, whose CLV fields stay None."""

    p_alive: float | None = None
    purchases_90d: float | None = None
    purchases_365d: float | None = None
    expected_order_value: float | None = None
    clv_12m: float | None = None
    model_fitted_at: str = ""
    computed_at: str = ""
    orders: int = 0
    revenue: float = 0.0
    churn_risk: float | None = None  # P(no visit and no order in the next 30 days), customers only
    purchase_30d: float | None = None  # P(an order in the next 30 days)
    response: dict[str, float] = field(default_factory=dict)  # channel -> P(open or click | sent)
    uplift: dict[str, float] = field(default_factory=dict)  # scenario -> P(convert | sent) - P(convert | not sent)
    uplift_rank: dict[str, float] = field(default_factory=dict)  # scenario -> share of people with a lower uplift
    propensity_fitted_at: str | None = None
    propensity_at: str | None = None


class Activity(Struct, kw_only=True, omit_defaults=True):
    """Compact internal bookkeeping the computed traits are derived from. Not addressable by segment rules.

    Times are epoch seconds. `lww` holds, per last-write-wins field, the (event time, event tag) of the value kept,
    so a late older event never overwrites a newer one and ties break the same way in any arrival order.

    `cart_expires` (the oldest line's time + the cart TTL, None for an empty cart) lets a fold see whether a line has
    expired without reading the lines. Bodies written before it existed read as 0.0, i.e. "check the lines".
    """

    first_ts: float | None = None
    last_ts: float | None = None
    sessions: list[list[float]] = field(default_factory=list)  # [[start, end]] ascending, most recent kept
    sessions_dropped: int = 0  # sessions older than the kept window
    daily: dict[str, dict[str, int]] = field(default_factory=dict)  # event name -> {"YYYY-MM-DD": count}
    pruned_day: str | None = None  # the day `daily` was last trimmed to its retention window
    cart: dict[str, CartLine] = field(default_factory=dict)  # product_id -> line
    cart_expires: float | None = 0.0
    order_ids: dict[str, float] = field(default_factory=dict)  # recent order id -> event time (dedupe)
    first_order_ts: float | None = None
    last_order_ts: float | None = None
    interests: dict[str, list[float]] = field(default_factory=dict)  # category -> [raw weight, epoch of raw]
    purchased: dict[str, float] = field(default_factory=dict)  # product_id -> epoch of its latest order
    lww: dict[str, list[Any]] = field(default_factory=dict)  # field -> [event ts, applied_tag(event key)]
    # Track event name -> whole epoch seconds of its latest time (max: any arrival order), at most MAX_EVENT_NAMES
    # names, the latest kept. What an in-app message's `trigger.event` is timed from (the fetch reads the profile
    # anyway); `daily` keeps days, and only for a retention window and the names it caps.
    last_by_event: dict[str, int] = field(default_factory=dict)


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
    predictions: Predictions | None = None  # buyers only, once CLV models are fitted
    bot_events: int = 0
    engagement_hours: dict[str, EngagementHours] = field(default_factory=dict)  # channel -> histogram
    devices: dict[str, Device] = field(default_factory=dict)  # push token -> its app install (profiles/devices.py)

    activity: Activity = field(default_factory=Activity)
    # Replay guard: `applied_tag(event key)` -> epoch seconds applied, oldest first (profiles written before tags
    # existed hold full event keys, still honoured). `folded` is the tags of the events this version folded and
    # `folded_in` the `ts_key`s of the items that hold them in this profile's partition of the events table (a group
    # item holds a request's events), for the profiles-stream consumer that reads those events back. Older versions
    # named items by pk (the events table before it was keyed by profile): ignored, those items are gone with it.
    applied: dict[str, int] = field(default_factory=dict)
    folded: list[str] = field(default_factory=list)
    folded_in: list[str] = field(default_factory=list)
    # The days this person has events archived on (`archived_days.py`, a bitmap): erasure and the access export open
    # those day partitions of the event archive. Internal: `codec.body_dict` leaves it out of the JSON document.
    archived_days: bytes = b""
    recent_transitions: list[Transition] = field(
        default_factory=list
    )  # the last `MAX_RECENT_TRANSITIONS`, oldest first
    # The identity keys the fold linked (or was about to link: it writes the profile first, so a conditional attach
    # may still lose its race) to this profile, and those a merge moved here: erasure, the access export and a merge
    # find the person's identity records through them (no index by profile). A record is used only when it still
    # names one of the person's profile ids. `identity_keys_complete`: the list names every key linked here (profiles
    # born since the list exists); absent (False) in older bodies, whose superseded emails were linked unlisted.
    identity_keys: list[str] = field(default_factory=list)
    identity_keys_complete: bool = False

    def add_transitions(self, new: list[Transition]) -> None:
        """Append a fold's transitions and keep the last `MAX_RECENT_TRANSITIONS`."""
        self.recent_transitions = [*self.recent_transitions, *new][-MAX_RECENT_TRANSITIONS:]

    def new_transitions(self) -> list[Transition]:
        """Transitions recorded by the fold that produced this version (what a profiles-stream consumer acts on)."""
        return [t for t in self.recent_transitions if t.version == self.version]


def as_dict(value: Struct) -> dict[str, Any]:
    """A small struct of the model (e.g. `Rfm`) as plain JSON-able builtins. For a whole profile as stored, read
    `codec.body_dict` of its item."""
    return msgspec.to_builtins(value)
