"""RFM quintiles and Peppers & Rogers needs groups: population cut points (scheduled job) and per-profile scores.

Cut points are always an input: a scheduled job computes them from a population sample with `compute_cut_points` /
`compute_group_cut_points`, stores them (state table), and the fold receives them. Without cut points there is no RFM
and no group percentile; nothing here is hard-coded to a shop's numbers.

R×FM mapping (FM = (F + M) / 2 rounded half up). It follows the usual 11-segment RFM map (Putler et al.) with
"About to Sleep" folded into "Needs Attention", leaving ten names:

    R \\ FM   1                2                   3                   4          5
    5         New              Potential Loyalist  Potential Loyalist  Champions  Champions
    4         Promising        Potential Loyalist  Potential Loyalist  Loyal      Champions
    3         Needs Attention  Needs Attention     Needs Attention     Loyal      Loyal
    2         Hibernating      Hibernating         At Risk             At Risk    Can't Lose
    1         Lost             Lost                At Risk             At Risk    Can't Lose
"""

from __future__ import annotations

import bisect
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from collections.abc import Iterable

    from chalicelib.profiles.model import Profile

DAY = 86400.0

RFM_GROUPS = (
    "Champions",
    "Loyal",
    "Potential Loyalist",
    "New",
    "Promising",
    "Needs Attention",
    "At Risk",
    "Can't Lose",
    "Hibernating",
    "Lost",
)

_C, _L, _P, _N, _PR, _NA, _AR, _CL, _H, _LO = RFM_GROUPS
# _GRID[r - 1][fm - 1]; rows from R=1 (longest since last order) to R=5 (most recent).
_GRID = (
    (_LO, _LO, _AR, _AR, _CL),
    (_H, _H, _AR, _AR, _CL),
    (_NA, _NA, _NA, _L, _L),
    (_PR, _P, _P, _L, _C),
    (_N, _P, _P, _C, _C),
)


class RfmCutPoints(BaseModel):
    """Quintile cut points (4 ascending values per dimension) from a population of buyers."""

    model_config = ConfigDict(extra="ignore")

    recency_days: list[float] = Field(min_length=4, max_length=4)
    frequency: list[float] = Field(min_length=4, max_length=4)
    monetary: list[float] = Field(min_length=4, max_length=4)
    sample_size: int = 0
    computed_at: str | None = None


class GroupCutPoints(BaseModel):
    """Per needs group, the revenue at percentiles 1..99 (ascending) of the group's members."""

    model_config = ConfigDict(extra="ignore")

    groups: dict[str, list[float]] = Field(default_factory=dict)
    computed_at: str | None = None


def quantile_cut_points(values: Iterable[float], parts: int) -> list[float]:
    """The `parts - 1` cut points that split `values` into `parts` equal-sized groups (nearest-rank, deterministic)."""
    ordered = sorted(values)
    if not ordered:
        return []
    n = len(ordered)
    return [float(ordered[min(n - 1, (k * n) // parts)]) for k in range(1, parts)]


def rfm_values(profile: Profile, now: datetime) -> tuple[float, float, float] | None:
    """(days since last order, orders, revenue) for a buyer; None for someone who never ordered.

    The scheduled job feeds these into `compute_cut_points`, so both sides use the same definitions.
    """
    computed, activity = profile.computed, profile.activity
    if computed.orders <= 0 or activity.last_order_ts is None:
        return None
    recency = max(0.0, (now.timestamp() - activity.last_order_ts) / DAY)
    return recency, float(computed.orders), float(computed.revenue)


def compute_cut_points(values: Iterable[tuple[float, float, float]], computed_at: str | None = None) -> RfmCutPoints:
    """Quintile cut points from a population sample of `rfm_values` tuples.

    Example:
        >>> compute_cut_points([(d, 1, 10 * d) for d in range(1, 11)]).recency_days
        [3.0, 5.0, 7.0, 9.0]
    """
    rows = list(values)
    if not rows:
        raise ValueError("cannot compute RFM cut points from an empty population")
    return RfmCutPoints(
        recency_days=quantile_cut_points((r[0] for r in rows), 5),
        frequency=quantile_cut_points((r[1] for r in rows), 5),
        monetary=quantile_cut_points((r[2] for r in rows), 5),
        sample_size=len(rows),
        computed_at=computed_at,
    )


def rfm_scores(profile: Profile, cut_points: RfmCutPoints | None, now: datetime) -> tuple[int, int, int] | None:
    """(R, F, M) in 1..5 (5 best: most recent, most frequent, highest spend); None without cut points or orders.

    A value equal to a cut point falls in the lower quintile, so the many one-order customers share F=1 instead of
    being spread arbitrarily.
    """
    if cut_points is None:
        return None
    values = rfm_values(profile, now)
    if values is None:
        return None
    recency, frequency, monetary = values
    r = 5 - bisect.bisect_left(cut_points.recency_days, recency)  # fewer days since last order = better
    f = 1 + bisect.bisect_left(cut_points.frequency, frequency)
    m = 1 + bisect.bisect_left(cut_points.monetary, monetary)
    return r, f, m


def rfm_group(r: int, f: int, m: int) -> str:
    """The RFM segment name for scores 1..5 (see the R×FM table in the module docstring)."""
    for score in (r, f, m):
        if not 1 <= score <= 5:
            raise ValueError(f"RFM scores are 1..5, got {(r, f, m)}")
    fm = (f + m + 1) // 2
    return _GRID[r - 1][fm - 1]


def compute_group_cut_points(members: Iterable[tuple[str, float]], computed_at: str | None = None) -> GroupCutPoints:
    """Per needs group, percentile cut points 1..99 of member revenue, from (needs_group, revenue) pairs.

    Members with no group are skipped. Include non-buyers (revenue 0) if the percentile should be "within everyone
    interested in this category", leave them out for "within the category's customers".
    """
    by_group: dict[str, list[float]] = {}
    for group, revenue in members:
        if group:
            by_group.setdefault(group, []).append(float(revenue))
    return GroupCutPoints(
        groups={group: quantile_cut_points(values, 100) for group, values in sorted(by_group.items())},
        computed_at=computed_at,
    )


def group_value_percentile(revenue: float, group: str | None, cut_points: GroupCutPoints | None) -> float | None:
    """Percentile (0..99) of `revenue` within its needs group: how many percentile cut points lie strictly below it.

    Ties resolve downwards, so when most of a group spent nothing, non-spenders get 0 and any spender ranks high.
    None when there is no group or no cut points for it.
    """
    if cut_points is None or not group:
        return None
    cuts = cut_points.groups.get(group)
    if not cuts:
        return None
    # Scale so that stored cut points of another resolution (e.g. deciles) still give a 0..99 percentile.
    return round(bisect.bisect_left(cuts, revenue) * 99.0 / len(cuts), 2)
