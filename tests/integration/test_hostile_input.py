"""Hostile input against the public write key: every case answers a 4xx with a JSON body naming what is wrong, never a
5xx, and the valid messages beside a bad one are still stored (issue 13, "Bad input")."""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any

import pytest

from tests.integration.conftest import Harness

TRACK = {"type": "track", "anonymousId": "hostile-ok", "event": "Product Viewed"}


def _batch(*messages: Any) -> str:
    return json.dumps({"batch": list(messages)})


def _deep(levels: int) -> str:
    return '{"anonymousId":"a1","event":"x","properties":' + '{"a":' * levels + "1" + "}" * levels + "}"


# (case, path, raw body, extra headers, expected status, words the error names)
REFUSED = [
    ("nested 1,000 deep", "/v1/track", _deep(1000), {}, 400, "deeper than 32"),
    ("nested 40 deep", "/v1/track", _deep(40), {}, 400, "deeper than 32"),
    ("NUL in the event name", "/v1/track", '{"anonymousId":"a1","event":"x\\u0000y"}', {}, 400, "event"),
    ("lone surrogate", "/v1/track", '{"anonymousId":"a1","event":"\\ud800"}', {}, 400, "surrogate"),
    ("surrogate in a key", "/v1/track", '{"anonymousId":"a1","event":"x","properties":{"\\udfff":1}}', {}, 400, "key"),
    ("1e309", "/v1/track", '{"anonymousId":"a1","event":"x","properties":{"q":1e309}}', {}, 400, "properties.q"),
    ("NaN", "/v1/track", '{"anonymousId":"a1","event":"x","properties":{"q":NaN}}', {}, 400, "properties.q"),
    ("-Infinity", "/v1/track", '{"anonymousId":"a1","event":"x","properties":{"q":-Infinity}}', {}, 400, "finite"),
    ("array as context", "/v1/track", '{"anonymousId":"a1","event":"x","context":[1]}', {}, 400, "context"),
    ("string as properties", "/v1/track", '{"anonymousId":"a1","event":"x","properties":"s"}', {}, 400, "properties"),
    ("10 KB id", "/v1/track", json.dumps({"anonymousId": "a" * 10_000, "event": "x"}), {}, 400, "anonymousId"),
    (
        "bidi override in an id",
        "/v1/track",
        json.dumps({"anonymousId": "\u202eabc", "event": "x"}),
        {},
        400,
        "invisible",
    ),
    ("zero-width space in an id", "/v1/track", json.dumps({"userId": "u\u200b1", "event": "x"}), {}, 400, "userId"),
    (
        "CRLF in an email",
        "/v1/identify",
        json.dumps({"userId": "u1", "traits": {"email": "a@b.example\r\nBcc: x@evil.example"}}),
        {},
        400,
        "traits.email",
    ),
    (
        "comma-separated emails",
        "/v1/identify",
        json.dumps({"userId": "u1", "traits": {"email": "a@b.example,x@evil.example"}}),
        {},
        400,
        "traits.email",
    ),
    (
        "two @ in an email",
        "/v1/identify",
        json.dumps({"userId": "u1", "context": {"traits": {"email": "a@@b.example"}}}),
        {},
        400,
        "context.traits.email",
    ),
    (
        "10,000 tiny events",
        "/v1/batch",
        _batch(*[{"type": "track", "anonymousId": f"a{i}", "event": "e"} for i in range(10_000)]),
        {},
        400,
        "500 KB",
    ),
    (
        "gzip bomb",
        "/v1/batch",
        gzip.compress(b'{"batch":[' + b" " * 50_000_000 + b"]}"),
        {"Content-Encoding": "gzip"},
        413,
        "inflates",
    ),
    ("not gzip at all", "/v1/track", b"\x1f\x8bnot-gzip", {"Content-Encoding": "gzip"}, 400, "gzip"),
    ("unknown Content-Encoding", "/v1/track", json.dumps(TRACK), {"Content-Encoding": "br"}, 415, "br"),
    ("malformed JSON", "/v1/track", '{"anonymousId": "a1", "event": ', {}, 400, "JSON"),
]


