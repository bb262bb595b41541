"""Follow `merged_into`: the profile an id now lives in (the one home of the redirect rule and its hop limit)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chalicelib.profiles.ports import ProfileStore, StoredProfile

# Each time a merge winner is itself merged later, its losers' chains grow by a hop. Longer than this means something
# is wrong: the last profile reached is used as it is.
MAX_REDIRECTS = 5


class _Unread:
    """The start profile has not been read yet (None already means "read, and it does not exist")."""


_UNREAD = _Unread()


def follow_merges(
    store: ProfileStore,
    profile_id: str,
    first: StoredProfile | None | _Unread = _UNREAD,
    *,
    stop_at: str | None = None,
) -> tuple[str, StoredProfile | None]:
    """Where `profile_id` now lives: follows `merged_into` for at most `MAX_REDIRECTS` hops.

    Parameters
    ----------
    store
        The profile store read on each hop.
    profile_id
        Where to start.
    first
        The start profile when the caller has already read it (None: it does not exist); read here when not given.
    stop_at
        A profile id not to read: reaching it ends the walk with `(stop_at, None)` (the fold stops at the profile
        it is folding, which it holds itself).

    Returns
    -------
    (profile id, stored profile) of the last profile reached: the stored profile is None when it does not exist,
    and still has `merged_into` only when the hop limit was hit. Erased profiles are returned as they are.

    Example
    -------
    >>> profile_id, stored = follow_merges(profiles, requested)
    >>> if stored is None or stored.erased:
    ...     raise NotFound(requested)
    """
    stored = store.get(profile_id) if isinstance(first, _Unread) else first
    hops = 0
    while stored is not None and stored.merged_into is not None and hops < MAX_REDIRECTS:
        profile_id = stored.merged_into
        stored = None if profile_id == stop_at else store.get(profile_id)
        hops += 1
    return profile_id, stored
