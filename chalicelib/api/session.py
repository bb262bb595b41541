"""The console's sign-in session on the local stack: a cookie that says "this browser presented the admin token".

The cookie holds an expiry and an HMAC of it keyed by the local admin token, never the token itself: a copied cookie
stops working when it expires or the token changes, and reading it reveals nothing. Deployed, there is no local token
and no session (IAM, or Cognito in front of it, authenticates; see README "Console").
"""

from __future__ import annotations

import hashlib
import hmac
import time

COOKIE = "one2one_console"
LIFETIME_SECONDS = 8 * 3600  # a working day; then the sign-in page again, keeping the path


def _mac(token: str, expires: int) -> str:
    return hmac.new(token.encode(), f"console-session|{expires}".encode(), hashlib.sha256).hexdigest()


def issue(token: str, now: float | None = None) -> str:
    """A cookie value valid for LIFETIME_SECONDS from `now` (wall time: the local stack's fake clock may jump)."""
    expires = int((time.time() if now is None else now) + LIFETIME_SECONDS)
    return f"{expires}.{_mac(token, expires)}"


def valid(value: str, token: str, now: float | None = None) -> bool:
    expires_text, _, mac = value.partition(".")
    if not expires_text.isdigit() or not mac:
        return False
    expires = int(expires_text)
    if expires < (time.time() if now is None else now):
        return False
    return hmac.compare_digest(mac.encode(), _mac(token, expires).encode())


def from_headers(headers: dict[str, str]) -> str | None:
    """The session cookie's value from a request's `cookie` header (keys already lower-cased by Chalice)."""
    for part in (headers.get("cookie") or "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE:
            return value
    return None


def set_cookie(value: str, *, secure: bool, max_age: int = LIFETIME_SECONDS) -> str:
    # SameSite=Strict: another site's page can never make the browser send it, so the JSON routes that accept it
    # need no CSRF token (their default content type, JSON, also forces a preflight cross-origin). HttpOnly: no
    # script reads it. Path=/admin: the public routes never see it.
    flags = f"{COOKIE}={value}; Path=/admin; Max-Age={max_age}; HttpOnly; SameSite=Strict"
    return flags + ("; Secure" if secure else "")
