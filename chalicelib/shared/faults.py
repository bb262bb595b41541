"""Which failures are worth retrying: the one place that knows what a storage or provider outage looks like.

Use cases decide "report this record for a retry" or "park it" without knowing AWS; the AWS SDK's exception types are
looked up here (lazily: the import costs cold start) so no wing imports botocore.
"""

from __future__ import annotations


class StorageUnavailable(RuntimeError):
    """An AWS call kept answering "not now" after our own retries (unprocessed batch items, queue entries refused):
    an outage like a throttling error, worth a retry later, and not a bug (which stays a 500 and a stack trace)."""


def storage_failure_types() -> tuple[type[BaseException], ...]:
    """The exception types an AWS call raises when the service or the network failed (throttling, outage, timeout)."""
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError, StorageUnavailable)


def is_transient(exc: BaseException) -> bool:
    """True when retrying the same work later may succeed: an AWS call failed, not the data."""
    return isinstance(exc, storage_failure_types())
