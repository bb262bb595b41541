"""The stored profile: the DynamoDB item, its compressed MessagePack body, and the sections it leaves undecoded.

Layout of the stored item (`to_item`, DynamoDB low-level form):

| attribute    | type | meaning                                                                      |
|--------------|------|------------------------------------------------------------------------------|
| profile_id   | S    | partition key                                                                |
| version      | N    | optimistic-lock counter; `fold` bumps it by one whenever the profile changed |
| body         | B    | the whole model as MessagePack, LZ4-compressed (see below for older forms)  |
| stage        | S    | lifecycle stage, for stream consumers that filter on it                      |
| due_day      | S    | `YYYY-MM-DD`, key of the sparse GSI `by_due_day`; absent when nothing is due |
| merged_into  | S    | present once the profile was merged into another                             |

The body is compressed because DynamoDB bills a write unit per KB and a read unit per 4 KB: a busy profile's ~11 KB of
MessagePack (~13 KB as JSON) is ~4.7 KB as an LZ4 block (python-lz4's `lz4.block`: a 4-byte little-endian length,
then the block), so a profile write costs 5 units instead of 14 and a read 2 instead of 4. Since 2026-12-05 the block
is compressed against a fixed dictionary (`body_dictionary.py`: the field names and shapes every body repeats) and
tagged (`compress_body`): the bench workload's typical profile goes from ~2.1 KB (3 write units) to ~1.4 KB (2);
untagged blocks written earlier are still read. LZ4 over zstd: ~9 µs to
compress and ~2 µs to expand against ~22 and ~11 (the fold's throughput is a product figure), and a 1.4 MB wheel
against 5.5 MB for a ratio that saves one more write unit.

MessagePack rather than JSON (since 2026-12) because the fold reads and writes every body on every batch: msgspec
decodes it ~20% and encodes it ~55% faster (no float formatting or parsing, no string escaping), and it is ~20%
smaller. Nothing outside this module sees it: readers take `body_dict` (the JSON document's builtins) or a `Profile`.
Bodies written earlier are read as they are: JSON text (`S`, until 2026-11) and LZ4-compressed JSON (2026-11); the
next write stores them as MessagePack.

Lazy sections. The largest parts of a busy profile (viewed products, the cart view and lines, the recent transitions,
the folded keys: ~half of its body) are untouched by most folds (as are the engagement hours, ~230 bytes a channel,
which only an open or a click changes); decoding all of them on every read costs the fold
~10% more CPU instructions per record (measured with `bench/instructions.py`). So `read_item` returns a profile of
codec-private subclasses of the model (`_LazyProfile`, ...) whose section fields hold their stored MessagePack
(`msgspec.Raw`, a slice of the body) until first read, and the encoder writes an unread slice back verbatim. Readers
see the model's fields and types, decoded on first read; a section that fails to decode fails where it is read,
inside the fold, which parks the events like any other fold failure. Such a profile is not compared with `==` (it
would have to decode to answer): compare `decoded(profile)`, a plain copy.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import msgspec
from msgspec import field

from chalicelib.profiles.model import (
    MAX_RECENT_TRANSITIONS,
    Activity,
    CartLine,
    ComputedTraits,
    EngagementHours,
    Profile,
    Transition,
    ViewedProduct,
)

if TYPE_CHECKING:
    from types import ModuleType

MAX_ITEM_BYTES = 400 * 1024

# A lazy section's stored form when the body has none: an empty MessagePack array and an empty map.
_EMPTY_LIST = msgspec.Raw(b"\x90")
_EMPTY_MAP = msgspec.Raw(b"\x80")

_S = TypeVar("_S", bound=msgspec.Struct)


def _sections(**kinds: Any) -> Callable[[type[_S]], type[_S]]:
    """Class decorator of a lazy subclass: each named field of the model it extends (whose slot holds its stored
    `msgspec.Raw` until first read) becomes a property that decodes it, as `kinds[name]`, on first read."""

    def install(cls: type[_S]) -> type[_S]:
        for name, kind in kinds.items():
            setattr(cls, name, _lazy(cls, name, msgspec.msgpack.Decoder(kind).decode))
        return cls

    return install


def _lazy(cls: type, name: str, decode: Callable[[Any], Any]) -> property:
    """A property over the field `name` of `cls`'s model, holding a `Raw` until `decode` has run on first read."""
    stored = "_stored_" + name  # the field's own slot (its member descriptor), under a name the property leaves free
    setattr(cls, stored, cls.__mro__[1].__dict__[name])

    def read(self: Any) -> Any:
        value = getattr(self, stored)
        if value.__class__ is msgspec.Raw:
            value = decode(value)
            setattr(self, stored, value)
        return value

    def write(self: Any, value: Any) -> None:
        setattr(self, stored, value)

    return property(read, write, doc=f"`{name}`, decoded on first read")


def _not_comparable(self: Any, other: object) -> bool:
    raise TypeError(f"a lazily decoded {type(self).__mro__[1].__name__} is not compared: compare codec.decoded(it)")


