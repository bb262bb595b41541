"""Bulk imports on moto, end to end: a file uploaded through the admin API or dropped into the import bucket is split,
imported through the ingest use case by the import queue's worker (the pump), and folded like live events."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.scenario_support import (
    World,
    user_profile_id,
    world_fixture,  # noqa: F401 - registers `world`
)

DATA = Path(__file__).resolve().parents[1] / "data" / "imports"
AUTH = {"Authorization": "Bearer test-admin-token"}


def upload(world: World, kind: str, body: bytes, fmt: str = "csv", **params: str) -> Any:
    query = "&".join(f"{k}={v}" for k, v in {"kind": kind, "format": fmt, **params}.items())
    content_type = "text/csv" if fmt.startswith("csv") else "application/octet-stream"
    return world.h.client.http.post(
        f"/admin/imports?{query}", body=body, headers={**AUTH, "Content-Type": content_type}
    )


def status(world: World, import_id: str) -> dict[str, Any]:
    response = world.h.admin(f"/admin/imports/{import_id}")
    assert response.status_code == 200, response.body
    return json.loads(response.body)


def profile(world: World, user_id: str) -> dict[str, Any]:
    response = world.h.admin(f"/admin/profiles/{user_profile_id(user_id)}")
    assert response.status_code == 200, (user_id, response.body)
    body = json.loads(response.body)
    return body.get("profile", body)


def test_people_and_orders_import_fold_into_profiles_with_rfm_and_report_bad_rows_by_line(world: World) -> None:
    # GIVEN a people file (a quoted newline, an unproven consent grant, an empty row, a bad email) and an orders file
    people = upload(world, "people", (DATA / "people.csv").read_bytes())
    assert people.status_code == 202, people.body
    world.drain()
    orders = upload(world, "orders", (DATA / "orders.csv").read_bytes())
    assert orders.status_code == 202, orders.body
    world.drain()

    # THEN the people are profiles with their traits, zone, and only the consent the file proves
    report = status(world, json.loads(people.body)["import_id"])
    assert report["status"] == "finished"
    assert (report["rows_accepted"], report["rows_rejected"]) == (2, 2)
    assert report["notices"] == {"consent_unproven": 1}
    assert [(r["line"], r["error"]) for r in report["rejected"]] == [(5, "missing_identity"), (6, "invalid_field")]
    ann, bob = profile(world, "u-1"), profile(world, "u-2")
    assert ann["traits"]["first_name"] == "Ann" and ann["demographics"]["timezone"] == "Europe/Paris"
    assert ann["consent"]["email"]["status"] == "opted_in"
    assert ann["consent"]["email"]["source"] == "checkout-2023"
    assert ann["consent"]["email"]["at"].startswith("2023-04-01T10:00:00")
    assert bob["traits"]["first_name"] == "Bob\nthe builder"
    assert "email" not in (bob.get("consent") or {})  # a grant without its source and time is not a grant

    # AND the offline orders count: revenue, orders, RFM (old orders keep their own dates)
    orders_report = status(world, json.loads(orders.body)["import_id"])
    assert (orders_report["rows_accepted"], orders_report["rows_rejected"]) == (3, 1)
    assert orders_report["rejected"][0]["line"] == 5 and orders_report["rejected"][0]["error"] == "invalid_time"
    ann = profile(world, "u-1")
    assert ann["computed"]["orders"] == 2 and ann["computed"]["revenue"] == 200.5
    world.advance(days=1)  # the daily cut points see the imported customers; their RFM follows
    world.drain()
    ann, bob = profile(world, "u-1"), profile(world, "u-2")
    assert ann["rfm"] and bob["rfm"], ann
    assert ann["rfm"]["f"] >= bob["rfm"]["f"]


def test_importing_the_same_file_again_changes_nothing(world: World) -> None:
    body = (DATA / "orders.csv").read_bytes()
    first = upload(world, "orders", body)
    world.drain()
    before = profile(world, "u-1")
    events = world.h.scan_count("EventsTable")
    again = upload(world, "orders", body)
    world.drain()
    assert again.status_code == 200 and json.loads(again.body)["created"] is False
    assert json.loads(again.body)["import_id"] == json.loads(first.body)["import_id"]
    assert world.h.scan_count("EventsTable") == events
    after = profile(world, "u-1")
    assert after["computed"] == before["computed"]


def test_a_redelivered_step_counts_nothing_twice(world: World) -> None:
    from chalicelib.bootstrap import get_import_service
    from chalicelib.imports import ImportTask

    response = upload(world, "orders", (DATA / "orders.csv").read_bytes())
    import_id = json.loads(response.body)["import_id"]
    world.drain()
    service = get_import_service()
    job = service.status(import_id)
    assert job is not None
    outcome = service.run(ImportTask(import_id, "rows", 0, 0, job.size))
    world.drain()
    assert outcome.outcome == "duplicate"
    report = status(world, import_id)
    assert (report["rows_accepted"], report["rows_rejected"]) == (3, 1)
    assert profile(world, "u-1")["computed"]["orders"] == 2


def test_a_file_dropped_in_the_bucket_is_imported_in_parallel_chunks(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a CSV with a BOM, CRLF line ends and a quoted newline in every row, dropped into the bucket
    from chalicelib import bootstrap
    from chalicelib.shared.aws import client
    from chalicelib.shared.settings import resource_name

    # small chunks so that a quoted newline and many rows cross chunk boundaries
    monkeypatch.setattr(bootstrap.get_import_service(), "chunk_bytes", 64)
    lines = ["user_id,email,note"] + [f'p-{n},p{n}@example.com,"line one\nline two {n}"' for n in range(30)]
    text = "\ufeff" + "\r\n".join(lines) + "\r\n"
    client("s3").put_object(Bucket=resource_name("ImportBucket"), Key="people/crm.csv", Body=text.encode())
    world.drain()
    [job] = json.loads(world.h.admin("/admin/imports").body)["items"]
    assert job["chunks"]["total"] > 10 and job["status"] == "finished", job
    assert (job["rows_accepted"], job["rows_rejected"]) == (30, 0), status(world, job["import_id"])["rejected"][:3]
    assert profile(world, "p-29")["traits"]["note"] == "line one\nline two 29"


def test_bad_files_are_refused_with_4xx_naming_what_is_wrong(world: World) -> None:
    wrong_header = upload(world, "people", b"name,plan\nAnn,pro\n")
    assert wrong_header.status_code == 400
    assert json.loads(wrong_header.body)["error"] == "invalid_header"
    utf16 = upload(world, "people", "user_id,email\nu,a@example.com\n".encode("utf-16"))
    assert utf16.status_code == 400 and json.loads(utf16.body)["error"] == "wrong_encoding"
    assert upload(world, "nobody", b"x").status_code == 400
    assert upload(world, "people", b"").status_code == 400
    missing = world.h.client.http.post(
        "/admin/imports",
        body=json.dumps({"key": "people/none.csv"}),
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert missing.status_code == 404
    assert world.h.admin("/admin/imports/imp-people-000").status_code == 404
    assert world.h.admin("/admin/imports?limit=0").status_code == 400


def test_bad_rows_are_reported_and_good_rows_imported(world: World) -> None:
    long_line = '{"user_id": "big", "bio": "' + "x" * 1_000_000 + '"}'
    rows = [
        '{"user_id": "j-1", "email": "j1@example.com", "traits": {"plan": "pro"}}',
        b"\xff\xfe not utf-8".decode("latin-1"),
        long_line,
        '{"order_id": "o-9", "user_id": "j-2", "revenue": 3}',
        "[1, 2]",
        '{"user_id": "j-3", "email_consent": "no"}',
    ]
    body = "\n".join(rows).encode("latin-1", "replace")
    body = body.replace(b"\xc3\xbf\xc3\xbe", b"\xff\xfe")
    gz = gzip.compress(body)
    response = upload(world, "people", gz, fmt="jsonl.gz")
    assert response.status_code == 202, response.body
    world.drain()
    report = status(world, json.loads(response.body)["import_id"])
    assert (report["rows_accepted"], report["rows_rejected"]) == (2, 4)
    assert [(r["line"], r["error"]) for r in report["rejected"]] == [
        (2, "wrong_encoding"),
        (3, "row_too_large"),
        (4, "mixed_row_type"),
        (5, "invalid_json"),
    ]
    assert profile(world, "j-1")["traits"]["plan"] == "pro"
    assert profile(world, "j-3")["consent"]["email"]["status"] == "opted_out"


def _endpoint(**fields: Any) -> dict[str, Any]:
    return {"EffectiveDate": "2024-03-01T10:00:00.000Z", "EndpointStatus": "ACTIVE", "OptOut": "NONE", **fields}


def test_a_pinpoint_endpoint_export_becomes_profiles_with_channels_zones_and_suppressions(world: World) -> None:
    from chalicelib.bootstrap import get_message_store

    endpoints = [
        _endpoint(
            Id="e1",
            ChannelType="EMAIL",
            Address="Mia@Example.com",
            User={"UserId": "mia", "UserAttributes": {"FirstName": ["Mia"], "Plan": ["gold"]}},
            Demographic={"Timezone": "America/New_York", "Locale": "en_US"},
            Attributes={"Team": ["red"]},
        ),
        _endpoint(Id="e2", ChannelType="SMS", Address="+14155552671", User={"UserId": "mia"}),
        _endpoint(Id="e3", ChannelType="EMAIL", Address="gone@example.com", OptOut="ALL"),
        _endpoint(Id="e4", ChannelType="EMAIL", Address="bounced@example.com", EndpointStatus="INACTIVE"),
        _endpoint(Id="e5", ChannelType="APNS", Address="device-token"),
        {"Id": "e6", "Address": "x"},
        _endpoint(Id="e7", ChannelType="APNS", Address="AB" * 32, User={"UserId": "mia"}),
        _endpoint(Id="e8", ChannelType="GCM", Address="mia:APA91b" + "z" * 140, User={"UserId": "mia"}, OptOut="ALL"),
    ]
    # Pinpoint writes several gzip parts: two concatenated members read as one file
    lines = [json.dumps(e) for e in endpoints]
    body = gzip.compress("\n".join(lines[:3]).encode() + b"\n") + gzip.compress("\n".join(lines[3:]).encode())
    response = upload(world, "pinpoint_endpoints", body, fmt="gz")
    assert response.status_code == 202, response.body
    world.drain()
    report = status(world, json.loads(response.body)["import_id"])
    assert (report["rows_accepted"], report["rows_rejected"]) == (7, 1), report["rejected"][:2]
    assert report["rejected"][0]["line"] == 6 and report["rejected"][0]["error"] == "missing_field"
    assert report["notices"] == {"channel_not_migrated:APNS": 1, "rows_without_messages": 1}
    mia = profile(world, "mia")
    assert mia["email"] == "mia@example.com" and mia["phone"] == "+14155552671"
    assert mia["traits"]["FirstName"] == "Mia" and mia["traits"]["Team"] == "red"
    assert mia["demographics"]["timezone"] == "America/New_York" and mia["demographics"]["locale"] == "en-US"
    assert "email" not in (mia.get("consent") or {})  # OptOut NONE proves no opt-in
    # a user's push endpoints are their devices: the iPhone allowed notifications, the Android phone turned them off
    devices = mia["devices"]
    assert devices["ab" * 32]["enabled"] is True and devices["mia:APA91b" + "z" * 140]["enabled"] is False
    assert mia["consent"]["push"]["status"] == "opted_in"
    store = get_message_store()
    assert store.is_suppressed("email", "gone@example.com") and store.is_suppressed("email", "bounced@example.com")
    assert not store.is_suppressed("email", "mia@example.com")
    gone = json.loads(world.h.admin("/admin/profiles?email=gone@example.com").body)
    gone = gone.get("profile", gone)
    assert gone["consent"]["email"]["status"] == "opted_out" and gone["consent"]["email"]["source"] == "pinpoint"


def test_a_pinpoint_segment_csv_becomes_a_static_segment_of_the_listed_people(world: World) -> None:
    csv_text = (
        "ChannelType,Address,User.UserId,User.UserAttributes.plan,Demographic.Timezone\n"
        "EMAIL,vip1@example.com,v-1,gold,Europe/Berlin\n"
        "EMAIL,vip2@example.com,v-2,gold,\n"
    )
    world.customer("outsider")
    response = upload(world, "pinpoint_segment", csv_text.encode(), segment="pinpoint-vips")
    assert response.status_code == 202, response.body
    world.drain()
    assert "pinpoint-vips" in profile(world, "v-1")["segments"]
    assert "pinpoint-vips" in profile(world, "v-2")["segments"]
    assert "pinpoint-vips" not in (profile(world, "outsider").get("segments") or {})
    members = json.loads(world.h.admin("/admin/segments/pinpoint-vips/members").body)
    assert len(members["items"]) == 2, members


def test_a_pinpoint_template_converts_through_the_admin_api(world: World) -> None:
    document = {
        "EmailTemplateResponse": {
            "Subject": "Hi {{User.UserAttributes.FirstName}}",
            "HtmlPart": "<p>{{#if Attributes.Plan}}Plan: {{Attributes.Plan}}{{/if}} {{eq a b}}</p>",
            "DefaultSubstitutions": '{"User.UserAttributes.FirstName": "friend"}',
        }
    }
    response = world.h.client.http.post(
        "/admin/imports/pinpoint-template",
        body=json.dumps(document),
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.body
    result = json.loads(response.body)
    assert result["template"]["subject"] == 'Hi {{ traits.FirstName | default("friend") }}'
    assert result["template"]["html"].startswith("<p>{% if traits.Plan %}Plan: {{ traits.Plan }}{% endif %}")
    assert result["problems"] == ["html: helper {{eq a b}} has no equivalent"]
    bad = world.h.client.http.post(
        "/admin/imports/pinpoint-template", body="[", headers={**AUTH, "Content-Type": "application/json"}
    )
    assert bad.status_code == 400


def test_an_import_whose_file_is_deleted_after_it_started_ends_failed_with_the_reason(world: World) -> None:
    from chalicelib.bootstrap import get_import_service
    from chalicelib.shared.aws import client
    from chalicelib.shared.settings import resource_name

    # GIVEN an accepted upload whose file is deleted before its worker reads it
    response = upload(world, "people", (DATA / "people.csv").read_bytes())
    import_id = json.loads(response.body)["import_id"]
    job = get_import_service().status(import_id)
    assert job is not None
    client("s3").delete_object(Bucket=resource_name("ImportBucket"), Key=job.key)

    # WHEN the worker runs
    world.drain()

    # THEN the import is failed, says why, and nothing was imported
    report = status(world, import_id)
    assert report["status"] == "failed" and report["finished_at"]
    assert report["error"]["error"] == "file_gone" and job.key in report["error"]["message"]
    assert report["rows_accepted"] == 0


def test_a_gzip_file_corrupt_in_the_middle_ends_failed_with_the_reason(world: World) -> None:
    import random

    # GIVEN a gzip file damaged past the first megabyte it reads at the start (wide rows of incompressible text)
    rng = random.Random(7)
    rows = [f"gz-{n},gz{n}@example.com,{rng.randbytes(16_000).hex()}" for n in range(80)]
    packed = bytearray(gzip.compress(("user_id,email,note\n" + "\n".join(rows) + "\n").encode()))
    assert len(packed) > 1_300_000
    for offset in range(len(packed) - 4000, len(packed) - 3000):
        packed[offset] ^= 0x5A
    response = upload(world, "people", bytes(packed), fmt="csv.gz")
    assert response.status_code == 202, response.body

    world.drain()

    # THEN it ends failed with the reason (not retried for ever, not "running" for ever)
    report = status(world, json.loads(response.body)["import_id"])
    assert report["status"] == "failed" and report["error"]["error"] == "corrupt_file", report
    assert "decompressed" in report["error"]["message"] and report["finished_at"]


def test_a_gzip_file_corrupt_from_the_start_is_refused_with_400(world: World) -> None:
    packed = bytearray(gzip.compress(b"user_id,email\nu-9,u9@example.com\n"))
    packed[-6] ^= 0xFF  # the CRC
    response = upload(world, "people", bytes(packed), fmt="csv.gz")
    assert response.status_code == 400 and json.loads(response.body)["error"] == "corrupt_file", response.body


def test_an_import_step_failing_on_its_last_delivery_marks_the_import_failed(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.bootstrap import get_import_service

    # GIVEN a step that keeps failing (an outage that outlasts the queue's retries)
    response = upload(world, "people", (DATA / "people.csv").read_bytes())
    import_id = json.loads(response.body)["import_id"]

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("storage down")

    monkeypatch.setattr(get_import_service(), "_rows", broken)
    world.h.pump.drain()  # the queue's redrive policy (maxReceiveCount 5) moves it to the DLQ after the fifth

    # THEN after the last delivery the import says it failed, and why
    world.h.pump.errors.clear()
    report = status(world, import_id)
    assert report["status"] == "failed"
    assert report["error"] == {"error": "step_failed", "message": "a step failed 5 times (RuntimeError)"}
