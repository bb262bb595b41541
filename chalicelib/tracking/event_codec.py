"""The stored form of an event body: its JSON, deflated against a preset dictionary, in one binary attribute.

Why: DynamoDB bills a write unit per started KB, and an event's JSON (~1.2-2 KB: context, user agent, product
properties) cost 2 units; deflated it is ~40% of that, so the item (keys and all) fits one unit. A preset dictionary
matters at this size: deflate alone cannot learn much from one ~1 KB document, while the dictionary (our field
names, the Segment spec's context keys and the common values of browser events) supplies what every body repeats.
Measured on the bench workload (`python -m bench.levers`): body median 1,196 B of JSON -> 654 B deflated -> 319 B
deflated with the dictionary (max 480 B); the whole item 1,347 B (2 units) -> 471 B (1 unit). ~11 us to encode and
~6 us to decode a body on the bench machine: the fold decodes each record once, which is about a sixth of the
~40 us a record costs it at the README's 25,000 records/s (compare with the callgrind row of `make bench`). LZ4
with the same dictionary decodes ~2x faster but leaves bodies ~25% larger (474 vs 374 B for the module test's event),
so fewer large events fit one write unit; the fold is bound by stream shards (1,000 writes/s each), not by this.

Format (attribute `bz`, type B): one version byte, then raw deflate (no zlib header: 6 bytes saved). Version 1 is
`ZDICT_V1` below, which must never change: a stored body is only readable with the dictionary it was written with.
A better dictionary is a new version byte beside the old one. Items written before this form keep a `body` (S)
attribute with the JSON text, and every reader still accepts it (`body_text`).

Version 2 (`encode_many`) is a group: several events of one profile from one request (tracking/events.py
`group_item`), their JSON bodies one a line (msgspec writes no raw newline), deflated together with `ZDICT_V1`.
Deflate then also finds what the bodies repeat of each other (context, user agent, page, ids): a browser batch of 20
events is ~1-2 KB, about a tenth of a write unit an event instead of one each.
"""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any

ATTRIBUTE = "bz"
LEGACY_ATTRIBUTE = "body"
VERSION_1 = 1
VERSION_GROUP_1 = 2  # several bodies, one a line, with ZDICT_V1
_LEVEL = 9  # ~10 us for a 1.2 KB body; bodies are written once and read a few times

# Deflate looks back from the end of the dictionary, so the most common strings come last. Only the structure and
# the values every tracking library sends: nothing here is anyone's data.
ZDICT_V1 = json.dumps(
    [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/ Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/ Mobile/",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/",
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/ Mobile Safari/537.36",
        {"browser": "Chrome", "browser_version": "", "os": "Windows", "device": "Mobile Safari iPhone Android Mac"},
        {"userAgentData": {"brands": [], "mobile": False, "platform": "macOS"}, "campaign": {"source": "google"}},
        {"library": {"name": "analytics-next analytics-python analytics-node one2one.js", "version": "1.0.0"}},
        {"product_id": "", "sku": "", "name": "", "price": 0, "category": "", "url": "https://", "image_url": ""},
        {"currency": "USD", "quantity": 1, "revenue": 0, "total": 0, "order_id": "", "products": [], "brand": ""},
        {"event": "Product Viewed Product Added Order Completed Checkout Started Page Viewed Signed Up"},
        {
            "page": {
                "path": "/",
                "url": "https://www.",
                "title": "",
                "referrer": "https://www.google.com/",
                "search": "",
            }
        },
        {"locale": "en-US", "timezone": "Europe/America/", "screen": {"width": 0, "height": 0, "density": 2}},
        {"ip": "", "referrer_host": "www.google.com", "referrer_search_engine": "google", "ua": {}},
        {
            "message_id": "",
            "source_id": "",
            "type": "track",
            "profile_id": "p_",
            "timestamp": "T00:00:00.000Z",
            "received_at": "",
            "sent_at": None,
            "original_timestamp": "",
            "anonymous_id": None,
            "user_id": None,
            "event": None,
            "name": None,
            "category": None,
            "previous_id": None,
            "group_id": None,
            "properties": {},
            "traits": {},
            "context": {"library": {"name": "analytics.js", "version": ""}, "page": {}, "userAgent": "Mozilla/5.0 "},
            "integrations": {},
            "extra": {},
            "flags": [],
            "is_bot": False,
        },
    ],
    separators=(",", ":"),
).encode()


def encode(body: bytes) -> bytes:
    """The `bz` value of a JSON body."""
    compressor = zlib.compressobj(_LEVEL, zlib.DEFLATED, -15, zdict=ZDICT_V1)
    return bytes((VERSION_1,)) + compressor.compress(body) + compressor.flush()


def encode_many(bodies: list[bytes]) -> bytes:
    """The `bz` value of several JSON bodies (a group item); one body is stored as version 1."""
    if len(bodies) == 1:
        return encode(bodies[0])
    compressor = zlib.compressobj(_LEVEL, zlib.DEFLATED, -15, zdict=ZDICT_V1)
    return bytes((VERSION_GROUP_1,)) + compressor.compress(b"\n".join(bodies)) + compressor.flush()


def decode(stored: bytes | str) -> bytes:
    """The JSON body of a single event's `bz` value (bytes from boto3, base64 text in a Lambda stream event)."""
    bodies = decode_many(stored)
    if len(bodies) != 1:
        raise ValueError(f"a group of {len(bodies)} event bodies where one was expected")
    return bodies[0]


def decode_many(stored: bytes | str) -> list[bytes]:
    """The JSON bodies of a `bz` value, one for an event item, several for a group item."""
    raw = base64.b64decode(stored) if isinstance(stored, str) else stored
    version = raw[:1]
    if version not in (bytes((VERSION_1,)), bytes((VERSION_GROUP_1,))):
        raise ValueError(f"unknown event body version {version!r}")
    decompressor = zlib.decompressobj(-15, zdict=ZDICT_V1)
    text = decompressor.decompress(raw[1:]) + decompressor.flush()
    return [text] if version == bytes((VERSION_1,)) else text.split(b"\n")


def body_text(item: dict[str, Any]) -> bytes:
    """The JSON body (UTF-8) of a single event's item or stream image (low-level form), in whichever form stored."""
    if ATTRIBUTE in item:
        return decode(item[ATTRIBUTE]["B"])
    return str(item[LEGACY_ATTRIBUTE]["S"]).encode()


def bodies(item: dict[str, Any]) -> list[bytes]:
    """Every JSON body of an item or stream image: one for an event item (either form), several for a group."""
    if ATTRIBUTE in item:
        return decode_many(item[ATTRIBUTE]["B"])
    return [str(item[LEGACY_ATTRIBUTE]["S"]).encode()]
