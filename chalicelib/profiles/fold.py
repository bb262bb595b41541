"""The fold: apply a batch of tracked events to a profile, then re-evaluate its traits, scores, stage and segments.

Design notes
- Order-independent by construction: events are deduplicated by key (batch + `profile.applied`), applied sorted by
  (timestamp, key), and every trait is either a counter/sum, a min/max by event time, a top-N by event time, or a
  last-write-wins value that remembers the (time, key) it came from (`activity.lww`). Folding a batch shuffled,
  duplicated, or split into several batches in any order gives the same profile (float scores up to rounding;
  `recent_transitions`/`version` record history and naturally differ).
- Hot loop on plain dicts and floats: the incoming profile is copied once (`codec.copy`, a msgspec round trip done in
  C) unless the caller hands it over, mutated in place, and no pydantic model is built. Sections of a stored profile
  the events do not touch are never decoded (see `codec.py`): the fold reads a section only when it changes it.
- Sessions are counted from the kept intervals of activity (30 min gap by event time); late events inside the kept
  window merge intervals exactly, events older than the kept window (`MAX_SESSIONS_KEPT`) are an approximation: they
  count as one more session when they lie outside the oldest kept interval.
- Bot events only bump `bot_events` (and are marked applied): never scored, never traits. Unverified events (a
  client source's order, consent or alias without an identity token, tracking/trust.py) are marked applied, and a
  track event's time is kept (`activity.last_by_event`: an in-app message may follow it), nothing else.
"""

from __future__ import annotations

import binascii
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from chalicelib.predictions import clv, propensity
from chalicelib.profiles import archived_days, codec, devices
from chalicelib.profiles import engagement_hours as hours
from chalicelib.profiles import segmentation as segments
from chalicelib.profiles.model import CartLine, Consent, Predictions, Profile, Rfm, Transition, ViewedProduct
from chalicelib.profiles.traits import (
    BY_AT_AND_PRODUCT,
    DAILY_RETENTION_DAYS,
    DAY,
    MAX_ANONYMOUS_IDS,
    MAX_DAILY_NAMES,
    MAX_EVENT_NAMES,
    MAX_FOLDED,
    MAX_FOLDED_REF_CHARS,
    MAX_ORDER_IDS,
    MAX_PURCHASED,
    MAX_TRAITS,
    add_session,
    clean_number,
    clean_text,
    clip,
    note_last_time,
    prune_and_derive,
    wins,
)
from chalicelib.scoring import lead_score as scoring
from chalicelib.scoring import lifecycle, rfm
from chalicelib.tracking.events import iso, utc_day
from chalicelib.tracking.identity import clean_phone

if TYPE_CHECKING:
    from chalicelib.predictions.models import FittedModels
    from chalicelib.predictions.propensity import PropensityModels
    from chalicelib.profiles.config import ProfileConfig
    from chalicelib.tracking.events import TrackedEvent

_TYPE_NAMES = {
    "page": "Page Viewed",
    "screen": "Screen Viewed",
    "identify": "Identify",
    "group": "Group",
    "alias": "Alias",
}
_CONSENT_EVENTS: dict[str, tuple[str, Literal["opted_in", "opted_out"]]] = {
    "Email Subscribed": ("email", "opted_in"),
    "Email Unsubscribed": ("email", "opted_out"),
    "SMS Subscribed": ("sms", "opted_in"),
    "SMS Unsubscribed": ("sms", "opted_out"),
}


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


def _product(props: dict[str, Any]) -> str | None:
    return clean_text(props.get("product_id") or props.get("sku") or props.get("id"), 100)


def _cart_add(activity: Any, pid: str, quantity: float, ts: float, props: dict[str, Any] | None) -> None:
    line = activity.cart.get(pid)
    if line is None:
        line = activity.cart[pid] = CartLine(q=0.0, at=ts)
    line.q += quantity
    if ts > line.at:
        line.at = ts
    if props is not None and ts >= line.info_at:
        line.info_at = ts
        line.name = clean_text(props.get("name"))
        line.price = clean_number(props.get("price"))
        line.currency = _currency(props.get("currency"))
        line.url = clean_text(props.get("url"), 500)
        line.image_url = clean_text(props.get("image_url"), 500)


def _currency(value: Any) -> str | None:
    code = clean_text(value, 10)
    return code.upper() if code is not None and len(code) == 3 and code.isalpha() else None


