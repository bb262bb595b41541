"""Tolerant read-only views of a profile's JSON dict: every key may be missing or oddly typed.

Scenarios, delivery guards and templates read the stored body as plain JSON (`model.body_dict`); these accessors are
how they read it, so a malformed profile degrades to "unknown" rather than an exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.shared.numbers import to_number as to_number  # read through `view` by scenarios, delivery, templates


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def profile_id(profile: Mapping[str, Any]) -> str:
    """The profile id ('' when missing)."""
    return str(profile.get("profile_id") or "")


def traits(profile: Mapping[str, Any]) -> dict[str, Any]:
    """The traits dict ({} when missing)."""
    return _dict(profile.get("traits"))


def computed(profile: Mapping[str, Any]) -> dict[str, Any]:
    """The computed dict ({} when missing)."""
    return _dict(profile.get("computed"))


def email_address(profile: Mapping[str, Any]) -> str | None:
    """The deliverable-looking email (top-level `email`, else `traits.email`), lower-cased; None when absent."""
    for value in (profile.get("email"), traits(profile).get("email")):
        if isinstance(value, str) and "@" in value.strip() and " " not in value.strip():
            return value.strip().lower()
    return None


def phone_number(profile: Mapping[str, Any]) -> str | None:
    """The phone (top-level `phone`, else `traits.phone`) when it has at least 7 digits; None otherwise."""
    for value in (profile.get("phone"), traits(profile).get("phone")):
        if isinstance(value, str) and sum(ch.isdigit() for ch in value) >= 7:
            return value.strip()
    return None


def demographics(profile: Mapping[str, Any]) -> dict[str, Any]:
    """The normalized demographics dict ({} when missing)."""
    return _dict(profile.get("demographics"))


def first_name(profile: Mapping[str, Any], fallback: str = "there") -> str:
    """`traits.firstName` (or `first_name`), else `demographics.first_name`, else the fallback."""
    t = traits(profile)
    for value in (t.get("firstName"), t.get("first_name"), demographics(profile).get("first_name")):
        if isinstance(value, str) and value.strip():
            return value.strip()
    return fallback


def consent_status(profile: Mapping[str, Any], channel: str) -> str | None:
    """`consent.<channel>.status` ('opted_in' / 'opted_out' / ...), or None when unknown."""
    status = _dict(_dict(profile.get("consent")).get(channel)).get("status")
    return status if isinstance(status, str) else None


def topic_opted_out(profile: Mapping[str, Any], topic: str | None) -> bool:
    """Whether the person opted out of this preference-centre topic (`consent.topics.<topic>.status`)."""
    if not topic:
        return False
    return _dict(_dict(_dict(profile.get("consent")).get("topics")).get(topic)).get("status") == "opted_out"


def timezone_name(profile: Mapping[str, Any]) -> str | None:
    """The recipient's IANA time zone name from traits, demographics or the top level; None when absent."""
    for value in (traits(profile).get("timezone"), demographics(profile).get("timezone"), profile.get("timezone")):
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def segments(profile: Mapping[str, Any]) -> set[str]:
    """The segment ids the profile is currently in."""
    return {s for s in _list(profile.get("segments")) if isinstance(s, str)}


def stage(profile: Mapping[str, Any]) -> str | None:
    """The lifecycle stage, or None."""
    value = profile.get("stage")
    return value if isinstance(value, str) else None


def cart_items(profile: Mapping[str, Any]) -> list[dict[str, Any]]:
    """`computed.cart` items that are dicts (each has product_id, name, price, quantity, url, image_url)."""
    return [item for item in _list(computed(profile).get("cart")) if isinstance(item, dict)]


def viewed_products(profile: Mapping[str, Any]) -> list[dict[str, Any]]:
    """`computed.viewed_products` as dicts, most recent first as stored; bare ids become `{"product_id": id}`."""
    raw = computed(profile).get("viewed_products")
    if isinstance(raw, dict):  # tolerate a {product_id: view count} map
        return [{"product_id": str(k), "views": v} for k, v in raw.items()]
    out: list[dict[str, Any]] = []
    for item in _list(raw):
        if isinstance(item, dict):
            out.append(item)
        elif isinstance(item, str | int):
            out.append({"product_id": str(item)})
    return out


PREDICTED_CLV = "predicted_clv"
HISTORICAL_VALUE = "historical_value"


def budget_value(profile: Mapping[str, Any]) -> tuple[float, str]:
    """The customer value the marketing budget is a share of, and its basis: the predicted 12-month CLV once the
    CLV models are fitted and the person has bought (`predicted_clv`), else what they spent so far
    (`historical_value`: prospects, and every customer before the first fit)."""
    predictions = profile.get("predictions")
    if isinstance(predictions, Mapping):
        clv_12m = to_number(predictions.get("clv_12m"))
        if clv_12m is not None:
            return max(clv_12m, 0.0), PREDICTED_CLV
    return lifetime_value(profile), HISTORICAL_VALUE


def lifetime_value(profile: Mapping[str, Any]) -> float:
    """Customer value for the budget guard: `ltv`, else `revenue`, else `computed.revenue`; 0 when unknown."""
    for value in (profile.get("ltv"), profile.get("revenue"), computed(profile).get("revenue")):
        number = to_number(value)
        if number is not None:
            return max(number, 0.0)
    return 0.0


def last_event_times(profile: Mapping[str, Any]) -> dict[str, float]:
    """Track event name -> epoch seconds of its latest time (`activity.last_by_event`); {} when unknown."""
    times = _dict(_dict(profile.get("activity")).get("last_by_event"))
    return {name: float(at) for name, at in times.items() if isinstance(at, int | float) and not isinstance(at, bool)}
