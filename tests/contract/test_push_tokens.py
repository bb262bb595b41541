"""The PushTokens contract (endpoint ARNs and retired tokens): the in-memory fake and the DynamoDB adapter on moto, and
the SNS push sender's lazy, idempotent platform endpoints against moto."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.delivery.ports import PushTokens
from tests.fakes.delivery import FakePushTokens

NOW = datetime(2026, 3, 2, tzinfo=UTC)
APNS = "ab" * 32
FCM = "Case:Sensitive_APA91b" + "x" * 120
ARN = "arn:aws:sns:us-east-1:123456789012:endpoint/APNS/one2one-push/1"


class PushTokensContract:
    @pytest.fixture
    def tokens(self) -> Iterator[PushTokens]:
        raise NotImplementedError

    def test_an_endpoint_is_remembered_per_token_and_tokens_are_case_sensitive(self, tokens: PushTokens) -> None:
        assert tokens.endpoint(FCM) is None
        tokens.remember_endpoint(FCM, ARN)
        assert tokens.endpoint(FCM) == ARN and tokens.endpoint(FCM.lower()) is None

    def test_a_retired_token_has_no_endpoint_and_a_late_remember_cannot_revive_it(self, tokens: PushTokens) -> None:
        tokens.remember_endpoint(APNS, ARN)
        tokens.retire(APNS, "endpoint_disabled", NOW)
        tokens.remember_endpoint(APNS, ARN)  # a send racing the retirement
        assert tokens.endpoint(APNS) is None and tokens.retired([APNS, FCM]) == {APNS}

    def test_reinstating_lifts_the_retirement_once(self, tokens: PushTokens) -> None:
        tokens.retire(APNS, "endpoint_disabled", NOW)
        assert tokens.reinstate(APNS) is True
        assert tokens.retired([APNS]) == set() and tokens.reinstate(APNS) is False

    def test_many_tokens_are_checked_at_once(self, tokens: PushTokens) -> None:
        many = [f"{n:064x}" for n in range(150)]
        for token in many[::7]:
            tokens.retire(token, "endpoint_disabled", NOW)
        assert tokens.retired(many) == set(many[::7])

    def test_a_persons_tokens_are_exported_and_erased_and_nobody_elses(self, tokens: PushTokens) -> None:
        tokens.remember_endpoint(FCM, ARN)
        tokens.retire(APNS, "endpoint_disabled", NOW)
        other = "cd" * 32
        tokens.remember_endpoint(other, ARN + "2")

        exported = {row["token"]: row for row in tokens.export([FCM, APNS, "ef" * 32])}

        assert set(exported) == {FCM, APNS}
        assert exported[FCM]["endpoint_arn"] == ARN and exported[APNS]["reason"] == "endpoint_disabled"
        assert tokens.erase([FCM, APNS, "ef" * 32]) == 2
        assert tokens.export([FCM, APNS]) == [] and tokens.retired([APNS]) == set()
        assert tokens.endpoint(other) == ARN + "2"


class TestFakePushTokens(PushTokensContract):
    @pytest.fixture
    def tokens(self) -> Iterator[PushTokens]:
        yield FakePushTokens()


class TestDynamoPushTokens(PushTokensContract):
    @pytest.fixture
    def tokens(self, dynamo: Any) -> Iterator[PushTokens]:
        from chalicelib.delivery.adapters.dynamodb_push_tokens import DynamoPushTokens

        yield DynamoPushTokens(dynamo.messages_table)


def test_the_sns_sender_creates_one_endpoint_per_token_lazily_and_reuses_it(dynamo: Any) -> None:
    from chalicelib.delivery.adapters import sns_push
    from chalicelib.delivery.adapters.dynamodb_push_tokens import DynamoPushTokens
    from chalicelib.delivery.push import RenderedPush
    from chalicelib.shared.aws import client
    from local.push_apps import ensure_local

    sns_push.reset_client()
    apps = ensure_local(client("sns"))
    tokens = DynamoPushTokens(dynamo.messages_table)
    sender = sns_push.SnsPushSender({"ios": apps["apns"], "android": apps["fcm"]}, tokens)
    device = {"token": APNS, "platform": "ios", "app": "com.shop"}
    first = sender.endpoint(device)
    tokens.reinstate(APNS)  # forget the remembered ARN: CreatePlatformEndpoint is asked again, and is idempotent
    assert sender.endpoint(device) == first and tokens.endpoint(APNS) == first
    assert sender.send({**device, "endpoint": first}, RenderedPush(title="t", body="b"), "m1")
    listed = client("sns").list_endpoints_by_platform_application(PlatformApplicationArn=apps["apns"])["Endpoints"]
    assert [e["EndpointArn"] for e in listed] == [first]
    sender.forget(APNS)
    assert client("sns").list_endpoints_by_platform_application(PlatformApplicationArn=apps["apns"])["Endpoints"] == []
