"""Inline-rule audiences: the rule saved as a hidden segment, backfilled before the launch, disabled once walked.

A segment is the only audience that can be enumerated without reading every profile at send time (a Query of its
members), and the backfill (profiles/backfill.py) is what makes a new segment's membership exact over existing
profiles. So an inline rule costs what creating a segment costs, once, and nothing after: the hidden segment
`bc-<broadcast id>` is disabled when the fan-out has walked it, so later folds stop evaluating it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from chalicelib.definitions.exceptions import DefinitionInvalid
from chalicelib.definitions.service import DefinitionsService
from chalicelib.profiles.ports import BackfillJob
from chalicelib.profiles.segment_definitions import parse_segment
from chalicelib.shared.clock import Clock

__all__ = ["RuleAudiences"]

log = logging.getLogger("one2one")

RECENT_JOBS = 100  # how far back `ready` looks for the hidden segment's backfill
# A finished backfill has written the profiles; their membership items follow through the profiles stream a moment
# later (typically well under a second). The launch waits this long after the last page so the Query sees them all.
STREAM_SETTLE = timedelta(seconds=30)


class RuleAudiences:
    """The `AudienceSegments` port over the definitions service and the backfill's job list."""

    def __init__(
        self, definitions: DefinitionsService, recent_jobs: Callable[[int], list[BackfillJob]], clock: Clock
    ) -> None:
        self.definitions = definitions
        self.recent_jobs = recent_jobs
        self.clock = clock

    def problem(self, rule: dict[str, Any]) -> tuple[str, str] | None:
        try:
            parse_segment({"name": "bc-check", "rule": rule})
        except DefinitionInvalid as exc:
            return exc.path.removeprefix("rule").lstrip("."), exc.message
        return None

    def prepare(self, segment_id: str, rule: dict[str, Any], by: str) -> None:
        body = {
            "name": segment_id,
            "description": f"audience of broadcast {segment_id[3:]} (inline rule)",
            "rule": rule,
        }
        self.definitions.put("segment", segment_id, body, by=by)
        if not self.definitions.get("segment", segment_id).enabled:  # scheduled again after an earlier retirement
            self.definitions.set_enabled("segment", segment_id, True, by=by)

    def ready(self, segment_id: str) -> bool:
        for job in self.recent_jobs(RECENT_JOBS):  # newest first: the latest backfill of this segment decides
            if segment_id in job.segment_ids:
                if not job.finished or job.finished_at is None:
                    return False
                finished = datetime.fromisoformat(job.finished_at.replace("Z", "+00:00"))
                return finished + STREAM_SETTLE <= self.clock.now()
        log.warning("broadcast audience %s: no backfill found; launching on the membership folds have made", segment_id)
        return True

    def retire(self, segment_id: str, by: str) -> None:
        self.definitions.set_enabled("segment", segment_id, False, by=by)
