"""The stored profile item: an LZ4-compressed MessagePack body, readable in every form DynamoDB and Lambda hand it back
(and in the JSON forms written before it)."""

from __future__ import annotations

import base64
import json

import lz4.block

from chalicelib.profiles.fold import fold
from chalicelib.profiles.model import Profile, body_dict, body_json, stored_body
from tests.unit.test_profile_support import NOW, at, config, make_event, page, product


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


def busy():
    tea = product("sku-1", name="Tea", price=4.5)
    events = [page(at(0, 9)), make_event(when=at(0, 8), properties=tea)]
    events.append(make_event(event="Product Added", when=at(0, 7), properties=tea))
    return folded(events).profile


def test_the_stored_body_is_messagepack_and_readers_see_the_json_document():
    profile = busy()
    item = profile.to_item()
    body = lz4.block.decompress(item["body"]["B"])
    assert body[:1] != b"{" and len(body) < len(profile.to_json())  # MessagePack: smaller than the JSON
    assert body_dict(item) == json.loads(profile.to_json())
    assert body_dict(item)["computed"]["cart"][0]["product_id"] == "sku-1"
    assert json.loads(body_json(item)) == body_dict(item)


def test_untouched_sections_are_written_back_verbatim_and_still_render_as_json():
    # GIVEN a profile read back with its lazy sections not yet decoded
    stored = busy().to_item()
    read = Profile.from_item(stored)
    assert read.computed.viewed_products_.__class__.__name__ == "Raw"
    # THEN writing it again keeps the same bytes, and its JSON form holds the sections decoded
    assert read.to_item()["body"] == stored["body"]
    assert json.loads(read.to_json())["computed"]["viewed_products"][0]["product_id"] == "sku-1"


def test_a_compressed_json_body_of_2026_11_is_read_and_written_back_as_messagepack():
    # GIVEN an item as the fold wrote it in 2026-11: the JSON body, LZ4-compressed
    profile = busy()
    json_item = {**profile.to_item(), "body": {"B": lz4.block.compress(profile.to_json())}}
    assert body_dict(json_item) == json.loads(profile.to_json())
    # THEN it reads to the same profile, and folding it on writes MessagePack that reads the same again
    read = Profile.from_item(json_item)
    assert read == profile
    again = fold(read, read.profile_id, [page(at(0, 1))], config(), NOW).profile
    written = again.to_item()
    assert lz4.block.decompress(written["body"]["B"])[:1] != b"{"
    assert Profile.from_item(written) == again
    assert Profile.from_item(written).computed.cart[0]["name"] == "Tea"


def test_applied_tags_are_pinned_because_stored_tags_must_keep_matching_replays():
    # A replay within 26 h is recognised only if the tag of its key is what an earlier version stored.
    from chalicelib.profiles.model import applied_tag

    assert applied_tag("web#m-00000102-010002-cdb7350d") == "eLIpD19qlm4"
    assert applied_tag("src#6f1c2a9e-3b4d-4c5e-9f60-7a8b9c0d1e2f") == "6LjuvtpGLVQ"
