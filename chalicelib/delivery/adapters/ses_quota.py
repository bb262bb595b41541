"""The SES account's maximum send rate (SES v2 GetAccount -> SendQuota.MaxSendRate)."""

from __future__ import annotations

import logging

from chalicelib.shared.aws import client

log = logging.getLogger("one2one")


class SesSendQuota:
    """Reads the account's MaxSendRate; the pacer caches it per container for a few minutes.

    moto (5.2) does not implement SES v2 GetAccount; its SES v1 GetSendQuota answers the same figure (1/s, the
    sandbox's), so v1 is asked when v2 does not answer. Both are account-level actions without a resource ARN.
    """

    def max_send_rate(self) -> float | None:
        try:
            quota = client("sesv2").get_account().get("SendQuota") or {}
            if quota.get("MaxSendRate"):
                return float(quota["MaxSendRate"])
        except Exception as exc:  # noqa: BLE001 - NotImplemented on moto, AccessDenied without the permission
            log.info("delivery: SES v2 GetAccount did not answer (%s); asking GetSendQuota", type(exc).__name__)
        rate = client("ses").get_send_quota().get("MaxSendRate")
        return float(rate) if rate else None