def _quantity(props: dict[str, Any]) -> float:
    quantity = clean_number(props.get("quantity"))
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
        self.engagements: list[tuple[str, float]] = []  # (channel, time) of human opens and clicks
        self.devices_dirty = False  # a push token or permission changed: re-derive consent.push

    def apply(self, event: TrackedEvent, ts: float, key: str) -> None:
        # The fold's innermost loop (once per event): locals instead of repeated attribute lookups.
        p, a, c = self.p, self.a, self.c
        if event.is_bot:
            p.bot_events += 1
            return
        kind = event.type
        if kind == "track":
            name = event.event or "Unknown Event"
            # Before the unverified check: a browser's "Order Completed" still happened as behaviour (an in-app
            # message may follow it); only its money and permission are not taken on trust.
            seen = a.last_by_event.get(name)
            if seen is None:
                note_last_time(a.last_by_event, name, ts)
            elif ts >= seen + 1:
                a.last_by_event[name] = int(ts)
        else:
            name = _TYPE_NAMES.get(kind, kind)
        if event.flags and event.unverified:
            return  # a browser's unproven order, consent or alias: kept in the event history, never applied
        first_ts, last_ts = a.first_ts, a.last_ts
        if first_ts is None or ts < first_ts:
            a.first_ts = ts
        if last_ts is None or ts > last_ts:
            a.last_ts = ts
        add_session(a, ts)

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
        if (event.context and "device" in event.context) or name in devices.DEVICE_EVENTS:
            self.devices_dirty |= devices.record_device(p, event, ts)
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
        if event.user_id and wins(lww, "user_id", ts, key):
            p.user_id = event.user_id
        if event.traits or event.context.get("traits"):
            email = event.email
            if email and wins(lww, "email", ts, key):
                p.email = email

    def _context(self, event: TrackedEvent, ts: float, key: str) -> None:
        ctx, lww, demographics = event.context, self.a.lww, self.p.demographics
        # Locale and time zone are set here and carried through `derive_demographics` unchanged, so they do not
        # make the demographics dirty (nearly every event carries them: re-deriving on each fold was ~10% of it).
        locale = ctx.get("locale")
        if isinstance(locale, str) and locale and wins(lww, "locale", ts, key) and demographics.locale != locale[:35]:
            demographics.locale = locale[:35]
        zone = ctx.get("timezone")
        if isinstance(zone, str) and zone and wins(lww, "timezone", ts, key) and demographics.timezone != zone[:64]:
            demographics.timezone = zone[:64]
        campaign = ctx.get("campaign")
        if isinstance(campaign, dict) and campaign:
            first = wins(lww, "first_touch", ts, key, earliest=True)
            last = wins(lww, "last_touch", ts, key)
            if first or last:
                touch = {"campaign": clip(campaign), "referrer_host": _referrer_host(ctx), "at": iso(event.timestamp)}
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
            if wins(lww, "t:" + name, ts, key):
                p.traits[name] = clip(value)
        phone = clean_phone(traits.get("phone"))
        if phone and wins(lww, "phone", ts, key):
            p.phone = phone

    def _search(self, term: Any, event: TrackedEvent) -> None:
        text = clean_text(term, 100)
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
        label = clean_text(category, 100)
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
            name=clean_text(props.get("name")),
            price=clean_number(props.get("price")),
            category=clean_text(props.get("category"), 100),
            url=clean_text(props.get("url"), 500),
            image_url=clean_text(props.get("image_url"), 500),
            currency=_currency(props.get("currency")),
            at=at,
        )
        newest = viewed[0] if viewed else None
        if newest is None or (at, pid) > BY_AT_AND_PRODUCT(newest):
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
        order_id = clean_text(props.get("order_id"), 100)
        if order_id is not None:
            if order_id in a.order_ids:
                return  # the same order sent twice under two message ids
            a.order_ids[order_id] = ts
            if len(a.order_ids) > MAX_ORDER_IDS:
                del a.order_ids[min(a.order_ids, key=lambda o: (a.order_ids[o], o))]
        bought = [pid for item in products if (pid := _product(item)) is not None]
        if bought:
            # By order time, not arrival order, so any order of folding gives the same list.
            for pid in bought:
                a.purchased[pid] = max(ts, a.purchased.get(pid, ts))
            while len(a.purchased) > MAX_PURCHASED:
                del a.purchased[min(a.purchased, key=lambda p: (a.purchased[p], p))]
            c.purchased_products = sorted(a.purchased, key=lambda p: (-a.purchased[p], p))
        revenue = clean_number(props.get("revenue"))
        if revenue is None:
            revenue = clean_number(props.get("total"))
        if revenue is None:
            revenue = sum((clean_number(i.get("price")) or 0.0) * _quantity(i) for i in products)
        c.orders += 1
        # Cents, rounded at every step, so the sum does not depend on the order orders arrive in.
        c.revenue = round(c.revenue + round(revenue, 2), 2)
        if a.first_order_ts is None or ts < a.first_order_ts:
            a.first_order_ts = ts
        if a.last_order_ts is None or ts > a.last_order_ts:
            a.last_order_ts = ts

    def on_engagement(self, event: TrackedEvent, ts: float, key: str) -> None:
        # A human open or click: when this person reads, for send-time optimisation (machine ones have other names).
        # Counted after the batch (`record_engagements`), in the zone the whole batch leaves the profile with.
        self.engagements.append((hours.ENGAGEMENT_EVENTS[event.event or ""], ts))

    def record_engagements(self) -> None:
        p = self.p
        # The zone delivery will read (`view.timezone_name`): an identify trait first, else the browser's.
        zone = p.traits.get("timezone")
        if not isinstance(zone, str) or hours.zone_info(zone.strip()) is None:
            zone = p.demographics.timezone
        zone = zone.strip() if zone else None
        histograms = p.engagement_hours
        for channel, ts in self.engagements:
            histograms[channel] = hours.record(histograms.get(channel), ts, zone)

    def on_consent(self, event: TrackedEvent, ts: float, key: str) -> None:
        channel, status = _CONSENT_EVENTS[event.event or ""]
        if wins(self.a.lww, "consent:" + channel, ts, key):
            source = clean_text(event.properties.get("source"), 200) or event.source_id
            self.p.consent[channel] = Consent(status=status, at=iso(event.timestamp), source=source)


