"""Computed traits, rebuilt once per fold: caps and retention, the views of `activity` (sessions, cart, viewed
products, search terms, interests) and demographics, with the value cleaners and last-write-wins rule the fold and the
merge share."""

from __future__ import annotations

import functools
import math
from datetime import UTC, date, datetime
from operator import attrgetter, itemgetter
from typing import TYPE_CHECKING, Any

from chalicelib.profiles.model import CartLine, Demographics, Profile
from chalicelib.scoring import lead_score as scoring
from chalicelib.tracking.events import iso, utc_day

if TYPE_CHECKING:
    from chalicelib.profiles.config import ProfileConfig
    from chalicelib.scoring.config import InterestConfig

DAY = 86400.0
SESSION_GAP_SECONDS = 30 * 60
MAX_SESSIONS_KEPT = 100
DAILY_RETENTION_DAYS = 90
APPLIED_TTL_SECONDS = 26 * 3600  # > the 24 h stream retention, so any replay of a shard is still recognised
MAX_APPLIED = 2000
MAX_FOLDED = 1000  # full keys listed per version; only a bot-like burst folds more events in one batch
# Characters of item refs (`ts_key`s, ~60 characters for an event's own item) listed per version: what 1,000 event keys
# took before the events table was keyed by profile. Only a burst of ~700 lone events in one batch reaches it.
MAX_FOLDED_REF_CHARS = 48_000
MAX_EVENT_NAMES = 200
MAX_DAILY_NAMES = 60  # names with engagement points are always kept
MAX_VIEWED = 20
MAX_PURCHASED = 20
MAX_SEARCH_TERMS = 20
MAX_CART_LINES = 50
CART_TTL_DAYS = 30  # a line not touched for this long is no longer in the open cart
MAX_ORDER_IDS = 100
MAX_INTERESTS = 50
MAX_ANONYMOUS_IDS = 50
MAX_TRAITS = 100
MAX_TEXT = 1000

BY_AT_AND_PRODUCT = attrgetter("at", "product_id")
BY_AT_AND_TERM = itemgetter("at", "term")


@functools.lru_cache(maxsize=4096)
def iso_ts(ts: float) -> str:
    # Cached: first/last seen and order times are re-rendered on every fold but rarely change.
    return iso(datetime.fromtimestamp(ts, UTC))


def clean_number(value: Any) -> float | None:
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


def clean_text(value: Any, limit: int = 200) -> str | None:
    if value.__class__ is str:  # the common case first
        return value.strip()[:limit] or None
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    return text[:limit] or None


def clip(value: Any) -> Any:
    """Keep identify trait values small: long strings cut, big lists/maps dropped (the item must stay < 400 KB)."""
    if isinstance(value, str):
        return value[:MAX_TEXT]
    if isinstance(value, list):
        return [clip(v) for v in value[:50]]
    if isinstance(value, dict):
        return {str(k)[:100]: clip(v) for k, v in list(value.items())[:50]}
    return value


def wins(lww: dict[str, list[Any]], name: str, ts: float, key: str, earliest: bool = False) -> bool:
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


def note_last_time(last: dict[str, int], name: str, ts: float) -> None:
    """Record `ts` (whole seconds) as `name`'s latest time unless it has a later one (`Activity.last_by_event`). At
    most `MAX_EVENT_NAMES` names: when full, the least (time, name) gives way to a greater one, so the names kept are
    the same in any arrival order."""
    at = int(ts)
    seen = last.get(name)
    if seen is not None:
        if at > seen:
            last[name] = at
        return
    if len(last) >= MAX_EVENT_NAMES:
        oldest = min(last, key=lambda n: (last[n], n))
        if (at, name) < (last[oldest], oldest):
            return
        del last[oldest]
    last[name] = at


def add_session(activity: Any, ts: float) -> None:
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
    address = traits.get("address")
    if not isinstance(address, dict):
        address = {}

    def pick(*names: str, source: dict[str, Any] = traits) -> str | None:
        for name in names:
            value = clean_text(source.get(name), 200)
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
    age = clean_number(traits.get("age"))
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


def top_interests(interests: dict[str, list[float]], config: InterestConfig, now_ts: float) -> list[tuple[str, float]]:
    """Categories by their weight as of `now_ts`, heaviest first (ties by name), with that weight."""
    return scoring.ranked_by_decay(interests, now_ts, config.half_life_days)


