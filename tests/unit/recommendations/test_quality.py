"""Offline quality on generated shopping data with known structure (bench/recommendations.py)."""

from __future__ import annotations

from bench.recommendations import quality


def test_item_to_item_finds_the_next_purchase_more_often_than_popularity():
    # GIVEN shoppers who view and buy within bundles of a category, plus noise
    result = quality(train=600, test=200)
    # THEN the held-out next purchase is in the top 10 far more often with item-to-item than with best sellers
    assert result["hit_rate_item_to_item"] > result["hit_rate_popularity"] + 0.2, result
    # AND each event writes a bounded number of items (marker + lists), whatever the catalog's size
    assert result["writes_per_view"]["max_items"] <= 1 + 1 + 5 + 2
    assert result["writes_per_order"]["max_items"] <= 25
