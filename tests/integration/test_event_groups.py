"""A request's events of one profile are ONE events-table item (issue 19): every guarantee holds for groups.

Dedupe moved from a read before the write to the fold's replay guard (26 hours), so these run the whole path: the API,
the events stream through the pump, the profile, the archive, merges, erasure and the scenario consumer.
"""

from __future__ import annotations

from typing import Any

from tests.integration.conftest import Harness
from tests.integration.scenario_support import (
    World,
    user_in,
    user_profile_id,
    world_fixture,  # noqa: F401 - registers `world`
)

ADMIN = {"Authorization": "Bearer test-admin-token"}


def send(h: Harness, path: str, body: dict[str, Any]) -> None:
    response = h.post(path, body)
    assert response.status_code == 200, response.body


def viewed(message_id: str, product_id: str = "p1", **ids: str) -> dict[str, Any]:
    message = {"type": "track", "event": "Product Viewed", "messageId": message_id}
    return {**message, "properties": {"product_id": product_id}, **(ids or {"anonymousId": "grp-1"})}


def items() -> list[dict[str, Any]]:
    from chalicelib.shared.aws import client
    from chalicelib.shared.settings import table_name

    return client("dynamodb").scan(TableName=table_name("EventsTable"))["Items"]


def profile(h: Harness, **query: str) -> dict[str, Any]:
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    response = h.admin(f"/admin/profiles?{qs}")
    assert response.status_code == 200, response.body
    return h.json(response)


def archived_lines() -> list[dict[str, Any]]:
    from chalicelib.shared.aws import client
    from chalicelib.shared.settings import resource_name
    from chalicelib.tracking.archive import decode

    s3, bucket = client("s3"), resource_name("ArchiveBucket")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return [line for key in keys for line in decode(s3.get_object(Bucket=bucket, Key=key)["Body"].read())]


def archived_keys() -> list[str]:
    return [line["key"] for line in archived_lines()]


def test_a_browser_batch_of_one_visitor_is_one_item_folded_whole(harness: Harness) -> None:
    # WHEN one visitor's SDK sends 20 events in one batch
    send(harness, "/v1/batch", {"batch": [viewed(f"b{i}", f"p{i % 4}") for i in range(20)]})
    # THEN the table holds one item for them, and the fold counts all 20
    [item] = items()
    assert item["n"]["N"] == "20"
    harness.pump.drain()
    view = profile(harness, anonymous_id="grp-1")
    assert view["profile"]["computed"]["event_counts"] == {"Product Viewed": 20}
    assert len(view["recent_events"]) == 20


def test_a_server_batch_of_20_users_is_20_items(harness: Harness) -> None:
    send(harness, "/v1/batch", {"batch": [viewed(f"s{i}", userId=f"srv-{i}") for i in range(20)]})
    assert len(items()) == 20
    harness.pump.drain()
    assert all(
        profile(harness, user_id=f"srv-{i}")["profile"]["computed"]["event_counts"] == {"Product Viewed": 1}
        for i in range(20)
    )


def test_a_retried_batch_rewrites_its_item_and_counts_nothing_twice(harness: Harness) -> None:
    batch = {"batch": [viewed(f"r{i}") for i in range(5)]}
    send(harness, "/v1/batch", batch)
    harness.pump.drain()
    send(harness, "/v1/batch", batch)  # the SDK never saw the answer and sends it again
    harness.pump.drain()
    assert len(items()) == 1
    assert profile(harness, anonymous_id="grp-1")["profile"]["computed"]["event_counts"] == {"Product Viewed": 5}
    assert sorted(k for k in archived_keys() if k.startswith("web#r")) == [f"web#r{i}" for i in range(5)]


def test_a_message_id_in_two_different_batches_is_counted_listed_and_archived_once(harness: Harness) -> None:
    # GIVEN m2 sent in one batch, then again beside a new event (an SDK re-batching after a timeout)
    send(harness, "/v1/batch", {"batch": [viewed("m1"), viewed("m2")]})
    harness.pump.drain()
    send(harness, "/v1/batch", {"batch": [viewed("m2"), viewed("m3")]})
    harness.pump.drain()
    # THEN two items hold m2, but the profile applied it once (its replay guard), the history and the export list it
    # once, and the archive's readers take each key once
    assert len(items()) == 2
    view = profile(harness, anonymous_id="grp-1")
    assert view["profile"]["computed"]["event_counts"] == {"Product Viewed": 3}
    assert sorted(e["message_id"] for e in view["recent_events"]) == ["m1", "m2", "m3"]
    export = harness.json(harness.admin(f"/admin/profiles/{view['profile_id']}/export"))
    assert sorted(e["message_id"] for e in export["events"]) == ["m1", "m2", "m3"]
    # (the days from the profile, where the fold marked them: no StateTable day list for a folded visitor)
    assert sorted(line["key"] for line in export["archived_events"]) == ["web#m1", "web#m2", "web#m3"]


