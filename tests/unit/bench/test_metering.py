"""The cost model's arithmetic, checked by hand against the DynamoDB, SQS and Lambda pricing rules (AWS docs)."""

from __future__ import annotations

import pytest

from bench import metering
from bench.cost import (
    api_price_per_request,
    lambda_gb_seconds,
    platform_log_bytes,
    price_workload,
    tracking_api_type,
    tracking_api_types,
)
from bench.prices import PRICE_LIST, MissingPrice, Price, price_book

TABLE = {
    "TableName": "events",
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": "by_profile",
            "KeySchema": [
                {"AttributeName": "profile_id", "KeyType": "HASH"},
                {"AttributeName": "ts", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }
    ],
}


def _with_projection(projection: dict[str, object]) -> metering.TableShape:
    index = {**TABLE["GlobalSecondaryIndexes"][0], "Projection": projection}  # type: ignore[index]
    return metering.TableShape.from_description({**TABLE, "GlobalSecondaryIndexes": [index]})


def test_item_size_counts_names_and_values_by_the_dynamodb_rules():
    # "pk"(2) + "abc"(3) = 5; "n"(1) + 12345 (5 digits -> 3 bytes + 1) = 5; "ok"(2) + BOOL 1 = 3
    assert metering.item_size({"pk": {"S": "abc"}, "n": {"N": "12345"}, "ok": {"BOOL": True}}) == 13
    # a map: 3 bytes + per element 1 byte + name + value: "m"(1) + 3 + (1 + "a"(1) + "xy"(2)) = 8
    assert metering.item_size({"m": {"M": {"a": {"S": "xy"}}}}) == 8
    # a list: 3 bytes + per element 1 byte + value: "l"(1) + 3 + (1 + 1) + (1 + 1) = 8
    assert metering.item_size({"l": {"L": [{"S": "a"}, {"S": "b"}]}}) == 8
    # UTF-8 bytes, not characters: "é" is 2 bytes
    assert metering.item_size({"s": {"S": "é"}}) == 3


def test_number_size_trims_zeros_and_counts_two_digits_a_byte():
    assert metering.number_size("0") == 2
    assert metering.number_size("100") == 2  # one significant digit
    assert metering.number_size("-123.45") == 4  # 5 digits -> 3 + 1
    assert metering.number_size("1E+3") == 2


def test_write_units_round_up_per_kilobyte_and_reads_per_four_kilobytes():
    assert metering.write_units(0) == 1 and metering.write_units(1024) == 1 and metering.write_units(1025) == 2
    assert metering.read_units(4096, consistent=True) == 1.0
    assert metering.read_units(4097, consistent=True) == 2.0
    assert metering.read_units(4097, consistent=False) == 1.0  # eventually consistent: half
    assert metering.read_units(100, consistent=False) == 0.5
    assert metering.read_units(4097, consistent=True, transactional=True) == 4.0  # transactions double


def _item(profile: str | None, body_bytes: int) -> dict[str, dict[str, str]]:
    item = {"pk": {"S": "e1"}, "body": {"S": "x" * body_bytes}}
    if profile is not None:
        item |= {"profile_id": {"S": profile}, "ts": {"S": "2026"}}
    return item


def test_a_new_item_is_written_once_in_the_table_and_once_in_an_all_projection_index():
    shape = metering.TableShape.from_description(TABLE)
    new = _item("p1", 1500)  # 2 + 2 + 4 + 1500 + 10 + 2 + 2 + 4 = 1526 bytes -> 2 units each
    cost = metering.item_write_cost(shape, None, new)
    assert (cost.table_units, cost.index_units) == (2, {"by_profile": 2})
    assert cost.total == 4


def test_a_keys_only_index_copies_only_the_keys_and_a_removed_index_costs_nothing():
    new = _item("p1", 1500)
    keys_only = metering.item_write_cost(_with_projection({"ProjectionType": "KEYS_ONLY"}), None, new)
    assert keys_only.index_units == {"by_profile": 1}  # pk + profile_id + ts: 22 bytes
    include = _with_projection({"ProjectionType": "INCLUDE", "NonKeyAttributes": ["body"]})
    assert metering.item_write_cost(include, None, new).index_units == {"by_profile": 2}
    no_index = metering.TableShape.from_description({**TABLE, "GlobalSecondaryIndexes": []})
    assert metering.item_write_cost(no_index, None, new).total == 2


def test_a_sparse_index_is_not_written_for_an_item_without_its_keys():
    shape = metering.TableShape.from_description(TABLE)
    assert metering.item_write_cost(shape, None, _item(None, 10)).index_units == {}


def test_index_updates_follow_the_docs_key_change_is_two_writes_projected_change_one_none_otherwise():
    shape = metering.TableShape.from_description(TABLE)
    old = _item("p1", 100)
    assert metering.item_write_cost(shape, old, _item("p2", 100)).index_units == {"by_profile": 2}  # delete + put
    assert metering.item_write_cost(shape, old, _item("p1", 200)).index_units == {"by_profile": 1}
    keys_only = _with_projection({"ProjectionType": "KEYS_ONLY"})
    assert metering.item_write_cost(keys_only, old, _item("p1", 200)).index_units == {}  # nothing projected changed
    deleted = metering.item_write_cost(shape, old, None)
    assert (deleted.table_units, deleted.index_units) == (1, {"by_profile": 1})


