"""Identity merge: the loser profile folded into the winner."""

from __future__ import annotations

import pytest

from chalicelib.profiles.codec import to_json
from chalicelib.profiles.fold import fold
from chalicelib.profiles.merge import merge_profiles
from chalicelib.scoring.lead_score import current_engagement
from tests.unit.profiles.support import NOW, at, bare_config, identify, make_event, page, product

SCORING = {"engagement": {"half_life_days": 10, "events": {"Page Viewed": {"points": 4}}}}


def build(profile_id, events):
    return fold(None, profile_id, events, bare_config(scoring=SCORING), NOW).profile


@pytest.fixture
def pair():
    winner = build(
        "p_win",
        [
            identify({"firstName": "Ann", "plan": "pro"}, at(1), anonymous_id="a1", user_id="u1"),
            make_event(
                event="Order Completed", when=at(1), properties={"order_id": "o1", "revenue": 30}, anonymous_id="a1"
            ),
            make_event(event="Product Added", when=at(1), properties=product("x", quantity=1), anonymous_id="a1"),
            page(at(1), anonymous_id="a1"),
        ],
    )
    loser = build(
        "p_lose",
        [
            identify({"firstName": "Anne", "city": "Irvine"}, at(9), anonymous_id="a2"),
            make_event(
                event="Order Completed", when=at(9), properties={"order_id": "o2", "revenue": 20}, anonymous_id="a2"
            ),
            make_event(event="Product Added", when=at(2), properties=product("x", quantity=2), anonymous_id="a2"),
            make_event(event="Product Viewed", when=at(3), properties=product("v"), anonymous_id="a2"),
            page(at(10), anonymous_id="a2"),
            make_event(event="Email Unsubscribed", when=at(2), anonymous_id="a2"),
        ],
    )
    return winner, loser


def test_merge_combines_identities_counters_and_first_last_seen(pair):
    winner, loser = pair
    merged = merge_profiles(winner, loser, bare_config(scoring=SCORING), NOW)
    assert merged.profile_id == "p_win" and merged.merged_from == ["p_lose"]
    assert merged.anonymous_ids == ["a1", "a2"] and merged.user_id == "u1"
    c = merged.computed
    assert (c.orders, c.revenue, c.page_views) == (2, 50, 2)
    assert c.first_seen == "2026-11-14T12:00:00.000Z" and c.last_seen == "2026-11-23T12:00:00.000Z"
    assert c.cart == [{"product_id": "x", "name": "Shoe", "price": 10.0, "quantity": 3}]
    assert [v.product_id for v in c.viewed_products] == ["v"]
    assert merged.activity.daily["Page Viewed"] == {"2026-11-14": 1, "2026-11-23": 1}
    assert set(merged.applied) == set(winner.applied) | set(loser.applied)


def test_merge_keeps_the_later_time_of_each_event_whichever_side_had_it(pair):
    winner, loser = pair
    expected = {
        "Order Completed": int(at(1).timestamp()),  # the winner's is later
        "Product Added": int(at(1).timestamp()),
        "Product Viewed": int(at(3).timestamp()),  # only the loser had one
        "Email Unsubscribed": int(at(2).timestamp()),
    }
    assert merge_profiles(winner, loser, bare_config(scoring=SCORING), NOW).activity.last_by_event == expected
    assert merge_profiles(loser, winner, bare_config(scoring=SCORING), NOW).activity.last_by_event == expected


def test_merge_keeps_winner_traits_and_fills_gaps_from_the_loser(pair):
    winner, loser = pair
    merged = merge_profiles(winner, loser, bare_config(scoring=SCORING), NOW)
    assert merged.traits == {"firstName": "Ann", "plan": "pro", "city": "Irvine"}
    assert merged.demographics.city == "Irvine"
    assert merged.consent["email"].status == "opted_out"


def test_merge_adds_engagement_after_decaying_both(pair):
    winner, loser = pair
    merged = merge_profiles(winner, loser, bare_config(scoring=SCORING), NOW)
    expected = current_engagement(winner, NOW) + current_engagement(loser, NOW)
    assert current_engagement(merged, NOW) == pytest.approx(expected)


def test_merge_does_not_modify_its_inputs_and_a_following_fold_re_evaluates(pair):
    winner, loser = pair
    before = (to_json(winner), to_json(loser))
    merged = merge_profiles(winner, loser, bare_config(scoring=SCORING), NOW)
    assert (to_json(winner), to_json(loser)) == before
    # a replay of the loser's events after the merge is recognised as applied
    result = fold(merged, "p_win", [], bare_config(scoring=SCORING), NOW)
    assert result.profile.computed.orders == 2
