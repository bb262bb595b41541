"""Which ids a bad row holds (`identity.person_refs`), so erasure can find it by the person's keys."""

from __future__ import annotations

import json

from chalicelib.tracking.identity import person_refs


def test_ids_are_found_in_messages_stored_events_and_stream_records() -> None:
    message = {"userId": "u1", "anonymousId": "a1", "traits": {"email": "A@B.example"}, "context": {}}
    assert person_refs(message) == {"user:u1", "anon:a1", "email:a@b.example"}
    stored = json.dumps({"user_id": "u2", "profile_id": "p_abc", "properties": {"email": "c@d.example"}})
    assert person_refs(stored) == {"user:u2", "profile:p_abc", "email:c@d.example"}
    record = {"dynamodb": {"NewImage": {"profile_id": {"S": "p_x"}, "body": {"S": json.dumps({"anonymous_id": "a9"})}}}}
    assert person_refs(record) == {"profile:p_x", "anon:a9"}


def test_junk_ids_and_hostile_nesting_find_nothing_and_never_raise() -> None:
    assert person_refs({"userId": "null", "anonymousId": "undefined", "email": "not an address"}) == set()
    assert person_refs("{" + '"a":{' * 5000 + "}" * 5001) == set()
    deep: dict = {}
    node = deep
    for _ in range(3000):
        node["n"] = {}
        node = node["n"]
    node["userId"] = "too-deep"
    assert person_refs(deep) == set()
