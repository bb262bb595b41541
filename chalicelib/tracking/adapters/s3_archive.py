"""The event archive in S3 (`ArchiveBucket`) with its per-person day index in the StateTable
(`pk=archive#<profile id>`, `sk=<day>`), which erasure reads instead of listing every partition."""

from __future__ import annotations

from chalicelib.shared.aws import client
from chalicelib.shared.dynamodb import batch_write, query_all

INDEX_PREFIX = "archive#"


class S3EventArchive:
    def __init__(self, bucket: str, state_table: str) -> None:
        self.bucket = bucket
        self.state_table = state_table

    def put(self, key: str, body: bytes) -> None:
        client("s3").put_object(
            Bucket=self.bucket, Key=key, Body=body, ContentType="application/x-ndjson", ContentEncoding="gzip"
        )

    def get(self, key: str) -> bytes:
        body = client("s3").get_object(Bucket=self.bucket, Key=key)["Body"]
        try:
            return bytes(body.read())
        finally:
            body.close()

    def delete(self, key: str) -> None:
        client("s3").delete_object(Bucket=self.bucket, Key=key)

    def keys(self, prefix: str) -> list[str]:
        pages = client("s3").get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def remember(self, profile_days: list[tuple[str, str]]) -> None:
        requests = [
            {"PutRequest": {"Item": {"pk": {"S": INDEX_PREFIX + profile_id}, "sk": {"S": day}}}}
            for profile_id, day in profile_days
        ]
        batch_write(self.state_table, requests)

    def _index(self, profile_ids: list[str]) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for profile_id in profile_ids:
            items = query_all(
                TableName=self.state_table,
                KeyConditionExpression="pk = :p",
                ExpressionAttributeValues={":p": {"S": INDEX_PREFIX + profile_id}},
                ProjectionExpression="sk",
            )
            out.extend((profile_id, item["sk"]["S"]) for item in items)
        return out

    def days(self, profile_ids: list[str]) -> set[str]:
        return {day for _, day in self._index(profile_ids)}

    def forget(self, profile_ids: list[str]) -> None:
        requests = [
            {"DeleteRequest": {"Key": {"pk": {"S": INDEX_PREFIX + profile_id}, "sk": {"S": day}}}}
            for profile_id, day in self._index(profile_ids)
        ]
        batch_write(self.state_table, requests)
