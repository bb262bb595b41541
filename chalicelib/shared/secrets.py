"""The link / unsubscribe signing key: `ONE2ONE_SIGNING_KEY` locally and in tests, else Secrets Manager in AWS.

Deployed functions get the secret's ARN in `ONE2ONE_SIGNING_SECRET_ARN` (see local/package.py) and fetch it with
`secretsmanager:GetSecretValue` the first time they sign or verify a token, once per container. Only the functions
that sign or verify are allowed to read it (.chalice/policy-*.json), so nothing here runs at import or cold start.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

SECRET_ARN_ENV = "ONE2ONE_SIGNING_SECRET_ARN"  # noqa: S105 - the name of the variable holding the ARN


def signing_key() -> str:
    """The signing key, or "" when neither the key nor a secret ARN is configured (signing is then disabled)."""
    from chalicelib.shared.settings import get_settings

    key = get_settings().signing_key
    if key:
        return key
    arn = os.environ.get(SECRET_ARN_ENV, "")
    return _fetch(arn) if arn else ""


@cache
def _fetch(arn: str) -> str:
    from chalicelib.shared.aws import client

    return str(client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"])


def reset() -> None:
    """Forget the fetched secret (tests switch moto backends)."""
    _fetch.cache_clear()


class LazySigningKeys(Mapping[str, str]):
    """`{key id: signing key}` resolved at first use, so building a service that may verify costs no AWS call."""

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


def lazy_link_settings(public_base_url: str, key_id: str, unsubscribe_mailto: str) -> Any:
    """`LinkSettings` whose `signing_key` is read when a link is first signed, not when the delivery service is built
    (release_due_steps and sweep_stuck_messages build it but never sign, so they need no access to the secret)."""
    from chalicelib.delivery.steps import LinkSettings

    class _SecretLinkSettings(LinkSettings):
        @property  # type: ignore[misc]  # a data descriptor: the frozen dataclass __init__ goes through the setter
        def signing_key(self) -> str:  # type: ignore[override]
            return signing_key()

        @signing_key.setter
        def signing_key(self, _value: str) -> None:
            pass

        def __repr__(self) -> str:  # never print the key
            return f"LinkSettings({self.public_base_url!r}, signing_key=<secret>, key_id={self.signing_key_id!r})"

    return _SecretLinkSettings(public_base_url, "", key_id, unsubscribe_mailto)
