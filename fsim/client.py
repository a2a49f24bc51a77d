"""A small asyncio Event Socket client: what ``whistle fsim call`` and the fsim tests speak to a running fsim.

::

    async with await EslClient.connect("127.0.0.1", 8021, "ClueCon") as esl:
        await esl.subscribe("CHANNEL_PARK", "CHANNEL_HANGUP_COMPLETE")
        job = await esl.bgapi("originate {origination_caller_id_number=1000}loopback/2000/default &park()")
        event = await esl.event(timeout=5)

Framing follows ``reference/freeswitch-observed.md``: a header block ended by an empty line, then exactly
``Content-Length`` body bytes. A reader task sorts what arrives: ``command/reply`` and ``api/response`` answer
the commands in FIFO order (events may arrive before a reply), events go to a queue in arrival order,
``log/data`` is dropped, and a ``text/disconnect-notice`` other than a linger notice ends the connection.
It is a test and CLI tool, not ecallmgr's client: no reconnection, no event backpressure.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote

import orjson

Headers = list[tuple[str, str]]
REPLY_TYPES = ("command/reply", "api/response")


class EslError(Exception):
    """The Event Socket conversation failed."""


class EslConnectionError(EslError):
    """Cannot connect, or the connection was lost (or closed by the server)."""


class EslAuthError(EslError):
    """The server refused the password."""


class EslTimeout(EslError):
    """No answer (reply, banner or event) within the time allowed."""


def _header(headers: Headers, name: str) -> str | None:
    lowered = name.lower()
    return next((value for key, value in headers if key.lower() == lowered), None)


def _split_headers(block: bytes, *, decode: bool = False) -> Headers:
    headers: Headers = []
    for line in block.decode(errors="replace").split("\n"):
        name, colon, value = line.partition(":")
        if colon and name:
            value = value.lstrip(" ")
            headers.append((name, unquote(value) if decode else value))
    return headers


@dataclass
class Message:
    """One message from the server: its envelope headers and its body (``b""`` when none)."""

    headers: Headers
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The first value of ``name`` (compared case-insensitively)."""
        return _header(self.headers, name)

    @property
    def content_type(self) -> str:
        return self.header("Content-Type") or ""

    @property
    def text(self) -> str:
        """A command/reply's Reply-Text, or an api/response's body."""
        if self.content_type == "command/reply":
            return self.header("Reply-Text") or ""
        return self.body.decode(errors="replace")


