"""What a browser may claim: the trust boundary between a public write key and a person's record (pure).

A `client` source's write key sits in every visitor's browser, so anyone has it. From such a source, behaviour is
welcome, but what would redirect mail, change consent, move money or glue an anonymous visitor to a known customer is
accepted only for the userId an *identity token* vouches for: a short-lived JWT (HS256) the shop's backend signs with
the source's identity secret (`sub` = the userId, `exp` required, `aud` = the source id when present), sent as
`context.identityToken` or the `X-One2one-Identity-Token` header (the pattern of Braze's SDK authentication and
Intercom's identity verification). Without one, a client message is kept as behaviour plus unverified claims:

- its userId is not linked: the message stays on the anonymous visitor, the claimed userId kept as
  `traits.claimed_user_id` (a message with a userId and no anonymousId is refused: there is nobody else to keep it on);
- email and phone never become the person's addresses: they are kept as `claimed_email` / `claimed_phone`;
- consent events and revenue (orders, refunds) are flagged `unverified` and the fold neither applies nor counts them.

A `server` source's key is a secret of the shop's backend: its messages are trusted as they are.
"""

from __future__ import annotations

import hmac
from dataclasses import replace
from datetime import datetime
from typing import Any

from chalicelib.tracking.validation import MessageError, ValidMessage

TOKEN_HEADER = "x-one2one-identity-token"  # noqa: S105 - a header name
TOKEN_CONTEXT_KEY = "identityToken"  # noqa: S105 - a context key
MAX_TOKEN_LIFETIME_SECONDS = 24 * 3600  # a token that claims to live longer is refused: they are minted per session
# Events whose effect is money or permission: from an unverified client they are stored, flagged, and not applied.
GUARDED_EVENTS = frozenset(
    {
        "Order Completed",
        "Order Refunded",
        "Order Cancelled",
        "Email Subscribed",
        "Email Unsubscribed",
        "SMS Subscribed",
        "SMS Unsubscribed",
        "Push Subscribed",
        "Push Unsubscribed",
    }
)
ADDRESS_TRAITS = ("email", "phone")
UNVERIFIED = "unverified"


def verified_user(token: Any, secret: str | None, source_id: str, now: datetime) -> str | None:
    """The userId an identity token vouches for, or None (no token, no secret, bad signature, expired, too long-lived,
    issued in the future, or for another source)."""
    if not isinstance(token, str) or not token or not secret or len(token) > 4096:
        return None
    import jwt  # lazy: only requests that carry a token pay for it

    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            options={"require": ["sub", "exp"], "verify_exp": False, "verify_aud": False, "verify_iat": False},
        )
    except jwt.PyJWTError:
        return None
    stamp = now.timestamp()
    expires, issued = claims.get("exp"), claims.get("iat", stamp)
    if not isinstance(expires, int | float) or not isinstance(issued, int | float):
        return None
    if expires <= stamp or issued > stamp + 60 or expires - min(issued, stamp) > MAX_TOKEN_LIFETIME_SECONDS:
        return None
    audience = claims.get("aud")
    if audience is not None and audience != source_id and not (isinstance(audience, list) and source_id in audience):
        return None
    subject = claims.get("sub")
    return subject if isinstance(subject, str) and subject else None


def restrict(message: ValidMessage, vouched_user: str | None) -> tuple[ValidMessage, list[str]]:
    """A client source's message as it may be kept: claims that need proof moved aside unless `vouched_user` is the
    message's userId. Returns the message and the flags to store with it. Raises MessageError when nothing is left
    to keep it on (a userId without proof and no anonymousId)."""
    context = {k: v for k, v in message.context.items() if k != TOKEN_CONTEXT_KEY}
    if message.user_id is not None and vouched_user is not None and hmac.compare_digest(message.user_id, vouched_user):
        return replace(message, context=context), []
    traits = _addresses_as_claims(message.traits)
    if isinstance(context.get("traits"), dict):
        context["traits"] = _addresses_as_claims(context["traits"])
    user_id = message.user_id
    if user_id is not None:
        if message.anonymous_id is None:
            raise MessageError(
                "identity_token_required",
                "a userId from a client source needs an identity token signed by your backend (or an anonymousId)",
                "userId",
            )
        traits["claimed_user_id"] = user_id
    flags = [UNVERIFIED] if message.event in GUARDED_EVENTS or message.type == "alias" else []
    previous_id = None if message.type == "alias" else message.previous_id
    restricted = replace(message, user_id=None, email=None, traits=traits, context=context, previous_id=previous_id)
    return restricted, flags


def _addresses_as_claims(traits: dict[str, Any]) -> dict[str, Any]:
    """A copy of `traits` with `email` and `phone` renamed `claimed_*`: kept, never used as addresses."""
    return {f"claimed_{k}" if k in ADDRESS_TRAITS else k: v for k, v in traits.items()}


URL_PROPERTIES = ("url", "image_url", "image", "cart_url")


def _site_of(url: str) -> str | None:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url.strip())
        port = f":{parts.port}" if parts.port else ""  # `.port` raises on an out-of-range port
    except ValueError:
        return None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return None
    return f"{parts.scheme}://{parts.hostname}{port}"


def own_site_urls(properties: dict[str, Any], sites: list[str]) -> dict[str, Any]:
    """`properties` with every product or link URL (`url`, `image_url`, `image`, also inside `products[]`) that is not
    on one of the source's own sites (its allowed origins; `*` allows any) removed: mail built from a profile must never
    link to a host a browser made up."""
    if "*" in sites:
        return properties
    allowed = {site.rstrip("/").lower() for site in sites}

    def clean(item: dict[str, Any]) -> dict[str, Any]:
        kept = dict(item)
        for name in URL_PROPERTIES:
            value = kept.get(name)
            if isinstance(value, str) and (_site_of(value) or "").lower() not in allowed:
                del kept[name]
        return kept

    cleaned = clean(properties)
    products = cleaned.get("products")
    if isinstance(products, list):
        cleaned["products"] = [clean(item) if isinstance(item, dict) else item for item in products]
    return cleaned
