"""A client source's write key is public: without an identity token its messages cannot link a userId, change
addresses, consent or revenue (tracking/trust.py); with one, the vouched userId's messages are trusted."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest

from tests.integration.conftest import ADMIN_TOKEN, Harness


@pytest.fixture
def browser(harness: Harness) -> dict[str, str]:
    """A client source created through the admin API: its write key and its identity secret."""
    created = harness.client.http.post(
        "/admin/sources",
        body=json.dumps({"source_id": "browser", "allowed_origins": ["https://shop.example"]}),
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"},
    )
    assert created.status_code == 201, created.body
    source = harness.json(created)
    assert source["kind"] == "client" and source["identity_secret"]
    return source


def _post(harness: Harness, source: dict[str, str], path: str, body: Any, **headers: str) -> Any:
    auth = "Basic " + base64.b64encode(f"{source['write_key']}:".encode()).decode()
    return harness.client.http.post(
        path, body=json.dumps(body), headers={"Content-Type": "application/json", "Authorization": auth, **headers}
    )


def _token(secret: str, user_id: str, *, lifetime: int = 600, **claims: Any) -> str:
    from chalicelib.shared.clock import get_clock

    # Signed on the clock the app checks it with (as local/stack.py's demo backend does): a test that left a fake
    # clock behind in this worker process must not turn a valid token into one "issued in the future".
    now = int(get_clock().now().timestamp())
    return jwt.encode({"sub": user_id, "iat": now, "exp": now + lifetime, **claims}, secret, algorithm="HS256")


def _profile(harness: Harness, **identity: str) -> dict[str, Any] | None:
    ((kind, value),) = identity.items()
    response = harness.admin(f"/admin/profiles?{kind}={value}")
    return harness.json(response)["profile"] if response.status_code == 200 else None


def _identify(user_id: str, email: str, **context: Any) -> dict[str, Any]:
    return {"userId": user_id, "anonymousId": f"anon-{user_id}", "traits": {"email": email}, "context": context}


def test_an_identify_without_a_token_keeps_the_claims_aside_and_links_nobody(harness: Harness, browser) -> None:
    # GIVEN a customer the shop knows, with their address (sent by the shop's backend, a server source)
    harness.post("/v1/identify", {"userId": "victim", "traits": {"email": "victim@shop.example"}})
    harness.pump.drain()
    # WHEN a browser claims that userId with the attacker's address, and no identity token
    response = _post(harness, browser, "/v1/identify", _identify("victim", "attacker@evil.example"))
    harness.pump.drain()
    # THEN it is accepted as behaviour, but the victim's address is untouched and the claims stay on the visitor
    assert response.status_code == 200, response.body
    assert _profile(harness, user_id="victim")["email"] == "victim@shop.example"
    visitor = _profile(harness, anonymous_id="anon-victim")
    assert visitor["user_id"] is None and visitor["email"] is None
    assert visitor["traits"]["claimed_user_id"] == "victim"
    assert visitor["traits"]["claimed_email"] == "attacker@evil.example"
    assert _profile(harness, email="attacker@evil.example") is None


def test_an_identify_with_the_backends_token_is_trusted(harness: Harness, browser) -> None:
    token = _token(browser["identity_secret"], "cust-1", aud="browser")

    response = _post(harness, browser, "/v1/identify", _identify("cust-1", "ann@shop.example", identityToken=token))
    harness.pump.drain()

    assert response.status_code == 200, response.body
    profile = _profile(harness, user_id="cust-1")
    assert profile["email"] == "ann@shop.example"
    assert "identityToken" not in json.dumps(profile)  # the token is never stored
    # the same token in a header works for SDKs that cannot add context
    header = _post(
        harness,
        browser,
        "/v1/track",
        {"userId": "cust-1", "event": "Product Viewed"},
        **{"X-One2one-Identity-Token": token},
    )
    assert header.status_code == 200, header.body


@pytest.mark.parametrize(
    "token",
    [
        lambda secret: _token(secret, "someone-else"),  # a token for another userId
        lambda secret: _token(secret, "cust-2", lifetime=-60),  # expired
        lambda secret: _token("another-secret-of-at-least-32-bytes", "cust-2"),  # signed with another key
        lambda secret: _token(secret, "cust-2", aud="another-source"),  # minted for another source
        lambda secret: _token(secret, "cust-2", lifetime=7 * 24 * 3600),  # longer-lived than a session token
        lambda secret: "not.a.jwt",
    ],
    ids=["another userId", "expired", "wrongly signed", "another source", "too long-lived", "garbage"],
)
def test_a_token_that_does_not_vouch_for_this_userid_links_nothing(harness: Harness, browser, token) -> None:
    message = _identify("cust-2", "ann@shop.example", identityToken=token(browser["identity_secret"]))

    response = _post(harness, browser, "/v1/identify", message)
    harness.pump.drain()

    assert response.status_code == 200, response.body
    assert _profile(harness, user_id="cust-2") is None
    assert _profile(harness, anonymous_id="anon-cust-2")["traits"]["claimed_email"] == "ann@shop.example"


def test_a_userid_alone_from_a_client_source_needs_a_token(harness: Harness, browser) -> None:
    refused = _post(harness, browser, "/v1/track", {"userId": "victim", "event": "Product Viewed"})
    batch = _post(
        harness,
        browser,
        "/v1/batch",
        {
            "batch": [
                {"type": "track", "userId": "victim", "event": "x"},
                {"type": "track", "anonymousId": "a", "event": "x"},
            ]
        },
    )

    assert refused.status_code == 400
    assert harness.json(refused)["error"] == "identity_token_required" and harness.json(refused)["field"] == "userId"
    assert batch.status_code == 200
    assert harness.json(batch)["rejected"][0]["field"] == "batch[0].userId"


def test_consent_of_someone_else_cannot_be_changed_from_a_browser(harness: Harness, browser) -> None:
    harness.post("/v1/identify", {"userId": "victim", "traits": {"email": "victim@shop.example"}})
    harness.post("/v1/track", {"userId": "victim", "event": "Email Subscribed", "properties": {"list": "news"}})
    harness.pump.drain()

    response = _post(harness, browser, "/v1/consent", {"userId": "victim", "consent": {"email": False}})
    harness.pump.drain()

    assert response.status_code == 400
    assert _profile(harness, user_id="victim")["consent"]["email"]["status"] == "opted_in"


def test_a_forged_order_from_a_browser_is_kept_but_never_counted(harness: Harness, browser) -> None:
    order = {
        "anonymousId": "forger",
        "event": "Order Completed",
        "properties": {"order_id": "o-forged", "revenue": 9999, "products": [{"product_id": "p1", "price": 9999}]},
    }

    response = _post(harness, browser, "/v1/track", order)
    harness.pump.drain()

    assert response.status_code == 200, response.body
    view = harness.json(harness.admin("/admin/profiles?anonymous_id=forger&events=5"))
    assert view["profile"]["computed"]["orders"] == 0 and view["profile"]["computed"]["revenue"] == 0
    [stored] = [e for e in view["recent_events"] if e.get("event") == "Order Completed"]
    assert "unverified" in stored["flags"]


def test_product_urls_from_a_browser_are_kept_only_on_the_sources_own_sites(harness: Harness, browser) -> None:
    viewed = {
        "anonymousId": "shopper",
        "event": "Product Viewed",
        "properties": {
            "product_id": "p1",
            "url": "https://evil.example/p1",
            "image_url": "https://shop.example/img/p1.png",
            "products": [{"product_id": "p2", "url": "javascript:alert(1)"}, {"product_id": "p3"}],
        },
    }

    response = _post(harness, browser, "/v1/track", viewed)
    harness.pump.drain()

    assert response.status_code == 200, response.body
    view = harness.json(harness.admin("/admin/profiles?anonymous_id=shopper&events=5"))
    [stored] = [e for e in view["recent_events"] if e.get("event") == "Product Viewed"]
    assert "url" not in stored["properties"] and stored["properties"]["image_url"] == "https://shop.example/img/p1.png"
    assert stored["properties"]["products"] == [{"product_id": "p2"}, {"product_id": "p3"}]
    [product] = view["profile"]["computed"]["viewed_products"]
    assert "evil.example" not in json.dumps(product)


def test_a_product_url_with_an_impossible_port_is_dropped_not_a_5xx(harness: Harness, browser) -> None:
    viewed = {
        "anonymousId": "shopper-2",
        "event": "Product Viewed",
        "properties": {"product_id": "p1", "url": "https://shop.example:99999/p1"},
    }

    response = _post(harness, browser, "/v1/track", viewed)

    assert response.status_code == 200, response.body
