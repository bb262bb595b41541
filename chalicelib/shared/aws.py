"""Lazy, cached boto3 clients: nothing touches AWS at import, so moto can start first and cold start stays small."""

from __future__ import annotations

import os
from functools import cache
from typing import Any


@cache
def client(service: str) -> Any:
    """Return one shared low-level client per service.

    Low-level clients (not resources) because they are cheaper to create and our items are already in attribute-value
    form. `account_id_endpoint_mode` is disabled because moto does not route the account-based DynamoDB endpoints.
    """
    import boto3
    from botocore.config import Config

    config = Config(
        account_id_endpoint_mode="disabled",
        retries={"mode": "standard", "max_attempts": int(os.environ.get("ONE2ONE_AWS_MAX_ATTEMPTS", "5"))},
        connect_timeout=2,
        read_timeout=5,
    )
    return boto3.session.Session().client(service, config=config)


def reset_clients() -> None:
    """Forget cached clients (tests switch endpoints and credentials between cases)."""
    client.cache_clear()
