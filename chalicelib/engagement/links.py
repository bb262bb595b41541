"""The links our mail carries (unsubscribe, preferences, click redirect, open pixel) and personal coupon codes.

Delivery puts them in a message; engagement answers them (api/links.py). Every one is a token of the one scheme in
`engagement/tokens.py`. The keys are resolved at first use, not when the services are built: in AWS that first use
reads the signing secret, and functions that never sign (the due-store reader, the stuck-send sweep) need no access.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from chalicelib.engagement import tokens as lt
from chalicelib.engagement.link_rewrite import rewrite_html


@dataclass(frozen=True)
class LinkSettings:
    """Where our links point and what signs them.

    Example:
        links = LinkSettings("https://shop.example", "unsubscribe@shop.example", keyring=get_link_keyring,
                             signing_key=secrets.signing_key)
        url = links.unsubscribe_url(links.unsubscribe_token("p_1", "email", "offers", "m_1"))
    """

    public_base_url: str
    unsubscribe_mailto: str
    keyring: Callable[[], lt.Keyring | None] = field(repr=False)
    signing_key: Callable[[], str] = field(repr=False)  # only for coupon codes (their derivation never changes)
    # Click and open links expire: a forwarded or leaked mail's links stop redirecting (and counting) after this.
    tracked_link_ttl: timedelta = timedelta(days=90)

    def _ring(self) -> lt.Keyring:
        ring = self.keyring()
        if ring is None:
            raise ValueError("ONE2ONE_SIGNING_KEY is not set: unsubscribe links cannot be signed")
        return ring

    def unsubscribe_token(self, profile_id: str, channel: str, topic: str | None, message_id: str) -> str:
        """The token of the unsubscribe and preference links of one message (no expiry: they must keep working)."""
        payload = lt.LinkPayload(message_id, profile_id, topic=topic or None, channel=channel)
        return lt.issue(self._ring(), "unsub", payload)

    def unsubscribe_url(self, token: str) -> str:
        return f"{self.public_base_url}/u/{token}"

    def preferences_url(self, token: str) -> str:
        return f"{self.public_base_url}/preferences/{token}"

    def list_unsubscribe_headers(self, token: str) -> dict[str, str]:
        """RFC 2369 / RFC 8058 headers: one-click POST to our endpoint, or a mail to the unsubscribe mailbox."""
        return {
            "List-Unsubscribe": f"<{self.unsubscribe_url(token)}>, <mailto:{self.unsubscribe_mailto}?subject={token}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }

    def tracking(self) -> bool:
        """Whether click and open links can be signed (a keyring is configured)."""
        return self.keyring() is not None

    def track_links(self, html: str, profile_id: str, message_id: str, now: datetime) -> str:
        """Click links and the open pixel (ours, signed, valid for `tracked_link_ttl` from `now`); unsubscribe and
        preference links stay direct and never expire."""
        ring, base = self._ring(), self.public_base_url
        expires_at = int((now + self.tracked_link_ttl).timestamp())

        def click(url: str) -> str:
            payload = lt.LinkPayload(message_id, profile_id, url=url, expires_at=expires_at)
            return f"{base}/t/c/{lt.issue(ring, 'click', payload)}"

        opened = lt.LinkPayload(message_id, profile_id, expires_at=expires_at)
        pixel = f"{base}/t/o/{lt.issue(ring, 'open', opened)}.gif"
        return rewrite_html(html, click, pixel, keep_prefixes=(f"{base}/u/", f"{base}/preferences/"))

    def coupon_code(self, scenario_id: str, profile_id: str) -> str:
        return lt.coupon_code(scenario_id, profile_id, self.signing_key())
