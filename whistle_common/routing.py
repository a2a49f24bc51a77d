"""AMQP topic routing keys: escaping the words we put in them, and matching them against bindings.

Escaping follows Kazoo's ``kz_amqp_util:encode/1`` so that a Call-ID or realm containing dots stays one
word: ``.`` becomes ``%2E``, a space ``+``, other unsafe bytes ``%HH``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import quote

_SAFE = "-_~@:"  # kept as-is besides letters and digits; none of them means anything to topic matching


_NOTHING_TO_ESCAPE = re.compile(r"[A-Za-z0-9_~@:-]*")


def escape_word(word: str) -> str:
    """One routing-key word for ``word``: no ``.``, ``*``, ``#`` or space survives unescaped."""
    if _NOTHING_TO_ESCAPE.fullmatch(word):
        return word  # most Call-IDs (UUIDs): skip quote(), which is slow on the event hot path
    return quote(word, safe=_SAFE + " ").replace(".", "%2E").replace(" ", "+")


def routing_key(*words: str) -> str:
    """A routing key made of already-literal ``words`` (``call``, an event name) joined with dots."""
    return ".".join(words)


@lru_cache(maxsize=4096)
def _compile(binding: str) -> tuple[str, ...]:
    return tuple(binding.split(".")) if binding else ()


def topic_matches(binding: str, key: str) -> bool:
    """AMQP topic semantics: ``*`` matches exactly one word, ``#`` zero or more words."""
    return _match(_compile(binding), tuple(key.split(".")) if key else ())


def _match(pattern: tuple[str, ...], words: tuple[str, ...]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match(rest, words[i:]) for i in range(len(words) + 1))
    if not words:
        return False
    return (head == "*" or head == words[0]) and _match(rest, words[1:])
