"""The link / unsubscribe signing key: `ONE2ONE_SIGNING_KEY` locally and in tests, else Secrets Manager in AWS.

Deployed functions get the secret's ARN in `ONE2ONE_SIGNING_SECRET_ARN` (see local/package.py) and fetch it with
`secretsmanager:GetSecretValue` the first time they sign or verify a token, once per container. Only the functions
that sign or verify are allowed to read it (.chalice/policy-*.json), so nothing here runs at import or cold start.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterator, Mapping
from functools import cache

SECRET_ARN_ENV = "ONE2ONE_SIGNING_SECRET_ARN"  # noqa: S105 - the name of the variable holding the ARN


def signing_key() -> str:
    """The signing key, or "" when neither the key nor a secret ARN is configured (signing is then disabled)."""
    from chalicelib.shared.settings import get_settings

    key = get_settings().signing_key
    if key:
        return key
    arn = os.environ.get(SECRET_ARN_ENV, "")
    return _fetch(arn) if arn else ""


def keyed_digest(key: str, purpose: str, value: str) -> str:
    """The one keyed hash of personal data that must stay findable without being readable (erased suppressions,
    identity tombstones, the erasure pointers of failed and unlinked events): HMAC-SHA256 with the signing key over
    `purpose:value`, hex. Without the key a guessed address or id cannot be hashed and looked up; the purpose keeps
    the digests of one value in different tables from matching each other.

    Rotating the signing key makes every digest unfindable (erased people's identities would resolve again): the key
    is long-lived by design (link keys rotate separately, `ONE2ONE_LINK_KEYS`)."""
    return hmac.new(key.encode(), f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


@cache
def _fetch(arn: str) -> str:
    from chalicelib.shared.aws import client

    return str(client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"])


def reset() -> None:
    """Forget the fetched secret (tests switch moto backends)."""
    _fetch.cache_clear()


class LazySigningKeys(Mapping[str, str]):
    """`{key id: signing key}` resolved at first use, so building a service that may verify costs no AWS call
    (engagement verifies unsubscribe links of the retired token scheme with it)."""

    def __init__(self, key_id: str) -> None:
        self._key_id = key_id

    def _keys(self) -> dict[str, str]:
        key = signing_key()
        return {self._key_id: key} if key else {}

    def __getitem__(self, kid: str) -> str:
        return self._keys()[kid]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())