def test_an_update_bills_the_larger_of_the_old_and_new_item_and_a_transaction_doubles_it():
    shape = metering.TableShape.from_description({**TABLE, "GlobalSecondaryIndexes": []})
    old, new = _item(None, 3000), _item(None, 10)
    assert metering.item_write_cost(shape, old, new).table_units == 3
    assert metering.item_write_cost(shape, old, new, transactional=True).table_units == 6
    indexed = metering.TableShape.from_description(TABLE)
    in_transaction = metering.item_write_cost(indexed, None, _item("p1", 10), transactional=True)
    assert (in_transaction.table_units, in_transaction.index_units) == (2, {"by_profile": 1})


def test_sqs_and_sns_bill_each_64_kb_chunk():
    assert metering.message_requests(10) == 1
    assert metering.message_requests(64 * 1024) == 1
    assert metering.message_requests(64 * 1024 + 1) == 2


def test_lambda_duration_stretches_cpu_time_to_the_memory_share_and_adds_call_latency():
    # 256 MB gets 256/1769 of a vCPU: 10 ms of own time on a full core takes 69.1 ms; + 2 DynamoDB calls x 5 ms
    gb_s = lambda_gb_seconds(256, 1, 0.010, {"dynamodb": 2})
    assert gb_s == pytest.approx(0.080 * 0.25)  # ceil(79.1 ms) = 80 ms at 0.25 GB
    assert lambda_gb_seconds(2048, 1, 0.010, {}) == pytest.approx(0.010 * 2)  # a full core: no stretch
    assert lambda_gb_seconds(256, 0, 1.0, {}) == 0.0


def test_the_api_type_follows_the_merge_template(tmp_path):
    (tmp_path / "infra").mkdir()
    (tmp_path / "infra" / "resources.json").write_text('{"Resources": {}}')
    assert tracking_api_type(tmp_path) == "rest"
    (tmp_path / "infra" / "resources.json").write_text('{"Resources": {"Api": {"Type": "AWS::ApiGatewayV2::Api"}}}')
    assert tracking_api_type(tmp_path) == "http"
    prices = price_book()
    assert api_price_per_request(prices, "http") * 1e6 == 1.00
    assert api_price_per_request(prices, "rest") * 1e6 == 3.50
    # with a function URL beside the HTTP API, the URL is what the SDKs use (README): priced first, the API beside it
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / "package.py").write_text('URL = {"Type": "AWS::Lambda::Url"}')
    assert tracking_api_types(tmp_path) == ["function_url", "http"]
    assert tracking_api_type(tmp_path) == "function_url"
    assert api_price_per_request(prices, "function_url") == 0.0


def test_the_repository_prices_the_function_url_first_and_the_http_api_beside_it():
    assert tracking_api_types() == ["function_url", "http"]


def test_platform_log_lines_are_billed_only_where_the_packaged_template_still_writes_them(monkeypatch):
    import local.package

    assert platform_log_bytes(["api_handler", "fold_events"]) == {"api_handler": 0, "fold_events": 0}
    monkeypatch.setitem(local.package.SYSTEM_LOG_LEVELS, "FoldEvents", "INFO")  # one function keeps its lines
    assert platform_log_bytes(["api_handler", "fold_events"]) == {"api_handler": 0, "fold_events": 300}
    snapshot = {
        "events": 1,
        "requests": 1,
        "profiles": 1,
        "functions": {"api_handler": {"invocations": 1, "own_seconds": 0.0, "aws_calls": {}, "log_bytes": 700}},
        "quantities": [],
    }
    quiet = price_workload(snapshot, {"default": 256}, price_book(), "function_url", {"api_handler": 0})
    assert quiet["quantities_per_million_events"]["cloudwatch_logs/api_handler"] == pytest.approx(700 * 1e6)
    assert "api_gateway_function_url" in quiet["lines"] and quiet["lines"]["api_gateway_function_url"] == 0.0


def test_a_missing_price_stops_the_model_naming_it():
    without = {name: price for name, price in PRICE_LIST.items() if name != "dynamodb_per_million_wru"}
    prices = price_book(without)
    snapshot = {
        "events": 1,
        "requests": 1,
        "profiles": 1,
        "functions": {},
        "quantities": [{"line": "dynamodb_wru", "detail": "events", "function": "api_handler", "quantity": 2}],
    }
    with pytest.raises(MissingPrice, match="dynamodb_per_million_wru"):
        price_workload(snapshot, {"default": 256}, prices, "rest")
    undated = {**PRICE_LIST, "ses_per_1000_emails": Price(0.10, "", "nowhere")}
    with pytest.raises(MissingPrice, match="ses_per_1000_emails"):
        price_book(undated)


def test_a_priced_workload_lists_every_line_and_sums_them():
    snapshot = {
        "events": 20,
        "requests": 1,
        "profiles": 4,
        "functions": {"api_handler": {"invocations": 1, "own_seconds": 0.0, "aws_calls": {}, "log_bytes": 700}},
        "quantities": [
            {"line": "dynamodb_wru", "detail": "events", "function": "api_handler", "quantity": 40},
            {"line": "sqs_requests", "detail": "SendMessage", "function": "api_handler", "quantity": 1},
        ],
    }
    model = price_workload(snapshot, {"default": 256}, price_book(), "rest")
    per_million = 1e6 / 20
    assert model["lines"]["api_gateway_rest"] == pytest.approx(3.5 / 1e6 * per_million)
    assert model["lines"]["dynamodb_wru/events (api_handler)"] == pytest.approx(40 * 0.625 / 1e6 * per_million)
    assert model["lines"]["cloudwatch_logs/api_handler"] == pytest.approx((700 + 300) / 1024**3 * 0.5 * per_million)
    assert model["total"] == pytest.approx(sum(model["lines"].values()))
