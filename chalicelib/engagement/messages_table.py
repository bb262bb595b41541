"""MessagesTable and DueTable key layout, and their low-level item decoding, for every adapter that reads them.

Delivery's adapter (runs, message records, send log, suppression, due steps) and engagement's (preferences, touches,
pending opt-ins, export and erasure of a person's partition) share one partition per person. Engagement is the lower
wing, so the layout lives here and delivery's adapter imports it; see each adapter's docstring for its own items.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.shared.secrets import keyed_digest
from chalicelib.tracking.events import iso


def person_pk(profile_id: str) -> str:
    """The partition of everything MessagesTable holds about one person."""
    return f"p#{profile_id}"


def message_sk(trigger_id: str, step_index: int) -> str:
    return f"msg#{trigger_id}#{step_index}"


def suppression_pk(channel: str, address: str) -> str:
    return f"s#{channel}:{address.lower()}"


def erased_suppression_pk(channel: str, address: str, key: str) -> str:
    """The suppression of an erased person's address: a keyed hash (HMAC-SHA256 with the signing key), so the address
    is still never mailed again but cannot be read back, nor found by hashing a guess without the key."""
    digest = keyed_digest(key, "suppression", f"{channel}:{address.lower()}")
    return f"s#{channel}#h:{digest[:40]}"


def due_bucket(when: datetime) -> str:
    """DueTable partition of one UTC hour."""
    return "due#" + iso(when)[:13]  # YYYY-MM-DDTHH


def plain(item: dict[str, Any]) -> dict[str, Any]:
    """Low-level attribute values -> plain Python (only the types these tables use)."""
    out: dict[str, Any] = {}
    for key, value in item.items():
        ((kind, raw),) = value.items()
        if kind == "N":
            out[key] = float(raw) if "." in raw else int(raw)
        elif kind == "BOOL":
            out[key] = raw
        elif kind == "NULL":
            out[key] = None
        else:
            out[key] = raw
    return out
