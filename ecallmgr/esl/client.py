"""The asyncio inbound Event Socket client of one FreeSWITCH node.

::

    client = EslClient("10.0.0.5", 8021, "ClueCon", node_name="fs1", on_event=handle, on_connected=resync)
    await client.connect()                      # auth, `event json <subscriptions>`, then on_connected
    status = await client.api("status")         # api/response body
    output = await client.bgapi("originate loopback/park_me/default &park()")  # BACKGROUND_JOB body
    await client.sendmsg(uuid, "answer", event_uuid=str(uuid4()), event_lock=True)
    await client.close()

Replies are matched by type, FIFO (``command/reply`` and ``api/response`` each have their own queue),
because events can arrive before a command's reply. Events go to ``on_event`` (sync or async, called
inline by the reader, in order: it must not await one of this client's replies, or it deadlocks the
reader) or, without ``on_event``, to the unbounded queue :attr:`EslClient.events`. Every request waits
with a timeout (``timeout``, ``bgapi_timeout``); ``on_connected`` is awaited as is (its own requests time
out). A request that timed out stays in its FIFO slot, so the late reply is dropped, not given to the next.

When the connection is lost (EOF, reset, a truncated frame at EOF, a malformed or oversized frame) the
client logs one line with the node's name, fails the pending requests with :class:`EslDisconnected`,
calls ``on_disconnected`` and reconnects with exponential backoff (``backoff_initial`` doubling up to
``backoff_max``); after every successful (re)connection it re-subscribes and awaits ``on_connected`` so
the owner can re-read the node's channels. :meth:`close` cancels every task the client owns.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import uuid as uuidlib
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Literal

from ecallmgr.esl.errors import AuthError, CommandError, EslDisconnected, EslError
from ecallmgr.esl.parser import MAX_BODY, MAX_HEADER_BLOCK, Event, Frame, FrameError, FrameParser

log = logging.getLogger("ecallmgr.esl")

COMMAND_REPLY = "command/reply"
API_RESPONSE = "api/response"
READ_SIZE = 256 * 1024

EventCallback = Callable[[Event], Awaitable[None] | None]
ClientHook = Callable[["EslClient"], Awaitable[None] | None]
DisconnectHook = Callable[["EslClient", str], Awaitable[None] | None]


def encode_command(command: str, headers: Mapping[str, str] | None = None, body: str | None = None) -> bytes:
    """One ESL command. Refuses newlines in the command and headers (they would inject commands)."""
    lines = [command]
    if headers:
        lines += [f"{name}: {value}" for name, value in headers.items()]
    for line in lines:
        if "\n" in line or "\r" in line:
            raise ValueError(f"newline in ESL command line {line[:80]!r}")
    payload = b""
    if body is not None:
        payload = body.encode()
        lines.append(f"Content-Length: {len(payload)}")
    return ("\n".join(lines) + "\n\n").encode() + payload


class EslClient:
    """One inbound ESL connection to one FreeSWITCH node, kept alive by reconnecting."""

    def __init__(
        self,
        host: str,
        port: int,
        password: str,
        *,
        node_name: str,
        events: Literal["json", "plain"] = "json",
        subscriptions: Iterable[str] = ("ALL",),
        on_event: EventCallback | None = None,
        on_connected: ClientHook | None = None,
        on_disconnected: DisconnectHook | None = None,
        timeout: float = 10.0,
        connect_timeout: float = 5.0,
        bgapi_timeout: float = 60.0,
        backoff_initial: float = 0.1,
        backoff_max: float = 30.0,
        max_header_block: int = MAX_HEADER_BLOCK,
        max_body: int = MAX_BODY,
    ) -> None:
        if events not in ("json", "plain"):
            raise ValueError(f"events must be 'json' or 'plain', not {events!r}")
        self.host, self.port, self.node_name = host, port, node_name
        self._password = password
        self.format = events
        self.subscriptions = list(subscriptions)
        self.on_event, self.on_connected, self.on_disconnected = on_event, on_connected, on_disconnected
        self.timeout, self.connect_timeout, self.bgapi_timeout = timeout, connect_timeout, bgapi_timeout
        self.backoff_initial, self.backoff_max = backoff_initial, backoff_max
        self._limits = {"max_header_block": max_header_block, "max_body": max_body}
        self.events: asyncio.Queue[Event] = asyncio.Queue()  # used when there is no on_event
        self.connected = asyncio.Event()  # set while authenticated and subscribed
        self.connections = 0  # successful (re)connections so far
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[str] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._banner: asyncio.Future[None] | None = None
        self._replies: dict[str, deque[asyncio.Future[Frame]]] = {
            COMMAND_REPLY: deque(),
            API_RESPONSE: deque(),
        }
        self._jobs: dict[str, asyncio.Future[Event]] = {}
        self._closing = False

    def __repr__(self) -> str:
        return f"<EslClient {self.node_name} {self.host}:{self.port}>"

    # -- lifecycle -------------------------------------------------------------------------------------

    async def connect(self) -> None:
        """First connection: raises AuthError, OSError or TimeoutError; afterwards the client reconnects
        by itself whenever the connection is lost."""
        if self._supervisor is not None or self._closing:
            raise RuntimeError(f"{self!r} is already started (or closed)")
        await self._open()
        self._supervisor = asyncio.get_running_loop().create_task(
            self._supervise(), name=f"esl-supervisor-{self.node_name}"
        )

    async def close(self) -> None:
        """Stop reconnecting, close the socket, cancel every task, fail pending requests. Idempotent."""
        self._closing = True
        for _ in range(2):  # a supervisor cancelled mid-_open() may leave a fresh reader behind
            tasks = [task for task in (self._supervisor, self._reader_task) if task and not task.done()]
            for task in tasks:
                if task is not asyncio.current_task():
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        self._fail_waiters(EslDisconnected(f"ESL {self.node_name}: client closed"))

    async def _supervise(self) -> None:
        delay = self.backoff_initial
        while not self._closing:
            assert self._reader_task is not None
            reason = await asyncio.shield(self._reader_task)
            log.warning("ESL %s (%s:%d): %s; reconnecting", self.node_name, self.host, self.port, reason)
            await self._call(self.on_disconnected, self, reason)
            while not self._closing:
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff_max)
                try:
                    await self._open()
                except (OSError, TimeoutError, EslError, FrameError) as error:
                    log.warning(
                        "ESL %s (%s:%d): reconnect failed: %s", self.node_name, self.host, self.port, error
                    )
                    continue
                except Exception:  # never let the supervisor die: it is the only thing that reconnects
                    log.exception("ESL %s (%s:%d): reconnect failed", self.node_name, self.host, self.port)
                    continue
                delay = self.backoff_initial
                break

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.connect_timeout):
            reader, writer = await asyncio.open_connection(self.host, self.port)
        self._writer = writer
        self._banner = loop.create_future()
        self._reader_task = loop.create_task(
            self._read(reader, writer, FrameParser(**self._limits)), name=f"esl-reader-{self.node_name}"
        )
        try:
            async with asyncio.timeout(self.timeout):
                await self._banner
            reply = await self.command(f"auth {self._password}")
            if reply.reply_text != "+OK accepted":
                raise AuthError(f"ESL {self.node_name}: authentication refused: {reply.reply_text}")
            names = list(self.subscriptions)
            if names and "ALL" not in names and "BACKGROUND_JOB" not in names:
                names.insert(0, "BACKGROUND_JOB")  # bgapi needs it; before CUSTOM (subclasses follow it)
            reply = await self.command(f"event {self.format} {' '.join(names or ['BACKGROUND_JOB'])}")
            if not reply.reply_text.startswith("+OK"):
                raise CommandError(f"ESL {self.node_name}: subscription refused: {reply.reply_text}")
        except BaseException:
            self._reader_task.cancel()
            await asyncio.gather(self._reader_task, return_exceptions=True)
            raise
        self.connections += 1
        self.connected.set()
        log.info("ESL %s (%s:%d): connected", self.node_name, self.host, self.port)
        await self._call(self.on_connected, self)

    async def _call(self, hook: Callable[..., Any] | None, *args: Any) -> None:
        if hook is None:
            return
        try:
            result = hook(*args)
            if inspect.isawaitable(result):
                await result
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("ESL %s: %s failed", self.node_name, getattr(hook, "__name__", hook))

    # -- reading ---------------------------------------------------------------------------------------

    async def _read(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, parser: FrameParser
    ) -> str:
        """Read frames until the connection ends; returns why. Always closes and fails the waiters."""
        reason = "client closed"
        try:
            while True:
                data = await reader.read(READ_SIZE)
                if not data:
                    reason = "connection closed by FreeSWITCH"
                    if parser.buffered:
                        reason = f"connection closed in the middle of a frame ({parser.buffered} bytes)"
                    break
                on_event = self.on_event
                for frame in parser.feed(data):
                    event = frame.event
                    if on_event is not None and event is not None and event.name != "BACKGROUND_JOB":
                        await self._event(on_event, event)  # the hot path: _dispatch without its checks
                    else:
                        await self._dispatch(frame)
        except FrameError as error:
            reason = f"malformed frame: {error}"
        except OSError as error:
            reason = f"connection error: {error!r}"
        except Exception as exc:  # anything else: reconnect too, or the supervisor would end silently
            log.exception("ESL %s (%s:%d): reader failed", self.node_name, self.host, self.port)
            reason = f"reader failed: {exc!r}"
        finally:
            self.connected.clear()
            if self._writer is writer:
                self._writer = None
            writer.close()
            self._fail_waiters(EslDisconnected(f"ESL {self.node_name}: {reason}"))
        return reason

    async def _event(self, on_event: EventCallback, event: Event) -> None:
        """``on_event(event)`` as :meth:`_call` does it (a failure is logged, the reader goes on), with one
        check fewer for the usual coroutine function."""
        try:
            result = on_event(event)
            if result is not None and inspect.isawaitable(result):
                await result
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("ESL %s: %s failed", self.node_name, getattr(on_event, "__name__", on_event))

    async def _dispatch(self, frame: Frame) -> None:
        event = frame.event
        if event is not None:
            if event.name == "BACKGROUND_JOB":
                job = self._jobs.pop(event.get("Job-UUID") or "", None)
                if job is not None and not job.done():
                    job.set_result(event)
            if self.on_event is None:
                self.events.put_nowait(event)
            else:
                await self._call(self.on_event, event)
            return
        kind = frame.content_type
        waiters = self._replies.get(kind)
        if waiters is not None:
            if not waiters:
                log.warning("ESL %s: unexpected %s %r", self.node_name, kind, frame.reply_text or frame.text)
                return
            waiter = waiters.popleft()
            if not waiter.done():  # done: its caller timed out; the reply is dropped, FIFO kept
                waiter.set_result(frame)
        elif kind == "auth/request":
            if self._banner is not None and not self._banner.done():
                self._banner.set_result(None)
        elif kind == "text/rude-rejection":
            if self._banner is not None and not self._banner.done():
                self._banner.set_exception(AuthError(f"ESL {self.node_name}: rejected: {frame.text.strip()}"))
        elif kind == "text/disconnect-notice":
            log.info("ESL %s: disconnect notice: %s", self.node_name, frame.text.strip())
        else:
            log.debug("ESL %s: ignoring %s", self.node_name, kind)

    def _fail_waiters(self, error: EslDisconnected) -> None:
        waiting: list[asyncio.Future[Any]] = [*self._jobs.values()]
        self._jobs.clear()
        for waiters in self._replies.values():
            waiting += waiters
            waiters.clear()
        if self._banner is not None:
            waiting.append(self._banner)
        for future in waiting:
            if not future.done():
                future.set_exception(error)
                future.exception()  # retrieved: no "never retrieved" warning when nobody awaits it

    # -- requests --------------------------------------------------------------------------------------

    async def _request(self, kind: str, data: bytes) -> Frame:
        writer = self._writer
        if writer is None:
            raise EslDisconnected(f"ESL {self.node_name}: not connected")
        waiter: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self._replies[kind].append(waiter)  # append and write with no await between: FIFO order holds
        writer.write(data)
        try:
            await writer.drain()
        except OSError as error:
            raise EslDisconnected(f"ESL {self.node_name}: {error!r}") from error
        return await waiter

    async def command(
        self,
        command: str,
        headers: Mapping[str, str] | None = None,
        body: str | None = None,
        *,
        timeout: float | None = None,
    ) -> Frame:
        """Send any ESL command; returns its ``command/reply`` frame (see ``Frame.reply_text``)."""
        async with asyncio.timeout(timeout or self.timeout):
            return await self._request(COMMAND_REPLY, encode_command(command, headers, body))

    async def api(self, command: str, *, timeout: float | None = None) -> str:
        """``api <command>``; returns the api/response body (which need not end in a newline)."""
        async with asyncio.timeout(timeout or self.timeout):
            frame = await self._request(API_RESPONSE, encode_command(f"api {command}"))
        return frame.text

    async def bgapi(self, command: str, job_uuid: str | None = None, *, timeout: float | None = None) -> str:
        """``bgapi <command>`` with our own Job-UUID; returns the BACKGROUND_JOB body once the job ends.
        Raises CommandError if FreeSWITCH refuses the bgapi, TimeoutError after ``timeout`` in all."""
        job_uuid = job_uuid or str(uuidlib.uuid4())
        job: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._jobs[job_uuid] = job  # before sending: the job can end before the reply arrives
        try:
            async with asyncio.timeout(timeout or self.bgapi_timeout):
                data = encode_command(f"bgapi {command}", {"Job-UUID": job_uuid})
                reply = await self._request(COMMAND_REPLY, data)
                if not reply.reply_text.startswith("+OK"):
                    raise CommandError(f"ESL {self.node_name}: bgapi {command}: {reply.reply_text}")
                event = await job
        finally:
            if self._jobs.get(job_uuid) is job:
                del self._jobs[job_uuid]
        return event.body or ""

    async def sendmsg(
        self,
        uuid: str,
        app: str,
        arg: str | None = None,
        *,
        event_uuid: str | None = None,
        event_lock: bool = False,
        loops: int = 1,
        timeout: float | None = None,
    ) -> str:
        """Queue ``app(arg)`` on channel ``uuid``; returns the Reply-Text (``+OK`` or ``-ERR ...``).
        ``event_uuid`` comes back as Application-UUID on the CHANNEL_EXECUTE[_COMPLETE] events."""
        headers = {"call-command": "execute", "execute-app-name": app}
        body = None
        if arg is not None and ("\n" in arg or "\r" in arg):
            headers["content-type"] = "text/plain"
            body = arg
        elif arg is not None:
            headers["execute-app-arg"] = arg
        if loops != 1:
            headers["loops"] = str(loops)
        if event_lock:
            headers["event-lock"] = "true"
        if event_uuid:
            headers["Event-UUID"] = event_uuid
        frame = await self.command(f"sendmsg {uuid}", headers, body, timeout=timeout)
        return frame.reply_text
