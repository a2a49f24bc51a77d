"""Bus message encodings: JSON and MessagePack both ways, clear errors for anything else."""

from __future__ import annotations

import pytest

from whistle_common import codec

MESSAGE = {
    "Event-Name": "CHANNEL_ANSWER",
    "Call-ID": "abc",
    "Custom-Channel-Vars": {"Account-ID": "x"},
    "Timestamp": 1.5,
}


@pytest.mark.parametrize("content_type", [codec.JSON, codec.MSGPACK])
def test_a_message_survives_its_encoding(content_type: str) -> None:
    assert codec.decode(codec.encode(MESSAGE, content_type), content_type) == MESSAGE


def test_a_body_without_content_type_is_read_as_json() -> None:
    assert codec.decode(b'{"a": 1}', None) == {"a": 1}


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b"{nope", codec.JSON, "not valid application/json"),
        (b"[1, 2]", codec.JSON, "not a JSON object"),
        (b"\xc1", codec.MSGPACK, "not valid application/x-msgpack"),
        (b"{}", "text/plain", "unsupported content type"),
    ],
)
def test_undecodable_bodies_raise_decode_error(body: bytes, content_type: str, reason: str) -> None:
    with pytest.raises(codec.DecodeError, match=reason):
        codec.decode(body, content_type)


def test_encoding_as_an_unknown_content_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported content type"):
        codec.encode(MESSAGE, "application/xml")
