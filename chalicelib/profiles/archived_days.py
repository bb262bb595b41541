"""The days a person has events archived on, kept in their profile (`Profile.archived_days`) so the fold that writes
the profile anyway records them, instead of one StateTable item per new (person, day) pair (tracking/archive.py).
Erasure and the access export read them to know which day partitions of the archive to open.

A bitmap: two bytes (big-endian) naming the first block of 8 days it covers, counted from 1970-01-01, then one byte
per block, bit `j` of a byte being that block's day `j`. A block base keeps an earlier day a byte prepend, not a shift;
a year of daily visits is 48 bytes. A day the bitmap cannot hold (before 1970, past the two-byte range, or stretching
it past `MAX_BYTES`: a far-off clamped timestamp) is left out: the fold reports only the days it marked as covered, so
the archive keeps listing the others in the StateTable.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

_EPOCH = date(1970, 1, 1).toordinal()
_MAX_BLOCK = 0xFFFF
MAX_BYTES = 1024  # ~22 years of days, past which a day stays in the StateTable list


def _day_number(day: str) -> int | None:
    try:
        number = date.fromisoformat(day[:10]).toordinal() - _EPOCH
    except ValueError:
        return None
    return number if number >= 0 and number // 8 <= _MAX_BLOCK else None


def day_number(epoch_seconds: float) -> int:
    """The day number (days since 1970-01-01, UTC) of an instant: the day the archive files an event under (its UTC
    ISO time's date), without formatting the time (the fold marks every event it applies)."""
    return int(epoch_seconds // 86400)


def day_of_number(number: int) -> str:
    return date.fromordinal(_EPOCH + number).isoformat()


def mark(bitmap: bytes, days: Iterable[str]) -> bytes:
    """`bitmap` with `days` (`YYYY-MM-DD`) set; the same object when nothing changes."""
    return mark_numbers(bitmap, (n for n in map(_day_number, days) if n is not None))


def mark_numbers(bitmap: bytes, day_numbers: Iterable[int]) -> bytes:
    """`bitmap` with these day numbers (`day_number`) set; the same object when nothing changes. A number the bitmap
    cannot hold (before 1970 or past its two-byte block range) is left out."""
    numbers = sorted({n for n in day_numbers if n >= 0 and n // 8 <= _MAX_BLOCK})
    if not numbers:
        return bitmap
    if bitmap:
        base, bits = int.from_bytes(bitmap[:2], "big"), bytearray(bitmap[2:])
    else:
        base, bits = numbers[0] // 8, bytearray()
    changed = False
    for number in numbers:
        block = number // 8
        if block < base:
            if len(bits) + base - block > MAX_BYTES:
                continue
            bits[0:0] = bytes(base - block)
            base = block
        index = block - base
        if index >= len(bits):
            if index >= MAX_BYTES:
                continue
            bits.extend(bytes(index + 1 - len(bits)))
        bit = 1 << (number % 8)
        if not bits[index] & bit:
            bits[index] |= bit
            changed = True
    return base.to_bytes(2, "big") + bytes(bits) if changed else bitmap


def has(bitmap: bytes, day: str) -> bool:
    number = _day_number(day)
    return number is not None and has_number(bitmap, number)


def has_number(bitmap: bytes, number: int) -> bool:
    if len(bitmap) < 3:
        return False
    index = number // 8 - int.from_bytes(bitmap[:2], "big")
    return 0 <= index < len(bitmap) - 2 and bool(bitmap[2 + index] & (1 << (number % 8)))


def days(bitmap: bytes) -> list[str]:
    """The marked days, oldest first."""
    if len(bitmap) < 3:
        return []
    base = int.from_bytes(bitmap[:2], "big")
    return [
        date.fromordinal(_EPOCH + (base + index) * 8 + bit).isoformat()
        for index, byte in enumerate(bitmap[2:])
        if byte
        for bit in range(8)
        if byte & (1 << bit)
    ]