def test_a_merge_repoints_batched_history_whole(harness: Harness) -> None:
    # GIVEN an anonymous visitor's batch, folded, then their sign-up on the same device
    send(harness, "/v1/batch", {"batch": [viewed(f"a{i}", anonymousId="grp-merge") for i in range(4)]})
    harness.pump.drain()
    anon_profile = profile(harness, anonymous_id="grp-merge")["profile_id"]
    send(harness, "/v1/identify", {"anonymousId": "grp-merge", "userId": "grp-user"})
    harness.pump.drain()
    # THEN the group item stays where it was written (nothing moved), and the winner's history holds the batch once
    winner = profile(harness, user_id="grp-user")
    assert winner["profile_id"] != anon_profile
    [group] = [i for i in items() if "n" in i]
    assert group["profile_id"]["S"] == anon_profile and "moved_from" not in group
    viewed_ids = sorted(e["message_id"] for e in winner["recent_events"] if e.get("event") == "Product Viewed")
    assert viewed_ids == ["a0", "a1", "a2", "a3"]
    [audit] = [e for e in winner["recent_events"] if e.get("event") == "Profiles Merged"]
    assert audit["properties"]["loser_profile_id"] == anon_profile
    assert winner["profile"]["computed"]["event_counts"]["Product Viewed"] == 4


def test_erasure_deletes_a_persons_groups_after_an_export_that_lists_them(harness: Harness) -> None:
    send(harness, "/v1/batch", {"batch": [viewed(f"e{i}", userId="grp-erase") for i in range(3)]})
    send(harness, "/v1/batch", {"batch": [viewed("x1", userId="grp-bystander"), viewed("x2", userId="grp-bystander")]})
    harness.pump.drain()
    profile_id = profile(harness, user_id="grp-erase")["profile_id"]
    export = harness.json(harness.admin(f"/admin/profiles/{profile_id}/export"))
    assert sorted(e["message_id"] for e in export["events"]) == ["e0", "e1", "e2"]
    response = harness.client.http.delete(f"/admin/profiles/{profile_id}", headers=ADMIN)
    assert response.status_code == 200, response.body
    assert harness.json(response)["deleted"]["events"] == 3  # events, not items
    harness.pump.drain()
    # THEN only the bystander's group is left
    [left] = items()
    assert left["profile_id"]["S"] == profile(harness, user_id="grp-bystander")["profile_id"]


def test_a_group_whose_archive_write_failed_is_refilled_from_the_events_table(harness: Harness, monkeypatch) -> None:
    from chalicelib.tracking.adapters.s3_archive import S3EventArchive

    real_put = S3EventArchive.put

    def refused(self: S3EventArchive, key: str, body: bytes) -> None:
        raise RuntimeError("S3 is down")

    monkeypatch.setattr(S3EventArchive, "put", refused)
    send(harness, "/v1/batch", {"batch": [viewed(f"f{i}", userId="grp-refill") for i in range(3)]})
    harness.pump.drain()
    assert archived_keys() == []
    monkeypatch.setattr(S3EventArchive, "put", real_put)
    response = harness.client.http.post("/admin/archive/refills", headers=ADMIN)
    assert response.status_code == 200, response.body
    assert harness.json(response) == {"batches": 1, "events": 3, "missing": 0}
    assert sorted(archived_keys()) == ["web#f0", "web#f1", "web#f2"]


def test_daily_counts_count_the_events_of_a_group_by_type(world: World) -> None:
    batch = [viewed("d1", userId="grp-day"), viewed("d2", userId="grp-day")]
    batch.append({"type": "page", "userId": "grp-day", "messageId": "d3", "name": "Home"})
    world.send("/v1/batch", {"batch": batch})
    world.drain()
    day = world.clock.now().date().isoformat()
    response = world.h.admin(f"/admin/reports/daily?from={day}&to={day}")
    [row] = [d for d in world.h.json(response)["days"] if d["day"] == day]
    assert row["events"] == 3 and row["events_by_type"] == {"page": 1, "track": 2}


