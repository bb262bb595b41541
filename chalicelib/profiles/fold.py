"""The fold: apply a batch of tracked events to a profile (computed traits, scores, stage, segments) and merge two.

Design notes
- Order-independent by construction: events are deduplicated by key (batch + `profile.applied`), applied sorted by
  (timestamp, key), and every trait is either a counter/sum, a min/max by event time, a top-N by event time, or a
  last-write-wins value that remembers the (time, key) it came from (`activity.lww`). Folding a batch shuffled,
  duplicated, or split into several batches in any order gives the same profile (float scores up to rounding;
  `recent_transitions`/`version` record history and naturally differ).
- Hot loop on plain dicts and floats: the incoming profile is copied once (msgspec round trip, done in C), mutated in
  place, and pydantic models are only built for rare events (consent) and once per fold (demographics).
- Sessions are counted from the kept intervals of activity (30 min gap by event time); late events inside the kept
  window merge intervals exactly, events older than the kept window (`MAX_SESSIONS_KEPT`) are an approximation: they
  count as one more session when they lie outside the oldest kept interval.
- Bot events only bump `bot_events` (and are marked applied): never scored, never traits.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from operator import attrgetter, itemgetter
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from chalicelib.profiles import lifecycle, rfm, scoring
from chalicelib.profiles import segmentation as segments
from chalicelib.profiles.model import (
    CartLine,
    Consent,
    Demographics,
    Profile,
    Rfm,
    Transition,
    ViewedProduct,
    applied_tag,
    section_value,
)
from chalicelib.tracking.events import iso, utc_day

if TYPE_CHECKING:
    from chalicelib.profiles.config import InterestConfig, ProfileConfig
    from chalicelib.tracking.events import TrackedEvent

DAY = 86400.0
SESSION_GAP_SECONDS = 30 * 60
MAX_SESSIONS_KEPT = 100
DAILY_RETENTION_DAYS = 90
APPLIED_TTL_SECONDS = 26 * 3600  # > the 24 h stream retention, so any replay of a shard is still recognised
MAX_APPLIED = 2000
MAX_FOLDED = 1000  # full keys listed per version; only a bot-like burst folds more events in one batch
MAX_EVENT_NAMES = 200
MAX_DAILY_NAMES = 60  # names with engagement points are always kept
MAX_VIEWED = 20
MAX_SEARCH_TERMS = 20
MAX_CART_LINES = 50
CART_TTL_DAYS = 30  # a line not touched for this long is no longer in the open cart
MAX_ORDER_IDS = 100
MAX_INTERESTS = 50
MAX_ANONYMOUS_IDS = 50
MAX_TRAITS = 100
MAX_TEXT = 1000

_TYPE_NAMES = {
    "page": "Page Viewed",
    "screen": "Screen Viewed",
    "identify": "Identify",
    "group": "Group",
    "alias": "Alias",
}
_CONSENT_EVENTS = {
    "Email Subscribed": ("email", "opted_in"),
    "Email Unsubscribed": ("email", "opted_out"),
    "SMS Subscribed": ("sms", "opted_in"),
    "SMS Unsubscribed": ("sms", "opted_out"),
}
_BY_AT_AND_PRODUCT = attrgetter("at", "product_id")
_BY_AT_AND_TERM = itemgetter("at", "term")


@dataclass(slots=True)
class FoldResult:
    """What `fold` produced. `changed` False means there is nothing to write."""

    profile: Profile
    changed: bool
    transitions: list[Transition] = field(default_factory=list)
    applied_events: list[str] = field(default_factory=list)


def event_name(event: TrackedEvent) -> str:
    """The name counters, daily counts, points and segment rules use: the track event, or 'Page Viewed' etc."""
    if event.type == "track":
        return event.event or "Unknown Event"
    return _TYPE_NAMES.get(event.type, event.type)


@functools.lru_cache(maxsize=4096)
def _iso_ts(ts: float) -> str:
    # Cached: first/last seen and order times are re-rendered on every fold but rarely change.
    return iso(datetime.fromtimestamp(ts, UTC))


def _num(value: Any) -> float | None:
    if value.__class__ is float:  # the common case first (prices, revenue)
        return value if math.isfinite(value) else None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _text(value: Any, limit: int = 200) -> str | None:
    if value.__class__ is str:  # the common case first
        return value.strip()[:limit] or None
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    return text[:limit] or None


def _clip(value: Any) -> Any:
    """Keep identify trait values small: long strings cut, big lists/maps dropped (the item must stay < 400 KB)."""
    if isinstance(value, str):
        return value[:MAX_TEXT]
    if isinstance(value, list):
        return [_clip(v) for v in value[:50]]
    if isinstance(value, dict):
        return {str(k)[:100]: _clip(v) for k, v in list(value.items())[:50]}
    return value


def _wins(lww: dict[str, list[Any]], name: str, ts: float, key: str, earliest: bool = False) -> bool:
    """Record (ts, key) for `name` and return True if this event's value should be kept (latest, or earliest).

    `key` is the event's `applied_tag`, which only breaks ties between events of the same timestamp.
    """
    current = lww.get(name)
    if current is None:
        lww[name] = [ts, key]
        return True
    theirs = current[0]
    # (ts, key) compared with (theirs, current[1]) as tuples, without building them (this runs several times an event)
    if earliest:
        if ts > theirs or (ts == theirs and key >= current[1]):
            return False
    elif ts < theirs or (ts == theirs and key <= current[1]):
        return False
    current[0], current[1] = ts, key  # the list is this profile's own (merges copy the other profile first)
    return True


def _add_session(activity: Any, ts: float) -> None:
    sessions: list[list[float]] = activity.sessions
    gap = SESSION_GAP_SECONDS
    if sessions and ts >= sessions[-1][0]:  # the common case: in order, in or after the latest session
        last = sessions[-1]
        if ts <= last[1] + gap:
            if ts > last[1]:
                last[1] = ts
        else:
            sessions.append([ts, ts])
        return
    if activity.sessions_dropped and (not sessions or ts < sessions[0][0] - gap):
        activity.sessions_dropped += 1  # older than the kept window: approximate (see module docstring)
        return
    i = 0
    while i < len(sessions) and sessions[i][0] <= ts:
        i += 1
    previous = sessions[i - 1] if i > 0 else None
    following = sessions[i] if i < len(sessions) else None
    if previous is not None and ts <= previous[1] + gap:
        previous[1] = max(previous[1], ts)
        if following is not None and following[0] - previous[1] <= gap:
            previous[1] = max(previous[1], following[1])
            del sessions[i]
    elif following is not None and following[0] - ts <= gap:
        following[0] = ts
    else:
        sessions.insert(i, [ts, ts])


def _product(props: dict[str, Any]) -> str | None:
    return _text(props.get("product_id") or props.get("sku") or props.get("id"), 100)


def _cart_add(activity: Any, pid: str, quantity: float, ts: float, props: dict[str, Any] | None) -> None:
    line = activity.cart.get(pid)
    if line is None:
        line = activity.cart[pid] = CartLine(q=0.0, at=ts)
    line.q += quantity
    if ts > line.at:
        line.at = ts
    if props is not None and ts >= line.info_at:
        line.info_at = ts
        line.name = _text(props.get("name"))
        line.price = _num(props.get("price"))


def _quantity(props: dict[str, Any]) -> float:
    quantity = _num(props.get("quantity"))
    return quantity if quantity is not None and quantity > 0 else 1.0


class _Folder:
    """Applies events to one working profile. Config lookups are hoisted into attributes once per fold."""

    def __init__(self, profile: Profile, config: ProfileConfig, now: datetime) -> None:
        self.p = profile
        self.a = profile.activity
        self.c = profile.computed
        self.points = config.scoring.engagement.events
        self.half_life = config.scoring.engagement.half_life_days
        self.interest_weights = config.scoring.interests.weights
        self.interest_half_life = config.scoring.interests.half_life_days
        self.retention_start = (now.timestamp() // DAY - (DAILY_RETENTION_DAYS - 1)) * DAY
        self.demographics_dirty = False
        self.cart_dirty = False
        self.interests_dirty = False
        self.viewed_dirty = False  # viewed products changed: cap them
        self.viewed_unsorted = False  # ... and a view arrived out of order: re-sort them first
        self.searches_dirty = False  # the same for search terms

    def apply(self, event: TrackedEvent, ts: float, key: str) -> None:
        # The fold's innermost loop (once per event): locals instead of repeated attribute lookups.
        p, a, c = self.p, self.a, self.c
        if event.is_bot:
            p.bot_events += 1
            return
        first_ts, last_ts = a.first_ts, a.last_ts
        if first_ts is None or ts < first_ts:
            a.first_ts = ts
        if last_ts is None or ts > last_ts:
            a.last_ts = ts
        _add_session(a, ts)

        kind = event.type
        name = (event.event or "Unknown Event") if kind == "track" else _TYPE_NAMES.get(kind, kind)
        counts = c.event_counts
        if name in counts:
            counts[name] += 1
        elif len(counts) < MAX_EVENT_NAMES:
            counts[name] = 1
        type_counts = c.type_counts
        type_counts[kind] = type_counts.get(kind, 0) + 1
        if kind == "page":
            c.page_views += 1

        if ts >= self.retention_start:
            self._count_day(name, ts)

        self._identities(event, ts, key)
        if event.context:
            self._context(event, ts, key)
        if kind == "track":
            handler = _TRACK_HANDLERS.get(name)
            if handler is not None:
                handler(self, event, ts, key)
        elif kind == "identify" and event.traits:
            self._traits(event.traits, ts, key)

    def _count_day(self, name: str, ts: float) -> None:
        a = self.a
        rule = self.points.get(name)
        per_day = a.daily.get(name)
        if per_day is None:
            if len(a.daily) >= MAX_DAILY_NAMES and rule is None:
                return
            per_day = a.daily[name] = {}
        day_number = int(ts // DAY)
        day = utc_day(day_number)
        before = per_day.get(day, 0)
        per_day[day] = before + 1
        if rule is not None and before < rule.daily_cap:
            # Awarded at the start of the event's day: with the per-day cap this makes the sum independent of which
            # of the day's events arrived first.
            scores = self.p.scores
            day_start = day_number * DAY
            if scores.engagement_at == day_start:  # the usual case, today's points on today's value: no decay
                scores.engagement_raw += rule.points
                return
            scores.engagement_raw, at = scoring.add_decaying(
                scores.engagement_raw, scores.engagement_at, rule.points, day_start, self.half_life
            )
            scores.engagement_at = int(at)

    def _identities(self, event: TrackedEvent, ts: float, key: str) -> None:
        p, lww = self.p, self.a.lww
        anonymous_id = event.anonymous_id
        if anonymous_id and anonymous_id not in p.anonymous_ids and len(p.anonymous_ids) < MAX_ANONYMOUS_IDS:
            p.anonymous_ids.append(anonymous_id)
        if event.user_id and _wins(lww, "user_id", ts, key):
            p.user_id = event.user_id
        if event.traits or event.context.get("traits"):
            email = event.email
            if email and _wins(lww, "email", ts, key):
                p.email = email

    def _context(self, event: TrackedEvent, ts: float, key: str) -> None:
        ctx, lww, demographics = event.context, self.a.lww, self.p.demographics
        # Locale and time zone are set here and carried through `derive_demographics` unchanged, so they do not
        # make the demographics dirty (nearly every event carries them: re-deriving on each fold was ~10% of it).
        locale = ctx.get("locale")
        if isinstance(locale, str) and locale and _wins(lww, "locale", ts, key) and demographics.locale != locale[:35]:
            demographics.locale = locale[:35]
        zone = ctx.get("timezone")
        if isinstance(zone, str) and zone and _wins(lww, "timezone", ts, key) and demographics.timezone != zone[:64]:
            demographics.timezone = zone[:64]
        campaign = ctx.get("campaign")
        if isinstance(campaign, dict) and campaign:
            first = _wins(lww, "first_touch", ts, key, earliest=True)
            last = _wins(lww, "last_touch", ts, key)
            if first or last:
                touch = {"campaign": _clip(campaign), "referrer_host": _referrer_host(ctx), "at": iso(event.timestamp)}
                if first:
                    self.c.first_touch = touch
                if last:
                    self.c.last_touch = touch
        terms = ctx.get("referrer_search_terms")
        if terms:
            for term in terms if isinstance(terms, list) else [terms]:
                self._search(term, event)

    def _traits(self, traits: dict[str, Any], ts: float, key: str) -> None:
        p, lww = self.p, self.a.lww
        self.demographics_dirty = True
        for name, value in traits.items():
            if name not in p.traits and len(p.traits) >= MAX_TRAITS:
                continue
            if _wins(lww, "t:" + name, ts, key):
                p.traits[name] = _clip(value)
        phone = _text(traits.get("phone"), 40)
        if phone and _wins(lww, "phone", ts, key):
            p.phone = phone

    def _search(self, term: Any, event: TrackedEvent) -> None:
        text = _text(term, 100)
        if not text:
            return
        at = iso(event.timestamp)
        folded = text.casefold()
        self.searches_dirty = True
        for entry in self.c.search_terms:
            if entry["term"].casefold() == folded:
                if at > entry["at"]:
                    entry["term"], entry["at"] = text, at
                return
        self.c.search_terms.append({"term": text, "at": at})

    def _interest(self, category: Any, event_name_: str, ts: float) -> None:
        weight = self.interest_weights.get(event_name_)
        label = _text(category, 100)
        if not weight or not label:
            return
        self.interests_dirty = True
        entry = self.a.interests.get(label)
        raw, at = scoring.add_decaying(
            entry[0] if entry else 0.0, entry[1] if entry else None, weight, (ts // DAY) * DAY, self.interest_half_life
        )
        self.a.interests[label] = [raw, at]

    # --- track handlers ---

    def on_search(self, event: TrackedEvent, ts: float, key: str) -> None:
        self._search(event.properties.get("query"), event)

    def on_product_viewed(self, event: TrackedEvent, ts: float, key: str) -> None:
        props = event.properties
        pid = _product(props)
        self._interest(props.get("category"), "Product Viewed", ts)
        if pid is None:
            return
        at = iso(event.timestamp)
        viewed = self.c.viewed_products
        self.viewed_dirty = True
        views = 1
        for i, entry in enumerate(viewed):
            if entry.product_id == pid:
                # Views are counted whatever the arrival order (browse abandonment needs "viewed 3+ times");
                # replays never reach here, the applied-key guard drops them first.
                views = entry.views + 1
                if at <= entry.at:
                    entry.views = views
                    return
                del viewed[i]
                break
        entry = ViewedProduct(
            views=views,
            product_id=pid,
            name=_text(props.get("name")),
            price=_num(props.get("price")),
            category=_text(props.get("category"), 100),
            url=_text(props.get("url"), 500),
            image_url=_text(props.get("image_url"), 500),
            at=at,
        )
        newest = viewed[0] if viewed else None
        if newest is None or (at, pid) > _BY_AT_AND_PRODUCT(newest):
            viewed.insert(0, entry)  # in order (the usual case): the list stays sorted, most recent first
        else:
            viewed.append(entry)
            self.viewed_unsorted = True

    def on_product_added(self, event: TrackedEvent, ts: float, key: str) -> None:
        props = event.properties
        self._interest(props.get("category"), "Product Added", ts)
        pid = _product(props)
        if pid is not None:
            _cart_add(self.a, pid, _quantity(props), ts, props)
            self.cart_dirty = True

    def on_product_removed(self, event: TrackedEvent, ts: float, key: str) -> None:
        pid = _product(event.properties)
        if pid is not None:
            _cart_add(self.a, pid, -_quantity(event.properties), ts, None)
            self.cart_dirty = True

    def on_order_completed(self, event: TrackedEvent, ts: float, key: str) -> None:
        a, c, props = self.a, self.c, event.properties
        products = props.get("products")
        products = [item for item in products if isinstance(item, dict)] if isinstance(products, list) else []
        for item in products:
            self._interest(item.get("category"), "Order Completed", ts)
            pid = _product(item)
            if pid is not None:
                _cart_add(a, pid, -_quantity(item), ts, None)
                self.cart_dirty = True
        order_id = _text(props.get("order_id"), 100)
        if order_id is not None:
            if order_id in a.order_ids:
                return  # the same order sent twice under two message ids
            a.order_ids[order_id] = ts
            if len(a.order_ids) > MAX_ORDER_IDS:
                del a.order_ids[min(a.order_ids, key=lambda o: (a.order_ids[o], o))]
        revenue = _num(props.get("revenue"))
        if revenue is None:
            revenue = _num(props.get("total"))
        if revenue is None:
            revenue = sum((_num(i.get("price")) or 0.0) * _quantity(i) for i in products)
        c.orders += 1
        # Cents, rounded at every step, so the sum does not depend on the order orders arrive in.
        c.revenue = round(c.revenue + round(revenue, 2), 2)
        if a.first_order_ts is None or ts < a.first_order_ts:
            a.first_order_ts = ts
        if a.last_order_ts is None or ts > a.last_order_ts:
            a.last_order_ts = ts

    def on_consent(self, event: TrackedEvent, ts: float, key: str) -> None:
        channel, status = _CONSENT_EVENTS[event.event or ""]
        if _wins(self.a.lww, "consent:" + channel, ts, key):
            source = _text(event.properties.get("source"), 200) or event.source_id
            self.p.consent[channel] = Consent(status=status, at=iso(event.timestamp), source=source)


_TRACK_HANDLERS = {
    "Products Searched": _Folder.on_search,
    "Product Viewed": _Folder.on_product_viewed,
    "Product Added": _Folder.on_product_added,
    "Product Removed": _Folder.on_product_removed,
    "Order Completed": _Folder.on_order_completed,
    **dict.fromkeys(_CONSENT_EVENTS, _Folder.on_consent),
}


def _referrer_host(ctx: dict[str, Any]) -> str | None:
    page = ctx.get("page") if isinstance(ctx.get("page"), dict) else {}
    referrer = ctx.get("referrer") if isinstance(ctx.get("referrer"), dict) else {}
    url = page.get("referrer") or referrer.get("url") or referrer.get("link")
    if not isinstance(url, str) or not url:
        return None
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


# --- derivation (once per fold) -----------------------------------------------------------------------------------

_US_STATE_CODES = (
    "ALABAMA:AL ALASKA:AK ARIZONA:AZ ARKANSAS:AR CALIFORNIA:CA COLORADO:CO CONNECTICUT:CT DELAWARE:DE FLORIDA:FL "
    "GEORGIA:GA HAWAII:HI IDAHO:ID ILLINOIS:IL INDIANA:IN IOWA:IA KANSAS:KS KENTUCKY:KY LOUISIANA:LA MAINE:ME "
    "MARYLAND:MD MASSACHUSETTS:MA MICHIGAN:MI MINNESOTA:MN MISSISSIPPI:MS MISSOURI:MO MONTANA:MT NEBRASKA:NE "
    "NEVADA:NV NEW_HAMPSHIRE:NH NEW_JERSEY:NJ NEW_MEXICO:NM NEW_YORK:NY NORTH_CAROLINA:NC NORTH_DAKOTA:ND OHIO:OH "
    "OKLAHOMA:OK OREGON:OR PENNSYLVANIA:PA RHODE_ISLAND:RI SOUTH_CAROLINA:SC SOUTH_DAKOTA:SD TENNESSEE:TN TEXAS:TX "
    "UTAH:UT VERMONT:VT VIRGINIA:VA WASHINGTON:WA WEST_VIRGINIA:WV WISCONSIN:WI WYOMING:WY "
    "DISTRICT_OF_COLUMBIA:DC"
)
_US_STATES = dict(pair.split(":") for pair in _US_STATE_CODES.split())
_POSTAL = ("postalCode", "postal_code", "zip")
_GENDERS = {"f": "female", "w": "female", "woman": "female", "m": "male", "man": "male"}


def _age(birthday: str | None, now: datetime) -> int | None:
    if not birthday:
        return None
    try:
        born = date.fromisoformat(birthday[:10])
    except ValueError:
        return None
    today = now.date()
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return age if 0 <= age < 130 else None


def derive_demographics(traits: dict[str, Any], locale: str | None, zone: str | None, now: datetime) -> Demographics:
    """Normalized demographics from identify traits (Segment spec names, snake_case accepted too)."""
    address = traits.get("address") if isinstance(traits.get("address"), dict) else {}

    def pick(*names: str, source: dict[str, Any] = traits) -> str | None:
        for name in names:
            value = _text(source.get(name), 200)
            if value:
                return value
        return None

    first, last = pick("firstName", "first_name"), pick("lastName", "last_name")
    gender = pick("gender")
    if gender:
        gender = gender.casefold()
        gender = _GENDERS.get(gender, gender)
    state = pick("state", source=address) or pick("state")
    if state:
        state = state.upper()
        state = _US_STATES.get(state.replace(" ", "_"), state)
    birthday = pick("birthday")
    age = _num(traits.get("age"))
    return Demographics(
        first_name=first,
        last_name=last,
        name=pick("name") or (" ".join(x for x in (first, last) if x) or None),
        gender=gender,
        birthday=birthday[:10] if birthday else None,
        age=int(age) if age is not None and 0 <= age < 130 else _age(birthday, now),
        city=pick("city", source=address) or pick("city"),
        state=state,
        country=pick("country", source=address) or pick("country"),
        postal_code=pick(*_POSTAL, source=address) or pick(*_POSTAL),
        locale=locale,
        timezone=zone,
    )


def _top_interests(interests: dict[str, list[float]], config: InterestConfig, now_ts: float) -> list[tuple[str, float]]:
    # `scoring.decay` written out (a call per category was half of this): weights at `at` >= now stay as they are.
    span = config.half_life_days * DAY
    ranked = sorted(
        [
            (-(raw * 0.5 ** ((now_ts - at) / span) if at < now_ts else raw), name)
            for name, (raw, at) in interests.items()
        ]
    )
    return [(name, -weight) for weight, name in ranked]


def _prune_and_derive(
    p: Profile,
    config: ProfileConfig,
    now: datetime,
    cart_dirty: bool = True,
    demographics_dirty: bool = True,
    interests_dirty: bool = True,
    viewed_dirty: bool = True,
    searches_dirty: bool = True,
    viewed_sorted: bool = False,
) -> None:
    """Apply caps and retention, then rebuild the computed traits that are views of `activity`.

    The dirty flags let a fold skip rebuilding a view no event touched (all default to True: rebuild everything);
    `viewed_sorted` says the viewed products are still in order (views arriving in order are inserted in place).
    Interests need no rebuild for time alone: every category decays with the same half-life, so their ranking
    (raw * 2 ** (at / half-life)) does not change as time passes, only when an event adds weight.
    """
    a, c = p.activity, p.computed
    now_ts = now.timestamp()

    # `applied` is kept in ascending order of application time (appended with `now`; a merge re-sorts it), so the
    # expired and surplus entries are a prefix: most folds look at one entry, none rebuilds the map.
    applied = p.applied
    cutoff = int(now_ts) - APPLIED_TTL_SECONDS
    if applied and (len(applied) > MAX_APPLIED or next(iter(applied.values())) < cutoff):
        surplus = len(applied) - MAX_APPLIED
        stale = []
        for i, (key, applied_at) in enumerate(applied.items()):
            if i >= surplus and applied_at >= cutoff:
                break
            stale.append(key)
        for key in stale:
            del applied[key]

    today = utc_day(int(now_ts // DAY))
    if a.pruned_day != today:  # new events never add days before the retention start, so once a day is enough
        first_day = utc_day(int(now_ts // DAY) - (DAILY_RETENTION_DAYS - 1))
        for name in list(a.daily):
            kept = {day: n for day, n in a.daily[name].items() if day >= first_day}
            if kept:
                a.daily[name] = kept
            else:
                del a.daily[name]
        a.pruned_day = today

    if len(a.sessions) > MAX_SESSIONS_KEPT:
        drop = len(a.sessions) - MAX_SESSIONS_KEPT
        a.sessions_dropped += drop
        del a.sessions[:drop]
    c.sessions = a.sessions_dropped + len(a.sessions)
    c.first_seen = _iso_ts(a.first_ts) if a.first_ts is not None else None
    c.last_seen = _iso_ts(a.last_ts) if a.last_ts is not None else None
    p.anonymous_ids.sort()

    if viewed_dirty:
        if not viewed_sorted:
            c.viewed_products.sort(key=_BY_AT_AND_PRODUCT, reverse=True)
        del c.viewed_products[MAX_VIEWED:]
    if searches_dirty:
        c.search_terms.sort(key=_BY_AT_AND_TERM, reverse=True)
        del c.search_terms[MAX_SEARCH_TERMS:]

    cart_cutoff = now_ts - CART_TTL_DAYS * DAY
    if not cart_dirty and a.cart_expires is not None and a.cart_expires <= now_ts:
        # A line may have expired (or the body predates `cart_expires`): only now are the lines read.
        cart_dirty = any(line.at < cart_cutoff for line in a.cart.values())
        if not cart_dirty:
            a.cart_expires = _cart_expiry(a.cart)
    if cart_dirty:
        # Most recent first, ties by product id (ids are unique, so the lines themselves are never compared).
        lines = sorted([(-line.at, pid, line) for pid, line in a.cart.items() if line.at >= cart_cutoff])
        del lines[MAX_CART_LINES:]
        if len(lines) != len(a.cart):  # a line expired or over the cap (the order of the lines map means nothing)
            a.cart = {pid: line for _, pid, line in lines}
        a.cart_expires = _cart_expiry(a.cart)
        cart = []
        quantity = value = 0.0  # an empty cart must give the float a re-read profile has (the output is reused)
        for _, pid, line in lines:
            if line.q > 0:
                q, price = _whole(line.q), line.price
                cart.append({"product_id": pid, "name": line.name, "price": price, "quantity": q})
                quantity += q
                value += (price or 0.0) * q
        c.cart = cart
        c.cart_quantity = int(quantity)
        c.cart_value = round(value + 0.0, 2)

    c.average_order_value = round(c.revenue / c.orders, 2) if c.orders else None
    c.first_order_at = _iso_ts(a.first_order_ts) if a.first_order_ts is not None else None
    c.last_order_at = _iso_ts(a.last_order_ts) if a.last_order_ts is not None else None

    if interests_dirty:
        ranked = _top_interests(a.interests, config.scoring.interests, now_ts)
        if len(ranked) > MAX_INTERESTS:
            for name, _ in ranked[MAX_INTERESTS:]:
                del a.interests[name]
        c.top_categories = [name for name, weight in ranked[: config.scoring.interests.top_n] if weight > 0]

    demographics = p.demographics
    if demographics_dirty:
        p.demographics = derive_demographics(p.traits, demographics.locale, demographics.timezone, now)
    elif demographics.birthday:  # an age derived from a birthday grows with time (a valid `age` trait wins)
        given = _num(p.traits.get("age"))
        age = int(given) if given is not None and 0 <= given < 130 else _age(demographics.birthday, now)
        if age != demographics.age:
            demographics.age = age


def _whole(number: float) -> float | int:
    return int(number) if float(number).is_integer() else number


def _cart_expiry(cart: dict[str, CartLine]) -> float | None:
    return min(line.at for line in cart.values()) + CART_TTL_DAYS * DAY if cart else None


def _snapshot(p: Profile) -> tuple[Any, ...]:
    return (
        p.stage,
        tuple(p.segments),
        p.rfm,
        p.due_day,
        p.scores.grade,
        tuple(p.scores.crossed),
        p.needs_group,
        p.group_value_percentile,
        tuple(p.computed.top_categories),
    )


def _cart_view(lines: list[dict[str, Any]]) -> frozenset[tuple[str, float]]:
    return frozenset([(item["product_id"], item["quantity"]) for item in lines])


def _evaluate(
    p: Profile,
    config: ProfileConfig,
    now: datetime,
    rfm_cut_points: rfm.RfmCutPoints | None,
    group_cut_points: rfm.GroupCutPoints | None,
) -> list[Transition]:
    """Scores, needs group, RFM, stage, segments and due day, in that order (each may read the previous ones)."""
    at = iso(now)
    transitions = scoring.update_scores(p, config.scoring, now)

    group = p.computed.top_categories[0] if p.computed.top_categories else None
    if group != p.needs_group:
        transitions.append(Transition(kind="needs_group_changed", from_=p.needs_group, to=group, at=at))
        p.needs_group = group
    if group_cut_points is not None:
        p.group_value_percentile = rfm.group_value_percentile(p.computed.revenue, group, group_cut_points)
    if rfm_cut_points is not None:
        scores = rfm.rfm_scores(p, rfm_cut_points, now)
        p.rfm = Rfm(r=scores[0], f=scores[1], m=scores[2], group=rfm.rfm_group(*scores)) if scores else None

    stage = lifecycle.evaluate_stage(p, config.lifecycle, now)
    if stage != p.stage or p.stage_since is None:
        if p.stage_since is not None or stage != "prospect":
            transitions.append(Transition(kind="stage_changed", name=stage, from_=p.stage, to=stage, at=at))
        p.stage, p.stage_since = stage, at

    transitions += segments.update_memberships(p, config.segments.segments, now)

    now_ts = now.timestamp()
    stage_change = lifecycle.next_change_ts(p, config.lifecycle, now_ts)
    score_drop = scoring.next_score_drop_ts(p, config.scoring, now_ts)
    future = [t for t in (stage_change, score_drop) if t is not None]
    p.due_day = lifecycle.due_day_for_ts(min(future)) if future else None
    return transitions


def fold(
    profile: Profile | None,
    profile_id: str,
    events: list[TrackedEvent],
    config: ProfileConfig,
    now: datetime,
    rfm_cut_points: rfm.RfmCutPoints | None = None,
    group_cut_points: rfm.GroupCutPoints | None = None,
    *,
    in_place: bool = False,
) -> FoldResult:
    """Fold a batch of events into a profile and re-evaluate scores, stage and segments.

    Parameters:
        profile: the stored profile, or None for a new one. Not modified unless `in_place`.
        profile_id: the id to create the profile with when `profile` is None.
        events: any order, duplicates and replays allowed; keys already in `profile.applied` are skipped.
            An empty list re-evaluates time-based state only (the daily `by_due_day` sweep, or after an RFM job).
        config: `load_profile_config()`.
        now: the clock's time; used for decay, windows, pruning and transition timestamps, never for ordering.
        rfm_cut_points / group_cut_points: population cut points from the scheduled jobs. When None the previous
            RFM / group percentile on the profile is kept as is.
        in_place: mutate and return `profile` itself instead of a copy. For the stream handler, which has just
            deserialized it and does not need the old state: saves a JSON round trip per batch (~40% of a small fold).
    Returns:
        FoldResult. When `changed`, `profile.version` is the stored version + 1: write with a condition on the old
        version (`version = :previous`) and retry the fold on conflict.

    Example:
        >>> result = fold(stored, "p_123", events, load_profile_config(), clock.now())  # doctest: +SKIP
        >>> if result.changed: repository.put(result.profile, expected_version=result.profile.version - 1)
    """
    if profile is None:
        working = Profile(profile_id=profile_id, created_at=iso(now))
        is_new = True
    else:
        working = profile if in_place else profile.copy()
        is_new = False

    applied = working.applied
    fresh: dict[str, tuple[str, TrackedEvent]] = {}
    for event in events:
        key = event.key
        if key in fresh:
            continue
        tag = applied_tag(key)
        if tag not in applied and key not in applied:  # a full key: applied before tags were stored
            fresh[key] = (tag, event)
    # Sorted by (event time, tag): the same order, and the same last-write-wins tie-breaks, in any arrival order.
    batch = sorted([(event.timestamp.timestamp(), tag, key, event) for key, (tag, event) in fresh.items()])

    before = None if batch else _snapshot(working)  # with events to apply the profile changes anyway
    # The cart view as stored (still undecoded unless something read it): replaced, never edited, when rebuilt.
    cart_stored = working.computed.cart_
    folder = _Folder(working, config, now)
    applied_at = int(now.timestamp())
    for ts, tag, _, event in batch:
        applied[tag] = applied_at
        folder.apply(event, ts, tag)

    _prune_and_derive(
        working,
        config,
        now,
        cart_dirty=folder.cart_dirty,
        demographics_dirty=folder.demographics_dirty or is_new,
        interests_dirty=folder.interests_dirty,
        viewed_dirty=folder.viewed_dirty,
        searches_dirty=folder.searches_dirty,
        viewed_sorted=not folder.viewed_unsorted,
    )
    transitions = _evaluate(working, config, now, rfm_cut_points, group_cut_points)
    if working.computed.cart_ is not cart_stored:
        cart_before = _cart_view(section_value(cart_stored))
        if _cart_view(working.computed.cart) != cart_before:
            transitions.append(
                Transition(
                    kind="cart_changed",
                    from_=float(sum(q for _, q in cart_before)),
                    to=float(working.computed.cart_quantity),
                    at=iso(now),
                )
            )

    applied_events = [key for _, _, key, _ in batch]
    changed = is_new or bool(applied_events) or bool(transitions) or _snapshot(working) != before
    if changed:
        working.version += 1
        working.updated_at = iso(now)
        working.folded = applied_events[-MAX_FOLDED:]
        if transitions:  # else the kept ones stay as stored (undecoded): they belong to earlier versions
            for transition in transitions:
                transition.version = working.version
            working.add_transitions(transitions)
    return FoldResult(profile=working, changed=changed, transitions=transitions, applied_events=applied_events)


# --- merge --------------------------------------------------------------------------------------------------------


def _sum_into(target: dict[str, Any], source: dict[str, Any]) -> None:
    for key, value in source.items():
        target[key] = target.get(key, 0) + value


def merge_profiles(
    winner: Profile, loser: Profile, config: ProfileConfig | None = None, now: datetime | None = None
) -> Profile:
    """Combine `loser` into a copy of `winner` (identity merge). Neither input is modified.

    Identities are united; counters, revenue, orders, daily counts, cart quantities and applied keys are summed or
    united; first/last seen take min/max; viewed products and search terms are united by recency; engagement is both
    decayed to the later reference time and added; traits keep the winner's value where set, else the loser's;
    consent keeps the most recent decision per channel; `merged_from` records the loser.

    Stage, scores, RFM and segments are the winner's until re-evaluated: call `fold(merged, id, [], config, now)`
    (or fold the loser's events into it) right after, which also records the resulting transitions.
    """
    from chalicelib.profiles.config import ProfileConfig  # lazy: avoids an import cycle through segments

    config = config or ProfileConfig()
    merged = winner.copy()
    other = loser.copy()
    a, b = merged.activity, other.activity
    c, d = merged.computed, other.computed

    merged.anonymous_ids = sorted(set(merged.anonymous_ids) | set(other.anonymous_ids))[:MAX_ANONYMOUS_IDS]
    merged.user_id = merged.user_id or other.user_id
    merged.email = merged.email or other.email
    merged.phone = merged.phone or other.phone
    merged.merged_from = list(dict.fromkeys([*merged.merged_from, other.profile_id, *other.merged_from]))
    if other.created_at and (merged.created_at is None or other.created_at < merged.created_at):
        merged.created_at = other.created_at

    for name, value in other.traits.items():
        if name not in merged.traits and len(merged.traits) < MAX_TRAITS:
            merged.traits[name] = value
            if "t:" + name in b.lww:
                a.lww["t:" + name] = b.lww["t:" + name]
    for name in ("user_id", "email", "phone", "locale", "timezone"):
        if name not in a.lww and name in b.lww:
            a.lww[name] = b.lww[name]
    merged.demographics.locale = merged.demographics.locale or other.demographics.locale
    merged.demographics.timezone = merged.demographics.timezone or other.demographics.timezone
    for channel, consent in other.consent.items():
        mine = merged.consent.get(channel)
        if mine is None or consent.at > mine.at:
            merged.consent[channel] = consent
            a.lww["consent:" + channel] = b.lww.get("consent:" + channel, [0.0, ""])

    for touch, earliest in (("first_touch", True), ("last_touch", False)):
        theirs = b.lww.get(touch)
        if theirs is not None and _wins(a.lww, touch, theirs[0], theirs[1], earliest=earliest):
            setattr(c, touch, getattr(d, touch))

    _sum_into(c.event_counts, d.event_counts)
    _sum_into(c.type_counts, d.type_counts)
    c.page_views += d.page_views
    merged.bot_events += other.bot_events
    c.orders += d.orders
    c.revenue = round(c.revenue + d.revenue, 2)
    for name, days in b.daily.items():
        _sum_into(a.daily.setdefault(name, {}), days)
    for pid, line in b.cart.items():
        mine = a.cart.get(pid)
        if mine is None:
            a.cart[pid] = line
            continue
        mine.q += line.q
        mine.at = max(mine.at, line.at)
        if line.info_at > mine.info_at:
            mine.info_at, mine.name, mine.price = line.info_at, line.name, line.price
    recent_orders = sorted({**b.order_ids, **a.order_ids}.items(), key=lambda kv: (kv[1], kv[0]))
    a.order_ids = dict(recent_orders[-MAX_ORDER_IDS:])

    for attr, pick in (("first_ts", min), ("last_ts", max), ("first_order_ts", min), ("last_order_ts", max)):
        values = [v for v in (getattr(a, attr), getattr(b, attr)) if v is not None]
        setattr(a, attr, pick(values) if values else None)
    sessions = a.sessions
    a.sessions = []
    a.sessions_dropped += b.sessions_dropped
    for start, end in sorted(sessions + b.sessions):
        if a.sessions and start <= a.sessions[-1][1] + SESSION_GAP_SECONDS:
            a.sessions[-1][1] = max(a.sessions[-1][1], end)
        else:
            a.sessions.append([start, end])

    half_life = config.scoring.interests.half_life_days
    for category, (raw, at) in b.interests.items():
        mine = a.interests.get(category)
        if mine is None:
            a.interests[category] = [raw, at]
        else:
            a.interests[category] = list(scoring.add_decaying(mine[0], mine[1], raw, at, half_life))

    seen = {v.product_id: v for v in c.viewed_products}
    for view in d.viewed_products:
        if view.product_id not in seen or view.at > seen[view.product_id].at:
            seen[view.product_id] = view
    c.viewed_products = list(seen.values())
    terms = {s["term"].casefold(): s for s in c.search_terms}
    for entry in d.search_terms:
        folded = entry["term"].casefold()
        if folded not in terms or entry["at"] > terms[folded]["at"]:
            terms[folded] = entry
    c.search_terms = list(terms.values())

    for key, at in other.applied.items():
        merged.applied[key] = max(at, merged.applied.get(key, 0))
    merged.applied = dict(sorted(merged.applied.items(), key=lambda kv: (kv[1], kv[0])))

    s, t = merged.scores, other.scores
    if t.engagement_at is not None:
        raw, at = scoring.add_decaying(
            s.engagement_raw, s.engagement_at, t.engagement_raw, t.engagement_at, s.half_life_days
        )
        s.engagement_raw, s.engagement_at = raw, int(at)

    reference = now
    if reference is None:
        latest = max((v for v in (a.last_ts, b.last_ts) if v is not None), default=0.0)
        reference = datetime.fromtimestamp(latest, UTC)
    _prune_and_derive(merged, config, reference)
    return merged
