"""The stored profile item: an LZ4-compressed JSON body, readable in every form DynamoDB and Lambda hand it back."""

from __future__ import annotations

import base64
import json

from chalicelib.domain.profile import Profile, body_json, stored_body
from chalicelib.domain.traits import fold
from tests.unit.test_profile_support import NOW, config, page


def folded(events):
    return fold(None, "p_item", events, config(), NOW)


def test_the_body_is_stored_compressed_and_reads_back_to_the_same_profile():
    profile = folded([page()]).profile
    item = profile.to_item()
    text = profile.to_json()
    assert isinstance(item["body"]["B"], bytes) and len(item["body"]["B"]) < len(text)
    assert body_json(item) == text.decode()
    assert Profile.from_item(item) == profile


def test_a_lambda_stream_image_carries_the_body_as_base64_text():
    profile = folded([page()]).profile
    item = profile.to_item()
    image = {**item, "body": {"B": base64.b64encode(item["body"]["B"]).decode()}}  # as in a Lambda event's JSON
    assert Profile.from_item(image) == profile
    assert stored_body(image) == stored_body(item)


def _as_pydantic_wrote_it(value):
    if isinstance(value, dict):  # no None fields, and no `cart_expires` (added with the msgspec model)
        return {k: _as_pydantic_wrote_it(v) for k, v in value.items() if v is not None and k != "cart_expires"}
    if isinstance(value, list):
        return [_as_pydantic_wrote_it(v) for v in value]
    return value


def test_a_body_written_before_compression_by_the_earlier_pydantic_model_is_still_read():
    # GIVEN a body as the pydantic model wrote it until 2026-11: plain JSON text, None fields left out
    profile = folded([page()]).profile
    profile.computed.cart = [{"product_id": "p1", "name": "Tea", "price": 4.5, "quantity": 1}]
    pydantic_text = json.dumps(_as_pydantic_wrote_it(json.loads(profile.to_json())))
    assert "null" not in pydantic_text
    legacy = {**profile.to_item(), "body": {"S": pydantic_text}}
    # THEN it reads back to the same profile; the cart expiry it lacks reads as "look at the lines"
    read = Profile.from_item(legacy)
    assert read.activity.cart_expires == 0.0
    read.activity.cart_expires = profile.activity.cart_expires
    assert read == profile
    assert read.computed.cart[0]["name"] == "Tea"  # a section still encoded in the legacy text decodes on use
    assert json.loads(body_json(legacy))["profile_id"] == profile.profile_id
