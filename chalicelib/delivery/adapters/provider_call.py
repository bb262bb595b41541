"""One mapping of SES/SNS call failures to the delivery outcomes: rejected (nothing sent) or unknown (maybe sent)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.delivery.ports import ProviderOutcomeUnknown, ProviderRejected


def provider_call(call: Callable[..., dict[str, Any]], retryable_codes: set[str], **kwargs: Any) -> str:
    """Run a send and return the provider's message id.

    Raises ProviderRejected when the provider certainly has nothing (an error answer, or no connection made) and
    ProviderOutcomeUnknown when the request may have been accepted (a read timeout or reset after it was written):
    the caller must never resend those automatically.
    """
    from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError

    try:
        return str(call(**kwargs)["MessageId"])
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "ClientError"))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400) or 400)
        raise ProviderRejected(
            code, str(error.get("Message", "")), retryable=code in retryable_codes or status >= 500
        ) from exc
    except (ConnectTimeoutError, EndpointConnectionError) as exc:
        raise ProviderRejected(type(exc).__name__, str(exc), retryable=True) from exc
    except Exception as exc:  # noqa: BLE001 - read timeout, reset after the request was written: outcome unknown
        raise ProviderOutcomeUnknown(f"{type(exc).__name__}: {exc}") from exc
