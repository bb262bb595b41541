"""The console's sign-in session on the local stack: a cookie that says "this browser presented the admin token".

The cookie holds an expiry, a role and an HMAC of both keyed by the local admin token, never the token itself: a
copied cookie stops working when it expires or the token changes, and reading it reveals nothing. Deployed, there is
no local token and no session: API Gateway's Cognito authorizer has checked the person's ID token and hands its claims
to the Lambda (`caller`), whose `cognito:groups` give the role; scripts sign with IAM and are admins.

Roles: a viewer reads every page; a marketer also writes broadcasts, segments and templates; an admin also imports,
replays failed events, retries sends and changes everything else (`required_role`).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any

COOKIE = "one2one_console"
LIFETIME_SECONDS = 8 * 3600  # a working day; then the sign-in page again, keeping the path


ROLES = ("viewer", "marketer", "admin")  # each may do what the ones before it may
# Writes a marketer may make (route path prefixes); every other write is an admin's.
MARKETER_WRITES = ("/admin/broadcasts", "/admin/definitions/segment/", "/admin/definitions/template/")
READS = frozenset({"GET", "HEAD", "OPTIONS"})
CONSOLE_API = "/admin/console/api"


@dataclass(frozen=True)
class Caller:
    name: str
    role: str | None  # None: signed in, but in no group that is a role (a 403 everywhere)


def rank(role: str | None) -> int:
    return ROLES.index(role) + 1 if role in ROLES else 0


def required_role(method: str, path: str) -> str:
    if method.upper() in READS:
        return "viewer"
    if path.startswith(CONSOLE_API):
        path = "/admin" + path[len(CONSOLE_API) :]  # the console's copy of an admin route needs what it needs
    return "marketer" if path.startswith(MARKETER_WRITES) else "admin"


def filled(path: str, params: dict[str, str] | None) -> str:
    """A route's path with its parameters (`/admin/definitions/{kind}/x` -> `/admin/definitions/segment/x`)."""
    for name, value in (params or {}).items():
        path = path.replace("{" + name + "}", value)
    return path


def allowed(role: str | None, method: str, path: str) -> bool:
    return rank(role) >= rank(required_role(method, path))


def role_of_groups(groups: Any) -> str | None:
    """The highest role among Cognito groups: a list, or API Gateway's string form (`admin`, `[admin marketer]`,
    `admin,viewer`)."""
    if isinstance(groups, str):
        groups = groups.strip("[]").replace(",", " ").split()
    best = max((g for g in groups or () if g in ROLES), key=rank, default=None)
    return best


def claims_caller(context: dict[str, Any]) -> Caller | None:
    """The person API Gateway's Cognito authorizer let in (it verified the ID token's signature, issuer, audience and
    expiry against the user pool); None when this request did not come through it."""
    claims = ((context or {}).get("authorizer") or {}).get("claims")
    if not isinstance(claims, dict) or claims.get("token_use", "id") != "id":
        return None
    name = str(claims.get("email") or claims.get("cognito:username") or claims.get("sub") or "someone")
    return Caller(name, role_of_groups(claims.get("cognito:groups")))


def _mac(token: str, expires: int, role: str) -> str:
    return hmac.new(token.encode(), f"console-session|{expires}|{role}".encode(), hashlib.sha256).hexdigest()


def issue(token: str, now: float | None = None, role: str = "admin") -> str:
    """A cookie value valid for LIFETIME_SECONDS from `now` (wall time: the local stack's fake clock may jump)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    expires = int((time.time() if now is None else now) + LIFETIME_SECONDS)
    return f"{expires}.{role}.{_mac(token, expires, role)}"


def session_role(value: str, token: str, now: float | None = None) -> str | None:
    """The role of a valid session cookie; None when it is forged, expired or signed with another token."""
    expires_text, role, mac = (value.split(".", 2) + ["", ""])[:3]
    if not expires_text.isdigit() or role not in ROLES or not mac:
        return None
    expires = int(expires_text)
    if expires < (time.time() if now is None else now):
        return None
    return role if hmac.compare_digest(mac.encode(), _mac(token, expires, role).encode()) else None


def valid(value: str, token: str, now: float | None = None) -> bool:
    return session_role(value, token, now) is not None


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
