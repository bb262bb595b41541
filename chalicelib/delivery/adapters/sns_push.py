"""Mobile push through SNS platform applications: one platform endpoint per token, created lazily, then Publish.

The platform applications (one for APNs, one for FCM) hold the APNs / FCM credentials inside SNS; they are created
from the Secrets Manager secrets by `python -m local.push_apps` (README "Mobile push"), so this Lambda never reads a
credential: it gets the applications' ARNs (ONE2ONE_PUSH_APNS_APPLICATION_ARN / ..._FCM_...) and may only create
endpoints under them and publish to / delete those endpoints.

CreatePlatformEndpoint is idempotent for the same token and attributes (it returns the existing ARN), so a lost
`remember_endpoint` write only costs one more call. When the token already has an endpoint with other attributes,
SNS refuses with `InvalidParameter ... Endpoint <arn> already exists with the same Token`: that ARN is used.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from chalicelib.delivery.adapters.provider_call import provider_call

# One SNS client for SMS and push: Publish has no idempotency key either way, so botocore's retries stay off; the
# endpoint calls are retried here where safe.
from chalicelib.delivery.adapters.sns_notify import _client, reset_client  # noqa: F401 - reset by bootstrap
from chalicelib.delivery.ports import ProviderRejected, PushTokens
from chalicelib.delivery.push import RenderedPush, sns_message

RETRYABLE_CODES = {"Throttling", "ThrottledException", "InternalError", "KMSThrottling", "ServiceUnavailable"}
_EXISTING_ENDPOINT = re.compile(r"Endpoint (arn:[^ ]+) already exists")


def platform_of(endpoint_arn: str) -> str:
    """`APNS`, `APNS_SANDBOX` or `GCM`: the MessageStructure key SNS reads for this endpoint."""
    return endpoint_arn.split(":", 5)[-1].split("/")[1]


class SnsPushSender:
    """`applications`: platform (`ios` / `android`) -> platform application ARN, or a resolver returning it."""

    def __init__(self, applications: dict[str, str | Callable[[], str | None] | None], tokens: PushTokens) -> None:
        self.applications = applications
        self.tokens = tokens

    def _application(self, platform: str) -> str:
        target = self.applications.get(platform)
        arn = target() if callable(target) else target
        if not arn:
            raise ProviderRejected("PushNotConfigured", f"no SNS platform application for {platform}", retryable=False)
        return arn

    def endpoint(self, device: dict[str, Any]) -> str:
        """Find or create the device's platform endpoint. Storage faults propagate (nothing was sent)."""
        return self._endpoint(device)

    def _endpoint(self, device: dict[str, Any]) -> str:
        token = str(device["token"])
        known = self.tokens.endpoint(token)
        if known:
            return known
        from botocore.exceptions import ClientError

        application = self._application(str(device.get("platform")))
        try:
            arn = _client().create_platform_endpoint(
                PlatformApplicationArn=application, Token=token, CustomUserData=str(device.get("app") or "")[:2000]
            )["EndpointArn"]
        except ClientError as exc:
            error = exc.response.get("Error", {})
            existing = _EXISTING_ENDPOINT.search(str(error.get("Message", "")))
            if existing is None:
                code = str(error.get("Code", "ClientError"))
                raise ProviderRejected(code, str(error.get("Message", "")), retryable=code in RETRYABLE_CODES) from exc
            arn = existing.group(1)
        self.tokens.remember_endpoint(token, arn)
        return str(arn)

    def send(self, device: dict[str, Any], push: RenderedPush, message_id: str) -> str:
        arn = str(device.get("endpoint") or self._endpoint(device))
        platform = platform_of(arn)
        attributes: dict[str, Any] = {}
        if platform.startswith("APNS"):  # APNs wants the push type of a visible notification said explicitly
            attributes["AWS.SNS.MOBILE.APNS.PUSH_TYPE"] = {"DataType": "String", "StringValue": "alert"}
        return provider_call(
            _client().publish,
            RETRYABLE_CODES,
            TargetArn=arn,
            MessageStructure="json",
            Message=sns_message(push, message_id, platform),
            MessageAttributes=attributes,
        )

    def forget(self, token: str) -> None:
        arn = self.tokens.endpoint(token)
        if arn:
            _client().delete_endpoint(EndpointArn=arn)


def application_arn_by_name(name: str, platforms: tuple[str, ...], sns: Any = None) -> str | None:
    """Find a platform application's ARN by name (deployments set ONE2ONE_PUSH_*_APPLICATION_ARN instead; this is the
    local fallback, like `sns_notify.topic_arn_by_name`). `sns`: a client of one's own (local/push_apps.py)."""
    from chalicelib.shared.aws import client

    for page in (sns or client("sns")).get_paginator("list_platform_applications").paginate():
        for application in page["PlatformApplications"]:
            arn = str(application["PlatformApplicationArn"])
            _, platform, app_name = arn.split(":", 5)[-1].split("/", 2)
            if app_name == name and platform in platforms:
                return arn
    return None
