"""Item-to-item similarity as pure rules: which bounded counter updates an event makes, and how a person is ranked.

The Amazon 2003 item-to-item design, learnt offline by a nightly job over each day of the event archive (`daily.py`,
`learning.py`): every product has ONE
similar-items list (`sim#<product>`) holding at most `NEIGHBOURS` co-occurrence counts with the products people also
viewed or bought, and every category (and the whole shop, `*`) one popularity list (`pop#<category>`). An event
updates a bounded number of lists (the product's, those of the person's few recent items, two popularity lists); a
day's updates are summed per list (`combine`) and each touched list is written once a day (`day_updated`), so the
write cost grows with the lists a day touches, not with its events or the catalog, and reading a product's
neighbours is one item.

Lists stay bounded by the Space-Saving rule (Metwally et al. 2005): a new entry that finds the list full replaces the
smallest one and inherits its count, so heavy pairs are never lost and the error of any count is at most the
smallest count kept. Each neighbour entry carries the product card (name, price, url, image, category, stock) as the
latest event described it, so a recommendation needs no second read for the cards.

Similarity is cosine-like: `n(a, b) / sqrt(t(a) * t(b))`, `t` being a product's own weighted occurrences (kept in
its list, and copied beside each neighbour entry when written), which keeps best sellers from topping every list.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

NEIGHBOURS = 24  # entries kept per similar-items list (Space-Saving capacity); 10 are ever shown
POPULAR = 30  # entries kept per popularity list
RECENT_ITEMS = 5  # a view pairs with at most this many of the person's recent items: the bound on writes per event
MAX_ORDER_PRODUCTS = 6  # an order pairs at most this many of its products with each other
PRIOR_PURCHASES = 3  # an order also pairs with this many earlier purchases ("bought X also bought Y")
SEEDS = 8  # the person's items whose lists are read to rank: one BatchGetItem of at most SEEDS + 3 items

# Weights: a purchase says more than a view.
VIEW = 1.0
PURCHASE = 3.0
CO_VIEW = 1.0
VIEW_THEN_BUY = 2.0
CO_PURCHASE = 3.0

OVERALL = "*"
CARD_FIELDS = ("product_id", "name", "price", "currency", "category", "url", "image_url", "in_stock")
_TEXT_LIMITS = {"name": 120, "category": 100, "url": 300, "image_url": 300, "currency": 3}
_OUT_OF_STOCK = {"out_of_stock", "out of stock", "outofstock", "sold_out", "sold out", "discontinued", "unavailable"}

Card = dict[str, Any]


# The catalog's out-of-stock products, one list item `{"ids": {product_id: since}}` kept by the catalog's change
# stream, read in the same BatchGetItem as the person's lists: the catalog's stock wins with no extra read.
STOCK_KEY = "stock#out"
MAX_OUT_OF_STOCK = 5_000  # ~120 KB; beyond it the oldest are dropped and the cards' own stock still applies


def similar_key(product_id: str) -> str:
    return f"sim#{product_id}"


def popular_key(category: str | None) -> str:
    return f"pop#{(category or OVERALL).strip().lower()[:100]}"


def product_id_of(props: Mapping[str, Any]) -> str | None:
    """The product id of a product's properties (`product_id`, else `sku`, else `id`), as text; None when absent."""
    for name in ("product_id", "sku", "id"):
        value = props.get(name)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()[:200]
    return None


def in_stock(props: Mapping[str, Any]) -> bool | None:
    """Availability as product properties say it (`in_stock`, `stock`/`inventory`/`quantity_available` numbers,
    `availability` text); None when they say nothing. The catalog, when there is one, is the better source."""
    value = props.get("in_stock")
    if isinstance(value, bool):
        return value
    for name in ("stock", "inventory", "quantity_available"):
        number = props.get(name)
        if isinstance(number, int | float) and not isinstance(number, bool):
            return number > 0
    availability = props.get("availability")
    if isinstance(availability, str) and availability.strip():
        return availability.strip().lower().replace("https://schema.org/", "") not in _OUT_OF_STOCK
    return None


