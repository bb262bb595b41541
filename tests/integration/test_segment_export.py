"""Segment export on moto, end to end: a segment's members as CSV in the export bucket, written inside the admin
request for a small segment and by the export queue's chain of steps (multipart upload, carry objects) for a big one;
never an erased person."""

from __future__ import annotations

import csv
import io
import json
from typing import Any
from urllib.parse import unquote, urlparse

import pytest

from tests.integration.scenario_support import (
    World,
    user_profile_id,
    world_fixture,  # noqa: F401 - registers `world`
)

AUTH = {"Authorization": "Bearer test-admin-token", "Content-Type": "application/json"}
SEGMENT = "cart_abandoners"


def shoppers(world: World, count: int) -> list[str]:
    users = [f"exp-{n:03d}" for n in range(count)]
    for user in users:
        world.customer(user, email_address=f"{user}@example.com", first_name="=Ann")
        world.add_to_cart(user)
    world.drain()
    return users


def start(world: World) -> Any:
    return world.h.client.http.post(f"/admin/segments/{SEGMENT}/exports", body="{}", headers=AUTH)


def exported_rows(url: str) -> list[dict[str, str]]:
    from chalicelib.shared.aws import client

    parsed = urlparse(url)
    assert "Signature=" in parsed.query or "X-Amz-Signature=" in parsed.query  # a presigned link
    bucket, key = parsed.netloc.split(".", 1)[0], unquote(parsed.path.lstrip("/"))
    body = client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    assert body.startswith(b"\xef\xbb\xbf")  # UTF-8 byte order mark, so spreadsheets open it as UTF-8
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


def test_small_segment_is_exported_within_the_request_with_the_documented_columns_and_no_erased_person(
    world: World,
) -> None:
    from chalicelib.exports import COLUMNS

    # GIVEN three shoppers in the segment, one of them then erased
    users = shoppers(world, 3)
    erased = world.h.client.http.delete(f"/admin/profiles/{user_profile_id(users[1])}", headers=AUTH)
    assert erased.status_code < 300, erased.body
    world.drain()

    # WHEN the segment is exported
    response = start(world)

    # THEN the file is already written: two rows, the documented columns, a formula-looking name defused
    assert response.status_code == 201, response.body
    body = json.loads(response.body)
    assert (body["status"], body["rows"]) == ("finished", 2)
    rows = exported_rows(body["download_url"])
    assert list(rows[0]) == list(COLUMNS)
    assert sorted(r["email"] for r in rows) == [f"{users[0]}@example.com", f"{users[2]}@example.com"]
    assert {r["profile_id"] for r in rows} == {user_profile_id(users[0]), user_profile_id(users[2])}
    assert all(r["first_name"] == "'=Ann" and r["entered_at"] for r in rows)
    assert users[1] not in json.dumps(rows)
    # and it is listed and can be followed
    listed = json.loads(world.h.admin("/admin/exports").body)
    assert [item["export_id"] for item in listed["items"]] == [body["export_id"]]
    again = json.loads(world.h.admin(body["status_url"]).body)
    assert again["status"] == "finished" and "download_url" in again


def test_big_segment_is_exported_by_a_chain_of_steps_into_one_multipart_file(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    import moto.s3.models

    from chalicelib.exports import service

    # GIVEN a segment "too big" for the request, pages of 2 members, parts of at least ~600 bytes
    users = shoppers(world, 9)
    monkeypatch.setattr(service, "SYNC_MAX_MEMBERS", 5)
    monkeypatch.setattr(service, "PAGE_SIZE", 2)
    monkeypatch.setattr(service, "MIN_PART_BYTES", 600)
    monkeypatch.setattr(service, "PART_BYTES", 700)
    monkeypatch.setattr(moto.s3.models, "S3_UPLOAD_PART_MIN_SIZE", 600)

    # WHEN it is exported
    response = start(world)
    assert response.status_code == 202, response.body
    queued = json.loads(response.body)
    assert (queued["status"], queued["expected"]) == ("running", 9)
    world.drain()

    # THEN every member is in the one file exactly once, in profile order, and the carry objects are gone
    done = json.loads(world.h.admin(queued["status_url"]).body)
    assert (done["status"], done["rows"], done["skipped"]) == ("finished", 9, 0)
    assert done["steps"] >= 2
    rows = exported_rows(done["download_url"])
    assert sorted(r["email"] for r in rows) == sorted(f"{u}@example.com" for u in users)
    assert [r["profile_id"] for r in rows] == sorted(r["profile_id"] for r in rows)
    from chalicelib.shared.aws import client
    from chalicelib.shared.settings import resource_name

    left = client("s3").list_objects_v2(Bucket=resource_name("ExportBucket"), Prefix="exports/.carry/")
    assert left.get("KeyCount", 0) == 0


def test_unknown_segment_and_unknown_export_are_404(world: World) -> None:
    response = world.h.client.http.post("/admin/segments/nope/exports", body="{}", headers=AUTH)
    assert response.status_code == 404 and json.loads(response.body)["error"] == "not_found"
    assert world.h.admin("/admin/exports/ex-20260101T000000Z-abcdef").status_code == 404
    assert world.h.admin("/admin/exports/bogus").status_code == 404
    assert world.h.admin("/admin/exports?limit=0").status_code == 400


def test_an_export_whose_step_fails_on_every_delivery_ends_failed(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.bootstrap import get_export_service
    from chalicelib.exports import service

    shoppers(world, 2)
    monkeypatch.setattr(service, "SYNC_MAX_MEMBERS", 0)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("profiles table down")

    response = start(world)
    assert response.status_code == 202, response.body
    monkeypatch.setattr(get_export_service(), "_step", broken)
    world.h.pump.drain()  # five deliveries, then the queue's redrive policy moves it to the DLQ
    world.h.pump.errors.clear()

    done = json.loads(world.h.admin(json.loads(response.body)["status_url"]).body)
    assert done["status"] == "failed" and done["error"] == "a step failed 5 times (RuntimeError)"
    assert "download_url" not in done
