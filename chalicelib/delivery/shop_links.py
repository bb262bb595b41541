"""Where a message's cards and buttons point: the shop's home and cart page for the source a run came from (pure).

Order of preference, so a mail always links back to the shop and never to an empty address:
cart page: the triggering event's `cart_url` (already limited to the source's own sites by tracking/trust.py) ->
the source's `settings.cart_url` -> the shop's home. Shop home: the source's `settings.shop_url` -> its first concrete
allowed origin -> the other sources' (newest first) -> delivery.json `shop_url`. So a run without a source (a
schedule, a score transition) or from a server key still finds the shop: one install is one shop in the common case.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from chalicelib.tracking.sources import Source


def _http(value: Any) -> str:
    if isinstance(value, str) and value.strip().lower().startswith(("https://", "http://")):
        return value.strip()
    return ""


def _home(source: Source) -> str:
    if source.settings.shop_url:
        return source.settings.shop_url
    for origin in source.allowed_origins:
        if _http(origin):
            return origin.rstrip("/") + "/"
    return ""


def shop_links(
    sources: Sequence[Source],
    source_id: str | None,
    *,
    context: Mapping[str, Any] | None = None,
    fallback_shop_url: str = "",
) -> dict[str, str]:
    """`{"shop_url": ..., "cart_url": ...}` for one message ("" where nothing is known).

    Parameters:
        sources: every stored source key record (revoked ones too: old runs keep their links).
        source_id: the source of the run's trigger event (`run.context["source_id"]`), None for other triggers.
        context: the run's context (the trigger event's properties), for an event-level `cart_url`.
        fallback_shop_url: delivery.json `shop_url`.
    Example:
        >>> shop_links([], None, context={"cart_url": "https://s.example/cart"}, fallback_shop_url="https://s.example/")
        {'shop_url': 'https://s.example/', 'cart_url': 'https://s.example/cart'}
    """
    # Newest key record first: a rotated key's record carries the settings given at rotation.
    ordered = sorted(sources, key=lambda s: s.created_at or "", reverse=True)
    # The run's own source first; then the others (a server source of the shop's backend names no site itself).
    candidates = [s for s in ordered if s.source_id == source_id] + [s for s in ordered if s.source_id != source_id]
    shop_url = next((home for s in candidates if (home := _home(s))), "") or _http(fallback_shop_url)
    cart_url = (
        _http((context or {}).get("cart_url"))
        or next((s.settings.cart_url for s in candidates if s.settings.cart_url), "")
        or shop_url
    )
    return {"shop_url": shop_url, "cart_url": cart_url}