@_sections(search_terms=list[dict[str, Any]], viewed_products=list[ViewedProduct], cart=list[dict[str, Any]])
class _LazyComputedTraits(ComputedTraits, kw_only=True):
    search_terms: msgspec.Raw = _EMPTY_LIST  # type: ignore[assignment]
    viewed_products: msgspec.Raw = _EMPTY_LIST  # type: ignore[assignment]
    cart: msgspec.Raw = _EMPTY_LIST  # type: ignore[assignment]

    __eq__ = __ne__ = _not_comparable


@_sections(cart=dict[str, CartLine])
class _LazyActivity(Activity, kw_only=True, omit_defaults=True):
    cart: msgspec.Raw = _EMPTY_MAP  # type: ignore[assignment]

    __eq__ = __ne__ = _not_comparable


@_sections(folded=list[str], engagement_hours=dict[str, EngagementHours])
class _LazyProfile(Profile, kw_only=True):
    computed: _LazyComputedTraits = field(default_factory=_LazyComputedTraits)
    activity: _LazyActivity = field(default_factory=_LazyActivity)
    folded: msgspec.Raw = _EMPTY_LIST  # type: ignore[assignment]
    # Read by the fold only when an open or click arrives, and by delivery through `body_dict`.
    engagement_hours: msgspec.Raw = _EMPTY_MAP  # type: ignore[assignment]
    recent_transitions: msgspec.Raw = _EMPTY_LIST  # type: ignore[assignment]

    __eq__ = __ne__ = _not_comparable

    def add_transitions(self, new: list[Transition]) -> None:
        """As `Profile.add_transitions`, but the kept ones stay as stored (a list of raw elements is all it takes to
        know where each one ends): they belong to earlier versions and are rarely read again."""
        kept = _stored_transitions(self)
        if kept.__class__ is msgspec.Raw:
            kept = _RAW_ITEMS(kept)
        _store_transitions(self, [*kept, *new][-MAX_RECENT_TRANSITIONS:])


_stored_transitions = Profile.__dict__["recent_transitions"].__get__  # the field's slot, under the property below
_store_transitions = Profile.__dict__["recent_transitions"].__set__
_RAW_ITEMS = msgspec.msgpack.Decoder(list[msgspec.Raw]).decode
_TRANSITIONS = msgspec.msgpack.Decoder(list[Transition]).decode
_TRANSITION = msgspec.msgpack.Decoder(Transition).decode


def _read_transitions(self: Any) -> list[Transition]:
    # Stored whole (`Raw`), or kept by `add_transitions` as a list of stored elements and new transitions.
    value = _stored_transitions(self)
    if value.__class__ is msgspec.Raw:
        value = _TRANSITIONS(value)
        _store_transitions(self, value)
    elif any(item.__class__ is msgspec.Raw for item in value):
        value = [_TRANSITION(item) if item.__class__ is msgspec.Raw else item for item in value]
        _store_transitions(self, value)
    return value


_LazyProfile.recent_transitions = property(  # type: ignore[assignment]
    _read_transitions, _store_transitions, doc="`recent_transitions`, decoded on first read"
)

_ENCODER = msgspec.msgpack.Encoder()
_LAZY_DECODER = msgspec.msgpack.Decoder(_LazyProfile)
_DECODER = msgspec.msgpack.Decoder(Profile)
_JSON_ENCODER = msgspec.json.Encoder()
_JSON_DECODER = msgspec.json.Decoder(Profile)
_BUILTINS = msgspec.msgpack.Decoder()


def to_msgpack(profile: Profile) -> bytes:
    """The body as stored (before compression): MessagePack, with unread lazy sections copied verbatim."""
    return _ENCODER.encode(profile)


def decoded(profile: Profile) -> Profile:
    """A plain copy of `profile`: every section decoded, compared field by field like any model object."""
    return _DECODER.decode(_ENCODER.encode(profile))


def copy(profile: Profile) -> Profile:
    """A deep copy, its sections left as they are stored (an encode/decode round trip: faster than `copy.deepcopy`
    and exactly what is stored)."""
    return _LAZY_DECODER.decode(_ENCODER.encode(profile))


def to_json(profile: Profile) -> bytes:
    """The body as JSON, for readers and tests (what is stored is `to_msgpack`)."""
    return _JSON_ENCODER.encode(decoded(profile))  # JSON cannot carry a MessagePack slice: every section decoded


def from_json(body: bytes | str) -> Profile:
    """Inverse of `to_json`; also reads bodies written by the earlier pydantic model (same field names)."""
    return _JSON_DECODER.decode(body)


