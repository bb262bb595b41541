"""The stored profile item: an LZ4-compressed MessagePack body, readable in every form DynamoDB and Lambda hand it back
(and in the JSON forms written before it); the codec's lazy sections stay behind it, the model stays plain."""

from __future__ import annotations

import base64
import json

import lz4.block
import msgspec
import pytest

from chalicelib.profiles.codec import (
    body_dict,
    body_json,
    compress_body,
    copy,
    decoded,
    expand_body,
    read_item,
    stored_body,
    to_item,
    to_json,
    to_msgpack,
)
from chalicelib.profiles.fold import applied_tag, fold
from chalicelib.profiles.model import Activity, CartLine, ComputedTraits, Profile, Transition, ViewedProduct
from tests.unit.profiles.support import NOW, at, config, make_event, page, product


def folded(events):
    return fold(None, "p_item", events, config(), NOW)


def _document(profile: Profile) -> dict:
    """The JSON document readers see: the profile's JSON without its binary archive-day bookkeeping."""
    document = json.loads(to_json(profile))
    assert document.pop("archived_days")  # the folded events' days are kept, just not shown
    return document


def test_the_body_is_stored_compressed_and_reads_back_to_the_same_profile():
    profile = folded([page()]).profile
    item = to_item(profile)
    text = to_json(profile)
    assert isinstance(item["body"]["B"], bytes) and len(item["body"]["B"]) < len(text)
    assert json.loads(body_json(item)) == _document(profile)
    assert decoded(read_item(item)) == profile


def test_a_lambda_stream_image_carries_the_body_as_base64_text():
    profile = folded([page()]).profile
    item = to_item(profile)
    image = {**item, "body": {"B": base64.b64encode(item["body"]["B"]).decode()}}  # as in a Lambda event's JSON
    assert decoded(read_item(image)) == profile
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
    pydantic_text = json.dumps(_as_pydantic_wrote_it(json.loads(to_json(profile))))
    assert "null" not in pydantic_text
    legacy = {**to_item(profile), "body": {"S": pydantic_text}}
    # THEN it reads back to the same profile; the cart expiry it lacks reads as "look at the lines"
    read = read_item(legacy)
    assert read.activity.cart_expires == 0.0
    read.activity.cart_expires = profile.activity.cart_expires
    assert read == profile
    assert read.computed.cart[0]["name"] == "Tea"
    assert json.loads(body_json(legacy))["profile_id"] == profile.profile_id


def busy():
    tea = product("sku-1", name="Tea", price=4.5)
    events = [page(at(0, 9)), make_event(when=at(0, 8), properties=tea)]
    events.append(make_event(event="Product Added", when=at(0, 7), properties=tea))
    return folded(events).profile


def test_the_stored_body_is_messagepack_and_readers_see_the_json_document():
    profile = busy()
    item = to_item(profile)
    body = expand_body(item["body"]["B"])
    assert body[:1] != b"{" and len(body) < len(to_json(profile))  # MessagePack: smaller than the JSON
    assert body_dict(item) == _document(profile)
    assert body_dict(item)["computed"]["cart"][0]["product_id"] == "sku-1"
    assert json.loads(body_json(item)) == body_dict(item)


def test_a_profile_decoded_and_left_untouched_is_written_back_byte_for_byte():
    # GIVEN a stored busy profile, read back
    stored = to_item(busy())
    read = read_item(stored)
    # THEN writing it again keeps the same bytes, and so does a copy; its JSON form holds every section decoded
    assert to_item(read)["body"] == stored["body"]
    assert to_item(copy(read))["body"] == stored["body"]
    assert json.loads(to_json(read))["computed"]["viewed_products"][0]["product_id"] == "sku-1"
    # AND reading every section and writing again still gives the same bytes (the sections' encoding is canonical)
    assert read.computed.viewed_products and read.computed.cart and read.activity.cart and read.recent_transitions
    assert to_item(read)["body"] == stored["body"]


def _with_section(item, path, value):
    body = msgspec.msgpack.decode(expand_body(item["body"]["B"]))
    part = body
    for name in path[:-1]:
        part = part[name]
    part[path[-1]] = value
    return {**item, "body": {"B": compress_body(msgspec.msgpack.encode(body))}}


def test_a_fold_that_leaves_a_section_alone_never_decodes_it_and_writes_it_back_verbatim():
    # GIVEN a stored profile whose viewed products cannot be decoded as the model's type
    stored = _with_section(to_item(busy()), ("computed", "viewed_products"), [1, 2])
    profile = read_item(stored)
    # WHEN a page view is folded (it touches neither the viewed products nor the search terms)
    result = fold(profile, profile.profile_id, [page(at(0, 1))], config(), NOW, in_place=True)
    # THEN the fold succeeds and the section is stored again as it was
    assert result.changed
    assert body_dict(to_item(result.profile))["computed"]["viewed_products"] == [1, 2]
    # AND reading the section is where it fails
    with pytest.raises(msgspec.ValidationError):
        result.profile.computed.viewed_products  # noqa: B018


