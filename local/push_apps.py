"""Create or update the SNS platform applications of mobile push from their Secrets Manager secrets.

CloudFormation has no resource type for an SNS platform application, so the stack creates the two secrets
(`<stack>/push/apns`, `<stack>/push/fcm`, infra/resources.json) and an operator, with their own credentials, runs

    python -m local.push_apps --stack one2one-prod

once after filling the secrets and again after each credential rotation. It creates (or updates) the platform
applications `<stack>-push` (APNs: platform `APNS`, or `APNS_SANDBOX` when the secret says so; FCM: `GCM`). The app
never reads the credentials: delivery only knows the applications' ARNs (README "Mobile push").

Secret bodies (JSON): APNs token auth `{"platform": "APNS", "PlatformCredential": "<.p8 key>", "PlatformPrincipal":
"<key id>", "ApplePlatformTeamID": "...", "ApplePlatformBundleID": "com.shop.app"}`; FCM `{"PlatformCredential":
"<service account JSON>"}`.

Locally (`make run`, tests) `ensure_local` creates both in moto with placeholder credentials, named like the default
`ONE2ONE_PUSH_APPLICATION_NAME`.
"""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any

from chalicelib.delivery.adapters.sns_push import application_arn_by_name

log = logging.getLogger("one2one.push_apps")

CREDENTIAL_KEYS = ("PlatformCredential", "PlatformPrincipal", "ApplePlatformTeamID", "ApplePlatformBundleID")
DEFAULT_PLATFORM = {"apns": "APNS", "fcm": "GCM"}
LOCAL_NAME = "one2one-push"


def ensure_application(sns: Any, name: str, platform: str, attributes: dict[str, str]) -> str:
    """The application's ARN, created or with its credentials updated."""
    existing = application_arn_by_name(name, (platform,), sns)
    if existing:
        sns.set_platform_application_attributes(PlatformApplicationArn=existing, Attributes=attributes)
        return existing
    created = sns.create_platform_application(Name=name, Platform=platform, Attributes=attributes)
    return str(created["PlatformApplicationArn"])


def ensure_from_secrets(sns: Any, secrets: Any, stack: str) -> dict[str, str]:
    """Both applications of `stack` from its secrets: kind (`apns` / `fcm`) -> ARN."""
    out: dict[str, str] = {}
    for kind, default_platform in DEFAULT_PLATFORM.items():
        body = json.loads(secrets.get_secret_value(SecretId=f"{stack}/push/{kind}")["SecretString"] or "{}")
        attributes = {k: str(body[k]) for k in CREDENTIAL_KEYS if body.get(k)}
        if "PlatformCredential" not in attributes:
            log.warning("push: secret %s/push/%s has no PlatformCredential yet; skipped", stack, kind)
            continue
        out[kind] = ensure_application(sns, f"{stack}-push", str(body.get("platform") or default_platform), attributes)
    return out


def ensure_local(sns: Any, name: str = LOCAL_NAME) -> dict[str, str]:
    """Placeholder applications in moto (it checks no credential)."""
    return {
        kind: ensure_application(sns, name, platform, {"PlatformCredential": "local", "PlatformPrincipal": "local"})
        for kind, platform in DEFAULT_PLATFORM.items()
    }


def main() -> None:
    import boto3

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True, help="the CloudFormation stack name (the secrets' prefix)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    session = boto3.session.Session()
    for kind, arn in ensure_from_secrets(session.client("sns"), session.client("secretsmanager"), args.stack).items():
        print(f"{kind}: {arn}")


if __name__ == "__main__":
    main()