def card_of(props: Mapping[str, Any]) -> Card | None:
    """The compact card of a product from an event's properties (or a stored viewed-product entry)."""
    pid = product_id_of(props)
    if pid is None:
        return None
    card: Card = {"product_id": pid}
    for name in CARD_FIELDS[1:]:
        value = props.get(name)
        if name == "in_stock":
            value = in_stock(props)
        elif name == "price":
            value = value if isinstance(value, int | float) and not isinstance(value, bool) else None
        elif isinstance(value, str):
            value = value.strip()[: _TEXT_LIMITS[name]] or None
        else:
            value = None
        if value is not None:
            card[name] = value
    return card


# --- writes -----------------------------------------------------------------------------------------------------------


@dataclass
class Delta:
    """What one event (or, summed by `combine`, one day) adds to one list: its own weight (`total`) and card, and
    weights per neighbour."""

    total: float = 0.0
    card: Card | None = None
    pairs: dict[str, float] = field(default_factory=dict)
    cards: dict[str, Card] = field(default_factory=dict)
    totals: dict[str, float] = field(default_factory=dict)  # neighbour -> its own total, for the cosine

    def add(self, product_id: str, weight: float, card: Card | None) -> None:
        self.pairs[product_id] = self.pairs.get(product_id, 0.0) + weight
        if card is not None:
            self.cards[product_id] = card


def event_deltas(
    event_name: str, props: Mapping[str, Any], recent: list[Card], purchased: list[str]
) -> dict[str, Delta]:
    """The list updates one `Product Viewed` or `Order Completed` makes, by list key; {} for any other event.

    `recent` are the person's recent items as cards, most recent first (views before this event, cart lines);
    `purchased` the products bought before, most recent first."""
    deltas: dict[str, Delta] = {}

    def delta(key: str) -> Delta:
        return deltas.setdefault(key, Delta())

    if event_name == "Product Viewed":
        card = card_of(props)
        if card is None:
            return {}
        pid = card["product_id"]
        others = _distinct([c for c in recent if c["product_id"] != pid])[:RECENT_ITEMS]
        own = delta(similar_key(pid))
        own.total, own.card = VIEW, card
        for other in others:
            own.add(other["product_id"], CO_VIEW, other)
            delta(similar_key(other["product_id"])).add(pid, CO_VIEW, card)
        for key in {popular_key(None), popular_key(card.get("category"))}:
            delta(key).add(pid, VIEW, card)
        return deltas
    if event_name == "Order Completed":
        items = props.get("products")
        listed = items if isinstance(items, list) else []
        cards = _distinct([c for p in listed if isinstance(p, Mapping) and (c := card_of(p))])
        bought = cards[:MAX_ORDER_PRODUCTS]
        ids = {c["product_id"] for c in bought}
        viewed = _distinct([c for c in recent if c["product_id"] not in ids])[:RECENT_ITEMS]
        before = [{"product_id": p} for p in dict.fromkeys(purchased) if p not in ids][:PRIOR_PURCHASES]
        for card in bought:
            pid = card["product_id"]
            own = delta(similar_key(pid))
            own.total, own.card = PURCHASE, card
            for other in bought:
                if other["product_id"] != pid:
                    own.add(other["product_id"], CO_PURCHASE, other)
            for other in viewed:
                own.add(other["product_id"], VIEW_THEN_BUY, other)
                delta(similar_key(other["product_id"])).add(pid, VIEW_THEN_BUY, card)
            for other in before:
                own.add(other["product_id"], CO_PURCHASE, None)
                delta(similar_key(other["product_id"])).add(pid, CO_PURCHASE, card)
            for key in {popular_key(None), popular_key(card.get("category"))}:
                delta(key).add(pid, PURCHASE, card)
        return deltas
    return {}


def _distinct(cards: Iterable[Card]) -> list[Card]:
    seen: dict[str, Card] = {}
    for card in cards:
        seen.setdefault(card["product_id"], card)
    return list(seen.values())


