"""`fact.message_opened`: a split can ask whether a human opened or clicked a message of the run; delivery supplies
the answer in the context it plans with, the engine stays pure."""

from __future__ import annotations

from datetime import UTC, datetime

from chalicelib.scenarios.conditions import ENGAGED_CONTEXT_KEY
from chalicelib.scenarios.definitions import Scenario
from chalicelib.scenarios.engine import EndAction, SendAction, plan_next

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SCENARIO = Scenario.model_validate(
    {
        "id": "email_then_in_app",
        "name": "Email, then in-app if not opened",
        "when": {"type": "event", "event": "Signed Up"},
        "steps": [
            {
                "type": "split",
                "conditions": [{"field": "fact.message_opened", "op": "eq", "value": True}],
                "yes": "done",
            },
            {"type": "send", "id": "nudge", "channel": "in_app", "template": "welcome_unopened"},
            {"type": "end", "id": "done"},
        ],
    }
)
PROFILE = {"profile_id": "p1"}


def test_an_unopened_run_goes_on_to_the_in_app_step() -> None:
    for context in ({}, {ENGAGED_CONTEXT_KEY: False}):
        action = plan_next(SCENARIO, 0, PROFILE, NOW, context=context)
        assert isinstance(action, SendAction) and action.step.channel == "in_app"
        assert action.template_id == "welcome_unopened"


def test_an_opened_run_ends() -> None:
    assert isinstance(plan_next(SCENARIO, 0, PROFILE, NOW, context={ENGAGED_CONTEXT_KEY: True}), EndAction)
