"""FreeSWITCH events as fsim produces them: ordered headers, an optional body, and the three wire formats.

Formats follow ``../shared/fixtures/freeswitch`` (see ``reference/freeswitch-observed.md``):

- plain: one ``Name: value`` line per header, values percent-encoded like ``switch_url_encode``; a body
  is announced by a trailing ``Content-Length`` header;
- json: one flat object of raw string values, the body as ``_body``;
- xml: ``<event><headers>`` with one element per header, values percent-encoded; a body (no recording
  has one) follows as ``<Content-Length>`` and ``<body>`` with XML-escaped text, as switch_event_xmlize does.

Every format travels in an envelope ``Content-Length: N`` + ``Content-Type: text/event-<format>``.
"""

from __future__ import annotations

import functools
import itertools
import re
import socket
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

import orjson

# switch_url_encode: control characters, bytes above "~", and these.
_ENCODED = frozenset(b'\r\n #%&+:;<=>?@[\\]^`{|}"')
_ENCODE_TABLE = [
    f"%{byte:02X}" if byte < 0x20 or byte > 0x7E or byte in _ENCODED else chr(byte) for byte in range(256)
]

PLAIN, JSON, XML = "plain", "json", "xml"
FORMATS = (PLAIN, JSON, XML)


# The ASCII characters that are encoded, found by one regular-expression scan (the hot path of rendering).
_ASCII_ENCODED = {byte: _ENCODE_TABLE[byte] for byte in range(128) if _ENCODE_TABLE[byte] != chr(byte)}
_NEEDS_ENCODING = re.compile("[" + re.escape("".join(map(chr, _ASCII_ENCODED))) + "]").search


@functools.lru_cache(maxsize=65_536)  # most values repeat from one event of a channel to the next
def url_encode(value: str) -> str:
    """Percent-encode a header value as FreeSWITCH does on the wire (upper-case hex, space as %20)."""
    if value.isascii():
        return value.translate(_ASCII_ENCODED) if _NEEDS_ENCODING(value) else value
    return "".join(_ENCODE_TABLE[byte] for byte in value.encode())


@dataclass
class Event:
    """One FreeSWITCH event: headers in wire order (names may repeat), and an optional body."""

    headers: list[tuple[str, str]]
    body: bytes | None = None

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of header ``name`` (case-sensitive, as FreeSWITCH compares them)."""
        for key, value in self.headers:
            if key == name:
                return value
        return default

    @property
    def name(self) -> str:
        return self.get("Event-Name") or ""

    @property
    def subclass(self) -> str | None:
        return self.get("Event-Subclass")

    @property
    def sequence(self) -> int:
        return int(self.get("Event-Sequence") or 0)

    def render(self, fmt: str) -> bytes:
        """The event as one complete ESL message (envelope included) in ``fmt``."""
        if fmt == PLAIN:
            payload, content_type = self._plain(), b"text/event-plain"
        elif fmt == JSON:
            payload, content_type = self._json(), b"text/event-json"
        elif fmt == XML:
            payload, content_type = self._xml(), b"text/event-xml"
        else:
            raise ValueError(f"unknown event format {fmt!r}; FreeSWITCH speaks {FORMATS}")
        return b"Content-Length: %d\nContent-Type: %s\n\n%s" % (len(payload), content_type, payload)

    def _plain(self) -> bytes:
        lines = [f"{name}: {url_encode(value)}\n" for name, value in self.headers]
        if self.body is None:
            return ("".join(lines) + "\n").encode()
        lines.append(f"Content-Length: {len(self.body)}\n\n")
        return "".join(lines).encode() + self.body

    def _json(self) -> bytes:
        fields = dict(self.headers)
        if self.body is not None:
            fields["Content-Length"] = str(len(self.body))
            fields["_body"] = self.body.decode(errors="replace")
        return orjson.dumps(fields)

    def _xml(self) -> bytes:
        elements = "".join(f"    <{name}>{url_encode(value)}</{name}>\n" for name, value in self.headers)
        body = ""
        if self.body:  # switch_event_xmlize: the length, then the body as escaped text, after the headers
            text = escape(self.body.decode(errors="replace"))
            body = f"  <Content-Length>{len(self.body)}</Content-Length>\n  <body>{text}</body>\n"
        return f"<event>\n  <headers>\n{elements}  </headers>\n{body}</event>\n".encode()


@dataclass
class Origin:
    """Where an event was fired in FreeSWITCH's source (Event-Calling-File/-Function/-Line-Number)."""

    file: str
    function: str
    line: int


@dataclass
class SwitchIdentity:
    """The headers that describe the switch itself, the same on every event of one fsim run."""

    core_uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    hostname: str = field(default_factory=socket.gethostname)
    ipv4: str = "127.0.0.1"
    ipv6: str = "::1"


class EventFactory:
    """Builds events with FreeSWITCH's common headers and one global, strictly increasing Event-Sequence."""

    def __init__(self, identity: SwitchIdentity | None = None, *, first_sequence: int = 1) -> None:
        self.identity = identity or SwitchIdentity()
        self._sequence = itertools.count(first_sequence)

    def make(
        self,
        name: str,
        origin: Origin,
        headers: Iterable[tuple[str, str]] = (),
        *,
        leading: Iterable[tuple[str, str]] = (),
        body: bytes | None = None,
        timestamp_us: int | None = None,
    ) -> Event:
        """Event ``name``: ``leading`` headers (a CUSTOM's Event-Subclass), the common ones, ``headers``."""
        now_us = timestamp_us if timestamp_us is not None else time.time_ns() // 1000
        seconds = now_us / 1_000_000
        common = [
            ("Event-Name", name),
            ("Core-UUID", self.identity.core_uuid),
            ("FreeSWITCH-Hostname", self.identity.hostname),
            ("FreeSWITCH-Switchname", self.identity.hostname),
            ("FreeSWITCH-IPv4", self.identity.ipv4),
            ("FreeSWITCH-IPv6", self.identity.ipv6),
            ("Event-Date-Local", time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))),
            ("Event-Date-GMT", time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(seconds))),
            ("Event-Date-Timestamp", str(now_us)),
            ("Event-Calling-File", origin.file),
            ("Event-Calling-Function", origin.function),
            ("Event-Calling-Line-Number", str(origin.line)),
            ("Event-Sequence", str(next(self._sequence))),
        ]
        return Event([*leading, *common, *headers], body)
