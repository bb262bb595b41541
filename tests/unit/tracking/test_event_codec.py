"""The stored event body: deflated against a fixed dictionary, one write unit for a browser event, and every reader
(item, stream image, archive line) reading both it and the plain JSON of items written before."""

from __future__ import annotations

import base64
import json
import math
from datetime import UTC, datetime

import pytest

from chalicelib.tracking import archive, event_codec
from chalicelib.tracking.events import StreamEvent, TrackedEvent

UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def browser_event(**overrides: object) -> TrackedEvent:
    fields: dict = {
        "message_id": "ajs-next-1733360000000-4f1c2a9e-8d3b-4c55-9a0e-1b2c3d4e5f60",
        "source_id": "web",
        "type": "track",
        "profile_id": "p_6m4q2zk7w1x9c3v5b8n0a2s4d6",
        "timestamp": datetime(2026, 12, 5, 9, 30, tzinfo=UTC),
        "received_at": datetime(2026, 12, 5, 9, 30, 1, tzinfo=UTC),
        "original_timestamp": datetime(2026, 12, 5, 9, 30, tzinfo=UTC),
        "anonymous_id": "0c6e4b7e-9f3a-4d2b-8a1e-7c405d2b8a1e",
        "event": "Product Viewed",
        "properties": {
            "product_id": "sku-0412",
            "sku": "SKU-0412",
            "name": "Linen Apron, Sage",
            "price": 34.0,
            "category": "kitchen",
            "url": "https://www.shop.example/products/linen-apron-sage",
            "image_url": "https://cdn.shop.example/products/linen-apron-sage-800.jpg",
            "currency": "EUR",
        },
        "context": {
            "library": {"name": "analytics.js", "version": "npm:next-1.70.0"},
            "page": {
                "path": "/products/linen-apron-sage",
                "url": "https://www.shop.example/products/linen-apron-sage",
                "title": "Linen Apron, Sage - Shop Example",
                "referrer": "https://www.shop.example/collections/kitchen",
                "search": "",
            },
            "userAgent": UA,
            "locale": "de-DE",
            "timezone": "Europe/Berlin",
            "screen": {"width": 1440, "height": 900, "density": 2},
            "ip": "203.0.113.0",
            "ua": {"browser": "Chrome", "browser_version": "131", "os": "Mac OS X", "device": "Mac"},
        },
    }
    fields.update(overrides)
    return TrackedEvent(**fields)


def item_bytes(item: dict) -> int:
    """DynamoDB's item size: attribute names plus values (numbers approximated by their digits)."""
    total = 0
    for name, value in item.items():
        ((_, raw),) = value.items()
        total += len(name.encode()) + (len(raw) if isinstance(raw, bytes) else len(str(raw).encode()))
    return total


def test_a_browser_event_is_stored_in_one_write_unit_and_reads_back_whole() -> None:
    # GIVEN a typical analytics.js product view (~1.3 KB of JSON)
    event = browser_event()
    assert len(event.to_json()) > 1024
    # WHEN it becomes an item
    item = event.to_item(expires_at=1_800_000_000)
    # THEN the body is deflated, the item fits one write unit, and reading it back gives the same event
    assert "body" not in item and item["bz"]["B"][:1] == b"\x01"
    assert math.ceil(item_bytes(item) / 1024) == 1
    assert TrackedEvent.from_item(item) == event


def test_a_stream_image_with_the_body_as_base64_text_reads_as_the_item_does() -> None:
    # GIVEN the NewImage of a Lambda stream event (binary attributes arrive base64-encoded in the JSON)
    item = browser_event().to_item()
    image = {**item, "bz": {"B": base64.b64encode(item["bz"]["B"]).decode()}}
    # WHEN the fold decodes it
    streamed = StreamEvent.from_stream_image(image)
    # THEN it reads the fold's fields, and writing it anywhere again gives the whole stored event back
    assert streamed.event == "Product Viewed" and streamed.context.get("timezone") == "Europe/Berlin"
    assert streamed.full() == browser_event()
    assert streamed.to_item()["bz"] == item["bz"]


def test_items_written_before_compression_still_read_everywhere() -> None:
    # GIVEN an item as stored before (the JSON body as text in `body`)
    event = browser_event()
    legacy = {k: v for k, v in event.to_item().items() if k != "bz"} | {"body": {"S": event.to_json()}}
    # THEN the item reader, the fold's stream reader and the archive all read it
    assert TrackedEvent.from_item(legacy) == event
    assert StreamEvent.from_stream_image(legacy).full() == event
    line = archive.archive_line(legacy)
    assert line is not None and json.loads(line["body"]) == json.loads(event.to_json())


def test_the_archive_keeps_the_expanded_json_of_a_compressed_event() -> None:
    event = browser_event()
    line = archive.archive_line(event.to_item())
    assert line is not None
    assert json.loads(line["body"]) == json.loads(event.to_json())  # Athena and DuckDB read JSON, not deflate


def test_an_unknown_body_version_is_refused_not_misread() -> None:
    item = browser_event().to_item()
    with pytest.raises(ValueError, match="unknown event body version"):
        event_codec.decode(b"\x07" + item["bz"]["B"][1:])
    # and the archive skips such a line instead of failing the batch
    assert archive.archive_line({**item, "bz": {"B": b"\x07junk"}}) is None


