"""Create the resources of infra/resources.json in moto (in-process `mock_aws` or a moto server), idempotently.

infra/resources.json is the single definition of our data plane: `chalice package --merge-template` deploys it, and this
module translates the same CloudFormation properties into API calls so tests and the local stack run against the very
tables, queues and topics that production gets. Only the properties that change behaviour locally are translated
(keys, indexes, streams, TTL, queue attributes, subscriptions); encryption and backups are skipped on purpose.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
RESOURCES_FILE = ROOT / "infra" / "resources.json"
ACCOUNT_ID = "123456789012"  # moto's default account

# Resource type -> name of the optional `shared.settings` mapping {logical id: (env var, default physical name)}.
# TABLES exists today; the others are picked up as soon as the settings module grows them.
SETTINGS_MAPPINGS = {
    "AWS::DynamoDB::Table": "TABLES",
    "AWS::SQS::Queue": "QUEUES",
    "AWS::SNS::Topic": "TOPICS",
    "AWS::SESV2::ConfigurationSet": "CONFIGURATION_SETS",
    "AWS::SES::ConfigurationSet": "CONFIGURATION_SETS",
    "AWS::S3::Bucket": "BUCKETS",
    "AWS::Athena::WorkGroup": "ANALYTICS",  # AWS only (not provisioned locally): names for the functions' environment
    "AWS::Glue::Database": "ANALYTICS",
}
# The explicit name property of each type (honoured when it is a literal string).
NAME_PROPERTIES = {
    "AWS::DynamoDB::Table": "TableName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::SESV2::ConfigurationSet": "Name",
    "AWS::SES::ConfigurationSet": "Name",
    "AWS::S3::Bucket": "BucketName",
}


@dataclass
class Provisioned:
    """One created (or already existing) resource: what CloudFormation's Ref and Fn::GetAtt would return for it."""

    logical_id: str
    type: str
    name: str
    ref: str
    attributes: dict[str, str] = field(default_factory=dict)


@cache
def _session() -> Any:
    # One session: it caches the parsed service models, so a client costs ~10 ms instead of ~90 ms.
    import boto3

    return boto3.session.Session()


def make_client(service: str, endpoint_url: str | None = None, region: str = "us-east-1") -> Any:
    """A boto3 client for moto; account-based endpoints are disabled because moto does not route them."""
    from botocore.config import Config

    config = Config(account_id_endpoint_mode="disabled", retries={"mode": "standard", "max_attempts": 3})
    return _session().client(service, region_name=region, endpoint_url=endpoint_url, config=config)