@pytest.mark.parametrize(("case", "path", "body", "headers", "status", "named"), REFUSED, ids=[c[0] for c in REFUSED])
def test_hostile_input_is_refused_with_a_json_error_that_names_it(
    harness: Harness, case: str, path: str, body: Any, headers: dict[str, str], status: int, named: str
) -> None:
    response = harness.post(path, body, headers=headers)

    assert response.status_code == status, (case, response.body[:300])
    error = harness.json(response)
    assert error["success"] is False and error["error"]
    assert named in json.dumps(error), (case, error)


@pytest.mark.parametrize(
    "bad",
    [
        {"type": "track", "anonymousId": "a1", "event": "\ud800"},
        {"type": "track", "anonymousId": "a1", "event": "x", "properties": {"q": float("nan")}},
        {"type": "identify", "userId": "u1", "traits": {"email": "a@b.example,x@evil.example"}},
        {"type": "track", "anonymousId": "a1\u200b", "event": "x"},
    ],
    ids=["surrogate", "NaN", "two addresses", "zero-width id"],
)
def test_every_message_of_a_batch_is_judged_on_its_own(harness: Harness, bad: dict[str, Any]) -> None:
    # json.dumps writes NaN and lone surrogates as Python's json would read them back
    body = json.dumps({"batch": [bad, {**TRACK, "messageId": f"ok-{len(json.dumps(bad))}"}]})

    response = harness.post("/v1/batch", body)

    assert response.status_code == 200, response.body[:300]
    reply = harness.json(response)
    assert [r["index"] for r in reply["rejected"]] == [0]
    assert harness.scan_count("EventsTable") == 1  # the valid one is stored


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("deflate", lambda b: zlib.compress(b)[2:-4])],
    ids=["gzip", "deflate (zlib)", "deflate (raw)"],
)
def test_compressed_bodies_are_read(harness: Harness, encoding: str, compress: Any) -> None:
    body = compress(json.dumps({"batch": [{**TRACK, "messageId": f"z-{encoding}"}]}).encode())

    response = harness.post("/v1/batch", body, headers={"Content-Encoding": encoding})

    assert response.status_code == 200, response.body[:300]
    assert harness.scan_count("EventsTable") == 1


def test_analytics_next_batches_to_v1_b_and_rudderstack_beacons_are_accepted(harness: Harness) -> None:
    for path in ("/v1/b", "/beacon/v1/batch?writeKey=test-write-key"):
        body = json.dumps({"batch": [{**TRACK, "messageId": f"m-{path}"}]})
        response = harness.post(path, body, auth=path.startswith("/v1"))
        assert response.status_code == 200, (path, response.body[:300])
    assert harness.scan_count("EventsTable") == 2


def test_rudderstack_source_config_answers_the_write_keys_source(harness: Harness) -> None:
    import base64

    auth = {"Authorization": "Basic " + base64.b64encode(b"test-write-key:").decode()}

    ok = harness.client.http.get("/sourceConfig?p=npm&v=3.0", headers=auth)
    unknown = harness.client.http.get("/sourceConfig?writeKey=nope", headers={})

    assert ok.status_code == 200
    source = harness.json(ok)["source"]
    assert source["enabled"] is True and source["destinations"] == [] and source["writeKey"] == "test-write-key"
    assert unknown.status_code == 401 and harness.json(unknown)["error"] == "unauthorized"


@pytest.mark.parametrize(
    "path",
    [
        "/admin/profiles/p_x?events=0",
        "/admin/profiles?anonymous_id=a1&events=-1",
        "/admin/failed-events?day=2026-13-45",
        "/admin/failed-events?limit=0",
        "/admin/failed-events?cursor=%%%not-a-cursor",
    ],
)
def test_admin_parameters_out_of_range_are_400(harness: Harness, path: str) -> None:
    response = harness.admin(path)

    assert response.status_code == 400, (path, response.body[:300])
    assert harness.json(response)["error"] == "invalid_parameter"


def test_an_oversize_body_from_a_known_key_is_kept_as_a_truncated_failed_event(harness: Harness) -> None:
    body = _batch(*[{"type": "track", "anonymousId": f"a{i}", "event": "e" * 100} for i in range(5_000)])

    response = harness.post("/v1/batch", body)

    assert response.status_code == 400 and harness.json(response)["error"] == "payload_too_large"
    [kept] = harness.failed_events()
    assert kept["reason"]["error"] == "payload_too_large" and kept["truncated"] is True
