"""The archived-days bitmap a profile keeps for erasure: days marked stay marked, in any order, compactly."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.profiles import archived_days

_DAYS = st.dates(min_value=date(2020, 1, 1), max_value=date(2032, 12, 31))


def test_marked_days_read_back_oldest_first_and_others_are_absent() -> None:
    bitmap = archived_days.mark(b"", ["2026-11-30", "2026-10-01"])
    bitmap = archived_days.mark(bitmap, ["2026-09-03"])  # earlier than the first block: prepended
    assert archived_days.days(bitmap) == ["2026-09-03", "2026-10-01", "2026-11-30"]
    assert archived_days.has(bitmap, "2026-10-01") and not archived_days.has(bitmap, "2026-10-02")
    assert not archived_days.has(bitmap, "2020-01-01") and not archived_days.has(bitmap, "2030-01-01")


def test_a_year_of_daily_visits_takes_under_fifty_bytes_and_a_marked_day_changes_nothing() -> None:
    from datetime import timedelta

    days = [(date(2026, 1, 1) + timedelta(n)).isoformat() for n in range(365)]
    bitmap = archived_days.mark(b"", days)
    assert len(bitmap) <= 50
    assert archived_days.mark(bitmap, ["2026-06-01"]) is bitmap
    assert len(archived_days.mark(b"", ["2026-06-01"])) == 3


def test_a_day_the_bitmap_cannot_hold_is_left_unmarked() -> None:
    bitmap = archived_days.mark(b"", ["2026-06-01"])
    far = archived_days.mark(bitmap, ["2200-01-01", "1969-12-31", "not a day"])
    assert far is bitmap and not archived_days.has(far, "2200-01-01")
    # past MAX_BYTES of span: left to the StateTable day list (the fold does not report it covered)
    assert not archived_days.has(archived_days.mark(bitmap, ["2126-06-01"]), "2126-06-01")


@given(st.lists(_DAYS, max_size=40), st.lists(_DAYS, max_size=40))
def test_marking_in_any_order_and_in_pieces_gives_the_same_days(first: list[date], second: list[date]) -> None:
    texts = [d.isoformat() for d in first + second]
    whole = archived_days.mark(b"", texts)
    pieces = archived_days.mark(
        archived_days.mark(b"", [d.isoformat() for d in second]), [d.isoformat() for d in first]
    )
    assert archived_days.days(whole) == archived_days.days(pieces) == sorted(set(texts))
    assert all(archived_days.has(pieces, day) for day in texts)


def test_the_day_number_of_an_instant_is_the_archive_day_of_its_utc_time() -> None:
    from datetime import UTC, datetime, timedelta

    from chalicelib.profiles.archived_days import day_number, day_of_number, has_number, mark_numbers
    from chalicelib.tracking.events import iso

    midnight = datetime(2026, 12, 5, tzinfo=UTC)
    for instant in (midnight - timedelta(microseconds=1), midnight, midnight + timedelta(hours=23, minutes=59)):
        assert day_of_number(day_number(instant.timestamp())) == iso(instant)[:10]
    bitmap = mark_numbers(b"", [day_number(midnight.timestamp())])
    assert has_number(bitmap, day_number(midnight.timestamp()))
    assert not has_number(bitmap, day_number((midnight - timedelta(seconds=1)).timestamp()))
