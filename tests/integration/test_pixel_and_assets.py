"""The no-JS pixel always answers with a GIF; the tracker script is served by the API."""

from __future__ import annotations

import base64
import json

import pytest

from tests.integration.conftest import WRITE_KEY, Harness
from tests.integration.test_ingest_api import stored_events

GIF_MAGIC = b"GIF89a"
IMG_ACCEPT = {"Accept": "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"}


def test_pixel_with_base64_data_records_the_event(harness: Harness) -> None:
    data = (
        base64.urlsafe_b64encode(
            json.dumps({"writeKey": WRITE_KEY, "anonymousId": "a1", "event": "Email Opened"}).encode()
        )
        .decode()
        .rstrip("=")
    )
    response = harness.client.http.get(f"/v1/pixel/track?data={data}", headers=IMG_ACCEPT)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/gif"
    assert response.body.startswith(GIF_MAGIC)
    [event] = stored_events(harness)
    assert event["event"] == "Email Opened" and event["anonymous_id"] == "a1"


def test_pixel_with_plain_parameters_puts_the_rest_in_properties(harness: Harness) -> None:
    response = harness.client.http.get(
        f"/v1/pixel/track?writeKey={WRITE_KEY}&userId=u9&event=Catalogue%20Requested&catalogue=spring",
        headers=IMG_ACCEPT,
    )
    assert response.body.startswith(GIF_MAGIC)
    [event] = stored_events(harness)
    assert event["user_id"] == "u9"
    assert event["properties"] == {"catalogue": "spring"}


def test_pixel_with_garbage_still_returns_the_gif_and_records_a_failed_event(harness: Harness) -> None:
    response = harness.client.http.get(f"/v1/pixel/track?writeKey={WRITE_KEY}&data=%%%not-base64!!", headers=IMG_ACCEPT)
    assert response.status_code == 200 and response.body.startswith(GIF_MAGIC)
    assert stored_events(harness) == []
    [failed] = harness.failed_events()
    assert failed["reason"]["error"] == "invalid_pixel_data"


def test_pixel_with_invalid_message_records_why(harness: Harness) -> None:
    response = harness.client.http.get(f"/v1/pixel/track?writeKey={WRITE_KEY}&anonymousId=a1", headers=IMG_ACCEPT)
    assert response.body.startswith(GIF_MAGIC)
    [failed] = harness.failed_events()
    assert failed["reason"]["field"] == "event"


def test_pixel_without_a_key_returns_the_gif_and_stores_nothing(harness: Harness) -> None:
    response = harness.client.http.get("/v1/pixel/page?anonymousId=a1", headers=IMG_ACCEPT)
    assert response.body.startswith(GIF_MAGIC)
    assert stored_events(harness) == [] and harness.failed_events() == []


def test_pixel_answers_even_when_storage_fails(harness: Harness, monkeypatch) -> None:
    from chalicelib.bootstrap import get_event_store

    monkeypatch.setattr(get_event_store(), "put_new", lambda *_: (_ for _ in ()).throw(RuntimeError("down")))
    response = harness.client.http.get(
        f"/v1/pixel/track?writeKey={WRITE_KEY}&anonymousId=a&event=X", headers=IMG_ACCEPT
    )
    assert response.status_code == 200 and response.body.startswith(GIF_MAGIC)


def test_tracker_js_is_served_as_javascript(harness: Harness) -> None:
    response = harness.client.http.get("/tracker.js", headers=IMG_ACCEPT)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/javascript")
    assert b"one2one" in response.body
    assert len(response.body) < 6 * 1024


@pytest.mark.parametrize("accept", [None, "text/html", "*/*"])
@pytest.mark.parametrize("path", ["/t/o/not-a-token.gif", f"/v1/pixel/page?writeKey={WRITE_KEY}&anonymousId=a2"])
def test_the_pixels_answer_the_gif_whatever_the_accept_header(harness: Harness, accept: str | None, path: str) -> None:
    # GIVEN a mail client or proxy that sends no Accept header, or one without an image type
    headers = {} if accept is None else {"Accept": accept}
    # WHEN it loads a pixel
    response = harness.client.http.get(path, headers=headers)
    # THEN it gets the GIF, not Chalice's 400 for a binary answer the request did not accept
    assert response.status_code == 200, response.body
    assert response.headers["Content-Type"] == "image/gif" and response.body.startswith(b"GIF89a")


def test_json_routes_keep_their_answers_without_an_accept_header(harness: Harness) -> None:
    response = harness.client.http.get("/openapi.json")
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