def merge(state: Mapping[str, Any] | None, delta: Delta, capacity: int) -> dict[str, Any]:
    """A list with one event's delta applied: `{"t": own total, "card": own card, "n": {id: count},
    "c": {id: card}, "u": {id: neighbour total}}`, never more than `capacity` neighbours (Space-Saving)."""
    state = state or {}
    counts: dict[str, float] = dict(state.get("n") or {})
    cards: dict[str, Card] = dict(state.get("c") or {})
    totals: dict[str, float] = dict(state.get("u") or {})
    for pid, weight in sorted(delta.pairs.items()):
        if pid not in counts and len(counts) >= capacity:
            smallest = min(counts, key=lambda k: (counts[k], k))
            weight += counts.pop(smallest)  # the newcomer inherits the evicted count (Space-Saving)
            cards.pop(smallest, None)
            totals.pop(smallest, None)
        counts[pid] = round(counts.get(pid, 0.0) + weight, 3)
        if pid in delta.cards:  # what the newer card says wins; what it does not say (stock) is kept
            cards[pid] = {**cards.get(pid, {}), **delta.cards[pid]}
        if pid in delta.totals:
            totals[pid] = delta.totals[pid]
    total = round(float(state.get("t", 0.0)) + delta.total, 3)
    out: dict[str, Any] = {"t": total, "n": counts, "c": cards, "u": totals}
    card = {**(state.get("card") or {}), **(delta.card or {})}
    if card:
        out["card"] = card
    return out


# --- reads ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """What ranking needs of a person: recent views (most recent first), cart lines, purchases, top categories."""

    viewed: tuple[str, ...] = ()
    cart: tuple[str, ...] = ()
    purchased: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    def seeds(self) -> list[tuple[str, float]]:
        """(product, weight) whose lists are read: cart lines first, then views by recency, then a last purchase."""
        weights: dict[str, float] = {}
        for pid in self.cart:
            weights.setdefault(pid, 2.0)
        for i, pid in enumerate(self.viewed):
            weights.setdefault(pid, 1.0 / (1.0 + 0.5 * i))
        for pid in self.purchased[:2]:
            weights.setdefault(pid, 0.8)
        return list(weights.items())[:SEEDS]

    def keys(self) -> list[str]:
        """Every list to read for this person, in one request: seeds, their top categories, the whole shop."""
        keys = [similar_key(pid) for pid, _ in self.seeds()]
        keys += [popular_key(c) for c in self.categories[:2]]
        return list(dict.fromkeys([*keys, popular_key(None), STOCK_KEY]))


def rank(
    person: Person,
    lists: Mapping[str, Mapping[str, Any]],
    limit: int,
    exclude: Iterable[str] = (),
    unavailable: Iterable[str] = (),
) -> list[Card]:
    """The person's top `limit` products as cards with a `reason`: similar to their items first, then popular in
    their categories, then popular overall. Purchased, in-cart, already viewed, `exclude`d and out-of-stock
    products are never listed."""
    excluded = {*person.purchased, *person.cart, *person.viewed, *exclude, *unavailable, *sold_out(lists)}
    scores: dict[str, float] = {}
    cards: dict[str, Card] = {}
    for seed, weight in person.seeds():
        state = lists.get(similar_key(seed))
        if not state:
            continue
        own = max(float(state.get("t") or 0.0), 1.0)
        totals = state.get("u") or {}
        for pid, count in (state.get("n") or {}).items():
            card = (state.get("c") or {}).get(pid) or {"product_id": pid}
            if pid in excluded or card.get("in_stock") is False:
                continue
            other = max(float(totals.get(pid) or 0.0), 1.0)
            scores[pid] = scores.get(pid, 0.0) + weight * float(count) / math.sqrt(own * other)
            cards[pid] = card
    chosen = sorted(scores, key=lambda k: (-scores[k], k))[:limit]
    out = [{**cards[pid], "reason": "similar"} for pid in chosen]
    for category, reason in [*((c, "popular_in_category") for c in person.categories[:2]), (None, "popular")]:
        if len(out) >= limit:
            break
        out += popular(lists.get(popular_key(category)), limit - len(out), {*excluded, *chosen}, reason)
        chosen = [c["product_id"] for c in out]
    return out[:limit]


