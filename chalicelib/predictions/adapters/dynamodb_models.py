"""Fitted CLV models in the StateTable.

Items: `pk=predictions, sk=clv` (the current models, JSON body) and `pk=predictions, sk=run#<at>#<suffix>` (one per
fitting run, JSON report, expiring after a year). The fold reads the current models through a five-minute cache:
they change weekly at most.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from chalicelib.predictions.models import FittedModels, TrainingReport
from chalicelib.predictions.propensity import PropensityModels
from chalicelib.shared.aws import client

PK = "predictions"
CURRENT_SK = "clv"
RUN_PREFIX = "run#"
RUN_TTL_SECONDS = 366 * 86400
CACHE_SECONDS = 300.0


class DynamoModelStore:
    def __init__(self, state_table: str, cache_seconds: float = CACHE_SECONDS) -> None:
        self.state_table = state_table
        self.cache_seconds = cache_seconds
        self._cached: tuple[float, FittedModels | None] | None = None

    def current(self) -> FittedModels | None:
        now = time.monotonic()
        if self._cached is not None and now - self._cached[0] < self.cache_seconds:
            return self._cached[1]
        item = (
            client("dynamodb")
            .get_item(TableName=self.state_table, Key={"pk": {"S": PK}, "sk": {"S": CURRENT_SK}})
            .get("Item")
        )
        models = FittedModels.from_dict(json.loads(item["body"]["S"])) if item else None
        self._cached = (now, models)
        return models

    def save(self, models: FittedModels) -> None:
        client("dynamodb").put_item(
            TableName=self.state_table,
            Item={
                "pk": {"S": PK},
                "sk": {"S": CURRENT_SK},
                "body": {"S": json.dumps(models.as_dict(), separators=(",", ":"))},
                "fitted_at": {"S": models.fitted_at},
            },
        )
        self._cached = None

    def record_run(self, report: TrainingReport) -> None:
        client("dynamodb").put_item(
            TableName=self.state_table,
            Item={
                "pk": {"S": PK},
                # Two runs in one second (a retried invocation) are two records, neither overwriting the other.
                "sk": {"S": f"{RUN_PREFIX}{report.at}#{uuid.uuid4().hex[:8]}"},
                "body": {"S": json.dumps(report.as_dict(), separators=(",", ":"), default=str)},
                "expires_at": {"N": str(int(time.time()) + RUN_TTL_SECONDS)},
            },
        )

    def runs(self, limit: int = 20) -> list[TrainingReport]:
        page: dict[str, Any] = client("dynamodb").query(
            TableName=self.state_table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :run)",
            ExpressionAttributeValues={":pk": {"S": PK}, ":run": {"S": RUN_PREFIX}},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [TrainingReport(**json.loads(item["body"]["S"])) for item in page.get("Items", [])]


PROPENSITY_SK = "propensity"


class DynamoPropensityStore:
    """The propensity and uplift models: `pk=predictions, sk=propensity` (JSON body, a few KB per model), read by the
    fold through the same five-minute cache as the CLV models; its runs share the CLV runs' `run#` log."""

    def __init__(self, state_table: str, cache_seconds: float = CACHE_SECONDS) -> None:
        self.state_table = state_table
        self.cache_seconds = cache_seconds
        self._cached: tuple[float, PropensityModels | None] | None = None
        self._runs = DynamoModelStore(state_table)

    def current(self) -> PropensityModels | None:
        now = time.monotonic()
        if self._cached is not None and now - self._cached[0] < self.cache_seconds:
            return self._cached[1]
        item = (
            client("dynamodb")
            .get_item(TableName=self.state_table, Key={"pk": {"S": PK}, "sk": {"S": PROPENSITY_SK}})
            .get("Item")
        )
        models = PropensityModels.from_dict(json.loads(item["body"]["S"])) if item else None
        self._cached = (now, models)
        return models

    def save(self, models: PropensityModels) -> None:
        client("dynamodb").put_item(
            TableName=self.state_table,
            Item={
                "pk": {"S": PK},
                "sk": {"S": PROPENSITY_SK},
                "body": {"S": json.dumps(models.as_dict(), separators=(",", ":"))},
                "fitted_at": {"S": models.fitted_at},
            },
        )
        self._cached = None

    def record_run(self, report: TrainingReport) -> None:
        self._runs.record_run(report)
