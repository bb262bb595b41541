"""Identity merge: combine the profile of a person found to be the same as another into the winner's."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.profiles import archived_days, codec, devices
from chalicelib.profiles import engagement_hours as hours
from chalicelib.profiles.traits import (
    MAX_ANONYMOUS_IDS,
    MAX_ORDER_IDS,
    MAX_TRAITS,
    SESSION_GAP_SECONDS,
    note_last_time,
    prune_and_derive,
    wins,
)
from chalicelib.scoring import lead_score as scoring
from chalicelib.tracking.identity import identity_key

if TYPE_CHECKING:
    from chalicelib.profiles.config import ProfileConfig
    from chalicelib.profiles.model import Profile


def _sum_into(target: dict[str, Any], source: dict[str, Any]) -> None:
    for key, value in source.items():
        target[key] = target.get(key, 0) + value


def body_identity_keys(profile: Profile) -> list[str]:
    """The identity keys a profile's body names (its anonymous ids, userId and email)."""
    keys = [identity_key("anon", anon) for anon in profile.anonymous_ids]
    if profile.user_id:
        keys.append(identity_key("user", profile.user_id))
    if profile.email:
        keys.append(identity_key("email", profile.email))
    return keys


def merge_profiles(
    winner: Profile, loser: Profile, config: ProfileConfig | None = None, now: datetime | None = None
) -> Profile:
    """Combine `loser` into a copy of `winner` (identity merge). Neither input is modified.

    Identities are united; counters, revenue, orders, daily counts, cart quantities and applied keys are summed or
    united; first/last seen take min/max; viewed products and search terms are united by recency; engagement is both
    decayed to the later reference time and added; traits keep the winner's value where set, else the loser's;
    consent keeps the most recent decision per channel; each event's latest time is the later one; `merged_from`
    records the loser.

    Stage, scores, RFM and segments are the winner's until re-evaluated: call `fold(merged, id, [], config, now)`
    (or fold the loser's events into it) right after, which also records the resulting transitions.
    """
    from chalicelib.profiles.config import ProfileConfig  # lazy: avoids an import cycle through segments

    config = config or ProfileConfig()
    merged = codec.copy(winner)
    other = codec.copy(loser)
    a, b = merged.activity, other.activity
    c, d = merged.computed, other.computed

    merged.anonymous_ids = sorted(set(merged.anonymous_ids) | set(other.anonymous_ids))[:MAX_ANONYMOUS_IDS]
    merged.user_id = merged.user_id or other.user_id
    merged.email = merged.email or other.email
    merged.phone = merged.phone or other.phone
    merged.merged_from = list(dict.fromkeys([*merged.merged_from, other.profile_id, *other.merged_from]))
    # The loser's identity records are re-pointed here (`FoldService._carry_out`): its listed keys and those its body
    # names (a body written before the list existed names at least those). The merged list is complete only if both
    # were: a loser's superseded emails linked before the list stay unlisted (they still resolve here by redirect).
    merged.identity_keys = list(
        dict.fromkeys([*merged.identity_keys, *other.identity_keys, *body_identity_keys(other)])
    )
    merged.identity_keys_complete = merged.identity_keys_complete and other.identity_keys_complete
    # The loser's archived lines keep its id; erasure reads the loser's days from its tombstone too (a day it was
    # written with after this read), but the winner holding them all is one read less.
    merged.archived_days = archived_days.mark(merged.archived_days, archived_days.days(other.archived_days))
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
        if theirs is not None and wins(a.lww, touch, theirs[0], theirs[1], earliest=earliest):
            setattr(c, touch, getattr(d, touch))

    _sum_into(c.event_counts, d.event_counts)
    _sum_into(c.type_counts, d.type_counts)
    c.page_views += d.page_views
    merged.bot_events += other.bot_events
    c.orders += d.orders
    c.revenue = round(c.revenue + d.revenue, 2)
    for name, days in b.daily.items():
        _sum_into(a.daily.setdefault(name, {}), days)
    for name, event_ts in b.last_by_event.items():
        note_last_time(a.last_by_event, name, event_ts)
    for pid, line in b.cart.items():
        own = a.cart.get(pid)
        if own is None:
            a.cart[pid] = line
            continue
        own.q += line.q
        own.at = max(own.at, line.at)
        if line.info_at > own.info_at:
            own.info_at, own.name, own.price = line.info_at, line.name, line.price
    recent_orders = sorted({**b.order_ids, **a.order_ids}.items(), key=lambda kv: (kv[1], kv[0]))
    a.order_ids = dict(recent_orders[-MAX_ORDER_IDS:])

    extremes: tuple[tuple[str, Callable[[list[float]], float]], ...] = (
        ("first_ts", min),
        ("last_ts", max),
        ("first_order_ts", min),
        ("last_order_ts", max),
    )
    for attr, pick in extremes:
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
        weight = a.interests.get(category)
        if weight is None:
            a.interests[category] = [raw, at]
        else:
            a.interests[category] = list(scoring.add_decaying(weight[0], weight[1], raw, at, half_life))

    if other.devices:  # push tokens move with the person (profiles/devices.py)
        devices.merge_devices(merged, other)

    if other.engagement_hours:  # read only when the loser has any: an unread section is written back as stored
        for channel, histogram in other.engagement_hours.items():
            merged.engagement_hours[channel] = hours.merge(merged.engagement_hours.get(channel), histogram)

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
    prune_and_derive(merged, config, reference)
    return merged
