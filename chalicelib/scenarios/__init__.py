"""Scenarios: one-to-one journeys as data (who / when / what / how), the pure engine, and the trigger use case.

- `definitions`: the pydantic models of a scenario file; `schedule`: durations, cron, time zones;
  `loader`: parse, cross-check and load scenario files; `exceptions`: `ScenarioConfigError`.
- `conditions`: scenario conditions, resolved against profile / event / context / facts and compared with the
  rule language's operators (`chalicelib.rules`), so they mean what the same test means in a segment.
- `engine`: pure decisions (which triggers fire, the next action, exit, re-entry) and `ScenarioRun`.
- `assignment`: deterministic holdout, variant and split buckets.
- `ports`: `RunStore`, `StepQueue`, `RelatedProducts`; `triggers`: the profiles-stream use case (`ScenarioService`).
"""

from chalicelib.scenarios.definitions import Condition, Scenario
from chalicelib.scenarios.engine import ScenarioRun, match_triggers, plan_next, should_exit
from chalicelib.scenarios.exceptions import ScenarioConfigError
from chalicelib.scenarios.loader import load_scenarios, parse_scenario
from chalicelib.scenarios.ports import RelatedProducts, RunStore, StepQueue

__all__ = [
    "Condition",
    "RelatedProducts",
    "RunStore",
    "Scenario",
    "ScenarioConfigError",
    "ScenarioRun",
    "StepQueue",
    "load_scenarios",
    "match_triggers",
    "parse_scenario",
    "plan_next",
    "should_exit",
]
