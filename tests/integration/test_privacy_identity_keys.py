"""Erasure finds a person's identity records through the keys their profiles list (no index by profile): every email
they ever had, the keys a merge moved to them, and, for a profile written before the list, through a Scan."""

from __future__ import annotations

from typing import Any

import msgspec

from tests.integration.conftest import Harness

EMAILS = ("first.ik@example.com", "second.ik@example.com", "third.ik@example.com")


def send(h: Harness, path: str, body: dict[str, Any]) -> None:
    assert h.post(path, body).status_code == 200


def delete(h: Harness, path: str) -> Any:
    return h.client.http.delete(path, headers={"Authorization": "Bearer test-admin-token"})


def identity_records() -> dict[str, str]:
    from chalicelib.shared.aws import client
    from chalicelib.shared.settings import table_name

    items = client("dynamodb").scan(TableName=table_name("IdentitiesTable"))["Items"]
    return {item["key"]["S"]: item["profile_id"]["S"] for item in items}


def person_whose_email_changed_twice(h: Harness, user: str = "ik-user", anon: str = "ik-anon") -> str:
    """An anonymous visitor who logs in (their anonymous profile is merged into the user's), then changes their email
    twice: three email records point at them, the body names only the last."""
    send(h, "/v1/page", {"anonymousId": anon, "name": "Home"})
    h.pump.drain()
    send(h, "/v1/track", {"userId": user, "event": "Signed Up"})
    h.pump.drain()
    send(h, "/v1/identify", {"anonymousId": anon, "userId": user, "traits": {"email": EMAILS[0]}})
    h.pump.drain()
    for email in EMAILS[1:]:
        send(h, "/v1/identify", {"userId": user, "traits": {"email": email}})
        h.pump.drain()
    view = h.json(h.admin(f"/admin/profiles?user_id={user}"))
    assert view["profile"]["email"] == EMAILS[2] and view["profile"]["merged_from"]
    assert {f"email:{e}" for e in EMAILS} | {f"user:{user}", f"anon:{anon}"} <= set(view["identities"])
    return str(view["profile_id"])


def as_legacy(profile_ids: list[str]) -> None:
    """Rewrite these profiles as a writer before the list stored them: the same body without the two fields."""
    from chalicelib.profiles import codec
    from chalicelib.shared.aws import client
    from chalicelib.shared.settings import table_name

    ddb, table = client("dynamodb"), table_name("ProfilesTable")
    for pid in profile_ids:
        item = ddb.get_item(TableName=table, Key={"profile_id": {"S": pid}})["Item"]
        body = msgspec.msgpack.decode(codec.body_bytes(item))
        assert body.pop("identity_keys") is not None and body.pop("identity_keys_complete") is True
        item["body"] = {"B": codec.compress_body(msgspec.msgpack.encode(body))}
        ddb.put_item(TableName=table, Item=item)
        legacy = codec.read_item(item)
        assert (legacy.identity_keys, legacy.identity_keys_complete) == ([], False)


def assert_erased_completely(h: Harness, profile_id: str, user: str, anon: str, reads: list[str] | None = None) -> None:
    """Export and erase; `reads`: the DynamoDB reads recorded, which must then hold no Scan."""
    from chalicelib.bootstrap import get_identity_store

    export = h.json(h.admin(f"/admin/profiles/{profile_id}/export"))
    person = set(export["profiles"])
    assert {f"email:{e}" for e in EMAILS} <= set(export["identities"])
    response = delete(h, f"/admin/profiles/{profile_id}")
    assert response.status_code == 200
    assert reads is None or "Scan" not in reads
    assert not [k for k, owner in identity_records().items() if owner in person]
    # tombstones as before: every userId and email of theirs resolves to `erased`, none is found by its raw key
    keys = [f"user:{user}", *(f"email:{e}" for e in EMAILS)]
    assert get_identity_store().lookup(keys) == dict.fromkeys(keys, "erased")
    assert not set(identity_records()) & {*keys, f"anon:{anon}"}


def test_a_person_whose_email_changed_twice_and_who_was_merged_is_erased_completely(harness: Harness) -> None:
    profile_id = person_whose_email_changed_twice(harness)
    assert_erased_completely(harness, profile_id, "ik-user", "ik-anon")


def test_a_profile_written_before_the_list_is_erased_completely_through_a_scan(harness: Harness) -> None:
    profile_id = person_whose_email_changed_twice(harness)
    merged = harness.json(harness.admin(f"/admin/profiles/{profile_id}"))["profile"]["merged_from"]
    as_legacy([profile_id, *merged])
    # the legacy body names only the last email: the two before it are found by the Scan alone
    assert_erased_completely(harness, profile_id, "ik-user", "ik-anon")


def test_a_listed_key_whose_link_lost_its_race_is_not_erased_with_the_person(harness: Harness) -> None:
    from chalicelib.shared.aws import client
    from chalicelib.shared.settings import table_name

    profile_id = person_whose_email_changed_twice(harness)
    send(harness, "/v1/track", {"userId": "someone-else", "event": "Signed Up"})
    harness.pump.drain()
    other = harness.json(harness.admin("/admin/profiles?user_id=someone-else"))["profile_id"]
    # The person's profile lists (and its body names) the last email, but another profile won that record's race.
    key = f"email:{EMAILS[2]}"
    client("dynamodb").put_item(
        TableName=table_name("IdentitiesTable"), Item={"key": {"S": key}, "profile_id": {"S": other}}
    )
    assert key not in harness.json(harness.admin(f"/admin/profiles/{profile_id}"))["identities"]
    assert key not in harness.json(harness.admin(f"/admin/profiles/{profile_id}/export"))["identities"]
    assert delete(harness, f"/admin/profiles/{profile_id}").status_code == 200
    assert identity_records()[key] == other


def test_the_one_off_job_lists_the_keys_of_legacy_profiles_so_erasure_needs_no_scan(
    harness: Harness, reads: list[str]
) -> None:
    from local.list_identity_keys import run

    profile_id = person_whose_email_changed_twice(harness)
    merged = harness.json(harness.admin(f"/admin/profiles/{profile_id}"))["profile"]["merged_from"]
    as_legacy([profile_id, *merged])
    send(harness, "/v1/page", {"anonymousId": "ik-bystander", "name": "Home"})  # a complete profile: left as is
    harness.pump.drain()
    first = run()
    assert (first.profiles_listed, first.lost_races) == (1 + len(merged), 0)
    winner = stored(profile_id)
    assert winner.identity_keys_complete and {f"email:{e}" for e in EMAILS} <= set(winner.identity_keys)
    again = run()  # idempotent: nothing left to list, nothing written
    assert again.profiles_listed == 0 and stored(profile_id).identity_keys == winner.identity_keys
    reads.clear()
    assert_erased_completely(harness, profile_id, "ik-user", "ik-anon", reads)


def stored(profile_id: str) -> Any:
    from chalicelib.bootstrap import get_profile_store

    found = get_profile_store().get(profile_id)
    assert found is not None
    return found.profile()
