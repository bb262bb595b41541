"""AWS and Pinpoint list prices the cost model uses (us-east-1), with the date they were read."""

from __future__ import annotations

# As of 2025-01 (public pricing pages, us-east-1, on-demand, no free tier unless stated). Update the date with them.
PRICES_AS_OF = "2025-01"
PRICES: dict[str, float] = {
    # API Gateway REST API, first 333 M requests a month.
    "apigw_rest_per_million_requests": 3.50,
    # Lambda (x86): requests and duration.
    "lambda_per_million_requests": 0.20,
    "lambda_per_gb_second": 0.0000166667,
    # DynamoDB on-demand after the November 2024 price cut (write $1.25 -> $0.625, read $0.25 -> $0.125 per million).
    "dynamodb_per_million_wru": 0.625,
    "dynamodb_per_million_rru": 0.125,
    # DynamoDB Streams read requests; GetRecords made by a Lambda event-source mapping are free (not charged).
    "dynamodb_streams_per_100k_read_requests": 0.02,
    # SQS standard queue requests (each up to 64 KB; a batch of 10 is one request).
    "sqs_per_million_requests": 0.40,
    # SES outbound email (sending from Lambda/EC2 or not: same list price).
    "ses_per_1000_emails": 0.10,
    # Amazon Pinpoint, for comparison: events collected, and monthly targeted audience (endpoints).
    "pinpoint_per_million_events": 1.00,
    "pinpoint_per_targeted_endpoint": 0.0012,
    "pinpoint_free_targeted_endpoints": 5000,
}