def test_the_model_is_built_with_plain_field_names_and_compared_field_by_field():
    view = ViewedProduct(product_id="sku-1", name="Tea", at="2026-12-01T10:00:00Z")
    transition = Transition(kind="stage_changed", from_="prospect", to="new", at="2026-12-01T10:00:00Z", version=1)

    def build() -> Profile:
        return Profile(
            profile_id="p_plain",
            version=1,
            computed=ComputedTraits(
                search_terms=[{"term": "tea", "at": "2026-12-01T10:00:00Z"}],
                viewed_products=[view],
                cart=[{"product_id": "sku-1", "name": "Tea", "price": 4.5, "quantity": 1}],
            ),
            activity=Activity(cart={"sku-1": CartLine(q=1.0, at=1.0)}),
            folded=["web#m-1"],
            recent_transitions=[transition],
        )

    plain = build()
    assert plain == build()
    assert plain.computed.viewed_products == [view] and plain.new_transitions() == [transition]
    changed = build()
    changed.activity.cart["sku-1"].q = 2.0
    assert changed != plain
    # AND a stored one reads back to an equal plain profile, every section included
    assert decoded(read_item(to_item(plain))) == plain
    assert msgspec.msgpack.decode(to_msgpack(plain)) == msgspec.msgpack.decode(to_msgpack(read_item(to_item(plain))))


def test_a_lazily_read_profile_refuses_equality_instead_of_decoding_to_answer():
    profile = busy()
    read = read_item(to_item(profile))
    with pytest.raises(TypeError, match="decoded"):
        assert read == profile
    assert decoded(read) == profile


def test_kept_transitions_stay_as_stored_until_read_and_then_read_in_order():
    profile = busy()
    read = read_item(to_item(profile))
    later = Transition(kind="cart_changed", from_=1.0, to=0.0, at="2026-12-02T00:00:00Z", version=9)
    read.add_transitions([later])
    assert read.recent_transitions == [*profile.recent_transitions, later]
    assert decoded(read).recent_transitions == read.recent_transitions


def test_a_compressed_json_body_of_2026_11_is_read_and_written_back_as_messagepack():
    # GIVEN an item as the fold wrote it in 2026-11: the JSON body, LZ4-compressed
    profile = busy()
    json_item = {**to_item(profile), "body": {"B": lz4.block.compress(to_json(profile))}}
    assert body_dict(json_item) == _document(profile)
    # THEN it reads to the same profile, and folding it on writes MessagePack that reads the same again
    read = read_item(json_item)
    assert read == profile
    again = fold(read, read.profile_id, [page(at(0, 1))], config(), NOW).profile
    written = to_item(again)
    assert expand_body(written["body"]["B"])[:1] != b"{"
    assert decoded(read_item(written)) == decoded(again)
    assert read_item(written).computed.cart[0]["name"] == "Tea"


def test_applied_tags_are_pinned_because_stored_tags_must_keep_matching_replays():
    # A replay within 26 h is recognised only if the tag of its key is what an earlier version stored.
    assert applied_tag("web#m-00000102-010002-cdb7350d") == "eLIpD19qlm4"
    assert applied_tag("src#6f1c2a9e-3b4d-4c5e-9f60-7a8b9c0d1e2f") == "6LjuvtpGLVQ"


def test_bodies_are_compressed_against_the_pinned_dictionary_and_untagged_blocks_of_before_still_read():
    import hashlib

    from chalicelib.profiles.body_dictionary import PROFILE_DICT_V1, PROFILE_DICT_V1_SHA256

    # The dictionary can never change: bodies written with it are only readable with it
    assert hashlib.sha256(PROFILE_DICT_V1).hexdigest() == PROFILE_DICT_V1_SHA256
    profile = busy()
    item = to_item(profile)
    body = msgspec.msgpack.encode(msgspec.msgpack.decode(expand_body(item["body"]["B"])))
    assert len(item["body"]["B"]) < len(lz4.block.compress(body)) * 0.85  # the dictionary is worth its bytes
    # An item written before the dictionary: an untagged LZ4 block of the same MessagePack
    untagged = {**item, "body": {"B": lz4.block.compress(expand_body(item["body"]["B"]))}}
    assert untagged["body"]["B"][3] == 0
    assert decoded(read_item(untagged)) == decoded(read_item(item))
    assert body_dict(untagged) == body_dict(item)
    with pytest.raises(ValueError, match="unknown stored form"):
        expand_body(b"o2p\x07" + item["body"]["B"][4:])


def test_a_body_above_the_dictionary_limit_is_a_plain_lz4_block_and_reads_back():
    from chalicelib.profiles.codec import DICT_MAX_BODY

    small = b"\x81\xa1a" + b"\xa1x" * 10
    large = msgspec.msgpack.encode({"k": "y" * (DICT_MAX_BODY + 1)})
    assert compress_body(small)[:3] == b"o2p"  # tagged: against the dictionary
    assert compress_body(large)[3] == 0 and lz4.block.decompress(compress_body(large)) == large  # untagged
    assert expand_body(compress_body(large)) == large and expand_body(compress_body(small)) == small
