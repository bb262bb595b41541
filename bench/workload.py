"""Realistic, deterministic workload: Segment messages of a web shop, their stored events and Lambda stream records."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.tracking.events import iso

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SOURCE_ID = "web"
WRITE_KEY = "bench-write-key"
ORIGIN = "https://shop.example"
STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/one2one-event-log/stream/2026-11-25T00:00:00.000"
USER_AGENT = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 "
    "Safari/537.36"
)
CATEGORIES = ["shoes", "bags", "outdoor", "kitchen", "tea", "books", "garden", "toys"]
# (message kind, weight): roughly a shop's mix, mostly page and product views.
EVENT_MIX = [
    ("page", 45),
    ("Product Viewed", 25),
    ("Products Searched", 5),
    ("Product Added", 10),
    ("Product Removed", 2),
    ("Checkout Started", 4),
    ("Order Completed", 3),
    ("identify", 6),
]


def anonymous_id(n: int) -> str:
    return f"anon-{n:08d}-0c6e-4b7e-9f3a-5d2b8a1e7c40"


def user_id(n: int) -> str:
    return f"cust_{n:07d}"


def is_known(n: int) -> bool:
    """Half of the visitors have signed up (userId and email), half are anonymous."""
    return n % 2 == 0


def _product(rng: random.Random) -> dict[str, Any]:
    number = rng.randrange(400)
    category = CATEGORIES[number % len(CATEGORIES)]
    return {
        "product_id": f"sku-{number:04d}",
        "sku": f"SKU-{number:04d}",
        "name": f"Product {number} {category.title()} Edition",
        "price": round(5 + (number % 40) * 2.5, 2),
        "category": category,
        "url": f"{ORIGIN}/p/sku-{number:04d}",
        "image_url": f"https://cdn.shop.example/img/sku-{number:04d}.jpg",
        "currency": "USD",
    }


def message(n: int, seq: int, when: datetime, rng: random.Random, kind: str | None = None) -> dict[str, Any]:
    """One analytics.js-shaped message from visitor `n` (its `seq`-th)."""
    kind = kind or rng.choices([k for k, _ in EVENT_MIX], [w for _, w in EVENT_MIX])[0]
    path = rng.choice(["/", "/c/shoes", "/c/tea", "/sale", "/p/sku-0042", "/cart", "/blog/how-to-brew"])
    referrer = rng.choice(["", "https://www.google.com/", "https://news.example/article", f"{ORIGIN}/"])
    page = {
        "path": path,
        "url": f"{ORIGIN}{path}" + ("?utm_source=newsletter&utm_medium=email&utm_campaign=autumn" if seq == 0 else ""),
        "title": "Shop Example - Quality things",
        "referrer": referrer,
        "search": "",
    }
    context: dict[str, Any] = {
        "library": {"name": "analytics.js", "version": "5.2.0"},
        "page": page,
        "userAgent": USER_AGENT,
        "locale": "en-US",
        "timezone": "America/New_York",
        "screen": {"width": 1512, "height": 982, "density": 2},
        "ip": f"198.51.{n % 250}.{seq % 250}",
    }
    msg: dict[str, Any] = {
        "messageId": f"m-{n:08d}-{seq:06d}-{rng.getrandbits(32):08x}",
        "anonymousId": anonymous_id(n),
        "timestamp": iso(when),
        "context": context,
    }
    if is_known(n):
        msg["userId"] = user_id(n)
    if kind == "page":
        msg.update(type="page", name=page["title"], properties={"path": path, "url": page["url"]})
    elif kind == "identify":
        msg.update(
            type="identify",
            traits={
                "email": f"{user_id(n)}@mail.example" if is_known(n) else f"lead{n}@mail.example",
                "firstName": "Alex",
                "lastName": f"Sample{n}",
                "phone": "+1 415 555 2671",
                "address": {"city": "Portland", "state": "Oregon", "country": "US", "postalCode": "97201"},
                "plan": "free",
            },
        )
    else:
        props: dict[str, Any]
        if kind == "Products Searched":
            props = {"query": rng.choice(["green tea", "running shoes", "kettle", "backpack"])}
        elif kind in ("Order Completed", "Checkout Started"):
            lines = [{**_product(rng), "quantity": rng.randint(1, 3)} for _ in range(rng.randint(1, 3))]
            total = round(sum(line["price"] * line["quantity"] for line in lines), 2)
            props = {"order_id": f"o-{n}-{seq}", "revenue": total, "currency": "USD", "products": lines}
        else:
            props = {**_product(rng), "quantity": 1}
        msg.update(type="track", event=kind, properties=props)
    return msg


def history(n: int, count: int, days: int, rng: random.Random, end: datetime = NOW) -> list[dict[str, Any]]:
    """`count` messages from visitor `n` spread over the `days` before `end`, in sessions of a few events."""
    out = []
    when = end - timedelta(days=days)
    session_gap = timedelta(days=days) / max(count // 6, 1)  # sessions of ~6 events, evenly spread
    for seq in range(count):
        when += session_gap * rng.uniform(0.2, 1.8) if seq % 6 == 0 else timedelta(seconds=rng.randint(20, 240))
        out.append(message(n, seq, min(when, end - timedelta(hours=2)), rng, "identify" if seq == 1 else None))
    return out


def live(n: int, start_seq: int, count: int, rng: random.Random, end: datetime = NOW) -> list[dict[str, Any]]:
    """`count` messages from visitor `n` in the last few minutes (what one stream batch carries)."""
    return [message(n, start_seq + i, end - timedelta(seconds=rng.randint(1, 300)), rng) for i in range(count)]


def stream_record(item: dict[str, Any], sequence: int) -> dict[str, Any]:
    """An events-table INSERT record exactly as Lambda delivers it to the fold handler (StreamViewType NEW_IMAGE)."""
    body_bytes = sum(len(k) + len(next(iter(v.values()))) for k, v in item.items())
    return {
        "eventID": f"{sequence:032x}",
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": int(NOW.timestamp()),
            "Keys": {"profile_id": item["profile_id"], "ts_key": item["ts_key"]},
            "NewImage": item,
            "SequenceNumber": f"{4 * 10**21 + sequence}",
            "SizeBytes": body_bytes,
            "StreamViewType": "NEW_IMAGE",
        },
        "eventSourceARN": STREAM_ARN,
    }


def item_kb(item: dict[str, Any]) -> float:
    """DynamoDB item size in KB (attribute names + values; numbers approximated by their digits)."""
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        ((kind, raw),) = value.items()
        if kind in ("S", "N"):
            size += len(str(raw).encode())
        elif kind == "BOOL":
            size += 1
        elif kind == "B" and isinstance(raw, bytes | bytearray):
            size += len(raw)  # not len(str(raw)): the repr of bytes is ~3x their length
        else:
            size += len(str(raw).encode())
    return size / 1024
