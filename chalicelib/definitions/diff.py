"""Which JSON paths differ between two documents (`rule.all[0].value`, `steps[2]`), for the audit trail and hooks."""

from __future__ import annotations

from typing import Any


def _join(prefix: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{prefix}[{key}]"
    return f"{prefix}.{key}" if prefix else key


def changed_paths(old: Any, new: Any, prefix: str = "") -> list[str]:
    """The paths where `old` and `new` differ, deepest first reached, in document order.

    Objects are compared key by key (an added or removed key is its own path); lists index by index, and an element
    only one side has is reported whole (`steps[3]`). A change of type at a path is that path. Example:
    `changed_paths({"a": [1, 2]}, {"a": [1, 3], "b": 0})` -> `["a[1]", "b"]`.
    """
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in list(old) + [k for k in new if k not in old]:
            if key not in old or key not in new:
                out.append(_join(prefix, key))
            else:
                out.extend(changed_paths(old[key], new[key], _join(prefix, key)))
        return out
    if isinstance(old, list) and isinstance(new, list):
        out = []
        for index in range(max(len(old), len(new))):
            if index >= len(old) or index >= len(new):
                out.append(_join(prefix, index))
            else:
                out.extend(changed_paths(old[index], new[index], _join(prefix, index)))
        return out
    # bool is an int in Python: 1 and True are different JSON values.
    if type(old) is not type(new) or old != new:
        return [prefix or "(root)"]
    return []


def touches(paths: list[str] | tuple[str, ...], root: str) -> bool:
    """Whether any changed path is `root` or lies under it (`touches(["rule.all[0]"], "rule")` -> True)."""
    return any(p == root or p.startswith((root + ".", root + "[")) for p in paths)
