"""The SendRateCounter contract: the in-memory fake and the DynamoDB adapter on moto take slots alike."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.delivery.ports import SendRateCounter
from tests.fakes.delivery import FakeSendRateCounter

WINDOW = 1_772_413_200


class SendRateCounterContract:
    @pytest.fixture
    def counter(self) -> Iterator[SendRateCounter]:
        raise NotImplementedError

    def test_slots_are_taken_until_the_limit_and_never_past_it(self, counter: SendRateCounter) -> None:
        assert [counter.take("email", WINDOW, 1, 3) for _ in range(5)] == [1, 1, 1, 0, 0]

    def test_a_batch_take_gets_what_is_left_when_less_than_wanted(self, counter: SendRateCounter) -> None:
        assert counter.take("email", WINDOW, 4, 10) == 4
        assert counter.take("email", WINDOW, 4, 10) == 4
        assert counter.take("email", WINDOW, 4, 10) == 2  # partial: the window had 2 left
        assert counter.take("email", WINDOW, 4, 10) == 0

    def test_marketing_stops_at_its_share_while_transactional_fills_the_window(self, counter: SendRateCounter) -> None:
        # GIVEN 14/s with 11 for marketing: marketing took its 11
        assert sum(counter.take("email", WINDOW, 1, 11) for _ in range(13)) == 11
        # THEN transactional still gets the last 3, and nobody more
        assert sum(counter.take("email", WINDOW, 1, 14) for _ in range(5)) == 3

    def test_windows_and_channels_count_apart(self, counter: SendRateCounter) -> None:
        assert counter.take("email", WINDOW, 2, 2) == 2
        assert counter.take("email", WINDOW + 1, 2, 2) == 2
        assert counter.take("sms", WINDOW, 2, 2) == 2
        assert counter.take("email", WINDOW, 1, 2) == 0

    def test_nothing_is_taken_for_a_limit_of_zero(self, counter: SendRateCounter) -> None:
        assert counter.take("email", WINDOW, 1, 0) == 0


class TestFakeSendRateCounter(SendRateCounterContract):
    @pytest.fixture
    def counter(self) -> Iterator[SendRateCounter]:
        yield FakeSendRateCounter()


class TestDynamoSendRateCounter(SendRateCounterContract):
    @pytest.fixture
    def counter(self, dynamo: Any) -> Iterator[SendRateCounter]:
        from chalicelib.delivery.adapters.rate_counter import DynamoSendRateCounter

        yield DynamoSendRateCounter(dynamo.state_table)

    def test_the_window_item_expires_an_hour_after_its_window(self, counter: SendRateCounter, dynamo: Any) -> None:
        from chalicelib.shared.aws import client

        counter.take("email", WINDOW, 1, 5)
        item = client("dynamodb").get_item(
            TableName=dynamo.state_table, Key={"pk": {"S": f"rate#email#{WINDOW}"}, "sk": {"S": "-"}}
        )["Item"]
        assert item["n"] == {"N": "1"} and item["expires_at"] == {"N": str(WINDOW + 3600)}
