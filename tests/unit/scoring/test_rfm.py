"""RFM cut points, scores and groups; needs-group percentiles."""

from __future__ import annotations

import pytest

from chalicelib.profiles.fold import fold
from chalicelib.profiles.model import Profile
from chalicelib.scoring.rfm import (
    RFM_GROUPS,
    GroupCutPoints,
    RfmCutPoints,
    compute_cut_points,
    compute_group_cut_points,
    group_value_percentile,
    rfm_group,
    rfm_scores,
    rfm_values,
)
from tests.unit.profiles.support import NOW, PROFILE_ID, at, bare_config, make_event

CUTS = RfmCutPoints(recency_days=[10, 30, 90, 180], frequency=[1, 2, 4, 8], monetary=[50, 100, 300, 1000])


def buyer(orders: int, revenue_each: float, last_order_days_ago: float) -> Profile:
    events = [
        make_event(event="Order Completed", when=at(last_order_days_ago + i), properties={"revenue": revenue_each})
        for i in range(orders)
    ]
    return fold(None, PROFILE_ID, events, bare_config(), NOW).profile


def test_quintile_cut_points_split_the_population_in_five():
    population = [(float(d), float(d % 7), float(d * 10)) for d in range(1, 101)]
    cuts = compute_cut_points(population)
    assert cuts.recency_days == [21, 41, 61, 81]
    assert cuts.monetary == [210, 410, 610, 810]
    assert cuts.sample_size == 100


def test_cut_points_need_a_population():
    with pytest.raises(ValueError, match="empty"):
        compute_cut_points([])


def test_rfm_scores_favour_recent_frequent_big_spenders():
    assert rfm_scores(buyer(10, 200, 1), CUTS, NOW) == (5, 5, 5)
    assert rfm_scores(buyer(1, 20, 400), CUTS, NOW) == (1, 1, 1)


def test_a_value_on_a_cut_point_falls_in_the_lower_quintile():
    assert rfm_scores(buyer(1, 50, 10), CUTS, NOW) == (5, 1, 1)


def test_no_rfm_without_cut_points_or_without_orders():
    assert rfm_scores(buyer(3, 10, 1), None, NOW) is None
    assert rfm_scores(Profile(profile_id="p"), CUTS, NOW) is None
    assert rfm_values(Profile(profile_id="p"), NOW) is None


@pytest.mark.parametrize(
    ("r", "f", "m", "group"),
    [
        (5, 5, 5, "Champions"),
        (4, 4, 4, "Loyal"),
        (5, 2, 3, "Potential Loyalist"),
        (5, 1, 1, "New"),
        (4, 1, 1, "Promising"),
        (3, 2, 3, "Needs Attention"),
        (2, 3, 3, "At Risk"),
        (1, 5, 5, "Can't Lose"),
        (2, 1, 2, "Hibernating"),
        (1, 1, 1, "Lost"),
    ],
)
def test_rfm_group_follows_the_r_by_fm_table(r, f, m, group):
    assert rfm_group(r, f, m) == group


def test_every_score_combination_has_one_of_the_ten_groups():
    groups = {rfm_group(r, f, m) for r in range(1, 6) for f in range(1, 6) for m in range(1, 6)}
    assert groups == set(RFM_GROUPS)


def test_rfm_group_rejects_scores_outside_one_to_five():
    with pytest.raises(ValueError):
        rfm_group(0, 3, 3)


def test_fold_with_cut_points_stores_rfm_and_without_keeps_the_previous():
    events = [make_event(event="Order Completed", when=at(1), properties={"revenue": 2000})]
    p = fold(None, PROFILE_ID, events, bare_config(), NOW, rfm_cut_points=CUTS).profile
    assert (p.rfm.r, p.rfm.f, p.rfm.m, p.rfm.group) == (5, 1, 5, "Potential Loyalist")
    again = fold(p, PROFILE_ID, [], bare_config(), NOW).profile
    assert again.rfm == p.rfm


def test_group_percentile_ranks_revenue_within_its_needs_group():
    members = [("shoes", float(v)) for v in range(100)] + [("socks", 0.0)] * 50 + [("socks", 10.0)] * 5
    cuts = compute_group_cut_points(members + [(None, 1.0)])
    assert set(cuts.groups) == {"shoes", "socks"}
    assert group_value_percentile(95, "shoes", cuts) == 94  # 94 of the 99 percentile cut points lie below
    assert group_value_percentile(0, "socks", cuts) == 0  # most spent nothing: nothing lies below
    assert group_value_percentile(10, "socks", cuts) >= 90
    assert group_value_percentile(10, "hats", cuts) is None
    assert group_value_percentile(10, None, cuts) is None
    assert group_value_percentile(10, "shoes", None) is None


def test_fold_with_group_cut_points_sets_the_percentile_of_the_top_interest():
    cuts = GroupCutPoints(groups={"shoes": [float(v) for v in range(1, 100)]})
    events = [
        make_event(
            event="Order Completed",
            when=at(1),
            properties={"revenue": 92, "products": [{"product_id": "s", "category": "shoes", "price": 92}]},
        )
    ]
    p = fold(None, PROFILE_ID, events, bare_config(), NOW, group_cut_points=cuts).profile
    assert p.needs_group == "shoes"
    assert p.group_value_percentile == 91