def marked_out_of_stock(state: Mapping[str, Any] | None, product_id: str, in_stock: bool, at: str) -> dict[str, Any]:
    """The out-of-stock list after one catalog change of `product_id` (pure; the newest `MAX_OUT_OF_STOCK` kept)."""
    ids = dict((state or {}).get("ids") or {})
    if in_stock:
        ids.pop(product_id, None)
    else:
        ids[product_id] = ids.get(product_id) or at
        if len(ids) > MAX_OUT_OF_STOCK:
            ids = dict(sorted(ids.items(), key=lambda item: item[1])[-MAX_OUT_OF_STOCK:])
    return {"ids": ids}


def sold_out(lists: Mapping[str, Mapping[str, Any]]) -> set[str]:
    """Products the catalog or any card read says are out of stock. Cards are copies written when an event touched
    their list, so one may be older than another: when they disagree, not recommending what may be sold out is the
    safer error."""
    out = set((lists.get(STOCK_KEY) or {}).get("ids") or {})  # the catalog says so
    for state in lists.values():
        own = state.get("card") or {}
        if own.get("in_stock") is False:
            out.add(str(own.get("product_id")))
        out.update(pid for pid, card in (state.get("c") or {}).items() if card.get("in_stock") is False)
    return out


def popular(state: Mapping[str, Any] | None, limit: int, exclude: Iterable[str], reason: str = "popular") -> list[Card]:
    """The top `limit` products of a popularity list, without `exclude` and out-of-stock ones."""
    if not state or limit <= 0:
        return []
    excluded = set(exclude)
    counts = state.get("n") or {}
    found = []
    for pid in sorted(counts, key=lambda k: (-float(counts[k]), k)):
        card = (state.get("c") or {}).get(pid) or {"product_id": pid}
        if pid not in excluded and card.get("in_stock") is not False:
            found.append({**card, "reason": reason})
            if len(found) == limit:
                break
    return found


def person_of(profile: Mapping[str, Any] | None) -> Person:
    """The ranking view of a profile document (`body_dict`/`document()`); an unknown visitor is an empty person."""
    if not profile:
        return Person()
    from chalicelib.profiles import view

    computed = view.computed(profile)
    viewed = tuple(str(p["product_id"]) for p in view.viewed_products(profile) if p.get("product_id"))
    cart = tuple(str(p["product_id"]) for p in view.cart_items(profile) if p.get("product_id"))
    purchased = tuple(str(p) for p in computed.get("purchased_products") or () if isinstance(p, str | int))
    categories = tuple(str(c) for c in computed.get("top_categories") or () if isinstance(c, str))
    return Person(viewed=viewed, cart=cart, purchased=purchased, categories=categories)


def combine(into: dict[str, Delta], deltas: Mapping[str, Delta]) -> None:
    """Add one event's deltas to a day's, in event order: weights sum, a later card wins field by field."""
    for key, delta in deltas.items():
        day = into.get(key)
        if day is None:
            day = into[key] = Delta()
        day.total = round(day.total + delta.total, 3)
        if delta.card is not None:
            day.card = _later(day.card, delta.card)
        for pid, weight in delta.pairs.items():
            day.pairs[pid] = round(day.pairs.get(pid, 0.0) + weight, 3)
        for pid, card in delta.cards.items():
            day.cards[pid] = _later(day.cards.get(pid), card)


def _later(earlier: Card | None, later: Card) -> Card:
    """`later`'s fields over `earlier`'s, copying only when they differ (a day's cards are shared objects)."""
    if earlier is None or earlier is later or earlier == later:
        return later
    return {**earlier, **later}


def day_updated(
    states: Mapping[str, Mapping[str, Any] | None], deltas: Mapping[str, Delta], totals: Mapping[str, float]
) -> dict[str, dict[str, Any]]:
    """The lists of `deltas` (a day's, by `combine`) with the day applied, from `states` as read before.

    `totals`: each product's own total after the day (`sim#<product>` key -> t), which the nightly job knows for every
    product of the day before it writes any list (a neighbour's list may be written in another chunk)."""
    for delta in deltas.values():
        for pid in delta.pairs:
            if (total := totals.get(similar_key(pid))) is not None:
                delta.totals[pid] = total
    return {
        key: merge(states.get(key), delta, POPULAR if key.startswith("pop#") else NEIGHBOURS)
        for key, delta in deltas.items()
    }
