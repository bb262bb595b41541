"""Shared plumbing every wing may use and that knows no wing: lazy AWS clients, settings, the clock, the signing
secret, observability, DynamoDB helpers, transient-failure classification, stream ARNs and GC tuning."""

__all__ = [
    "aws",
    "clock",
    "dynamodb",
    "exports",
    "faults",
    "observability",
    "runtime",
    "secrets",
    "settings",
    "streams",
]
