"""Signing in to the deployed console through Cognito's hosted UI: the OAuth 2.0 authorization code flow with PKCE
(a public client, no secret), the ID token kept in an HttpOnly cookie that CloudFront hands to API Gateway's Cognito
authorizer as the Authorization header (infra: ConsoleViewerRequest). The token is checked there, on every request,
against the pool's keys; this module only sends people to the hosted UI and trades the returned code for tokens.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from chalicelib.shared.console_auth import HostedUi

ID_COOKIE = "one2one_id"
PKCE_COOKIE = "one2one_pkce"
CALLBACK = "/admin/console/auth/callback"
SCOPES = "openid email profile"
PKCE_SECONDS = 600  # time to sign in on the hosted UI
TOKEN_TIMEOUT_SECONDS = 5


class SignInError(Exception):
    """The hosted UI's answer cannot be trusted or used (stale or forged state, a refused code)."""


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def start(ui: HostedUi, origin: str, next_path: str) -> tuple[str, str]:
    """(the hosted UI's authorize URL, the PKCE cookie to set): the verifier and state stay in this browser only."""
    verifier, state = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
    query = urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": ui.client_id,
            "redirect_uri": origin + CALLBACK,
            "scope": SCOPES,
            "state": state,
            "code_challenge": _challenge(verifier),
            "code_challenge_method": "S256",
        }
    )
    value = base64.urlsafe_b64encode(json.dumps([verifier, state, next_path]).encode()).decode()
    cookie = f"{PKCE_COOKIE}={value}; Path={CALLBACK}; Max-Age={PKCE_SECONDS}; HttpOnly; Secure; SameSite=Lax"
    return ui.url(f"/oauth2/authorize?{query}"), cookie


def pending(cookie_value: str | None, state: str | None) -> tuple[str, str]:
    """(verifier, next path) of the sign-in this browser started, if `state` is the one it was sent with."""
    try:
        verifier, expected, next_path = json.loads(base64.urlsafe_b64decode((cookie_value or "").encode()))
    except (ValueError, TypeError) as exc:
        raise SignInError("no sign-in was started in this browser (or it took more than 10 minutes)") from exc
    if not state or not secrets.compare_digest(str(expected), state):
        raise SignInError("the sign-in answer does not match the sign-in this browser started")
    return str(verifier), str(next_path)


Post = Callable[[str, bytes], dict[str, Any]]


def _post(url: str, body: bytes) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 - always the https:// URL of the pool's own domain
        url, data=body, method="POST", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    with urllib.request.urlopen(request, timeout=TOKEN_TIMEOUT_SECONDS) as answer:  # noqa: S310
        return dict(json.loads(answer.read()))


def finish(ui: HostedUi, origin: str, code: str, verifier: str, post: Post | None = None) -> str:
    """The ID cookie for the code the hosted UI returned (its lifetime is the token's)."""
    body = urllib.parse.urlencode(
        {
            "grant_type": "authorization_code",
            "client_id": ui.client_id,
            "code": code,
            "redirect_uri": origin + CALLBACK,
            "code_verifier": verifier,
        }
    ).encode()
    try:
        tokens = (post or _post)(ui.url("/oauth2/token"), body)
    except Exception as exc:  # noqa: BLE001 - urllib's HTTPError, URLError, a timeout, a body that is not JSON
        raise SignInError(f"Cognito did not accept the sign-in ({type(exc).__name__})") from exc
    id_token, lifetime = tokens.get("id_token"), int(tokens.get("expires_in") or 3600)
    if not isinstance(id_token, str) or not id_token:
        raise SignInError("Cognito answered without an ID token")
    return f"{ID_COOKIE}={id_token}; Path=/admin; Max-Age={lifetime}; HttpOnly; Secure; SameSite=Lax"


def cleared(name: str, path: str) -> str:
    return f"{name}=; Path={path}; Max-Age=0; HttpOnly; Secure; SameSite=Lax"
