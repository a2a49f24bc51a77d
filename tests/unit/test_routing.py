"""Routing keys: escaped words stay single words, and topic matching follows AMQP."""

from __future__ import annotations

from urllib.parse import unquote_plus

import pytest
from hypothesis import given
from hypothesis import strategies as st

from whistle_common.routing import escape_word, topic_matches


@given(st.text())
def test_an_escaped_word_has_no_topic_syntax_and_decodes_back(word: str) -> None:
    escaped = escape_word(word)
    assert not {".", "*", "#", " "} & set(escaped)
    assert unquote_plus(escaped) == word


def test_a_call_id_with_dots_becomes_one_word() -> None:
    assert escape_word("a8f3@10.0.0.1") == "a8f3@10%2E0%2E0%2E1"
    assert escape_word("0b5ad9ac-4e37-4c5c-8d5e-0d2e9b3f5f11") == "0b5ad9ac-4e37-4c5c-8d5e-0d2e9b3f5f11"


@pytest.mark.parametrize(
    ("binding", "key", "matches"),
    [
        ("call.*.abc", "call.CHANNEL_ANSWER.abc", True),
        ("call.*.abc", "call.CHANNEL_ANSWER.abd", False),
        ("call.*", "call.CHANNEL_ANSWER.abc", False),
        ("call.#", "call", True),
        ("call.#", "call.CHANNEL_ANSWER.abc", True),
        ("#.abc", "call.CHANNEL_ANSWER.abc", True),
        ("#", "", True),
        ("*", "", False),
        ("route.req", "route.req", True),
        ("call.#.abc", "call.abc", True),
        ("call.*.#.x", "call.a.x", True),
        ("call.*.#.x", "call.x", False),
    ],
)
def test_topic_matching_follows_amqp(binding: str, key: str, matches: bool) -> None:
    assert topic_matches(binding, key) is matches


words = st.lists(st.sampled_from(["a", "b", "c"]), max_size=5)


@given(words, words)
def test_hash_alone_or_as_prefix_matches_as_amqp_says(prefix: list[str], rest: list[str]) -> None:
    key = ".".join(prefix + rest)
    assert topic_matches("#", key)
    assert topic_matches(".".join([*prefix, "#"]) if prefix else "#", key)
    if prefix + rest:
        assert topic_matches(".".join(["*"] * len(prefix + rest)), key)
        assert not topic_matches(".".join(["*"] * (len(prefix + rest) + 1)), key)