@dataclass
class EslEvent:
    """An event: its headers (decoded values, wire order) and its own body (BACKGROUND_JOB output...)."""

    headers: Headers
    body: bytes | None = None

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of ``name`` (exact name, as FreeSWITCH compares event headers)."""
        return next((value for key, value in self.headers if key == name), default)

    @property
    def name(self) -> str:
        return self.get("Event-Name") or ""


def parse_event(message: Message) -> EslEvent | None:
    """The event a ``text/event-plain`` or ``text/event-json`` message carries (None for anything else)."""
    if message.content_type == "text/event-plain":
        block, separator, rest = message.body.partition(b"\n\n")
        headers = _split_headers(block, decode=True)
        body = rest if separator and _header(headers, "Content-Length") is not None else None
        return EslEvent(headers, body)
    if message.content_type == "text/event-json":
        fields = orjson.loads(message.body)
        body = fields.pop("_body", None)
        return EslEvent([(key, str(value)) for key, value in fields.items()], body and body.encode())
    return None


class EslClient:
    """One authenticated inbound Event Socket connection; ``timeout`` (seconds) bounds every wait."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, timeout: float = 10.0
    ) -> None:
        self.timeout = timeout
        self._reader = reader
        self._writer = writer
        self._pending: deque[tuple[str, asyncio.Future[Message]]] = deque()
        self._events: asyncio.Queue[EslEvent | None] = asyncio.Queue()
        self._reader_task: asyncio.Task[None] | None = None
        self._lost: EslConnectionError | None = None
        self.notice: Message | None = None  # the disconnect notice, once the server sent it

    @classmethod
    async def connect(
        cls, host: str, port: int, password: str = "ClueCon", *, timeout: float = 10.0
    ) -> EslClient:
        """Connect, read the ``auth/request`` banner, authenticate.

        Raises :class:`EslConnectionError` (nothing listening, no banner), :class:`EslAuthError`
        (password refused) or :class:`EslTimeout`.
        """
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(host, port)
        except TimeoutError:
            raise EslTimeout(f"cannot connect to {host}:{port}: no answer within {timeout:g} s") from None
        except ConnectionRefusedError:
            raise EslConnectionError(f"cannot connect to {host}:{port}: connection refused") from None
        except OSError as error:
            raise EslConnectionError(f"cannot connect to {host}:{port}: {error.strerror or error}") from None
        client = cls(reader, writer, timeout=timeout)
        try:
            async with asyncio.timeout(timeout):
                banner = await client._read_message()
            if banner.content_type != "auth/request":
                raise EslConnectionError(
                    f"{host}:{port} is not an Event Socket (got {banner.content_type!r})"
                )
            client._reader_task = asyncio.get_running_loop().create_task(client._read_loop())
            reply = await client.command(f"auth {password}")
            if reply.text != "+OK accepted":
                raise EslAuthError(f"{host}:{port} refused the password: {reply.text}")
        except TimeoutError:
            await client.close()
            raise EslTimeout(f"{host}:{port} sent no Event Socket banner within {timeout:g} s") from None
        except (asyncio.IncompleteReadError, ConnectionError) as error:
            await client.close()
            raise EslConnectionError(f"{host}:{port} closed the connection ({error})") from None
        except BaseException:
            await client.close()
            raise
        return client

    async def __aenter__(self) -> EslClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- commands ----------------------------------------------------------------------------------

    async def command(
        self, line: str, headers: Iterable[tuple[str, str]] = (), body: bytes | None = None
    ) -> Message:
        """Send one command (a first line, headers, an optional body); its ``command/reply``."""
        return await self._request("command/reply", line, list(headers), body)

    async def api(self, command: str) -> str:
        """``api <command>``: the command's output (the api/response body)."""
        return (await self._request("api/response", f"api {command}", [], None)).text

    async def bgapi(self, command: str, job_uuid: str | None = None) -> str:
        """``bgapi <command>``: the Job-UUID whose BACKGROUND_JOB event will carry the output."""
        headers = [("Job-UUID", job_uuid)] if job_uuid else []
        reply = await self.command(f"bgapi {command}", headers)
        job = reply.header("Job-UUID")
        if not reply.text.startswith("+OK") or not job:
            raise EslError(f"bgapi {command}: {reply.text}")
        return job

    async def sendmsg(self, uuid: str, headers: Iterable[tuple[str, str]], body: bytes | None = None) -> str:
        """``sendmsg <uuid>`` with ``headers`` (call-command, execute-app-name...); the Reply-Text."""
        return (await self.command(f"sendmsg {uuid}", headers, body)).text

    async def execute(self, uuid: str, app: str, arg: str = "", *, event_lock: bool = False) -> str:
        """A ``sendmsg`` that executes application ``app`` on channel ``uuid``."""
        headers = [("call-command", "execute"), ("execute-app-name", app)]
        headers += [("execute-app-arg", arg)] if arg else []
        headers += [("event-lock", "true")] if event_lock else []
        return await self.sendmsg(uuid, headers)

    async def subscribe(self, *names: str, fmt: str = "plain") -> str:
        """``event <fmt> <names>`` (``ALL`` when none); the Reply-Text."""
        return (await self.command(f"event {fmt} {' '.join(names) or 'ALL'}")).text

    async def filter(self, header: str, value: str) -> str:
        """``filter <header> <value>``: from now on only matching events (any filter) are delivered."""
        return (await self.command(f"filter {header} {value}")).text

    # -- events ------------------------------------------------------------------------------------

    async def event(self, timeout: float | None = None) -> EslEvent:
        """The next event, in arrival order. Raises :class:`EslTimeout` or :class:`EslConnectionError`."""
        if self._lost is not None and self._events.empty():
            raise self._lost
        limit = self.timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(limit):
                event = await self._events.get()
        except TimeoutError:
            raise EslTimeout(f"no event within {limit:g} s") from None
        if event is None:  # the reader's end marker; keep it for other readers
            self._events.put_nowait(None)
            raise self._lost or EslConnectionError("connection closed")
        return event

    async def close(self) -> None:
        """Close the socket and stop the reader; pending commands fail with EslConnectionError."""
        if self._reader_task is not None:
            self._reader_task.cancel()
            await asyncio.gather(self._reader_task, return_exceptions=True)
        self._fail(EslConnectionError("connection closed by the client"))
        self._writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await asyncio.wait_for(self._writer.wait_closed(), self.timeout)

    # -- plumbing ----------------------------------------------------------------------------------

    async def _request(self, expected: str, line: str, headers: Headers, body: bytes | None) -> Message:
        if "\n" in line or any("\n" in f"{name}{value}" for name, value in headers):
            raise ValueError("ESL commands and headers are single lines")
        if self._lost is not None:
            raise self._lost
        if body is not None:
            headers = [*headers, ("Content-Length", str(len(body)))]
        data = "".join([line + "\n", *(f"{name}: {value}\n" for name, value in headers), "\n"]).encode()
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending.append((expected, future))  # before writing: the reply may come at once
        self._writer.write(data + (body or b""))
        try:
            async with asyncio.timeout(self.timeout):
                await self._writer.drain()
                reply = await future  # a timeout cancels it; its late reply is then skipped
        except TimeoutError:
            raise EslTimeout(f"no reply to {line.split(' ', 1)[0]!r} within {self.timeout:g} s") from None
        except ConnectionError as error:
            raise EslConnectionError(f"connection lost: {error}") from None
        if reply.content_type != expected:
            raise EslError(f"{line!r}: expected {expected}, got {reply.content_type}")
        return reply

    async def _read_message(self) -> Message:
        block = await self._reader.readuntil(b"\n\n")
        headers = _split_headers(block[:-2])
        length = int(_header(headers, "Content-Length") or 0)
        body = await self._reader.readexactly(length) if length > 0 else b""
        return Message(headers, body)

    async def _read_loop(self) -> None:
        """Sort incoming messages until the server closes the connection."""
        try:
            while True:
                message = await self._read_message()
                kind = message.content_type
                if kind in REPLY_TYPES:
                    if not self._pending:
                        raise EslError(f"unexpected {kind}: {message.text!r}")
                    _, future = self._pending.popleft()
                    if not future.done():
                        future.set_result(message)
                elif kind == "text/disconnect-notice":
                    self.notice = message
                    if message.header("Content-Disposition") != "linger":
                        break
                else:
                    event = parse_event(message)
                    if event is not None:
                        self._events.put_nowait(event)
            self._fail(EslConnectionError("the server closed the connection"))
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, ValueError) as error:
            self._fail(EslConnectionError(f"connection lost: {error or type(error).__name__}"))
        except EslError as error:
            self._fail(EslConnectionError(str(error)))

    def _fail(self, error: EslConnectionError) -> None:
        if self._lost is None:
            self._lost = error
            self._events.put_nowait(None)
        while self._pending:
            _, future = self._pending.popleft()
            if not future.done():
                future.set_exception(error)
