"""Scheduled jobs: the lifecycle sweep (time alone changes stage, score and segments) and the RFM/group cut points.

Both jobs are resumable and bounded by a deadline (the Lambda's remaining time), both only Query (never Scan), and
both re-evaluate a profile through `FoldService.refold`, the same versioned write the events-stream fold uses.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from chalicelib.profiles.model import Activity, ComputedTraits, Profile
from chalicelib.profiles.ports import SweepState
from chalicelib.scoring import rfm
from chalicelib.tracking.events import iso

if TYPE_CHECKING:
    from chalicelib.profiles.ports import CustomerFigures, CustomerPopulation, CutPointStore, SweepStore
    from chalicelib.shared.clock import Clock

log = logging.getLogger("one2one")

# With no progress record yet (first deployment) the sweep starts this many days back. A fold always sets a due day
# after the day it runs, so profiles written before the first sweep are due at most this far back if the schedule was
# enabled within that many days of the first events.
FIRST_LOOKBACK_DAYS = 30
MAX_DAYS_PER_RUN = 400  # a sweep paused for longer than that has bigger problems; the rest waits for the next run
PAGE_SIZE = 100


class Refolder(Protocol):
    def refold(self, profile_id: str) -> bool: ...


Deadline = float | None  # time.monotonic() value after which a job stops and saves its progress


def _out_of_time(deadline: Deadline) -> bool:
    return deadline is not None and time.monotonic() >= deadline


@dataclass
class SweepReport:
    days: list[str] = field(default_factory=list)
    profiles_due: int = 0
    profiles_written: int = 0
    complete: bool = True
    swept_through: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class LifecycleSweepService:
    """Re-folds, with no events, every profile whose `due_day` lies between the last swept day and today."""

    def __init__(self, store: SweepStore, refolder: Refolder, clock: Clock) -> None:
        self.store = store
        self.refolder = refolder
        self.clock = clock

    def run(self, deadline: Deadline = None) -> SweepReport:
        today = self.clock.now().date()
        state = self.store.load()
        if state.day:  # a run stopped part-way through this day
            day = date.fromisoformat(state.day)
        elif state.swept_through:
            day = date.fromisoformat(state.swept_through) + timedelta(days=1)
        else:
            day = today - timedelta(days=FIRST_LOOKBACK_DAYS)
        cursor = state.cursor if state.day else None
        report = SweepReport(swept_through=state.swept_through)
        days = 0
        while day <= today and days < MAX_DAYS_PER_RUN:
            key = day.isoformat()
            report.days.append(key)
            while True:
                ids, last = self.store.due_profiles(key, PAGE_SIZE, cursor)
                for profile_id in ids:
                    report.profiles_due += 1
                    try:
                        report.profiles_written += int(self.refolder.refold(profile_id))
                    except Exception:
                        # Keep the place before this profile: the next run (hourly) starts with it again.
                        log.warning("sweep stopped at %s on %s", profile_id, key, exc_info=True)
                        self.store.save(SweepState(state.swept_through, key, cursor))
                        report.complete = False
                        return report
                    cursor = profile_id
                if last is None:
                    break
                if _out_of_time(deadline):
                    self.store.save(SweepState(state.swept_through, key, cursor))
                    report.complete = False
                    return report
            # A fold always moves due_day past the day it runs, so a day once swept never fills up again.
            state = SweepState(swept_through=key)
            self.store.save(state)
            report.swept_through = key
            cursor = None
            day += timedelta(days=1)
            days += 1
        report.complete = day > today
        return report


@dataclass
class CutPointsReport:
    customers: int = 0
    groups: int = 0
    stale: int = 0  # customers whose stored RFM / percentile differ from what the new cut points give
    refolded: int = 0
    profiles_written: int = 0
    complete: bool = True
    computed_at: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _as_profile(row: CustomerFigures) -> Profile:
    # Exactly the fields `rfm` reads, so the job and the fold share one definition of recency, frequency and value.
    return Profile(
        profile_id="",
        computed=ComputedTraits(orders=row.orders, revenue=row.revenue),
        activity=Activity(last_order_ts=row.last_order_ts),
    )


def expected_scores(
    row: CustomerFigures, rfm_cut_points: rfm.RfmCutPoints, group_cut_points: rfm.GroupCutPoints, now: Any
) -> tuple[str | None, float | None]:
    """The (RFM digits, group percentile) the fold would assign this customer now, by the domain's own functions."""
    scores = rfm.rfm_scores(_as_profile(row), rfm_cut_points, now)
    digits = "".join(str(s) for s in scores) if scores else None
    return digits, rfm.group_value_percentile(row.revenue, row.needs_group, group_cut_points)


class CutPointsService:
    """Daily: quintiles of recency/frequency/monetary and per-needs-group revenue percentiles of the buyers.

    The population is the `$customers` rows the profiles-stream consumer keeps (Queries; no Scan of whole profiles).
    Group percentiles are "within the group's customers" (buyers only): with every interested visitor included, most
    of a group would have spent nothing and any buyer would rank in the top decile.
    After storing, the job re-folds only the customers whose RFM or percentile the new cut points change (it can tell
    from the population rows, which carry the current values), so RFM stays current without rewriting everyone.
    Customers left when the deadline hits are picked up by their next fold, sweep, or tomorrow's run.
    """

    def __init__(
        self, population: CustomerPopulation, cut_points: CutPointStore, refolder: Refolder, clock: Clock
    ) -> None:
        self.population = population
        self.cut_points = cut_points
        self.refolder = refolder
        self.clock = clock

    def run(self, deadline: Deadline = None) -> CutPointsReport:
        now = self.clock.now()
        rows = list(self.population.customers())
        report = CutPointsReport(customers=len(rows))
        if not rows:
            log.info("cut points: no customers yet, nothing stored")
            return report
        computed_at = iso(now)
        values = [v for r in rows if (v := rfm.rfm_values(_as_profile(r), now)) is not None]
        rfm_cut_points = rfm.compute_cut_points(values, computed_at=computed_at)
        group_cut_points = rfm.compute_group_cut_points(
            ((r.needs_group, r.revenue) for r in rows if r.needs_group), computed_at
        )
        self.cut_points.save(rfm_cut_points, group_cut_points)
        report.groups = len(group_cut_points.groups)
        report.computed_at = computed_at

        stale = [
            r.profile_id
            for r in rows
            if expected_scores(r, rfm_cut_points, group_cut_points, now) != (r.rfm, r.percentile)
        ]
        report.stale = len(stale)
        for profile_id in sorted(stale):
            if _out_of_time(deadline):
                report.complete = False
                break
            try:
                report.profiles_written += int(self.refolder.refold(profile_id))
            except Exception:
                log.warning("cut points: refold of %s deferred", profile_id, exc_info=True)
                report.complete = False
            report.refolded += 1
        return report
