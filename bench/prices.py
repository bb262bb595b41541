"""List prices the cost models use (us-east-1, on-demand, no free tier unless stated), each with the date it was read.

A price the model asks for and this file lacks stops the bench with `MissingPrice` naming it (never a silent $0).
"""

from __future__ import annotations

from typing import NamedTuple


class MissingPrice(KeyError):
    """The cost model needs a price that bench/prices.py does not list (or lists without a date)."""

    def __str__(self) -> str:
        return f"bench/prices.py has no price {self.args[0]!r}: add it with the date it was read"


class Price(NamedTuple):
    value: float
    as_of: str  # when the figure was read from the source (YYYY-MM or YYYY-MM-DD)
    source: str


AWS = "aws.amazon.com/<service>/pricing, us-east-1"
PRICE_LIST: dict[str, Price] = {
    # API Gateway: REST API first 333 M requests a month; HTTP API first 300 M (per request up to 512 KB).
    "apigw_rest_per_million_requests": Price(3.50, "2025-01", AWS),
    "apigw_http_per_million_requests": Price(1.00, "2025-01", AWS),
    # Lambda (x86): requests and duration (billed per ms at the configured memory).
    "lambda_per_million_requests": Price(0.20, "2025-01", AWS),
    "lambda_per_gb_second": Price(0.0000166667, "2025-01", AWS),
    # DynamoDB on-demand after the November 2024 price cut (write $1.25 -> $0.625, read $0.25 -> $0.125 per million).
    "dynamodb_per_million_wru": Price(0.625, "2024-11", AWS),
    "dynamodb_per_million_rru": Price(0.125, "2024-11", AWS),
    "dynamodb_storage_per_gb_month": Price(0.25, "2025-01", AWS),
    # DynamoDB Streams read requests; GetRecords made by a Lambda event-source mapping are free (not charged).
    "dynamodb_streams_per_100k_read_requests": Price(0.02, "2025-01", AWS),
    # SQS standard queue requests (each 64 KB chunk of a payload is one request; a batch of 10 is one request).
    "sqs_per_million_requests": Price(0.40, "2025-01", AWS),
    # SNS standard topic publishes (each 64 KB chunk is one request); deliveries to Lambda are free.
    "sns_per_million_publishes": Price(0.50, "2025-01", AWS),
    # SES outbound email (sending from Lambda/EC2 or not: same list price).
    "ses_per_1000_emails": Price(0.10, "2025-01", AWS),
    # S3 Standard requests and storage.
    "s3_per_1000_put_requests": Price(0.005, "2025-01", AWS),  # PUT, COPY, POST, LIST
    "s3_per_1000_get_requests": Price(0.0004, "2025-01", AWS),  # GET, HEAD, and all other requests
    "s3_storage_per_gb_month": Price(0.023, "2025-01", AWS),
    # CloudWatch Logs, standard class: ingestion (what a function writes to stdout/stderr) and storage.
    "cloudwatch_logs_per_gb_ingested": Price(0.50, "2025-01", AWS),
    # Secrets Manager API calls (the signing key, once per container).
    "secretsmanager_per_10k_api_calls": Price(0.05, "2025-01", AWS),
    # Amazon Pinpoint, for comparison: events collected, and monthly targeted audience (endpoints).
    "pinpoint_per_million_events": Price(1.00, "2025-01", "aws.amazon.com/pinpoint/pricing"),
    "pinpoint_per_targeted_endpoint": Price(0.0012, "2025-01", "aws.amazon.com/pinpoint/pricing"),
    "pinpoint_free_targeted_endpoints": Price(5000, "2025-01", "aws.amazon.com/pinpoint/pricing"),
    # Segment (Twilio) Team plan: $120 a month including 10,000 MTUs, then $0.012 per MTU up to 25,000 (as published
    # on segment.com/pricing and reproduced in Lago's Segment pricing template, read 2026-12-05).
    "segment_team_per_month": Price(120.0, "2026-12-05", "segment.com/pricing (via docs.getlago.com)"),
    "segment_team_included_mtus": Price(10_000, "2026-12-05", "segment.com/pricing (via docs.getlago.com)"),
    "segment_per_mtu_10k_25k": Price(0.012, "2026-12-05", "segment.com/pricing (via docs.getlago.com)"),
}


class PriceBook(dict[str, float]):
    """Prices by name; asking for one that is not listed raises `MissingPrice` naming it."""

    def __missing__(self, key: str) -> float:
        raise MissingPrice(key)


def price_book(price_list: dict[str, Price] | None = None) -> PriceBook:
    """The prices as floats, after checking every one has a value and a date (`MissingPrice` names the first that
    does not)."""
    listed = PRICE_LIST if price_list is None else price_list
    for name, price in listed.items():
        if price is None or price.value is None or not price.as_of:
            raise MissingPrice(name)
    return PriceBook({name: float(price.value) for name, price in listed.items()})


def dates(price_list: dict[str, Price] | None = None) -> dict[str, str]:
    """Each price's date, for the report."""
    return {name: price.as_of for name, price in (PRICE_LIST if price_list is None else price_list).items()}


PRICES = price_book()
PRICES_AS_OF = min(price.as_of for price in PRICE_LIST.values())  # the oldest figure: what to refresh first