def test_a_trigger_fires_once_for_an_event_sent_in_two_batches(world: World) -> None:
    # GIVEN a subscribed visitor WHEN they sign up in a batch, and the SDK re-sends the sign-up in a later batch
    user = user_in("welcome_series", 0, holdout=False)
    world.customer(user, email_address="grp@example.com", first_name="Sora")
    signed_up = {"type": "track", "userId": user, "event": "Signed Up", "messageId": "su-1"}
    page = {"type": "page", "userId": user, "name": "Home", "messageId": "pg-1"}
    world.send("/v1/batch", {"batch": [signed_up, page]})
    world.drain()
    world.send("/v1/batch", {"batch": [signed_up, {**page, "messageId": "pg-2"}]})
    world.drain()
    # THEN the welcome email left once (the trigger read the event back from its group item)
    [sent] = world.outbox()
    assert sent["subject"] == "Welcome, Sora!"
    assert len(world.runs(user_profile_id(user))) == 1


def test_an_anonymous_group_folded_after_its_device_was_linked_joins_the_person(harness: Harness) -> None:
    from chalicelib.shared.aws import client

    # GIVEN a known person, and in one fold batch: their sign-in on a new device, then that device's earlier batch
    # (resolved at ingest to the device's own anonymous profile: the link was not folded yet)
    send(harness, "/v1/identify", {"userId": "grp-known", "traits": {"email": "known@example.com"}})
    harness.pump.drain()
    calls: list[str] = []
    ddb = client("dynamodb")
    ddb.meta.events.register("before-call.dynamodb.GetItem", lambda model, **_: calls.append(model.name))
    send(harness, "/v1/identify", {"anonymousId": "grp-device", "userId": "grp-known"})
    send(harness, "/v1/batch", {"batch": [viewed(f"d{i}", anonymousId="grp-device") for i in range(3)]})
    harness.pump.drain()
    # THEN the fold defers the group to the person: their profile counts it, and the group item names them
    known = profile(harness, user_id="grp-known")
    assert known["profile"]["computed"]["event_counts"]["Product Viewed"] == 3
    [group] = [i for i in items() if "n" in i]
    assert group["profile_id"]["S"] == known["profile_id"] and group["n"]["N"] == "3"
    assert "GetItem" in calls  # the group was read back to be rewritten whole
    assert sorted(e["message_id"] for e in known["recent_events"] if e.get("event") == "Product Viewed") == [
        "d0",
        "d1",
        "d2",
    ]


def archived_profiles() -> set[str]:
    return {line["profile_id"] for line in archived_lines()}


def test_erasing_a_person_removes_the_archived_lines_of_a_device_group_deferred_to_them(harness: Harness) -> None:
    from chalicelib.tracking.identity import profile_id_for

    # GIVEN a device's batch deferred to a known person before the device's own profile was ever written: its lines
    # are archived under the device's derived profile id, which no merge lists
    send(harness, "/v1/identify", {"userId": "grp-erase", "traits": {"email": "erase@example.com"}})
    harness.pump.drain()
    send(harness, "/v1/identify", {"anonymousId": "grp-erase-device", "userId": "grp-erase"})
    send(harness, "/v1/batch", {"batch": [viewed(f"e{i}", anonymousId="grp-erase-device") for i in range(3)]})
    harness.pump.drain()
    known = profile(harness, user_id="grp-erase")
    device = profile_id_for("anon", "grp-erase-device")
    assert device not in known["profile"].get("merged_from", [])
    assert {known["profile_id"], device} <= archived_profiles()
    # WHEN the person is erased
    assert harness.client.http.delete(f"/admin/profiles/{known['profile_id']}", headers=ADMIN).status_code == 200
    harness.pump.drain()
    # THEN none of their archived lines is left, the device's included
    assert not {known["profile_id"], device} & archived_profiles()


def test_a_group_in_flight_during_an_erasure_is_deleted_by_the_fold_and_never_archived(harness: Harness) -> None:
    from datetime import UTC, datetime

    from chalicelib.bootstrap import get_event_store
    from chalicelib.tracking.events import TrackedEvent

    send(harness, "/v1/identify", {"userId": "grp-gone", "traits": {"email": "gone@example.com"}})
    harness.pump.drain()
    profile_id = profile(harness, user_id="grp-gone")["profile_id"]
    assert harness.client.http.delete(f"/admin/profiles/{profile_id}", headers=ADMIN).status_code == 200
    # GIVEN a batch the API resolved to the person just before their erasure, stored just after it
    now = datetime.now(UTC)
    late = [
        TrackedEvent(
            message_id=f"late{i}",
            source_id="web",
            type="track",
            profile_id=profile_id,
            timestamp=now,
            received_at=now,
            user_id="grp-gone",
            event="Product Viewed",
        )
        for i in range(3)
    ]
    get_event_store().put_batch(late)
    assert [i["n"]["N"] for i in items() if i["profile_id"]["S"] == profile_id] == ["3"]
    # WHEN the stream is folded THEN the fold deletes the group (the tombstone stops it) and the archive leaves it out
    harness.pump.drain()
    assert [i for i in items() if i["profile_id"]["S"] == profile_id] == []
    assert not any(k.startswith("web#late") for k in archived_keys())
    assert harness.admin(f"/admin/profiles/{profile_id}").status_code == 404


