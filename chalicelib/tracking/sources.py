"""Sources: who may send events (write keys, stored hashed) and from which browser origins (pure)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

SourceKind = Literal["client", "server"]


def hash_write_key(write_key: str) -> str:
    """Write keys are stored as SHA-256: a leaked table does not leak keys. Keys are random, so no salt is needed."""
    return hashlib.sha256(write_key.encode()).hexdigest()


class SourceSettings(BaseModel):
    """What mail built from this source's events links back to (delivery/shop_links.py); absolute http(s) URLs."""

    shop_url: str | None = Field(default=None, description="the shop's home: cards without a product page link here")
    cart_url: str | None = Field(default=None, description="the cart page the cart reminders link to")

    @field_validator("shop_url", "cart_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.lower().startswith(("https://", "http://")) or len(value) > 500 or any(c.isspace() for c in value):
            raise ValueError("must be an absolute http(s) URL")
        return value


class Source(BaseModel):
    source_id: str
    name: str = ""
    key_hash: str
    allowed_origins: list[str] = Field(default_factory=list)  # exact origins, or "*" for any
    # Privacy (GPC / DNT): by default a browser signal means the event is not tied to a person.
    honour_gpc: bool = True
    # `client`: a public key (browsers, apps) whose userIds, addresses, consent and revenue need an identity token;
    # `server`: a secret key of the shop's backend, trusted as it is (tracking/trust.py). Sources stored before kinds
    # existed read as `client`: the safe reading of a key that may sit in a browser.
    kind: SourceKind = "client"
    identity_secret: str | None = None  # HS256 key of the identity tokens the shop's backend mints (client sources)
    # Key lifecycle (ISO times): a rotated-out key works until `expires_at`, a revoked one never again.
    created_at: str | None = None
    expires_at: str | None = None
    revoked_at: str | None = None
    settings: SourceSettings = Field(default_factory=SourceSettings)

    @property
    def key_id(self) -> str:
        """A short, stable name for this write key (its hash's prefix: the key itself is never stored)."""
        return self.key_hash[:12]

    def usable(self, now: datetime) -> bool:
        """Whether the key still authenticates: not revoked, and not past the grace period of a rotation."""
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or datetime.fromisoformat(self.expires_at) > now

    def key_matches(self, write_key: str) -> bool:
        return hmac.compare_digest(self.key_hash, hash_write_key(write_key))

    def origin_allowed(self, origin: str | None) -> bool:
        """Server-side calls carry no Origin and are allowed; browsers must come from the allow-list."""
        if not origin:
            return True
        return "*" in self.allowed_origins or origin.rstrip("/") in {o.rstrip("/") for o in self.allowed_origins}
