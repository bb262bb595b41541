"""List the identity keys of profiles written before profiles listed them: a one-off after the upgrade of issue 19.

Until a profile lists its identity keys (`Profile.identity_keys_complete`), its erasure and access export find its
identity records through a Scan of the whole identities table. An operator, with their own credentials, runs

    python -m local.list_identity_keys --stack one2one-prod

once after the update is deployed (the fold lists what it links from then on). It Scans the identities table once and
then every profile, and writes each unmarked profile once (conditional on its version): one read of both tables and
one write per profile written before the upgrade. Idempotent: run it again after an interruption. Without `--stack`
it works on the tables the environment names (`IDENTITIES_TABLE`, `PROFILES_TABLE`; locally the moto stack's).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from dataclasses import asdict
from typing import Any

from chalicelib.profiles.identity_listing import ListingStats, list_identity_keys

log = logging.getLogger("one2one.list_identity_keys")


def use_stack(stack: str, cloudformation: Any) -> None:
    """Point the settings at the stack's tables (their physical names, by logical id)."""
    for logical_id, env in (("IdentitiesTable", "IDENTITIES_TABLE"), ("ProfilesTable", "PROFILES_TABLE")):
        found = cloudformation.describe_stack_resource(StackName=stack, LogicalResourceId=logical_id)
        os.environ[env] = found["StackResourceDetail"]["PhysicalResourceId"]


def run() -> ListingStats:
    from chalicelib.bootstrap import get_identity_store, get_profile_store
    from chalicelib.profiles.adapters.dynamodb_backfill import DynamoProfileScan
    from chalicelib.shared.settings import get_settings

    scan = DynamoProfileScan(get_settings().profiles_table)
    return list_identity_keys(get_identity_store().records(), get_profile_store(), scan)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", help="the deployed stack's name (default: the tables the environment names)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    if args.stack:
        from chalicelib.shared.aws import client

        use_stack(args.stack, client("cloudformation"))
    print(json.dumps(asdict(run())))


if __name__ == "__main__":
    main()
