"""The customer summary read straight from the event archive's objects (the local stack and small installs): every
`events/` object streamed and inflated piece by piece, only lines naming an order decoded."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import datetime

from chalicelib.predictions.archive_summary import ORDER_EVENT, SummaryBuilder
from chalicelib.predictions.ports import CustomerSummary
from chalicelib.shared.aws import client

PREFIX = "events/"
_NEEDLE = json.dumps(ORDER_EVENT).encode()  # a line without it is not an order: skipped without decoding


class S3ArchiveCustomerSource:
    def __init__(self, bucket: str) -> None:
        self.bucket = bucket

    def keys(self) -> Iterator[str]:
        pages = client("s3").get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=PREFIX)
        for page in pages:
            for item in page.get("Contents", []):
                if item["Key"].endswith(".json.gz"):
                    yield item["Key"]

    def summaries(self, end: datetime) -> list[CustomerSummary]:
        builder = SummaryBuilder()
        for key in self.keys():
            body = client("s3").get_object(Bucket=self.bucket, Key=key)["Body"]
            try:
                with gzip.GzipFile(fileobj=body) as lines:
                    for raw in lines:
                        if _NEEDLE in raw:
                            builder.add(json.loads(raw))
            finally:
                body.close()
        return builder.result(end)
