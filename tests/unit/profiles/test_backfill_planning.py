"""Backfill planning: scan segments cover the table once, tasks survive the queue, continuations follow the cursor."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from chalicelib.profiles.backfill import (
    MAX_PARALLELISM,
    clean_segment_ids,
    continuation,
    decode_task,
    encode_task,
    job_view,
    new_job_id,
    plan_tasks,
)
from chalicelib.profiles.ports import BackfillJob, BackfillTask


def test_a_job_starts_one_chain_per_scan_segment_at_step_zero() -> None:
    tasks = plan_tasks("bf-1", 16)
    assert [t.segment for t in tasks] == list(range(16))
    assert {(t.total_segments, t.step, t.start_after) for t in tasks} == {(16, 0, None)}


@pytest.mark.parametrize("parallelism", [0, -1, MAX_PARALLELISM + 1])
def test_parallelism_outside_what_dynamodb_and_lambda_allow_is_refused(parallelism: int) -> None:
    with pytest.raises(ValueError):
        plan_tasks("bf-1", parallelism)


def test_a_continuation_is_the_next_step_of_the_same_chain_from_the_last_key() -> None:
    task = BackfillTask("bf-1", 3, 16, step=4, start_after="p_a")
    assert continuation(task, "p_z") == BackfillTask("bf-1", 3, 16, step=5, start_after="p_z")


@pytest.mark.parametrize(
    "task", [BackfillTask("bf-1", 0, 1), BackfillTask("bf-1", 15, 16, step=9, start_after='p_\u00e9"x')]
)
def test_a_task_survives_the_queue(task: BackfillTask) -> None:
    assert decode_task(encode_task(task)) == task


@pytest.mark.parametrize(
    "body",
    [
        "",
        "[]",
        "{}",
        json.dumps({"j": "bf-1", "s": 2, "of": 2}),  # segment out of range
        json.dumps({"j": "bf-1", "s": 0, "of": 2, "n": -1}),
        json.dumps({"j": "bf-1", "s": True, "of": 2}),
        json.dumps({"j": "", "s": 0, "of": 2}),
        json.dumps({"j": "bf-1", "s": 0, "of": 2, "after": 7}),
        json.dumps({"j": "bf-1", "s": "0", "of": 2}),
    ],
)
def test_a_message_that_is_not_a_task_is_refused(body: str) -> None:
    with pytest.raises(ValueError):
        decode_task(body)


def test_job_ids_sort_by_start_time() -> None:
    early = new_job_id(datetime(2026, 3, 2, 9, 59, 59, tzinfo=UTC), "ffffff")
    late = new_job_id(datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC), "000000")
    assert early == "bf-20260302T095959Z-ffffff" and early < late


def test_segment_ids_are_deduplicated_and_at_least_one_is_needed() -> None:
    assert clean_segment_ids(["a", "b", "a", ""]) == ("a", "b")
    with pytest.raises(ValueError):
        clean_segment_ids([])


def test_a_job_is_running_until_every_scan_segment_is_done() -> None:
    job = BackfillJob("bf-1", ("a",), "r", 2, "2026-03-02T10:00:00.000Z", segments_done=1, profiles_evaluated=7)
    view = job_view(job)
    assert view["status"] == "running" and view["scan_segments"] == {"total": 2, "done": 1}
    assert job_view(BackfillJob("bf-1", ("a",), "r", 2, "t", segments_done=2))["status"] == "finished"
