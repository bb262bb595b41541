"""Offline quality on generated shopping data with known structure (bench/recommendations.py)."""

from __future__ import annotations

from bench.recommendations import quality


def test_item_to_item_finds_the_next_purchase_more_often_than_popularity():
    # GIVEN shoppers who view and buy within bundles of a category, plus noise, learnt one archive day at a time
    result = quality(train=600, test=200)
    # THEN the held-out next purchase is in the top 10 far more often with item-to-item than with best sellers
    assert result["hit_rate_item_to_item"] > result["hit_rate_popularity"] + 0.2, result
    # AND the nightly job writes each list at most once a day: never more lists than products and popularity lists
    nightly = result["nightly"]
    assert nightly["lists_written_per_day"] <= result["products"] + 8 + 1
    assert nightly["dollars_per_million_events"] < 1.0