def to_item(profile: Profile) -> dict[str, Any]:
    """DynamoDB item in low-level attribute-value form (see the module docstring for the layout)."""
    body = _ENCODER.encode(profile)
    if len(body) > MAX_ITEM_BYTES - 4096:
        # Every list and map is capped, so this means a cap is missing: fail loudly rather than lose the write
        # (checked before compression, so the guarantee does not depend on how well a body compresses).
        raise ValueError(f"profile {profile.profile_id} body is {len(body)} bytes, over the item budget")
    item: dict[str, Any] = {
        "profile_id": {"S": profile.profile_id},
        "version": {"N": str(profile.version)},
        "body": {"B": compress_body(body)},
        "stage": {"S": profile.stage},
    }
    if profile.due_day:
        item["due_day"] = {"S": profile.due_day}
    if profile.merged_into:
        item["merged_into"] = {"S": profile.merged_into}
    return item


def read_item(item: dict[str, Any]) -> Profile:
    """Inverse of `to_item`, for GetItem/Query results and stream images (low-level form). A MessagePack body's
    sections are decoded on first read; the JSON bodies of older items are decoded whole."""
    body = body_bytes(item)
    # A JSON body is an object ("{"); a MessagePack one is a map, whose first byte is 0x80-0x8f, 0xde or 0xdf.
    profile = _JSON_DECODER.decode(body) if isinstance(body, str) or body[:1] == b"{" else _LAZY_DECODER.decode(body)
    if "version" in item:  # the top-level attribute is what conditional writes check
        profile.version = int(item["version"]["N"])
    return profile


def body_bytes(item: dict[str, Any]) -> bytes | str:
    """The body of a stored profile item or stream image (low-level form), expanded: MessagePack, or the JSON of
    items written before 2026-12 (text when stored as `S`)."""
    attribute = item["body"]
    if "S" in attribute:  # written before bodies were compressed
        return attribute["S"]
    raw = attribute["B"]
    if isinstance(raw, str):  # a Lambda stream event carries binary attributes as base64 text
        raw = base64.b64decode(raw)
    return expand_body(raw)


# A body compressed with a dictionary starts with this tag and the dictionary's version. An untagged body (written
# before 2026-12-05) starts with its expanded size, 4 bytes little-endian, whose last byte is 0 below 16 MiB (every
# body is under DynamoDB's 400 KB): a 4th byte that is not 0 can only be a tag.
_TAG = b"o2p"
_DICT_VERSION = 1


# Bodies up to this size are compressed against the dictionary: it saves a write unit of ~3 on a typical profile
# (~3.5 KB of MessagePack), but only ~10% on a busy one (~17 KB: it repeats itself enough), where LZ4's external-
# dictionary mode costs the fold ~14 us more per profile (+3.5% of its instructions per record, bench/instructions.py).
DICT_MAX_BODY = 8192


def compress_body(body: bytes) -> bytes:
    """The stored form of a MessagePack body: LZ4 against the fixed dictionary (`body_dictionary.py`), tagged; above
    `DICT_MAX_BODY`, a plain LZ4 block (the untagged form)."""
    if len(body) > DICT_MAX_BODY:
        return cast(bytes, _lz4().compress(body))
    from chalicelib.profiles.body_dictionary import PROFILE_DICT_V1

    return _TAG + bytes((_DICT_VERSION,)) + _lz4().compress(body, dict=PROFILE_DICT_V1)


def expand_body(raw: bytes) -> bytes:
    """Inverse of `compress_body`; also reads the untagged LZ4 blocks of earlier writes."""
    if raw[3:4] == b"\x00":
        return cast(bytes, _lz4().decompress(raw))
    if raw[:3] != _TAG or raw[3] != _DICT_VERSION:
        raise ValueError(f"profile body: unknown stored form {raw[:4]!r}")
    from chalicelib.profiles.body_dictionary import PROFILE_DICT_V1

    return cast(bytes, _lz4().decompress(raw[4:], dict=PROFILE_DICT_V1))


def body_dict(item: dict[str, Any]) -> dict[str, Any]:
    """The body as plain builtins: what readers outside the fold (admin API, scenarios, delivery, exports) use.

    Field names and values are those of the JSON form (`to_json`), whichever form the item was stored in.
    """
    body = body_bytes(item)
    document = msgspec.json.decode(body) if isinstance(body, str) or body[:1] == b"{" else _BUILTINS.decode(body)
    document.pop("archived_days", None)  # bookkeeping in binary, for erasure: read through `read_item`
    return cast(dict[str, Any], document)


def body_json(item: dict[str, Any]) -> str:
    """The body as JSON text (`body_dict` encoded)."""
    body = body_bytes(item)
    if isinstance(body, str):
        return body
    return msgspec.json.encode(body_dict(item)).decode()


def stored_body(item: dict[str, Any]) -> bytes | str:
    """The body attribute's stored value as is: equal values mean the same body, with no need to expand it."""
    attribute = item["body"]
    if "S" in attribute:
        return attribute["S"]
    raw = attribute["B"]
    return base64.b64decode(raw) if isinstance(raw, str) else raw


@functools.cache
def _lz4() -> ModuleType:
    import lz4.block  # lazy: only the functions that read or write profiles pay for the import

    return lz4.block
