"""Scenario conditions: resolve a field against the profile / event / run context / derived facts, then compare it
with the rule language's operators (`rules.condition_test`), so a condition means what the same test means in a
segment or a fit rule."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec
from pydantic import BaseModel

from chalicelib.profiles.view import cart_items, to_number, viewed_products
from chalicelib.rules import condition_test, value_test
from chalicelib.scenarios.definitions import Condition
from chalicelib.tracking.events import TrackedEvent

# Delivery puts whether a message of the run was opened or clicked under this key of the context it evaluates a
# step with (never stored in the run): the engine stays pure, the fact stays one name in the condition language.
ENGAGED_CONTEXT_KEY = "__message_opened"


def _product_id(event: TrackedEvent | None, context: Mapping[str, Any]) -> str | None:
    value = event.properties.get("product_id") if event is not None else None
    if value is None:
        value = context.get("product_id")
    return str(value) if value is not None and value != "" else None


def _quantity(item: Mapping[str, Any]) -> float:
    qty = to_number(item.get("quantity"))
    return 1.0 if qty is None else qty


def fact_value(
    name: str, profile: Mapping[str, Any], event: TrackedEvent | None = None, context: Mapping[str, Any] | None = None
) -> Any:
    """Derived values for conditions (product = the event's `product_id`, else the run context's):

    - `product_view_count`: views of that product in `computed.viewed_products` (entries' `views`/`view_count`/`count`,
      else one per entry); None without a product;
    - `product_in_cart`: that product is in `computed.cart` with quantity > 0; None without a product;
    - `cart_item_count`: total quantity in the cart; `cart_value`: sum of price x quantity;
    - `bought_product`: the event (an order) lists the run's `product_id` in `products[]` or as its `product_id`;
    - `message_opened`: a message this run sent was opened or clicked by a human (delivery supplies it).
    """
    ctx = context or {}
    if name == "message_opened":
        return bool(ctx.get(ENGAGED_CONTEXT_KEY))
    if name == "bought_product":
        wanted = ctx.get("product_id")
        if event is None or wanted in (None, ""):
            return False
        listed = event.properties.get("products")
        ids = {str(p.get("product_id")) for p in listed if isinstance(p, dict)} if isinstance(listed, list) else set()
        if event.properties.get("product_id") is not None:
            ids.add(str(event.properties["product_id"]))
        return str(wanted) in ids
    if name in ("product_view_count", "product_in_cart"):
        pid = _product_id(event, ctx)
        if pid is None:
            return None
        if name == "product_in_cart":
            return any(str(i.get("product_id")) == pid and _quantity(i) > 0 for i in cart_items(profile))
        total = 0.0
        for entry in viewed_products(profile):
            if str(entry.get("product_id")) != pid:
                continue
            counted = next((to_number(entry.get(k)) for k in ("views", "view_count", "count") if k in entry), None)
            total += counted if counted is not None else 1
        return total
    if name == "cart_item_count":
        return sum(max(_quantity(i), 0.0) for i in cart_items(profile))
    if name == "cart_value":
        return sum((to_number(i.get("price")) or 0.0) * max(_quantity(i), 0.0) for i in cart_items(profile))
    raise KeyError(name)


def _dig(value: Any, parts: Sequence[str]) -> Any:
    for part in parts:
        if isinstance(value, BaseModel):
            extra = value.model_extra or {}
            if part in type(value).model_fields:
                value = getattr(value, part)
            elif part in extra:
                value = extra[part]
            else:
                return None
        elif isinstance(value, msgspec.Struct):  # a TrackedEvent
            value = getattr(value, part, None) if part in value.__struct_fields__ else None
        elif isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit():
            index = int(part)
            value = value[index] if index < len(value) else None
        else:
            return None
        if value is None:
            return None
    return value


def resolve_field(
    field_path: str,
    *,
    profile: Mapping[str, Any],
    event: TrackedEvent | None = None,
    context: Mapping[str, Any] | None = None,
) -> Any:
    """The value a condition's `field` points at (None when missing)."""
    root, _, rest = field_path.partition(".")
    parts = rest.split(".")
    if root == "fact":
        return fact_value(rest, profile, event, context)
    if root == "profile":
        return _dig(profile, parts)
    if root == "context":
        return _dig(context or {}, parts)
    if root == "event":
        return _dig(event, parts) if event is not None else None
    return None


def compare(op: str, actual: Any, expected: Any) -> bool:
    """Apply a condition operator (see `rules.operators` for what each means). A missing (None) actual value only
    satisfies the negative operators. ValueError for an unknown operator."""
    return value_test(op, expected)(actual)


def evaluate(
    condition: Condition,
    *,
    profile: Mapping[str, Any],
    event: TrackedEvent | None = None,
    context: Mapping[str, Any] | None = None,
) -> bool:
    """True when the condition holds for this profile / event / run context."""
    actual = resolve_field(condition.field, profile=profile, event=event, context=context)
    return condition_test(condition)(actual)


def evaluate_all(conditions: Iterable[Condition], **kwargs: Any) -> bool:
    """True when every condition holds (an empty list holds)."""
    return all(evaluate(c, **kwargs) for c in conditions)
