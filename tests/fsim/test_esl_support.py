"""Support for the ESL tests (no tests here): a fake switch implementing ``SwitchCore``, a raw ESL client
speaking TCP to a real ``EslServer`` on a free port, and helpers to split the recorded client streams.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fsim.api import ApiRegistry
from fsim.esl.server import EslServer
from fsim.events import Event, EventFactory, Origin, SwitchIdentity
from fsim.hub import EventHub
from tests.fsim.recordings import Message, RecordedEvent, parse_event, split_headers

TIMEOUT = 5.0
_CHANNEL_ORIGIN = Origin("switch_channel.c", "switch_channel_perform_hangup", 5000)


class FakeSwitch:
    """The smallest ``SwitchCore``: named channels, channel events on demand, recorded sendmsgs."""

    def __init__(self) -> None:
        identity = SwitchIdentity(
            core_uuid="a6d6f13d-0e79-4c1c-a688-fb834e534d9e", hostname="vm", ipv4="192.0.2.2", ipv6="fd00::2"
        )
        self.events = EventFactory(identity)
        self.hub = EventHub()
        self.api = ApiRegistry(self.events, self.hub)
        self.channels: dict[str, str] = {}
        self.variables: dict[str, dict[str, str]] = {}  # uuid -> channel variables
        self.sendmsgs: list[tuple[str, list[tuple[str, str]], bytes | None]] = []
        self.fired: list[Event] = []
        self.hub.subscribe(self.fired.append)
        self.api.register("uuid_kill", self._uuid_kill)

    async def sendmsg(self, uuid: str, headers: list[tuple[str, str]], body: bytes | None) -> str:
        if uuid not in self.channels:
            return f"-ERR invalid session id [{uuid}]"
        self.sendmsgs.append((uuid, headers, body))
        return "+OK"

    def channel_name(self, uuid: str) -> str | None:
        return self.channels.get(uuid)

    def channel_variable(self, uuid: str, name: str) -> str | None:
        return self.variables.get(uuid, {}).get(name) if uuid in self.channels else None

    def channel_data(self, uuid: str) -> list[tuple[str, str]] | None:
        if uuid not in self.channels:
            return None
        basic = [("Channel-Name", self.channels[uuid]), ("Unique-ID", uuid)]
        return basic + [(f"variable_{name}", value) for name, value in self.variables.get(uuid, {}).items()]

    def register(self, name: str, handler: Callable[[str], Awaitable[str]]) -> None:
        self.api.register(name, handler)

    def add_channel(self, uuid: str, name: str) -> None:
        self.channels[uuid] = name
        self.fire_channel_event("CHANNEL_CREATE", uuid)

    def fire_channel_event(self, event_name: str, uuid: str, *extra: tuple[str, str]) -> Event:
        headers = [
            ("Channel-State", "CS_EXECUTE"),
            ("Channel-Name", self.channels.get(uuid, "loopback/gone")),
            ("Unique-ID", uuid),
            ("Call-Direction", "outbound"),
            *extra,
        ]
        event = self.events.make(event_name, _CHANNEL_ORIGIN, headers)
        self.hub.fire(event)
        return event

    def hangup(self, uuid: str) -> None:
        """What a hangup looks like on the hub: HANGUP, HANGUP_COMPLETE, then DESTROY."""
        for name in ("CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE"):
            self.fire_channel_event(name, uuid, ("Hangup-Cause", "NORMAL_CLEARING"))
        self.fire_channel_event("CHANNEL_DESTROY", uuid)
        self.channels.pop(uuid, None)

    async def _uuid_kill(self, argument: str) -> str:
        uuid = argument.split(" ")[0]
        if uuid not in self.channels:
            return "-ERR No such channel!\n"
        self.hangup(uuid)
        return "+OK\n"


class EslClient:
    """A raw ESL client: writes bytes, reads whole messages, keeps every byte it received."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.received = bytearray()
        self.backlog: list[Message] = []  # events and notices read while looking for a reply

    @classmethod
    async def connect(cls, port: int, password: str | None = "ClueCon") -> EslClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = cls(reader, writer)
        banner = await client.message()
        assert banner.raw == b"Content-Type: auth/request\n\n"
        if password is not None:
            reply = await client.command(f"auth {password}")
            assert reply.header("Reply-Text") == "+OK accepted"
        return client

    async def send(self, data: bytes | str) -> None:
        self.writer.write(data.encode() if isinstance(data, str) else data)
        await self.writer.drain()

    async def _read_message(self) -> Message:
        block = await self.reader.readuntil(b"\n\n")
        headers = split_headers(block[:-2])
        length = int(dict(headers).get("Content-Length", "0"))
        body = await self.reader.readexactly(length) if length else b""
        self.received += block + body
        return Message(headers, body, block + body)

    async def message(self, timeout: float = TIMEOUT) -> Message:
        """The next message of any kind (backlog first)."""
        if self.backlog:
            return self.backlog.pop(0)
        async with asyncio.timeout(timeout):
            return await self._read_message()

    async def reply(self, timeout: float = TIMEOUT) -> Message:
        """The next command/reply or api/response; messages read before it go to the backlog."""
        for index, message in enumerate(self.backlog):
            if message.content_type in ("command/reply", "api/response"):
                return self.backlog.pop(index)
        async with asyncio.timeout(timeout):
            while True:
                message = await self._read_message()
                if message.content_type in ("command/reply", "api/response"):
                    return message
                self.backlog.append(message)

    async def command(self, text: str, timeout: float = TIMEOUT) -> Message:
        await self.send(text + "\n\n")
        return await self.reply(timeout)

    async def event(self, timeout: float = TIMEOUT) -> RecordedEvent:
        """The next event (from the backlog first); fails on anything that is not an event."""
        message = await self.message(timeout)
        event = parse_event(message)
        assert event is not None, f"expected an event, got {message.raw!r}"
        return event

    async def until_closed(self, timeout: float = TIMEOUT) -> list[Message]:
        """Every message up to the server closing the socket."""
        found, self.backlog = self.backlog, []
        async with asyncio.timeout(timeout):
            while True:
                try:
                    found.append(await self._read_message())
                except asyncio.IncompleteReadError as exc:
                    assert exc.partial == b"", f"connection closed mid-message: {exc.partial!r}"
                    self.writer.close()
                    return found

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except OSError:
            pass


@asynccontextmanager
async def esl_server(switch: FakeSwitch | None = None, **options: float | int) -> AsyncIterator[EslServer]:
    """A started ``EslServer`` on a free port (over a new FakeSwitch unless given), closed afterwards."""
    server = EslServer(switch or FakeSwitch(), port=0, **options)  # type: ignore[arg-type]
    await server.start()
    try:
        yield server
    finally:
        await server.close()


def client_commands(data: bytes) -> list[bytes]:
    """Split what a client sent into commands: header block, then ``content-length`` (any case) bytes."""
    commands, position = [], 0
    while position < len(data):
        while data[position : position + 1] in (b"\n", b"\r"):
            position += 1
        if position >= len(data):
            break
        end = data.index(b"\n\n", position) + 2
        length = 0
        for name, value in split_headers(data[position : end - 2]):
            if name.lower() == "content-length":
                length = int(value)
        commands.append(data[position : end + length])
        position = end + length
    return commands


def replies(messages: list[Message]) -> list[Message]:
    return [m for m in messages if m.content_type in ("command/reply", "api/response")]
