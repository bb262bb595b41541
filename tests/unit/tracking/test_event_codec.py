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
        event_codec.decode(b"\x02" + item["bz"]["B"][1:])
    # and the archive skips such a line instead of failing the batch
    assert archive.archive_line({**item, "bz": {"B": b"\x02junk"}}) is None


def test_the_dictionary_is_frozen() -> None:
    # Bodies already stored can only be read with the dictionary they were written with: changing ZDICT_V1 would make
    # every stored event unreadable. A better dictionary needs a new version byte.
    import hashlib

    assert hashlib.sha256(event_codec.ZDICT_V1).hexdigest()[:16] == FROZEN_DICTIONARY_DIGEST


FROZEN_DICTIONARY_DIGEST = "02eb6c5fbde07994"
