"""Contract tests run each port's suite against its fake and its DynamoDB adapter on moto (the `dynamo` fixture)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def dynamo(aws: dict[str, Any]) -> Iterator[Any]:
    """moto with every table provisioned; yields the settings that name them."""
    from chalicelib.shared.settings import get_settings

    yield get_settings()