_TRACK_HANDLERS = {
    "Products Searched": _Folder.on_search,
    "Product Viewed": _Folder.on_product_viewed,
    "Product Added": _Folder.on_product_added,
    "Product Removed": _Folder.on_product_removed,
    "Order Completed": _Folder.on_order_completed,
    **dict.fromkeys(_CONSENT_EVENTS, _Folder.on_consent),
    **dict.fromkeys(hours.ENGAGEMENT_EVENTS, _Folder.on_engagement),
}


def _referrer_host(ctx: dict[str, Any]) -> str | None:
    page, referrer = ctx.get("page"), ctx.get("referrer")
    page = page if isinstance(page, dict) else {}
    referrer = referrer if isinstance(referrer, dict) else {}
    url = page.get("referrer") or referrer.get("url") or referrer.get("link")
    if not isinstance(url, str) or not url:
        return None
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


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
    clv_models: FittedModels | None = None,
    propensity_models: PropensityModels | None = None,
) -> list[Transition]:
    """Scores, needs group, RFM, predictions, stage, segments and due day, in that order (each may read the previous
    ones: a segment rule may name `predictions.clv_12m`)."""
    at = iso(now)
    transitions = [
        Transition(kind=c.kind, name=c.name, from_=c.from_, to=c.to, at=at)
        for c in scoring.update_scores(p, config.scoring, now)
    ]

    group = p.computed.top_categories[0] if p.computed.top_categories else None
    if group != p.needs_group:
        transitions.append(Transition(kind="needs_group_changed", from_=p.needs_group, to=group, at=at))
        p.needs_group = group
    if group_cut_points is not None:
        p.group_value_percentile = rfm.group_value_percentile(p.computed.revenue, group, group_cut_points)
    if rfm_cut_points is not None:
        scores = rfm.rfm_scores(p, rfm_cut_points, now)
        p.rfm = Rfm(r=scores[0], f=scores[1], m=scores[2], group=rfm.rfm_group(*scores)) if scores else None
    previous = p.predictions
    if clv_models is not None and predictions_due(p, clv_models, now):
        p.predictions = _carry_propensity(predictions_for(p, clv_models, now), previous)
    if propensity_models is not None and (p.predictions is not previous or propensity_due(p, propensity_models, now)):
        apply_propensity(p, propensity_models, clv_models, now)

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
    p.due_day = lifecycle.kept_due_day(p.due_day, lifecycle.due_day_for_ts(min(future)) if future else None, now_ts)
    return transitions