def load_template(path: Path | str = RESOURCES_FILE) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def kebab(name: str) -> str:
    """`StreamFailuresQueue` -> `stream-failures-queue`."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", name).lower()


def physical_name(logical_id: str, resource_type: str, properties: dict[str, Any] | None = None) -> str:
    """The local physical name: the settings mapping (env var or default), else a literal name, else `one2one-<kebab>`.

    Deployed stacks let CloudFormation generate names and hand them to the functions as `Ref` environment variables
    (see local/package.py); locally the same environment variables (or their defaults) name the resources.
    """
    import os

    from chalicelib.shared import settings

    mapping: dict[str, tuple[str, str]] = getattr(settings, SETTINGS_MAPPINGS.get(resource_type, ""), None) or {}
    if logical_id in mapping:
        env_var, default = mapping[logical_id]
        name = os.environ.get(env_var, default)
    else:
        literal = (properties or {}).get(NAME_PROPERTIES.get(resource_type, ""))
        name = literal if isinstance(literal, str) else f"one2one-{kebab(logical_id)}"
    fifo = (properties or {}).get("FifoQueue") or (properties or {}).get("FifoTopic")
    if fifo in (True, "true") and not name.endswith(".fifo"):
        name += ".fifo"
    return name


class _Resolver:
    """Resolves the intrinsic functions a resources file may use against what has been provisioned so far."""

    def __init__(self, done: dict[str, Provisioned], region: str) -> None:
        self.done = done
        self.pseudo = {"AWS::Region": region, "AWS::AccountId": ACCOUNT_ID, "AWS::StackName": "one2one-local"}

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.pseudo[arg] if arg in self.pseudo else self.done[arg].ref
            if key == "Fn::GetAtt":
                logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.done[logical_id].attributes[attribute]
            if key == "Fn::Sub" and isinstance(arg, str):
                return re.sub(r"\$\{([^}]+)\}", lambda m: str(self._sub(m.group(1))), arg)
            if key == "Fn::Join":
                separator, parts = arg
                return separator.join(str(p) for p in self(parts))
        return {k: self(v) for k, v in value.items()}

    def _sub(self, name: str) -> str:
        if "." in name:
            logical_id, attribute = name.split(".", 1)
            return self.done[logical_id].attributes[attribute]
        return self({"Ref": name})


def _dependencies(value: Any) -> set[str]:
    """Logical ids referenced by Ref / Fn::GetAtt / Fn::Sub anywhere inside `value`."""
    found: set[str] = set()
    if isinstance(value, list):
        for v in value:
            found |= _dependencies(v)
    elif isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str) and not arg.startswith("AWS::"):
                found.add(arg)
            elif key == "Fn::GetAtt":
                found.add(arg[0] if isinstance(arg, list) else arg.split(".", 1)[0])
            elif key == "Fn::Sub" and isinstance(arg, str):
                found |= {n.split(".", 1)[0] for n in re.findall(r"\$\{([^}!]+)\}", arg) if not n.startswith("AWS::")}
            else:
                found |= _dependencies(arg)
    return found


def _ordered(resources: dict[str, Any]) -> list[str]:
    """Logical ids in dependency order (a queue before the topic subscription that points at it)."""
    order: list[str] = []
    visiting: set[str] = set()

    def visit(logical_id: str) -> None:
        if logical_id in order or logical_id not in resources:
            return
        if logical_id in visiting:
            raise ValueError(f"circular reference through {logical_id}")
        visiting.add(logical_id)
        body = resources[logical_id]
        deps = _dependencies(body.get("Properties", {})) | set(_as_list(body.get("DependsOn")))
        for dep in sorted(deps):
            visit(dep)
        visiting.discard(logical_id)
        order.append(logical_id)

    for logical_id in resources:
        visit(logical_id)
    return order


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _error_code(error: Exception) -> str:
    return getattr(error, "response", {}).get("Error", {}).get("Code", "")


# --- DynamoDB -------------------------------------------------------------------------------------------------------


def _create_table(ctx: _Context, logical_id: str, props: dict[str, Any]) -> Provisioned:
    ddb = ctx.client("dynamodb")
    name = physical_name(logical_id, "AWS::DynamoDB::Table", props)
    try:
        table = ddb.describe_table(TableName=name)["Table"]
        log.debug("table %s exists", name)
    except ddb.exceptions.ResourceNotFoundException:
        table = ddb.create_table(**table_kwargs(name, props))["TableDescription"]
        log.info("created table %s (%s)", name, logical_id)
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        current = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if current.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            ddb.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True}
            )
    attributes = {"Arn": table["TableArn"]}
    if table.get("LatestStreamArn"):
        attributes["StreamArn"] = table["LatestStreamArn"]
    return Provisioned(logical_id, "AWS::DynamoDB::Table", name, name, attributes)


def table_kwargs(name: str, props: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation `AWS::DynamoDB::Table` properties -> `create_table` keyword arguments."""
    kwargs: dict[str, Any] = {
        "TableName": name,
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    if kwargs["BillingMode"] == "PROVISIONED":
        kwargs["ProvisionedThroughput"] = props.get(
            "ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
        )
    index_keys = ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput")
    for cfn_key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if props.get(cfn_key):
            kwargs[cfn_key] = [{k: v for k, v in index.items() if k in index_keys} for index in props[cfn_key]]
    if props.get("StreamSpecification"):
        view_type = props["StreamSpecification"]["StreamViewType"]
        kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": view_type}
    if props.get("Tags"):
        kwargs["Tags"] = props["Tags"]
    return kwargs


# --- SQS ------------------------------------------------------------------------------------------------------------

# CloudFormation property -> SQS queue attribute (all attribute values are strings in the API).
_QUEUE_ATTRIBUTES = (
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "DelaySeconds",
    "FifoQueue",
    "FifoThroughputLimit",
    "KmsDataKeyReusePeriodSeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "RedriveAllowPolicy",
    "RedrivePolicy",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
)


def _attribute_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _create_queue(ctx: _Context, logical_id: str, props: dict[str, Any]) -> Provisioned:
    sqs = ctx.client("sqs")
    name = physical_name(logical_id, "AWS::SQS::Queue", props)
    attributes = {key: _attribute_string(props[key]) for key in _QUEUE_ATTRIBUTES if key in props}
    # create_queue is idempotent for identical attributes; on a mismatch keep the existing queue (local data wins).
    try:
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        log.info("ensured queue %s (%s)", name, logical_id)
    except sqs.exceptions.QueueNameExists:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return Provisioned(logical_id, "AWS::SQS::Queue", name, url, {"Arn": arn, "QueueName": name, "QueueUrl": url})


# --- SNS ------------------------------------------------------------------------------------------------------------


def _create_topic(ctx: _Context, logical_id: str, props: dict[str, Any]) -> Provisioned:
    sns = ctx.client("sns")
    name = physical_name(logical_id, "AWS::SNS::Topic", props)
    attributes = {
        key: _attribute_string(props[key])
        for key in ("DisplayName", "FifoTopic", "ContentBasedDeduplication", "KmsMasterKeyId")
        if key in props
    }
    arn = sns.create_topic(Name=name, Attributes=attributes)["TopicArn"]  # idempotent: returns the existing ARN
    for subscription in props.get("Subscription", []):
        _subscribe(sns, arn, subscription["Protocol"], subscription["Endpoint"], {})
    log.info("ensured topic %s (%s)", name, logical_id)
    return Provisioned(logical_id, "AWS::SNS::Topic", name, arn, {"TopicArn": arn, "TopicName": name})


def _create_subscription(ctx: _Context, logical_id: str, props: dict[str, Any]) -> Provisioned:
    sns = ctx.client("sns")
    attributes = {
        key: _attribute_string(props[key])
        for key in ("RawMessageDelivery", "FilterPolicy", "FilterPolicyScope", "RedrivePolicy")
        if key in props
    }
    arn = _subscribe(sns, props["TopicArn"], props["Protocol"], props["Endpoint"], attributes)
    return Provisioned(logical_id, "AWS::SNS::Subscription", arn, arn, {"Arn": arn})


def _subscribe(sns: Any, topic_arn: str, protocol: str, endpoint: str, attributes: dict[str, str]) -> str:
    # Subscribe is idempotent for the same topic/protocol/endpoint, so re-provisioning does not duplicate deliveries.
    return sns.subscribe(
        TopicArn=topic_arn, Protocol=protocol, Endpoint=endpoint, Attributes=attributes, ReturnSubscriptionArn=True
    )["SubscriptionArn"]


# --- SES ------------------------------------------------------------------------------------------------------------


def _create_configuration_set(ctx: _Context, logical_id: str, props: dict[str, Any]) -> Provisioned:
    """`AWS::SES::ConfigurationSet` and `AWS::SESV2::ConfigurationSet` share the SESv2 API's property names."""
    sesv2 = ctx.client("sesv2")
    resource_type = ctx.current_type
    name = physical_name(logical_id, resource_type, props)
    try:
        sesv2.get_configuration_set(ConfigurationSetName=name)
    except Exception as error:  # moto raises NotFoundException; older versions a generic ClientError
        if _error_code(error) not in ("NotFoundException", "ConfigurationSetDoesNotExistException"):
            raise
        kwargs: dict[str, Any] = {"ConfigurationSetName": name}
        for key in (
            "DeliveryOptions",
            "ReputationOptions",
            "SendingOptions",
            "SuppressionOptions",
            "TrackingOptions",
            "VdmOptions",
            "Tags",
        ):
            if key in props:
                kwargs[key] = props[key]
        sesv2.create_configuration_set(**kwargs)
        log.info("created SES configuration set %s (%s)", name, logical_id)
    return Provisioned(logical_id, resource_type, name, name)


def _create_bucket(ctx: _Context, logical_id: str, props: dict[str, Any]) -> Provisioned:
    """A bucket with its encryption, public access block and its notifications to a queue (an import drop locally
    reaches the import queue as in AWS; the local pump drains it)."""
    name = physical_name(logical_id, "AWS::S3::Bucket", props)
    s3 = ctx.client("s3")
    try:
        s3.create_bucket(Bucket=name)
        log.info("created bucket %s (%s)", name, logical_id)
    except Exception as exc:  # noqa: BLE001 - already there after a restart of the local stack
        if _error_code(exc) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    if "PublicAccessBlockConfiguration" in props:
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"])
    queues = props.get("NotificationConfiguration", {}).get("QueueConfigurations", [])
    if queues:
        s3.put_bucket_notification_configuration(
            Bucket=name,
            NotificationConfiguration={
                "QueueConfigurations": [{"QueueArn": q["Queue"], "Events": [q["Event"]]} for q in queues]
            },
        )
        # S3 answers a new notification configuration with an `s3:TestEvent` on each queue. The import worker ignores
        # it; taking it off here keeps a freshly provisioned stack quiet (nothing to pump until something happens).
        sqs = ctx.client("sqs")
        for queue in queues:
            url = sqs.get_queue_url(QueueName=str(queue["Queue"]).rsplit(":", 1)[-1])["QueueUrl"]
            for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
                if "s3:TestEvent" in message["Body"]:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return Provisioned(logical_id, "AWS::S3::Bucket", name, name, {"Arn": f"arn:aws:s3:::{name}"})


# --- driver ---------------------------------------------------------------------------------------------------------


class _Context:
    def __init__(self, endpoint_url: str | None, region: str) -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        self.current_type = ""
        self._client = cache(lambda service: make_client(service, endpoint_url, region))

    def client(self, service: str) -> Any:
        return self._client(service)


Creator = Callable[[_Context, str, dict[str, Any]], Provisioned]
CREATORS: dict[str, Creator] = {
    "AWS::DynamoDB::Table": _create_table,
    "AWS::SQS::Queue": _create_queue,
    "AWS::SNS::Topic": _create_topic,
    "AWS::SNS::Subscription": _create_subscription,
    "AWS::SESV2::ConfigurationSet": _create_configuration_set,
    "AWS::SES::ConfigurationSet": _create_configuration_set,
    "AWS::S3::Bucket": _create_bucket,
}


def provision(
    endpoint_url: str | None = None,
    region: str = "us-east-1",
    template: dict[str, Any] | Path | str | None = None,
) -> dict[str, Provisioned]:
    """Create every supported resource of the template (default infra/resources.json); safe to call repeatedly.

    Parameters
    ----------
    endpoint_url: a moto server URL, or None for in-process `mock_aws` (or whatever `AWS_ENDPOINT_URL` says).
    region: the region to create the resources in.
    template: a parsed template or a path; unknown resource types are skipped with a log line.

    Returns
    -------
    Logical id -> `Provisioned` (name, Ref value, GetAtt attributes) for the resources that were created or found.

    Example
    -------
    >>> with mock_aws():
    ...     tables = provision()
    ...     tables["EventsTable"].attributes["StreamArn"]
    """
    if not isinstance(template, dict):
        template = load_template(template or RESOURCES_FILE)
    resources: dict[str, Any] = template.get("Resources", {})
    ctx = _Context(endpoint_url, region)
    done: dict[str, Provisioned] = {}
    resolve = _Resolver(done, region)
    for logical_id in _ordered(resources):
        body = resources[logical_id]
        creator = CREATORS.get(body["Type"])
        if creator is None:
            log.info("provision: skipping %s (%s is not provisioned locally)", logical_id, body["Type"])
            continue
        try:
            props = resolve(body.get("Properties", {}))
        except KeyError as missing:
            log.warning("provision: skipping %s: it references %s, not provisioned locally", logical_id, missing)
            continue
        ctx.current_type = body["Type"]
        done[logical_id] = creator(ctx, logical_id, props)
    if "PushApnsCredentials" in resources:  # no CloudFormation type exists for them: see local/push_apps.py
        from local.push_apps import ensure_local

        ensure_local(ctx.client("sns"))
    return done


def main() -> None:
    """`python -m local.provision [endpoint-url]`: provision a running moto server (or AWS_ENDPOINT_URL)."""
    import os
    import sys

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    endpoint = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("AWS_ENDPOINT_URL")
    for logical_id, resource in provision(endpoint, os.environ.get("AWS_DEFAULT_REGION", "us-east-1")).items():
        print(f"{logical_id:28} {resource.type:32} {resource.ref}")


if __name__ == "__main__":
    main()
