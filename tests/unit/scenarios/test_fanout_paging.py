"""The audience fan-out on counting fakes (bench/fanout.py): one Query per page, one run and one step per member."""

from __future__ import annotations

from bench.fanout import run


def test_a_fan_out_walks_every_page_once_and_starts_one_run_and_one_step_per_member() -> None:
    result = run(2_500)

    assert (result["runs_started"], result["steps_queued"]) == (2_500, 2_500)
    assert result["requests"]["members_query"] == 3  # pages of 1,000
    assert result["requests"]["run_put"] == result["requests"]["run_query"] == 2_500
    assert result["requests"]["step_send_batch"] == 250  # SendMessageBatch of 10
