"""Where the deployed console signs people in: the Cognito user pool's hosted UI and its app client.

The stack gives the admin function the pool's id and the hosted UI's domain (local/package.py). The app client's id
is looked up once per container (`cognito-idp:ListUserPoolClients` on that pool, by the client's name) rather than
passed in: the client's callback URL names the CloudFront distribution, which fronts the admin API, which runs this
function, so a reference from the function's environment to the client would be a cycle in the template.
Locally neither variable is set and the console signs in with the local admin token (api/session.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

POOL_ENV = "ONE2ONE_CONSOLE_USER_POOL_ID"
DOMAIN_ENV = "ONE2ONE_CONSOLE_AUTH_DOMAIN"
CLIENT_NAME = "one2one-console"  # the app client's ClientName in infra/resources.json


@dataclass(frozen=True)
class HostedUi:
    domain: str  # e.g. one2one-123456789012.auth.eu-west-1.amazoncognito.com
    client_id: str

    def url(self, path: str) -> str:
        return f"https://{self.domain}{path}"


def hosted_ui() -> HostedUi | None:
    """The hosted UI of the deployment, or None where the console is not signed in through Cognito."""
    pool_id, domain = os.environ.get(POOL_ENV, ""), os.environ.get(DOMAIN_ENV, "")
    if not pool_id or not domain:
        return None
    return HostedUi(domain, _client_id(pool_id))


@cache
def _client_id(pool_id: str) -> str:
    from chalicelib.shared.aws import client

    answer = client("cognito-idp").list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)
    for found in answer.get("UserPoolClients", []):
        if found.get("ClientName") == CLIENT_NAME:
            return str(found["ClientId"])
    raise LookupError(f"user pool {pool_id} has no app client named {CLIENT_NAME!r}")
