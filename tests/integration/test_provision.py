"""local.provision builds moto resources from CloudFormation exactly as infra/resources.json declares them."""

from __future__ import annotations

import logging

import pytest
from moto import mock_aws

from chalicelib.shared.settings import TABLES
from local.provision import kebab, load_template, make_client, physical_name, provision, table_kwargs

TEMPLATE = load_template()
TABLE_IDS = [k for k, v in TEMPLATE["Resources"].items() if v["Type"] == "AWS::DynamoDB::Table"]


def _describe(name: str, endpoint: str | None = None) -> dict:
    return make_client("dynamodb", endpoint).describe_table(TableName=name)["Table"]


def test_every_template_table_is_created_with_its_keys_indexes_and_stream(aws):
    assert set(TABLE_IDS) <= set(aws)
    for logical_id in TABLE_IDS:
        props = TEMPLATE["Resources"][logical_id]["Properties"]
        table = _describe(aws[logical_id].name)
        assert table["KeySchema"] == props["KeySchema"]
        assert {i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])} == {
            i["IndexName"] for i in props.get("GlobalSecondaryIndexes", [])
        }
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        stream = props.get("StreamSpecification")
        assert table.get("StreamSpecification", {}).get("StreamViewType") == (stream or {}).get("StreamViewType")
        assert ("StreamArn" in aws[logical_id].attributes) == bool(stream)


def test_tables_use_the_physical_names_from_settings(aws):
    for logical_id, (_env, default) in TABLES.items():
        if logical_id in aws:
            assert aws[logical_id].name == default


def test_time_to_live_is_enabled_where_the_template_asks(aws):
    ddb = make_client("dynamodb")
    for logical_id in TABLE_IDS:
        ttl = TEMPLATE["Resources"][logical_id]["Properties"].get("TimeToLiveSpecification")
        description = ddb.describe_time_to_live(TableName=aws[logical_id].name)["TimeToLiveDescription"]
        if ttl:
            assert description == {"TimeToLiveStatus": "ENABLED", "AttributeName": ttl["AttributeName"]}
        else:
            assert description["TimeToLiveStatus"] == "DISABLED"


def test_provisioning_twice_keeps_tables_data_and_streams(aws):
    ddb = make_client("dynamodb")
    ddb.put_item(TableName=aws["StateTable"].name, Item={"pk": {"S": "a"}, "sk": {"S": "b"}})

    again = provision()

    assert again["EventsTable"].attributes["StreamArn"] == aws["EventsTable"].attributes["StreamArn"]
    assert ddb.scan(TableName=aws["StateTable"].name)["Count"] == 1


def test_an_environment_variable_renames_a_table(monkeypatch):
    env_var, _default = TABLES["EventsTable"]
    monkeypatch.setenv(env_var, "one2one-events-custom")
    with mock_aws():
        created = provision()
        assert created["EventsTable"].name == "one2one-events-custom"
        assert _describe("one2one-events-custom")["TableStatus"] == "ACTIVE"


def test_stream_failures_queue_exists_for_the_on_failure_destination(aws):
    queue = aws["StreamFailuresQueue"]
    assert queue.name == "one2one-stream-failures-queue"
    attributes = make_client("sqs").get_queue_attributes(QueueUrl=queue.ref, AttributeNames=["All"])["Attributes"]
    assert attributes["MessageRetentionPeriod"] == "1209600"


GENERIC = {
    "Resources": {
        "Orders": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": 45}},
        "OrdersDlq": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "orders-dlq"}},
        "OrdersWithRedrive": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": ["OrdersDlq", "Arn"]}, "maxReceiveCount": 3}
            },
        },
        "Deliveries": {
            "Type": "AWS::SNS::Topic",
            "Properties": {"Subscription": [{"Protocol": "sqs", "Endpoint": {"Fn::GetAtt": ["Orders", "Arn"]}}]},
        },
        "RawSubscription": {
            "Type": "AWS::SNS::Subscription",
            "Properties": {
                "TopicArn": {"Ref": "Deliveries"},
                "Protocol": "sqs",
                "Endpoint": {"Fn::GetAtt": ["OrdersDlq", "Arn"]},
                "RawMessageDelivery": True,
            },
        },
        "Emails": {"Type": "AWS::SESV2::ConfigurationSet", "Properties": {}},
        "Fn": {"Type": "AWS::Lambda::Function", "Properties": {}},
    }
}