def test_the_dictionary_is_frozen() -> None:
    # Bodies already stored can only be read with the dictionary they were written with: changing ZDICT_V1 would make
    # every stored event unreadable. A better dictionary needs a new version byte.
    import hashlib

    assert hashlib.sha256(event_codec.ZDICT_V1).hexdigest()[:16] == FROZEN_DICTIONARY_DIGEST


FROZEN_DICTIONARY_DIGEST = "02eb6c5fbde07994"


# -- group items (issue 19: a request's events of one profile in one item) ---------------------------------------------
def _visit(n: int) -> list[TrackedEvent]:
    """A browser SDK batch: one visitor's page views and product views, a few seconds apart."""
    return [
        browser_event(
            message_id=f"ajs-next-17333600{i:05d}-4f1c2a9e-8d3b-4c55-9a0e-{i:012d}",
            timestamp=datetime(2026, 12, 5, 9, 30, i, tzinfo=UTC),
            event="Product Viewed" if i % 2 else None,
            type="track" if i % 2 else "page",
            properties={"product_id": f"sku-{i:04d}", "price": 10.0 + i} if i % 2 else {"path": f"/p/{i}"},
        )
        for i in range(n)
    ]


def test_a_visitors_batch_is_one_group_item_that_gives_every_event_back_whole() -> None:
    from chalicelib.tracking.events import expand, group_items, item_event_count, item_types

    events = _visit(20)
    [item] = group_items(events, expires_at=1_800_000_000)
    assert item["pk"]["S"].startswith("g#") and item_event_count(item) == 20
    assert item_types(item) == {"page": 10, "track": 10}
    assert item["ts_key"]["S"].startswith("2026-12-05T09#g#")  # the latest event's hour: history reads newest first
    assert sorted(expand(item), key=lambda e: e.key) == sorted(events, key=lambda e: e.key)
    # deflated together, the bodies repeat each other: far below twenty single items
    singles = sum(len(e.to_item()["bz"]["B"]) for e in events)
    assert len(item["bz"]["B"]) * 5 < singles


def test_a_group_pk_depends_on_its_keys_not_their_order() -> None:
    from chalicelib.tracking.events import group_items

    events = _visit(5)
    assert group_items(events) == group_items(list(reversed(events)))
    assert group_items(events)[0]["pk"] != group_items(events[:4])[0]["pk"]


def test_a_lone_event_of_a_batch_keeps_the_item_form_of_one_event() -> None:
    from chalicelib.tracking.events import group_items

    [event] = _visit(1)
    assert group_items([event]) == [event.to_item()]


def test_a_group_too_large_for_one_item_is_cut_in_several() -> None:
    from chalicelib.tracking import events as events_module
    from chalicelib.tracking.events import expand, group_items

    big = [browser_event(message_id=f"m{i}", properties={"blob": f"{i}-" + "x" * 60_000}) for i in range(10)]
    items = group_items(big)
    assert len(items) > 1 and all(len(i["bz"]["B"]) < 400_000 for i in items)
    assert sorted(e.key for i in items for e in expand(i)) == sorted(e.key for e in big)
    assert events_module.MAX_GROUP_JSON_BYTES <= 300 * 1024


def test_a_stream_image_of_a_group_gives_each_event_with_its_items_key() -> None:
    from chalicelib.tracking.events import group_items

    [item] = group_items(_visit(3))
    image = {**item, "bz": {"B": base64.b64encode(item["bz"]["B"]).decode()}}  # a Lambda event carries base64
    events = StreamEvent.all_from_stream_image(image)
    assert [e.stored_in() for e in events] == [(item["profile_id"]["S"], item["ts_key"]["S"])] * 3
    assert {e.item_pk for e in events} == {item["pk"]["S"]}
    assert all(e.full().context["userAgent"] == UA for e in events)  # the whole body is one `full` away


def test_a_group_archives_one_line_per_event_keyed_by_the_event() -> None:
    from chalicelib.tracking.events import group_items

    events = _visit(3)
    [item] = group_items(events)
    lines = archive.archive_lines(item)
    assert [line["key"] for line in lines] == sorted(e.key for e in events)
    assert {line["ts"] for line in lines} == {"2026-12-05T09:30:00.000Z", "2026-12-05T09:30:01.000Z",
                                              "2026-12-05T09:30:02.000Z"}  # fmt: skip
    assert json.loads(lines[0]["body"])["message_id"] == lines[0]["key"].split("#", 1)[1]
    assert archive.archive_lines({**item, "bz": {"B": b"\x07junk"}}) == []


def test_rewriting_a_group_without_some_events_keeps_its_pk_and_the_rest() -> None:
    from chalicelib.tracking.events import expand, group_items, rewrite_without

    events = _visit(3)
    [item] = group_items(events, expires_at=1_800_000_000)
    kept = rewrite_without(item, [events[0].key])
    assert kept is not None and kept["pk"] == item["pk"] and kept["expires_at"] == item["expires_at"]
    assert sorted(e.key for e in expand(kept)) == sorted(e.key for e in events[1:])
    assert rewrite_without(item, [e.key for e in events]) is None