def test_a_merge_leaves_items_in_place_and_every_reader_counts_them_once(world: World) -> None:
    # GIVEN an anonymous visitor's batch and a lone event, folded, archived and counted
    world.send("/v1/batch", {"batch": [viewed(f"mv{i}", anonymousId="grp-move") for i in range(3)]})
    world.send("/v1/track", viewed("mv-single", anonymousId="grp-move"))
    world.drain()
    anon_profile = profile(world.h, anonymous_id="grp-move")["profile_id"]
    before = {(i["profile_id"]["S"], i["ts_key"]["S"]) for i in items()}
    # WHEN they sign up on that device (the anonymous profile merges into the person's)
    world.send("/v1/identify", {"anonymousId": "grp-move", "userId": "grp-mover"})
    world.drain()
    world.drain()
    # THEN the anonymous profile's items stay where they were: nothing is copied or moved
    winner = profile(world.h, user_id="grp-mover")
    assert not [i for i in items() if "moved_from" in i]
    assert before <= {(i["profile_id"]["S"], i["ts_key"]["S"]) for i in items()}
    assert len([i for i in items() if i["profile_id"]["S"] == anon_profile]) == 2  # the group and the lone event
    # AND the fold applied each event once, the archive holds each key once and the daily counts count each once
    assert winner["profile"]["computed"]["event_counts"]["Product Viewed"] == 4
    keys = archived_keys()
    assert sorted(k for k in keys if k.startswith("web#mv")) == ["web#mv-single", "web#mv0", "web#mv1", "web#mv2"]
    assert len(keys) == len(set(keys))
    day = world.clock.now().date().isoformat()
    [row] = [
        d for d in world.h.json(world.h.admin(f"/admin/reports/daily?from={day}&to={day}"))["days"] if d["day"] == day
    ]
    assert row["events"] == len(keys)  # every new event once: the moved copies are not new
    # AND the winner's history lists them once
    viewed_ids = sorted(e["message_id"] for e in winner["recent_events"] if e.get("event") == "Product Viewed")
    assert viewed_ids == ["mv-single", "mv0", "mv1", "mv2"]


def test_an_add_to_cart_in_the_same_batch_as_the_sign_in_starts_its_scenario(world: World) -> None:
    """The merge happens before the scenarios reader gets to the anonymous version: the events it applied are read
    all the same (a merge leaves them in place; items a deferral moved are read where they went)."""
    # GIVEN a subscribed customer
    world.customer("cart-mover", email_address="mover@example.com")
    world.drain()
    # WHEN, on a new device, they add to cart anonymously and sign in, in one batch
    world.send(
        "/v1/batch",
        {
            "batch": [
                {
                    "type": "track",
                    "event": "Product Added",
                    "messageId": "mover-add",
                    "anonymousId": "dev-mover",
                    "properties": {"product_id": "sku-1", "name": "Linen Shirt", "price": 49, "quantity": 1},
                },
                {"type": "identify", "messageId": "mover-in", "anonymousId": "dev-mover", "userId": "cart-mover"},
            ]
        },
    )
    world.drain()
    world.drain()
    # THEN the anonymous profile was merged away...
    winner = user_profile_id("cart-mover")
    assert profile(world.h, anonymous_id="dev-mover")["profile_id"] == winner
    # ...and the add to cart started the cart-abandonment scenario all the same (on the profile that folded it, as
    # when the reader gets there before the merge)
    from chalicelib.bootstrap import get_run_store
    from chalicelib.tracking.identity import profile_id_for

    anon = profile_id_for("anon", "dev-mover")
    runs = [r for pid in (winner, anon) for r in get_run_store().for_profile(pid)]
    assert [r.scenario_id for r in runs if r.scenario_id == "cart_abandonment"] == ["cart_abandonment"]
