"""Factories shared by the profile, scoring, lifecycle and segment tests (this module holds no tests itself)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

from chalicelib.profiles.config import ProfileConfig, load_profile_config
from chalicelib.tracking.events import TrackedEvent

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
PROFILE_ID = "p_test"
_ids = count(1)


def at(days_ago: float = 0, minutes: float = 0) -> datetime:
    """A time relative to NOW (negative minutes move forward)."""
    return NOW - timedelta(days=days_ago, minutes=minutes)


def make_event(
    kind: str = "track",
    event: str | None = "Product Viewed",
    when: datetime | None = None,
    properties: dict[str, Any] | None = None,
    traits: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
    message_id: str | None = None,
    is_bot: bool = False,
    anonymous_id: str | None = "anon-1",
    user_id: str | None = None,
) -> TrackedEvent:
    """A stored-shape tracked event; every field has a sensible default so a test states only what matters."""
    ts = when or NOW
    return TrackedEvent(
        message_id=message_id or f"m{next(_ids)}",
        source_id="src",
        type=kind,
        profile_id=PROFILE_ID,
        timestamp=ts,
        received_at=ts,
        event=event if kind == "track" else None,
        properties=properties or {},
        traits=traits or {},
        context=context or {},
        is_bot=is_bot,
        anonymous_id=anonymous_id,
        user_id=user_id,
    )


def page(when: datetime | None = None, **kwargs: Any) -> TrackedEvent:
    return make_event("page", None, when, **kwargs)


def identify(traits: dict[str, Any], when: datetime | None = None, **kwargs: Any) -> TrackedEvent:
    return make_event("identify", None, when, traits=traits, **kwargs)


def product(pid: str, name: str = "Shoe", price: float = 10.0, category: str = "shoes", **extra: Any) -> dict[str, Any]:
    return {"product_id": pid, "name": name, "price": price, "category": category, **extra}


def config() -> ProfileConfig:
    """The shipped configuration (chalicelib/config)."""
    return load_profile_config()


def bare_config(**parts: Any) -> ProfileConfig:
    """A config with defaults and no segments/thresholds unless given, for tests that need exact numbers."""
    return ProfileConfig.model_validate(parts)
