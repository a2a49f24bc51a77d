"""Reading the real FreeSWITCH recordings in ``../shared/fixtures/freeswitch`` for fidelity tests.

A ``.raw`` file is one direction of one ESL connection, byte-exact. ``messages()`` splits it into ESL
messages (header block, then exactly Content-Length body bytes); ``events()`` keeps the events and parses
their inner headers, whatever the format.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import orjson

from fsim.events import Event

FIXTURES = Path(
    os.environ.get("WHISTLE_FS_FIXTURES", Path(__file__).resolve().parents[3] / "shared" / "fixtures")
)
FREESWITCH = FIXTURES / "freeswitch"


@dataclass
class Message:
    """One ESL message: its header lines in order (raw, not decoded) and its body bytes."""

    headers: list[tuple[str, str]]
    body: bytes
    raw: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    @property
    def content_type(self) -> str | None:
        return self.header("Content-Type")


@dataclass
class RecordedEvent(Event):
    """An event from a recording (headers decoded, in wire order) and the format it was sent in."""

    format: str = "plain"


def recording(name: str, direction: str = "fs-to-app") -> bytes:
    """The bytes of ``<name>.<direction>.raw``; fails clearly when the fixtures are not beside the repo."""
    path = FREESWITCH / f"{name}.{direction}.raw"
    if not path.exists():
        raise FileNotFoundError(f"{path}: the FreeSWITCH recordings are expected in ../shared/fixtures")
    return path.read_bytes()


def split_headers(block: bytes) -> list[tuple[str, str]]:
    headers = []
    for line in block.decode().split("\n"):
        if line:
            name, _, value = line.partition(": ")
            headers.append((name, value))
    return headers


def messages(data: bytes) -> Iterator[Message]:
    """ESL messages in a byte stream, in order."""
    position = 0
    while position < len(data):
        end = data.index(b"\n\n", position)
        headers = split_headers(data[position:end])
        length = int(dict(headers).get("Content-Length", "0"))
        body = data[end + 2 : end + 2 + length]
        yield Message(headers, body, data[position : end + 2 + length])
        position = end + 2 + length


def parse_event(message: Message) -> RecordedEvent | None:
    """The event inside an event message, or None for replies and notices."""
    content_type = message.content_type or ""
    if content_type == "text/event-plain":
        block, _, rest = message.body.partition(b"\n\n")
        headers = [(name, unquote(value)) for name, value in split_headers(block)]
        length = dict(headers).get("Content-Length")
        return RecordedEvent(headers, rest[: int(length)] if length is not None else None, format="plain")
    if content_type == "text/event-json":
        fields = orjson.loads(message.body)
        body = fields.pop("_body", None)
        return RecordedEvent(list(fields.items()), body.encode() if body is not None else None, format="json")
    if content_type == "text/event-xml":
        return RecordedEvent(_xml_headers(message.body), None, format="xml")
    return None


def _xml_headers(body: bytes) -> list[tuple[str, str]]:
    text = body.decode()
    inner = text[text.index("<headers>") + len("<headers>") : text.index("</headers>")]
    headers = []
    for line in inner.strip().split("\n"):
        line = line.strip()
        name = line[1 : line.index(">")]
        value = line[line.index(">") + 1 : line.rindex("</")]
        headers.append((name, unquote(value)))
    return headers


def events(name: str) -> list[RecordedEvent]:
    """Every event FreeSWITCH sent on recording ``name``, in delivery order."""
    found = (parse_event(message) for message in messages(recording(name)))
    return [event for event in found if event is not None]
