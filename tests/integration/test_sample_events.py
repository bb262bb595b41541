"""The real-shaped samples in events/ go through the app exactly as API Gateway and Lambda deliver them."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.integration.conftest import WRITE_KEY, Harness

EVENTS = Path(__file__).resolve().parents[2] / "events"


def load(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def test_api_gateway_proxy_event_is_accepted_by_the_deployed_handler(harness: Harness) -> None:
    from chalice.local import LambdaContext

    from chalicelib.bootstrap import get_source_registry

    get_source_registry().upsert_source("gw", "local-dev-key", ["https://shop.example"], kind="server")
    response = harness.app(load("lambda/apigw_post_track.json"), LambdaContext("api", 256))
    assert response["statusCode"] == 200
    body = response["body"]
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    assert json.loads(body) == {"success": True}
    assert response["headers"]["Access-Control-Allow-Origin"] == "https://shop.example"
    harness.pump.drain()
    view = harness.json(harness.admin("/admin/profiles?anonymous_id=apigw-anon-1"))
    # X-Forwarded-For's first hop is the client; only its anonymised form is stored
    assert view["recent_events"][0]["context"]["ip"] == "198.51.100.0"


def test_dynamodb_stream_sample_folds_into_a_profile(harness: Harness) -> None:
    result = harness.app.handler_map["fold_events"](load("lambda/dynamodb_events_insert.json"), None)
    assert result == {"batchItemFailures": []}
    view = harness.json(harness.admin("/admin/profiles/p_streamsample0000000000000"))
    assert view["profile"]["computed"]["event_counts"]["Product Viewed"] == 1


@pytest.mark.parametrize(
    "sample", ["track_product_added.json", "identify_sign_up.json", "offline_catalogue_request.json"]
)
def test_tracking_samples_are_accepted(harness: Harness, sample: str) -> None:
    body = load(f"tracking/{sample}")
    body.pop("writeKey", None)
    path = "/v1/" + body["type"]
    assert harness.post(path, body).status_code == 200


def test_batch_sample_is_accepted_and_folds(harness: Harness) -> None:
    response = harness.post("/v1/batch", load("tracking/batch_checkout.json"))
    assert harness.json(response) == {"success": True}
    harness.pump.drain()
    view = harness.json(harness.admin("/admin/profiles?user_id=cust_1001"))
    assert view["profile"]["computed"]["orders"] == 1
    assert view["profile"]["consent"]["email"]["status"] == "opted_in"
    assert WRITE_KEY not in json.dumps(view)
