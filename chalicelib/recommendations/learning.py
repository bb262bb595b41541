"""The nightly similar-items job: each complete archive day not learnt yet, read once, written once per list.

Run by the archive's daily schedule right after compaction (`handlers/archive.py`), and on demand by
`POST /admin/recommendations/learn`. Days are learnt oldest first. A day is learnt once compaction has merged it
(it is no longer marked as written): until then it may still be incomplete, so the job stops there and waits for
the next night. After a day is learnt entirely, a cursor (`learnt_through`) moves past it.

Exactly once per (list, day): each list records the last day applied to it, and its put is conditional on the
version read, so a re-run of a day (a Lambda retry, an operator) or a run resumed after a crash half-way through a
day recomputes the same day's updates and writes only the lists that do not have them yet.

Not learnt: events archived for a day after that day was learnt (late events, imports of old history). The day's
lists already say "applied", and applying the day again would count its other events twice.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from chalicelib.recommendations.daily import LEARNT_EVENTS, DayBuilder, product_totals
from chalicelib.recommendations.ports import ArchiveDays, SimilarItemsStore
from chalicelib.tracking.archive import partition

log = logging.getLogger("one2one")


class AlreadyLearnt(Exception):
    """`since` was given to a job that has a cursor already: learning earlier days now could not be exactly once."""

    def __init__(self, learnt_through: str) -> None:
        super().__init__(f"similar items are learnt through {learnt_through}; `since` applies to the first run only")
        self.learnt_through = learnt_through


@dataclass
class LearningReport:
    days: list[str] = field(default_factory=list)
    events: int = 0
    skipped: int = 0
    lists_written: int = 0
    lists_touched: int = 0
    waiting_for: str | None = None  # the first day not compacted yet: learnt on a later run

    def as_dict(self) -> dict[str, Any]:
        return {
            "days": self.days,
            "events": self.events,
            "skipped": self.skipped,
            "lists_touched": self.lists_touched,
            "lists_written": self.lists_written,
            "waiting_for": self.waiting_for,
        }


class SimilarItemsLearning:
    def __init__(self, store: SimilarItemsStore, archive: ArchiveDays) -> None:
        self.store = store
        self.archive = archive

    def run(self, now: datetime, deadline: float | None = None, since: date | None = None) -> LearningReport:
        """Learn every complete day since the cursor, up to yesterday, starting no day after `deadline`
        (time.monotonic()) except the first (each run makes progress); what is left is learnt on the next run.

        The first run (no cursor) starts with yesterday, or with `since` to learn history first (a new install with
        imported history). Not further back by default: lists written by the per-event learning of earlier releases
        already count the days before, and learning them again would count them twice."""
        report = LearningReport()
        today = now.date()
        last = self.store.learnt_through()
        if last and since is not None:
            raise AlreadyLearnt(last)
        day = date.fromisoformat(last) + timedelta(days=1) if last else since or today - timedelta(days=1)
        if day >= today:
            return report
        yesterday = (today - timedelta(days=1)).isoformat()
        archived = self.archive.archived_days(day.isoformat(), yesterday)
        dirty = self.archive.dirty_days()
        done: str | None = None
        while day < today:
            name = day.isoformat()
            if name in dirty:
                report.waiting_for = name
                break
            if name in archived:  # a day with no archive object teaches nothing: passed without a request
                if report.days and deadline is not None and time.monotonic() >= deadline:
                    break
                self.learn_day(name, report)
                self.store.set_learnt_through(name)
            done = name
            day += timedelta(days=1)
        if done is not None and (not report.days or report.days[-1] != done):
            self.store.set_learnt_through(done)  # the empty days after the last one learnt
        return report

    def learn_day(self, day: str, report: LearningReport | None = None) -> LearningReport:
        """Read one archive day and write each list it touches once (lists that have this day already are left)."""
        report = report or LearningReport()
        builder = DayBuilder()
        for key in self.archive.keys(partition(day)):
            for line in self.archive.lines(key, LEARNT_EVENTS):
                builder.add(line)
        deltas = builder.deltas()
        if deltas:
            # Every product's own total after the day first (the cosine's denominator beside each pair), so a list
            # written in one chunk knows the totals of neighbours written in another. A list that has this day
            # already (a resumed run) has its day weight in `t`: taken out, to be added once.
            applied = self.store.applied(sorted(deltas))
            before = {
                key: t - (deltas[key].total if last >= day else 0.0)
                for key, (t, last) in applied.items()
                if key.startswith("sim#")
            }
            written = self.store.apply_day(day, deltas, product_totals(deltas, before))
            report.lists_written += written
            report.lists_touched += len(deltas)
        report.days.append(day)
        report.events += builder.events
        report.skipped += builder.skipped
        log.info("similar items: day %s, %d events, %d lists", day, builder.events, len(deltas))
        return report
