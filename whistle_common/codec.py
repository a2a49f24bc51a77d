"""Wire encodings of bus messages, chosen by the publisher and recognised by AMQP content type."""

from __future__ import annotations

from typing import Any

import msgpack
import orjson

JSON = "application/json"
MSGPACK = "application/x-msgpack"
CONTENT_TYPES = (JSON, MSGPACK)


class DecodeError(ValueError):
    """A message body could not be decoded into a JSON object."""


def encode(message: dict[str, Any], content_type: str = JSON) -> bytes:
    """Encode ``message`` as ``content_type``; raises ValueError for a content type we do not speak."""
    if content_type == JSON:
        return orjson.dumps(message)
    if content_type == MSGPACK:
        return msgpack.packb(message, use_bin_type=True)
    raise ValueError(f"unsupported content type {content_type!r}; use one of {CONTENT_TYPES}")


def decode(body: bytes, content_type: str | None) -> dict[str, Any]:
    """Decode a body by its content type (JSON when none is given); raises DecodeError with the reason."""
    try:
        if content_type in (None, "", JSON):
            message = orjson.loads(body)
        elif content_type == MSGPACK:
            message = msgpack.unpackb(body, raw=False)
        else:
            raise DecodeError(f"unsupported content type {content_type!r}")
    except (orjson.JSONDecodeError, msgpack.UnpackException, ValueError) as exc:
        if isinstance(exc, DecodeError):
            raise
        raise DecodeError(f"body is not valid {content_type or JSON}: {exc}") from exc
    if not isinstance(message, dict):
        raise DecodeError(f"body is a {type(message).__name__}, not a JSON object")
    return message
