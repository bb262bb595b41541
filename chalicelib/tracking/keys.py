"""Write keys over their life: list, rotate (the old key keeps working for a grace period), revoke; and a bound on
how often one client may present unknown keys (a key-guessing loop gets 429s, not a DynamoDB read each)."""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from datetime import datetime, timedelta

from chalicelib.tracking.ports import SourceRegistry
from chalicelib.tracking.sources import Source

MAX_GRACE = timedelta(days=30)


class UnknownSource(LookupError):
    """No active key of that source (or no key with that id)."""


def rotate(registry: SourceRegistry, source_id: str, grace: timedelta, now: datetime) -> tuple[str, Source]:
    """A new write key for `source_id` (same kind, origins, identity secret); its other keys stop at `now + grace`.

    Returns the new key (shown once) and its source record.
    """
    if not timedelta(0) <= grace <= MAX_GRACE:
        raise ValueError(f"the grace period must be between 0 and {MAX_GRACE.days} days")
    current = [s for s in registry.keys(source_id) if s.usable(now)]
    if not current:
        raise UnknownSource(f"source {source_id!r} has no active key")
    template = max(current, key=lambda s: s.created_at or "")
    write_key = secrets.token_urlsafe(24)
    created = registry.upsert_source(
        source_id,
        write_key,
        template.allowed_origins,
        template.name,
        kind=template.kind,
        identity_secret=template.identity_secret,
    )
    if template.settings != created.settings:  # the shop links mail carries survive a key rotation
        created = created.model_copy(update={"settings": template.settings})
        registry.save(created)
    ends = (now + grace).isoformat()
    for old in current:
        if old.key_hash != created.key_hash and (old.expires_at is None or old.expires_at > ends):
            registry.save(old.model_copy(update={"expires_at": ends}))
    return write_key, created


def revoke(registry: SourceRegistry, source_id: str, key_id: str, now: datetime) -> Source:
    """Stop one key at once (within the registry's cache time: a warm function may accept it for a minute more)."""
    for key in registry.keys(source_id):
        if key.key_id == key_id:
            revoked = key.model_copy(update={"revoked_at": key.revoked_at or now.isoformat()})
            registry.save(revoked)
            return revoked
    raise UnknownSource(f"source {source_id!r} has no key {key_id!r}")


class BadKeyThrottle:
    """Per-container memory of unknown-key attempts by client address: past `limit` in `window_seconds`, refuse
    without looking the key up. Bounded (`max_clients`, least recently seen dropped), so it cannot grow without end."""

    def __init__(self, limit: int = 20, window_seconds: float = 60.0, max_clients: int = 10_000) -> None:
        self.limit = limit
        self.window = window_seconds
        self.max_clients = max_clients
        self._seen: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def blocked(self, client: str | None) -> bool:
        if client is None:
            return False
        entry = self._seen.get(client)
        return entry is not None and time.monotonic() - entry[0] < self.window and entry[1] >= self.limit

    def failed(self, client: str | None) -> None:
        if client is None:
            return
        now = time.monotonic()
        started, count = self._seen.pop(client, (now, 0))
        if now - started >= self.window:
            started, count = now, 0
        self._seen[client] = (started, count + 1)
        while len(self._seen) > self.max_clients:
            self._seen.popitem(last=False)
