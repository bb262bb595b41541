"""The fold's view of a stream record (`StreamEvent`): only the context keys it reads, nothing lost on the way back."""

from __future__ import annotations

import json

from chalicelib.profiles.fold import fold
from chalicelib.tracking.events import StreamEvent, TrackedEvent
from tests.unit.profiles.support import NOW, at, config, identify, make_event, page, product

RICH_CONTEXT = {
    "locale": "ja-JP",
    "timezone": "Asia/Tokyo",
    "campaign": {"name": "spring", "source": "newsletter"},
    "referrer_search_terms": ["green tea"],
    "page": {"url": "https://shop.example/tea", "referrer": "https://search.example/?q=tea", "title": "Tea"},
    "referrer": {"url": "https://search.example/"},
    "traits": {"email": "Hanako@Example.JP"},
    "userAgent": "Mozilla/5.0",
    "library": {"name": "analytics.js", "version": "5.2.0"},
    "ip": "198.51.100.7",
    "screen": {"width": 1512, "height": 982},
}


def _events() -> list[TrackedEvent]:
    return [
        page(at(0, 30), context=RICH_CONTEXT),
        make_event(when=at(0, 20), properties=product("sku-1"), context=RICH_CONTEXT),
        identify({"gender": "female", "state": "California"}, at(0, 10), context={**RICH_CONTEXT, "locale": "en-US"}),
        make_event(event="Product Added", when=at(0, 5), properties=product("sku-1"), context={"timezone": "UTC"}),
    ]


def _through_the_stream(event: TrackedEvent) -> StreamEvent:
    return StreamEvent.from_stream_image(event.to_item(expires_at=1))


def test_folding_stream_events_gives_the_profile_the_whole_events_give():
    # GIVEN events whose contexts carry every key the fold reads, and many it does not
    events = _events()
    # WHEN they are folded as the stream handler reads them, and as whole events
    from_stream = fold(None, "p_s", [_through_the_stream(e) for e in events], config(), NOW).profile
    whole = fold(None, "p_s", events, config(), NOW).profile
    # THEN the profiles are the same (a key the fold reads but the stream view dropped would show here)
    assert from_stream == whole
    assert whole.demographics.locale == "en-US" and whole.email == "hanako@example.jp"
    assert whole.computed.first_touch and whole.computed.search_terms


def test_the_stream_view_keeps_only_what_the_fold_reads_and_writes_the_whole_event_back():
    original = _events()[0]
    streamed = _through_the_stream(original)
    assert "userAgent" not in streamed.context and streamed.context["locale"] == "ja-JP"
    # WHEN the fold re-points it to another profile and writes it back
    streamed.profile_id = "p_winner"
    written = TrackedEvent.from_item(streamed.to_item(expires_at=1))
    # THEN the stored event is the whole original, under the new profile
    assert written.context == original.context and written.profile_id == "p_winner"
    assert json.loads(streamed.to_json())["context"]["userAgent"] == "Mozilla/5.0"
    assert streamed.summary()["context"]["ip"] == "198.51.100.7"