def prune_and_derive(
    p: Profile,
    config: ProfileConfig,
    now: datetime,
    cart_dirty: bool = True,
    demographics_dirty: bool = True,
    interests_dirty: bool = True,
    viewed_dirty: bool = True,
    searches_dirty: bool = True,
    viewed_sorted: bool = False,
) -> list[dict[str, Any]] | None:
    """Apply caps and retention, then rebuild the computed traits that are views of `activity`; returns the open cart
    as it was before, when it was rebuilt (None when the cart view was left as it is).

    The dirty flags let a fold skip rebuilding a view no event touched (all default to True: rebuild everything);
    `viewed_sorted` says the viewed products are still in order (views arriving in order are inserted in place).
    Interests need no rebuild for time alone: every category decays with the same half-life, so their ranking
    (raw * 2 ** (at / half-life)) does not change as time passes, only when an event adds weight.
    """
    a, c = p.activity, p.computed
    now_ts = now.timestamp()
    cart_before = None

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
    c.first_seen = iso_ts(a.first_ts) if a.first_ts is not None else None
    c.last_seen = iso_ts(a.last_ts) if a.last_ts is not None else None
    p.anonymous_ids.sort()

    if viewed_dirty:
        if not viewed_sorted:
            c.viewed_products.sort(key=BY_AT_AND_PRODUCT, reverse=True)
        del c.viewed_products[MAX_VIEWED:]
    if searches_dirty:
        c.search_terms.sort(key=BY_AT_AND_TERM, reverse=True)
        del c.search_terms[MAX_SEARCH_TERMS:]

    cart_cutoff = now_ts - CART_TTL_DAYS * DAY
    if not cart_dirty and a.cart_expires is not None and a.cart_expires <= now_ts:
        # A line may have expired (or the body predates `cart_expires`): only now are the lines read.
        cart_dirty = any(line.at < cart_cutoff for line in a.cart.values())
        if not cart_dirty:
            a.cart_expires = cart_expiry(a.cart)
    if cart_dirty:
        # Most recent first, ties by product id (ids are unique, so the lines themselves are never compared).
        lines = sorted([(-line.at, pid, line) for pid, line in a.cart.items() if line.at >= cart_cutoff])
        del lines[MAX_CART_LINES:]
        if len(lines) != len(a.cart):  # a line expired or over the cap (the order of the lines map means nothing)
            a.cart = {pid: line for _, pid, line in lines}
        a.cart_expires = cart_expiry(a.cart)
        cart = []
        quantity = value = 0.0  # an empty cart must give the float a re-read profile has (the output is reused)
        for _, pid, line in lines:
            if line.q > 0:
                q, price = _whole(line.q), line.price
                row: dict[str, Any] = {"product_id": pid, "name": line.name, "price": price, "quantity": q}
                for key in ("currency", "url", "image_url"):  # only when known: older lines have none
                    if (known := getattr(line, key)) is not None:
                        row[key] = known
                cart.append(row)
                quantity += q
                value += (price or 0.0) * q
        cart_before = c.cart  # read only now: a fold that leaves the cart alone never decodes the stored view
        c.cart = cart
        c.cart_quantity = int(quantity)
        c.cart_value = round(value + 0.0, 2)

    c.average_order_value = round(c.revenue / c.orders, 2) if c.orders else None
    c.first_order_at = iso_ts(a.first_order_ts) if a.first_order_ts is not None else None
    c.last_order_at = iso_ts(a.last_order_ts) if a.last_order_ts is not None else None

    if interests_dirty:
        ranked = top_interests(a.interests, config.scoring.interests, now_ts)
        if len(ranked) > MAX_INTERESTS:
            for name, _ in ranked[MAX_INTERESTS:]:
                del a.interests[name]
        c.top_categories = [name for name, weight in ranked[: config.scoring.interests.top_n] if weight > 0]

    demographics = p.demographics
    if demographics_dirty:
        p.demographics = derive_demographics(p.traits, demographics.locale, demographics.timezone, now)
    elif demographics.birthday:  # an age derived from a birthday grows with time (a valid `age` trait wins)
        given = clean_number(p.traits.get("age"))
        age = int(given) if given is not None and 0 <= given < 130 else _age(demographics.birthday, now)
        if age != demographics.age:
            demographics.age = age
    return cart_before


def _whole(number: float) -> float | int:
    return int(number) if float(number).is_integer() else number


def cart_expiry(cart: dict[str, CartLine]) -> float | None:
    return min(line.at for line in cart.values()) + CART_TTL_DAYS * DAY if cart else None
