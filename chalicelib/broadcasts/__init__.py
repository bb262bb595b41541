"""Broadcasts: one-off sends to an audience, run as scenario runs of a broadcast-derived scenario.

A broadcast `b` becomes the scenario `bc-<b>` (one send step, its variants and holdout) whose single trigger instance
is `bc-<b>:broadcast`, so guards, caps, quiet hours, exactly-once message records, reports and holdout all come from
the scenario path. `model`: the pydantic body and the derived scenario; `service`: drafts, scheduling, pause, resume,
cancel, launch (the fan-out of `scenarios.fanout`) and results; `ports`: where status and progress are kept.
"""

from chalicelib.broadcasts.model import Broadcast, broadcast_scenario, scenario_id_for
from chalicelib.broadcasts.service import BroadcastError, BroadcastService

__all__ = ["Broadcast", "BroadcastError", "BroadcastService", "broadcast_scenario", "scenario_id_for"]
