"""The engagement-hour histogram the fold keeps for send-time optimisation: human opens and clicks by local hour."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from chalicelib.profiles import engagement_hours as hours
from chalicelib.profiles.codec import body_dict, decoded, read_item, to_item
from chalicelib.profiles.fold import fold
from chalicelib.profiles.merge import merge_profiles
from chalicelib.profiles.model import EngagementHours
from tests.unit.profiles.support import NOW, PROFILE_ID, config, make_event, page

BERLIN = "Europe/Berlin"


def opened(when: datetime, name: str = "Email Opened", **kwargs) -> object:
    return make_event(event=name, when=when, properties={"message_id": "m1"}, **kwargs)


def in_zone(zone: str, when: datetime):
    """A page view whose browser reports `zone` (how the fold learns a person's time zone)."""
    return page(when, context={"timezone": zone})


def folded(events, profile=None, now=NOW):
    return fold(profile, PROFILE_ID, events, config(), now)


def weights(profile, channel="email") -> list[float]:
    return [round(w, 6) for w in profile.engagement_hours[channel].hours]


def test_human_opens_and_clicks_count_by_local_hour_and_machine_ones_do_not():
    # GIVEN a person in Berlin (UTC+1 in November)
    events = [
        in_zone(BERLIN, NOW - timedelta(days=1)),
        opened(datetime(2026, 11, 23, 7, 30, tzinfo=UTC)),  # 08:30 local
        opened(datetime(2026, 11, 23, 7, 40, tzinfo=UTC), name="Email Link Clicked"),  # 08:40 local
        opened(datetime(2026, 11, 23, 2, 0, tzinfo=UTC), name="Email Opened (Machine)"),
        opened(datetime(2026, 11, 23, 2, 5, tzinfo=UTC), name="Email Link Clicked (Machine)"),
    ]
    profile = folded(events).profile
    histogram = profile.engagement_hours["email"]
    assert histogram.zone == BERLIN
    assert weights(profile)[8] == 2.0
    assert sum(histogram.hours) == 2.0  # the scanner's opens and clicks at 03:00 local count for nothing
    assert "sms" not in profile.engagement_hours


def test_the_same_local_habit_across_a_dst_change_stays_in_one_bucket():
    # GIVEN opens at 08:15 Berlin time, once in summer (UTC+2) and once in winter (UTC+1)
    events = [
        in_zone(BERLIN, datetime(2026, 7, 1, tzinfo=UTC)),
        opened(datetime(2026, 7, 2, 6, 15, tzinfo=UTC)),
        opened(datetime(2026, 11, 20, 7, 15, tzinfo=UTC)),
    ]
    histogram = folded(events).profile.engagement_hours["email"]
    # THEN both are hour 8 (a UTC histogram would have split them over 6 and 7)
    assert [h for h, w in enumerate(histogram.hours) if w > 0] == [8]


def test_without_a_known_zone_hours_are_utc_and_become_local_once_the_zone_is_known():
    first = folded([opened(datetime(2026, 11, 23, 7, 30, tzinfo=UTC))]).profile
    assert first.engagement_hours["email"].zone is None
    assert weights(first)[7] == 1.0
    # WHEN the person's browser later tells their zone, and they open again at 08:10 local
    later = folded(
        [in_zone(BERLIN, NOW - timedelta(hours=2)), opened(datetime(2026, 11, 24, 7, 10, tzinfo=UTC))], first
    ).profile
    histogram = later.engagement_hours["email"]
    assert histogram.zone == BERLIN
    assert [h for h, w in enumerate(histogram.hours) if w > 0] == [8]  # the UTC 7 o'clock open moved to 8 local


def test_a_person_who_moves_zone_keeps_their_local_habits():
    berlin = folded([in_zone(BERLIN, NOW - timedelta(days=3)), opened(datetime(2026, 11, 21, 7, 30, tzinfo=UTC))])
    # WHEN they move to New York and open at 08:20 local there
    moved = folded(
        [
            in_zone("America/New_York", NOW - timedelta(days=1)),
            opened(datetime(2026, 11, 23, 13, 20, tzinfo=UTC)),
        ],
        berlin.profile,
    ).profile
    histogram = moved.engagement_hours["email"]
    assert histogram.zone == "America/New_York"
    assert [h for h, w in enumerate(histogram.hours) if w > 0] == [8]


def test_an_identify_timezone_trait_wins_over_the_browser_zone_as_delivery_reads_it():
    events = [
        in_zone(BERLIN, NOW - timedelta(days=2)),
        make_event("identify", None, NOW - timedelta(days=2), traits={"timezone": "Asia/Tokyo"}),
        opened(datetime(2026, 11, 23, 23, 30, tzinfo=UTC)),  # 08:30 in Tokyo
    ]
    histogram = folded(events).profile.engagement_hours["email"]
    assert histogram.zone == "Asia/Tokyo"
    assert histogram.hours[8] == 1.0


def test_old_habits_fade_with_a_sixty_day_half_life():
    events = [
        opened(datetime(2026, 9, 25, 20, 0, tzinfo=UTC)),  # 60 days before the next one: counts half
        opened(datetime(2026, 11, 24, 8, 0, tzinfo=UTC)),
    ]
    profile = folded(events).profile
    assert weights(profile)[20] == 0.5
    assert weights(profile)[8] == 1.0


def test_a_bucket_is_capped():
    events = [opened(datetime(2026, 11, 24, 8, 0, tzinfo=UTC) + timedelta(seconds=i)) for i in range(150)]
    assert folded(events).profile.engagement_hours["email"].hours[8] == hours.MAX_BUCKET_WEIGHT


def test_a_replayed_batch_does_not_count_twice():
    events = [opened(datetime(2026, 11, 23, 7, 30, tzinfo=UTC)), opened(datetime(2026, 11, 24, 9, 0, tzinfo=UTC))]
    first = folded(events)
    again = folded(events, first.profile)
    assert again.changed is False
    assert weights(again.profile) == weights(first.profile)
    assert sum(again.profile.engagement_hours["email"].hours) == pytest.approx(1 + 0.5 ** (1 / 60))  # a day older


def test_arrival_order_does_not_change_the_histogram():
    rng = random.Random(3)
    events = [
        opened(datetime(2026, 8, 1, tzinfo=UTC) + timedelta(days=rng.randrange(110), hours=rng.randrange(24)))
        for _ in range(40)
    ]
    in_order = folded(events).profile
    shuffled = list(events)
    rng.shuffle(shuffled)
    profile = None
    for start in range(0, 40, 7):  # several batches, in a random order
        profile = folded(shuffled[start : start + 7], profile).profile
    assert profile is not None
    assert weights(profile) == pytest.approx(weights(in_order))


def test_an_identity_merge_adds_both_histograms():
    winner = folded([opened(datetime(2026, 11, 24, 8, 0, tzinfo=UTC))]).profile
    loser = fold(None, "p_other", [opened(datetime(2026, 11, 24, 9, 0, tzinfo=UTC))], config(), NOW).profile
    merged = merge_profiles(winner, loser, config(), NOW)
    assert weights(merged)[8] == 1.0
    assert weights(merged)[9] == 1.0


def test_the_section_is_stored_lazily_and_read_back_by_body_readers():
    stored = read_item(to_item(folded([opened(datetime(2026, 11, 24, 8, 0, tzinfo=UTC))]).profile))
    # a fold without opens leaves the section as stored; readers of the document see the histogram
    refolded = folded([page(NOW)], stored).profile
    document = body_dict(to_item(refolded))
    assert document["engagement_hours"]["email"]["hours"][8] == 1.0
    assert decoded(refolded).engagement_hours == {
        "email": EngagementHours(at=document["engagement_hours"]["email"]["at"], hours=[0.0] * 8 + [1.0] + [0.0] * 15)
    }


def test_local_weights_decay_to_now_and_turn_utc_hours_into_the_recipients_local_hours():
    document = {
        "engagement_hours": {
            "email": {"zone": None, "at": NOW.timestamp() - 60 * 86400, "hours": [0.0] * 7 + [2.0] + [0.0] * 16}
        }
    }
    local = hours.local_weights(document, "email", NOW, ZoneInfo(BERLIN))
    assert local[8] == pytest.approx(1.0)  # UTC 7 is 8 in Berlin in November; 60 days halve it
    assert hours.local_weights({}, "email", NOW, ZoneInfo(BERLIN)) == [0.0] * 24
