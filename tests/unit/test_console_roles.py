"""Console roles and the Cognito sign-in's pure parts: which role a request needs, which role a person's groups give,
and the PKCE round trip (the state must match, the code is traded with the verifier this browser holds)."""

from __future__ import annotations

import base64
import hashlib
import urllib.parse

import pytest

from chalicelib.api import session
from chalicelib.api.console import cognito
from chalicelib.shared.console_auth import HostedUi

UI = HostedUi("one2one-1.auth.eu-west-1.amazoncognito.com", "client-1")
ORIGIN = "https://d111.cloudfront.net"


@pytest.mark.parametrize(
    ("method", "path", "role"),
    [
        ("GET", "/admin/broadcasts", "viewer"),
        ("POST", "/admin/broadcasts", "marketer"),
        ("POST", "/admin/console/api/broadcasts/b1/cancel", "marketer"),
        ("PUT", "/admin/console/api/definitions/segment/s1", "marketer"),
        ("PUT", "/admin/console/api/definitions/scenario/s1", "admin"),
        ("POST", "/admin/console/api/imports", "admin"),
        ("POST", "/admin/failed-events/replay", "admin"),
        ("POST", "/admin/sources", "admin"),
    ],
)
def test_each_request_needs_a_role(method: str, path: str, role: str) -> None:
    assert session.required_role(method, path) == role
    assert session.allowed(role, method, path)
    lower = session.ROLES[session.ROLES.index(role) - 1] if role != "viewer" else None
    assert not session.allowed(lower, method, path)


@pytest.mark.parametrize(
    ("groups", "role"),
    [("admin", "admin"), ("[viewer marketer]", "marketer"), ("viewer,other", "viewer"), (["x"], None), (None, None)],
)
def test_the_highest_known_group_is_the_role(groups: object, role: str | None) -> None:
    assert session.role_of_groups(groups) == role


def test_only_an_id_token_that_the_authorizer_checked_names_a_person() -> None:
    claims = {"token_use": "id", "email": "ann@example.com", "cognito:groups": "marketer"}
    assert session.claims_caller({"authorizer": {"claims": claims}}) == session.Caller("ann@example.com", "marketer")
    assert session.claims_caller({"authorizer": {"claims": {**claims, "token_use": "access"}}}) is None
    assert session.claims_caller({}) is None


def test_a_session_cookie_carries_its_role_and_a_changed_role_is_forged() -> None:
    value = session.issue("tok", role="viewer")
    assert session.session_role(value, "tok") == "viewer"
    expires, _, mac = value.split(".")
    assert session.session_role(f"{expires}.admin.{mac}", "tok") is None
    assert session.session_role(value, "other-token") is None
    with pytest.raises(ValueError):
        session.issue("tok", role="root")


def test_sign_in_sends_a_pkce_challenge_and_keeps_the_verifier_in_the_browser() -> None:
    location, cookie = cognito.start(UI, ORIGIN, "/admin/console/broadcasts")
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
    assert location.startswith("https://one2one-1.auth.eu-west-1.amazoncognito.com/oauth2/authorize?")
    assert query["client_id"] == "client-1" and query["redirect_uri"] == ORIGIN + cognito.CALLBACK
    assert query["code_challenge_method"] == "S256"
    assert "HttpOnly" in cookie and "Secure" in cookie and f"Path={cognito.CALLBACK}" in cookie
    value = cookie.split(";")[0].split("=", 1)[1]
    verifier, next_path = cognito.pending(value, query["state"])
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert digest == query["code_challenge"] and next_path == "/admin/console/broadcasts"
    with pytest.raises(cognito.SignInError):
        cognito.pending(value, "another-state")
    with pytest.raises(cognito.SignInError):
        cognito.pending(None, query["state"])


def test_the_code_is_traded_for_an_id_token_cookie_that_lives_as_long_as_the_token() -> None:
    sent: list[tuple[str, dict[str, str]]] = []

    def post(url: str, body: bytes) -> dict[str, object]:
        sent.append((url, dict(urllib.parse.parse_qsl(body.decode()))))
        return {"id_token": "h.p.s", "access_token": "a", "expires_in": 3600}

    cookie = cognito.finish(UI, ORIGIN, "code-1", "verifier-1", post)
    assert cookie.startswith("one2one_id=h.p.s;") and "Max-Age=3600" in cookie and "HttpOnly" in cookie
    url, form = sent[0]
    assert url.endswith("/oauth2/token") and form["code_verifier"] == "verifier-1" and form["code"] == "code-1"

    def refuses(url: str, body: bytes) -> dict[str, object]:
        raise OSError("400 invalid_grant")

    with pytest.raises(cognito.SignInError):
        cognito.finish(UI, ORIGIN, "code-1", "verifier-1", refuses)
    with pytest.raises(cognito.SignInError):
        cognito.finish(UI, ORIGIN, "code-1", "verifier-1", lambda url, body: {"access_token": "a"})
