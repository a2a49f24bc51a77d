"""The order in which view keys sort, for the in-memory backend.

CouchDB's collation: null < false < true < numbers < strings < arrays < objects; arrays element by
element (a prefix first), objects key by key. Strings here compare by UTF-16 code unit, as
pouchdb-server and JavaScript do. Real CouchDB compares strings with ICU (case-insensitive first,
punctuation before digits), so code must not depend on the relative order of keys that differ only in
case or punctuation; every shipped view emits lowercased or numeric keys where order matters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CollationKey = tuple[Any, ...]


def collation_key(value: Any) -> CollationKey:
    """A Python sort key that orders JSON values as view keys are ordered (see the module docstring)."""
    if value is None:
        return (0,)
    if value is False:
        return (1,)
    if value is True:
        return (2,)
    if isinstance(value, int | float):
        return (3, value)
    if isinstance(value, str):
        return (4, value.encode("utf-16-be"))  # big-endian code units compare like JavaScript strings
    if isinstance(value, list | tuple):
        return (5, tuple(collation_key(item) for item in value))
    if isinstance(value, Mapping):
        return (6, tuple((collation_key(k), collation_key(v)) for k, v in value.items()))
    raise TypeError(f"{type(value).__name__} is not a JSON value and cannot be a view key")