class _BuyerFigures:
    """A profile's order history in the shape `predictions.clv.history_of` reads."""

    __slots__ = ("first_order_ts", "last_order_ts", "orders", "revenue")

    def __init__(self, p: Profile) -> None:
        self.first_order_ts = p.activity.first_order_ts
        self.last_order_ts = p.activity.last_order_ts
        self.orders = p.computed.orders
        self.revenue = p.computed.revenue


def predictions_due(p: Profile, models: FittedModels, now: datetime) -> bool:
    """Whether this fold must recompute the buyer's predictions (see `Predictions`)."""
    current = p.predictions
    if current is None or not current.model_fitted_at:  # none yet, or propensities only (a non-buyer's)
        return p.computed.orders > 0
    return (
        current.orders != p.computed.orders
        or current.revenue != p.computed.revenue
        or current.model_fitted_at != models.fitted_at
        or current.computed_at[:10] != utc_day(int(now.timestamp() // 86400))
    )


def predictions_for(p: Profile, models: FittedModels, now: datetime) -> Predictions | None:
    """The buyer's CLV predictions from the fitted models (closed forms, no I/O); None for a non-buyer."""
    history = clv.history_of(_BuyerFigures(p), now.timestamp())
    if history is None:
        return None
    try:
        predicted = clv.predict(models.bgnbd, models.gamma_gamma, history)
    except (ValueError, OverflowError):  # parameters this history cannot be evaluated with: no prediction, no failure
        return None
    return Predictions(
        p_alive=round(predicted.p_alive, 4),
        purchases_90d=round(predicted.purchases_90d, 4),
        purchases_365d=round(predicted.purchases_365d, 4),
        expected_order_value=round(predicted.expected_order_value, 2),
        clv_12m=round(predicted.clv_12m, 2),
        model_fitted_at=models.fitted_at,
        computed_at=iso(now),
        orders=p.computed.orders,
        revenue=p.computed.revenue,
    )


def _carry_propensity(new: Predictions | None, old: Predictions | None) -> Predictions | None:
    """A CLV refresh rebuilds the struct: keep the propensity fields it does not compute (a non-buyer: only them)."""
    if old is None or old.propensity_fitted_at is None:
        return new
    target = new if new is not None else Predictions()
    for name in _PROPENSITY_FIELDS:
        setattr(target, name, getattr(old, name))
    return target


_PROPENSITY_FIELDS = (
    "churn_risk",
    "purchase_30d",
    "response",
    "uplift",
    "uplift_rank",
    "propensity_fitted_at",
    "propensity_at",
)


def propensity_due(p: Profile, models: PropensityModels, now: datetime) -> bool:
    """Whether this fold must re-evaluate the propensity models: new models, a new order, or a new UTC day (sessions,
    opens and carts move the features within a day too; a daily refresh is what keeps a page view cheap)."""
    current = p.predictions
    if current is None or current.propensity_fitted_at != models.fitted_at or not current.propensity_at:
        return True
    return current.orders != p.computed.orders or current.propensity_at[:10] != utc_day(int(now.timestamp() // 86400))


def apply_propensity(
    p: Profile, models: PropensityModels, clv_models: FittedModels | None, now: datetime
) -> dict[str, float]:
    """Evaluate every stored propensity model on the profile as of now (pure Python: `propensity.score`) into
    `p.predictions`; returns the features used (the admin view explains from the same ones)."""
    now_ts = now.timestamp()
    x = propensity.features_as_of(p, now_ts, now_ts, clv_models.bgnbd if clv_models else None)
    target = p.predictions if p.predictions is not None else Predictions()
    # churn is "a customer stops": for someone who never bought it has no meaning, so it stays None
    target.churn_risk = round(propensity.score(models.churn, x), 4) if models.churn and x["has_ordered"] else None
    target.purchase_30d = round(propensity.score(models.purchase_30d, x), 4) if models.purchase_30d else None
    target.response = {c: round(propensity.score(m, x), 4) for c, m in sorted(models.response.items())}
    uplift = {s: m.uplift(x) for s, m in sorted(models.uplift.items())}
    target.uplift = {s: round(u, 4) for s, u in uplift.items()}
    target.uplift_rank = {s: round(models.uplift[s].rank(u), 2) for s, u in uplift.items()}
    target.propensity_fitted_at = models.fitted_at
    target.propensity_at = iso(now)
    target.orders = p.computed.orders
    p.predictions = target
    return x


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
    clv_models: FittedModels | None = None,
    propensity_models: PropensityModels | None = None,
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
        clv_models: the fitted CLV models (`predictions`); when None a buyer's previous predictions are kept.
        propensity_models: the fitted propensity / uplift models; when None the previous propensities are kept.
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
        working = profile if in_place else codec.copy(profile)
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
    folder = _Folder(working, config, now)
    applied_at = int(now.timestamp())
    for ts, tag, _, event in batch:
        applied[tag] = applied_at
        folder.apply(event, ts, tag)
    if batch:  # the archive partitions events by the UTC day of their time (tracking/archive.py `day_of`)
        days = {archived_days.day_number(ts) for ts, *_ in batch}
        working.archived_days = archived_days.mark_numbers(working.archived_days, days)
    if folder.engagements:
        folder.record_engagements()
    if folder.devices_dirty:
        devices.derive_push_consent(working)

    cart_before = prune_and_derive(
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
    transitions = _evaluate(working, config, now, rfm_cut_points, group_cut_points, clv_models, propensity_models)
    if cart_before is not None:
        view_before = _cart_view(cart_before)
        if _cart_view(working.computed.cart) != view_before:
            transitions.append(
                Transition(
                    kind="cart_changed",
                    from_=float(sum(q for _, q in view_before)),
                    to=float(working.computed.cart_quantity),
                    at=iso(now),
                )
            )

    applied_events = [key for _, _, key, _ in batch]
    changed = is_new or bool(applied_events) or bool(transitions) or _snapshot(working) != before
    if changed:
        working.version += 1
        working.updated_at = iso(now)
        # The profiles-stream consumer reads what this version applied back from the events table: the items they are
        # stored in (a group holds a request's events) and the tags that pick them out (11 characters, not a key's ~45).
        # An item is named by its `ts_key`: the folded events are stored under this profile (re-pointed before the
        # fold), and a merge moves items under the same `ts_key`.
        applied_now = _within_ref_budget(batch[-MAX_FOLDED:])
        working.folded = [tag for _, tag, _, _ in applied_now]
        working.folded_in = list(dict.fromkeys(event.stored_in()[1] for _, _, _, event in applied_now))
        if transitions:  # else the kept ones stay as they are: they belong to earlier versions
            for transition in transitions:
                transition.version = working.version
            working.add_transitions(transitions)
    return FoldResult(profile=working, changed=changed, transitions=transitions, applied_events=applied_events)


def _within_ref_budget(
    applied: list[tuple[float, str, str, TrackedEvent]],
) -> list[tuple[float, str, str, TrackedEvent]]:
    """The newest of `applied` (time, tag, key, event) whose items' refs fit `MAX_FOLDED_REF_CHARS`."""
    seen: set[str] = set()
    chars = 0
    for n, (_, _, _, event) in enumerate(reversed(applied)):
        ref = event.stored_in()[1]
        if ref not in seen:
            seen.add(ref)
            chars += len(ref)
            if chars > MAX_FOLDED_REF_CHARS:
                return applied[len(applied) - n :]
    return applied


def applied_tag(event_key: str) -> str:
    """A short stable tag of an event key (64-bit BLAKE2b, 11 characters) for the replay guard and tie-breaks.

    The guard holds every event applied in the last 26 hours; full keys (`source#messageId`, ~45 characters with a
    UUID message id) made it the largest map of a busy profile, and every byte is paid for on each profile write.
    A collision between two of at most a few thousand keys has odds of about 1 in 10^12. Stored tags must keep
    matching replays: the function is pinned by a test.
    """
    digest = _blake2b(event_key.encode(), digest_size=8).digest()
    # `base64.urlsafe_b64encode(digest)[:11]` without its two Python layers (this runs once per folded event).
    return _b2a_base64(digest, newline=False)[:11].translate(_URLSAFE).decode()


_blake2b = hashlib.blake2b
_b2a_base64 = binascii.b2a_base64
_URLSAFE = bytes.maketrans(b"+/", b"-_")