def test_queues_topics_subscriptions_and_configuration_sets_are_created_generically(caplog):
    caplog.set_level(logging.INFO, logger="local.provision")
    with mock_aws():
        created = provision(template=GENERIC)
        sqs, sns = make_client("sqs"), make_client("sns")

        assert created["Orders"].name == "one2one-orders"
        assert created["OrdersDlq"].name == "orders-dlq"
        orders = sqs.get_queue_attributes(QueueUrl=created["Orders"].ref, AttributeNames=["All"])["Attributes"]
        assert orders["VisibilityTimeout"] == "45"
        redrive = sqs.get_queue_attributes(QueueUrl=created["OrdersWithRedrive"].ref, AttributeNames=["RedrivePolicy"])[
            "Attributes"
        ]["RedrivePolicy"]
        assert created["OrdersDlq"].attributes["Arn"] in redrive

        sns.publish(TopicArn=created["Deliveries"].ref, Message="hello")
        enveloped = sqs.receive_message(QueueUrl=created["Orders"].ref)["Messages"][0]["Body"]
        raw = sqs.receive_message(QueueUrl=created["OrdersDlq"].ref)["Messages"][0]["Body"]
        assert '"Message": "hello"' in enveloped
        assert raw == "hello"

        assert make_client("sesv2").get_configuration_set(ConfigurationSetName="one2one-emails")
        assert "Fn" not in created
        assert "skipping Fn" in caplog.text

        provision(template=GENERIC)  # idempotent: no duplicate deliveries after re-provisioning
        sns.publish(TopicArn=created["Deliveries"].ref, Message="again")
        assert len(sqs.receive_message(QueueUrl=created["OrdersDlq"].ref, MaxNumberOfMessages=10)["Messages"]) == 1


def test_provisions_a_moto_server_by_endpoint_url(moto_endpoint):
    created = provision(endpoint_url=moto_endpoint)

    table = _describe(created["ProfilesTable"].name, moto_endpoint)
    assert table["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert created["ProfilesTable"].attributes["StreamArn"] == table["LatestStreamArn"]


@pytest.mark.parametrize(
    ("logical_id", "expected"),
    [("StreamFailuresQueue", "stream-failures-queue"), ("SESConfigSet", "ses-config-set"), ("Orders", "orders")],
)
def test_kebab_names(logical_id, expected):
    assert kebab(logical_id) == expected


def test_fifo_queues_get_the_fifo_suffix():
    assert physical_name("Jobs", "AWS::SQS::Queue", {"FifoQueue": True}) == "one2one-jobs.fifo"


def test_table_kwargs_drop_cloudformation_only_properties():
    kwargs = table_kwargs("t", TEMPLATE["Resources"]["EventsTable"]["Properties"])
    assert set(kwargs) == {
        "TableName",
        "KeySchema",
        "AttributeDefinitions",
        "BillingMode",
        "StreamSpecification",
    }
    assert kwargs["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    indexed = table_kwargs("t", TEMPLATE["Resources"]["ProfilesTable"]["Properties"])
    assert [i["IndexName"] for i in indexed["GlobalSecondaryIndexes"]] == ["by_due_day"]


def test_every_supported_resource_of_the_template_is_provisioned(aws):
    from local.provision import CREATORS

    supported = {k for k, v in TEMPLATE["Resources"].items() if v["Type"] in CREATORS}
    assert set(aws) == supported
    for logical_id, resource in aws.items():
        if resource.type in ("AWS::SES::ConfigurationSet", "AWS::SESV2::ConfigurationSet"):
            assert make_client("sesv2").get_configuration_set(ConfigurationSetName=resource.name)
        if resource.type == "AWS::SQS::Queue" and "RedrivePolicy" in TEMPLATE["Resources"][logical_id]["Properties"]:
            attributes = make_client("sqs").get_queue_attributes(
                QueueUrl=resource.ref, AttributeNames=["RedrivePolicy"]
            )
            assert "deadLetterTargetArn" in attributes["Attributes"]["RedrivePolicy"]
