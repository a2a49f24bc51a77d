"""ESL framing: reading client commands and writing the server's own messages, byte-exact.

Reading follows mod_event_socket's ``read_packet``:

- a command is a header block ended by an empty line; ``\\r`` is ignored (``\\r\\n`` works) and blank lines
  before a command are skipped;
- the first line is the command, the others ``Name: value`` headers (split at the first ``:``, spaces
  before the value skipped, nothing URL-decoded; a line without ``:`` is ignored; a header with an empty
  value deletes the earlier headers of that name, as ``switch_event_add_header_string`` does);
- a ``content-length`` header (any case) announces exactly that many body bytes right after the empty
  line, with no terminator; the next command may follow immediately.

Writing produces the server messages exactly as the recordings show them (``\\n`` only, never CRLF).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

MAX_HEADER_BLOCK = 10 * 1024 * 1024  # read_packet's max_len
MAX_CONTENT_LENGTH = 16 * 1024 * 1024  # MAX_CONTENT_LENGTH in mod_event_socket.c
_REPLY_MAX = 511  # parse_command writes Reply-Text into a 512-byte buffer

GOODBYE = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
AUTH_REQUEST = b"Content-Type: auth/request\n\n"


class FramingError(Exception):
    """The client broke the framing (header block or body too large, bad Content-Length): drop it."""


@dataclass
class Command:
    """One client command: its first line, its headers in order (raw values) and its body, if any."""

    line: str
    headers: list[tuple[str, str]]
    body: bytes | None = None

    def header(self, name: str) -> str | None:
        """The first value of header ``name``, compared case-insensitively (as FreeSWITCH looks them up)."""
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None


def atoi(text: str) -> int:
    """C ``atoi``: optional sign and leading digits, 0 when there are none."""
    text = text.lstrip(" \t")
    sign, digits = 1, ""
    if text[:1] in ("+", "-"):
        sign, text = (-1 if text[0] == "-" else 1), text[1:]
    for char in text:
        if not char.isascii() or not char.isdigit():
            break
        digits += char
    return sign * int(digits) if digits else 0


async def _read_line(reader: asyncio.StreamReader, budget: int) -> bytes:
    """One line including its ``\\n``; longer than ``budget`` bytes raises FramingError."""
    parts: list[bytes] = []
    size = 0
    while True:
        try:
            part = await reader.readuntil(b"\n")
        except asyncio.LimitOverrunError as exc:  # a line longer than the reader's buffer limit
            part = await reader.readexactly(exc.consumed)
            size += len(part)
            if size > budget:
                raise FramingError(f"header block longer than {budget} bytes") from None
            parts.append(part)
            continue
        except asyncio.IncompleteReadError as exc:
            if parts:
                raise asyncio.IncompleteReadError(b"".join(parts) + exc.partial, None) from None
            raise
        size += len(part)
        if size > budget:
            raise FramingError(f"header block longer than {budget} bytes")
        parts.append(part)
        return b"".join(parts)


def _text(raw: bytes) -> str:
    # read_packet's strip_cr: a line ends at its first \r (or \n).
    return raw.split(b"\r", 1)[0].rstrip(b"\n").decode(errors="replace")


async def read_command(
    reader: asyncio.StreamReader,
    *,
    max_header_block: int = MAX_HEADER_BLOCK,
    max_content_length: int = MAX_CONTENT_LENGTH,
) -> Command | None:
    """The next command, or None when the client closed the connection cleanly between commands.

    Raises FramingError when a limit is broken, and ``asyncio.IncompleteReadError`` when the client
    disconnects in the middle of a command.
    """
    lines: list[str] = []
    used = 0
    while True:
        try:
            raw = await _read_line(reader, max_header_block - used)
        except asyncio.IncompleteReadError as exc:
            if not lines and not exc.partial.strip(b"\r\n"):
                return None
            raise
        used += len(raw)
        if not raw.strip(b"\r\n"):
            if lines:
                break
            used = 0  # blank lines before a command are discarded
            continue
        lines.append(_text(raw))

    headers: list[tuple[str, str]] = []
    length = 0
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name:
            continue
        value = value.lstrip(" ")
        lowered = name.lower()
        if not value:
            headers = [header for header in headers if header[0].lower() != lowered]
            continue
        headers.append((name, value))
        if lowered == "content-length" and not length:
            length = atoi(value)
            if length < 0 or length > max_content_length:
                raise FramingError(f"Content-Length {value!r} out of range")
    body = await reader.readexactly(length) if length > 0 else None
    return Command(lines[0], headers, body)


def command_reply(text: str, extra: list[tuple[str, str]] | tuple[()] = ()) -> bytes:
    """A ``command/reply`` with ``Reply-Text: text`` (cut to FreeSWITCH's 511 bytes) and extra headers."""
    reply = text.encode()[:_REPLY_MAX]
    lines = b"".join(f"{name}: {value}\n".encode() for name, value in extra)
    return b"Content-Type: command/reply\nReply-Text: %s\n%s\n" % (reply, lines)


def api_response(output: str | bytes) -> bytes:
    """An ``api/response`` carrying the command output; an empty output becomes ``-ERR no reply``."""
    body = output.encode() if isinstance(output, str) else output
    if not body:
        body = b"-ERR no reply\n"
    return b"Content-Type: api/response\nContent-Length: %d\n\n%s" % (len(body), body)


def disconnect_notice(message: str = GOODBYE, session_uuid: str | None = None) -> bytes:
    """The ``text/disconnect-notice`` sent before closing; a session socket names its channel."""
    body = message.encode()
    session = b""
    if session_uuid is not None:
        session = b"Controlled-Session-UUID: %s\nContent-Disposition: disconnect\n" % session_uuid.encode()
    return b"Content-Type: text/disconnect-notice\n%sContent-Length: %d\n\n%s" % (session, len(body), body)


def linger_notice(session_uuid: str, channel_name: str, linger_time: int) -> bytes:
    """The notice a lingering session socket gets when its channel hangs up (-1: linger forever)."""
    return (
        "Content-Type: text/disconnect-notice\n"
        f"Controlled-Session-UUID: {session_uuid}\n"
        "Content-Disposition: linger\n"
        f"Channel-Name: {channel_name}\n"
        f"Linger-Time: {linger_time}\n"
        "Content-Length: 0\n\n"
    ).encode()


@dataclass
class LogLine:
    """One FreeSWITCH log line as ``log/data`` carries it (``text`` is the whole formatted line)."""

    text: str
    level: int = 6
    channel: int = 0
    file: str = ""
    func: str = ""
    line: int = 0
    user_data: str = ""

    def render(self) -> bytes:
        body = self.text.encode()
        head = (
            f"Content-Type: log/data\nContent-Length: {len(body)}\nLog-Level: {self.level}\n"
            f"Text-Channel: {self.channel}\nLog-File: {self.file}\nLog-Func: {self.func}\n"
            f"Log-Line: {self.line}\nUser-Data: {self.user_data}\n\n"
        )
        return head.encode() + body
