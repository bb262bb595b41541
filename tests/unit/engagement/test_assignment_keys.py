"""The `by_assignment` index key of a run: its scenario, its arm, and a shard that depends on the run's key alone."""

from __future__ import annotations

from collections import Counter

from chalicelib.engagement.messages_table import ASSIGNMENT_SHARDS, assignment_key, run_assignment


def test_a_run_always_names_the_same_shard_of_its_arm() -> None:
    key = run_assignment("bc-spring", False, "p_1", "bc-spring:broadcast:1")
    assert key == run_assignment("bc-spring", False, "p_1", "bc-spring:broadcast:1")  # every write, every process
    scenario, arm, shard = key.rsplit("#", 2)
    assert (scenario, arm) == ("bc-spring", "treated") and 0 <= int(shard) < ASSIGNMENT_SHARDS
    assert run_assignment("bc-spring", True, "p_1", "bc-spring:broadcast:1") == assignment_key(
        "bc-spring", "holdout", int(shard)
    )


def test_one_busy_scenario_spreads_evenly_over_every_shard() -> None:
    # a broadcast to 16,000 people: ~1,000 index writes per shard, none far above (no hot partition)
    shards = Counter(run_assignment("bc-x", False, f"p_{n:06d}", "bc-x:broadcast:1") for n in range(16_000))
    assert len(shards) == ASSIGNMENT_SHARDS
    assert max(shards.values()) < 1.1 * 16_000 / ASSIGNMENT_SHARDS
