"""ecallmgr.esl.client against fsim over real sockets, and against scripted servers for the failure cases."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import orjson
import pytest

from ecallmgr.esl import AuthError, EslClient, EslDisconnected, Event
from fsim.esl.server import EslServer
from fsim.runtime import Simulator, SimulatorSettings

WAIT = 10.0  # seconds any single expectation may take before the test fails


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(SimulatorSettings(esl_port=0, time_scale=0.01)) as simulator:
        yield simulator


@contextlib.asynccontextmanager
async def client_for(port: int, **options: object) -> AsyncIterator[EslClient]:
    options.setdefault("backoff_initial", 0.01)
    client = EslClient("127.0.0.1", port, "ClueCon", node_name="fs-test", **options)  # type: ignore[arg-type]
    try:
        yield client
    finally:
        await client.close()


async def next_event(client: EslClient, match: Callable[[Event], bool]) -> Event:
    async with asyncio.timeout(WAIT):
        while True:
            event = await client.events.get()
            if match(event):
                return event


class Hooks:
    """on_connected / on_disconnected recorders the tests can wait on."""

    def __init__(self) -> None:
        self.connected = 0
        self.disconnects: list[str] = []
        self._changed = asyncio.Condition()

    async def on_connected(self, client: EslClient) -> None:
        async with self._changed:
            self.connected += 1
            self._changed.notify_all()

    async def on_disconnected(self, client: EslClient, reason: str) -> None:
        async with self._changed:
            self.disconnects.append(reason)
            self._changed.notify_all()

    async def until(self, predicate: Callable[[], bool]) -> None:
        async with asyncio.timeout(WAIT), self._changed:
            await self._changed.wait_for(predicate)


# -- against fsim ----------------------------------------------------------------------------------------


async def test_connect_authenticates_and_api_returns_the_body(sim):
    async with client_for(sim.esl_port) as client:
        await client.connect()
        assert client.connected.is_set()
        status = await client.api("status")
        assert status.startswith("UP ")
        assert (await client.api("nosuchcommand")).startswith("-ERR nosuchcommand")


async def test_a_wrong_password_raises_auth_error(sim):
    client = EslClient("127.0.0.1", sim.esl_port, "wrong", node_name="fs-test")
    with pytest.raises(AuthError, match="fs-test"):
        await client.connect()
    assert not client.connected.is_set()
    await client.close()


@pytest.mark.parametrize("events", ["json", "plain"])
async def test_bgapi_originate_and_sendmsg_answer_with_event_uuid(sim, events):
    async with client_for(sim.esl_port, events=events) as client:
        await client.connect()
        job_uuid = str(uuid.uuid4())
        job = asyncio.create_task(client.bgapi("originate loopback/park_me/default &park()", job_uuid))
        # park_me parks the -b leg unanswered: the job stays open until something answers it
        b_leg = await next_event(
            client, lambda e: e.name == "CHANNEL_PARK" and e.get("Channel-Name", "").endswith("-b")
        )
        assert b_leg.format == events
        app_uuid = str(uuid.uuid4())
        assert (
            await client.sendmsg(b_leg["Unique-ID"], "answer", event_uuid=app_uuid, event_lock=True) == "+OK"
        )
        done = await next_event(client, lambda e: e.get("Application-UUID") == app_uuid)
        assert (done.name, done.get("Application")) == ("CHANNEL_EXECUTE", "answer")
        done = await next_event(client, lambda e: e.name == "CHANNEL_EXECUTE_COMPLETE")
        assert done.get("Application-UUID") == app_uuid
        async with asyncio.timeout(WAIT):
            output = await job
        assert output.startswith("+OK ")
        background = await next_event(client, lambda e: e.name == "BACKGROUND_JOB")
        assert background.get("Job-UUID") == job_uuid


async def test_sendmsg_to_an_unknown_channel_returns_the_error_text(sim):
    async with client_for(sim.esl_port) as client:
        await client.connect()
        assert (await client.sendmsg("nope", "answer")).startswith("-ERR invalid session id")


async def test_reconnects_after_the_server_goes_away_and_calls_on_connected_again(sim):
    hooks = Hooks()
    port = sim.esl_port
    async with client_for(port, on_connected=hooks.on_connected, on_disconnected=hooks.on_disconnected) as c:
        await c.connect()
        assert hooks.connected == 1
        pending = asyncio.create_task(c.bgapi("originate loopback/park_me/default &park()"))
        await next_event(c, lambda e: e.name == "CHANNEL_PARK")
        await sim.esl.close()  # the switch keeps running; its ESL server goes away
        with pytest.raises(EslDisconnected, match="fs-test"):
            async with asyncio.timeout(WAIT):
                await pending
        await hooks.until(lambda: len(hooks.disconnects) == 1)
        with pytest.raises(EslDisconnected):
            await c.api("status")
        server = EslServer(sim.switch, port=port)
        await server.start()
        try:
            await hooks.until(lambda: hooks.connected == 2)
            assert c.connections == 2
            assert (await c.api("status")).startswith("UP ")
        finally:
            await server.close()


async def test_close_cancels_every_task(sim):
    client = EslClient("127.0.0.1", sim.esl_port, "ClueCon", node_name="fs-test")
    await client.connect()
    tasks = [client._supervisor, client._reader_task]
    await client.close()
    assert all(task is not None and task.done() for task in tasks)
    with pytest.raises(EslDisconnected):
        await client.api("status")


# -- against scripted servers -------------------------------------------------------------------------------

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


@contextlib.asynccontextmanager
async def scripted(script: Script) -> AsyncIterator[int]:
    """A TCP server running ``script(reader, writer, connection_number)`` for every connection."""
    count = 0
    handlers: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal count
        count += 1
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            await script(reader, writer, count)
        finally:
            writer.close()
            handlers.discard(task)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in list(handlers):
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()


async def handshake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"Content-Type: auth/request\n\n")
    assert (await reader.readuntil(b"\n\n")).startswith(b"auth ")
    writer.write(b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n")
    assert (await reader.readuntil(b"\n\n")).startswith(b"event json")
    writer.write(b"Content-Type: command/reply\nReply-Text: +OK event listener enabled json\n\n")


def json_event(name: str, **headers: str) -> bytes:
    body = orjson.dumps({"Event-Name": name, **headers})
    return f"Content-Length: {len(body)}\nContent-Type: text/event-json\n\n".encode() + body


async def test_events_arriving_before_a_reply_are_delivered_and_the_reply_still_matches():
    async def script(reader, writer, number):
        await handshake(reader, writer)
        assert await reader.readuntil(b"\n\n") == b"api status\n\n"
        assert (
            await reader.readuntil(b"\n\n")
            == b"sendmsg u1\ncall-command: execute\nexecute-app-name: park\n\n"
        )
        writer.write(json_event("CHANNEL_EXECUTE", Application="park") + json_event("CHANNEL_PARK"))
        writer.write(b"Content-Type: api/response\nContent-Length: 4\n\nUP 1")  # no newline at the end
        writer.write(json_event("HEARTBEAT") + b"Content-Type: command/reply\nReply-Text: +OK\n\n")
        await reader.read()

    async with scripted(script) as port, client_for(port) as client:
        await client.connect()
        api = asyncio.create_task(client.api("status"))
        sendmsg = asyncio.create_task(client.sendmsg("u1", "park"))
        async with asyncio.timeout(WAIT):
            assert await api == "UP 1"
            assert await sendmsg == "+OK"
        names = [client.events.get_nowait().name for _ in range(client.events.qsize())]
        assert names == ["CHANNEL_EXECUTE", "CHANNEL_PARK", "HEARTBEAT"]


async def test_a_truncated_body_at_eof_is_reported_and_the_client_reconnects_without_spinning():
    async def script(reader, writer, number):
        await handshake(reader, writer)
        if number == 1:
            writer.write(b"Content-Length: 1000\nContent-Type: text/event-plain\n\nEvent-Name: CH")
            await writer.drain()
            return  # closes: FreeSWITCH died mid-event
        await reader.read()

    hooks = Hooks()
    async with (
        scripted(script) as port,
        client_for(port, on_connected=hooks.on_connected, on_disconnected=hooks.on_disconnected) as c,
    ):
        await c.connect()
        await hooks.until(lambda: hooks.connected == 2)
        assert "middle of a frame" in hooks.disconnects[0]


async def test_a_malformed_frame_fails_the_pending_request_logs_the_node_and_reconnects(caplog):
    async def script(reader, writer, number):
        await handshake(reader, writer)
        if number == 1:
            await reader.readuntil(b"\n\n")
            writer.write(b"Content-Type: api/response\nContent-Length: lots\n\n")
        await reader.read()

    hooks = Hooks()
    async with scripted(script) as port, client_for(port, on_connected=hooks.on_connected) as client:
        await client.connect()
        with pytest.raises(EslDisconnected, match="malformed frame"):
            await client.api("status")
        await hooks.until(lambda: hooks.connected == 2)
    assert any("fs-test" in r.getMessage() and "malformed" in r.getMessage() for r in caplog.records)


async def test_a_timed_out_request_keeps_the_fifo_in_step():
    release = asyncio.Event()

    async def script(reader, writer, number):
        await handshake(reader, writer)
        await reader.readuntil(b"\n\n")
        await reader.readuntil(b"\n\n")
        await release.wait()
        writer.write(b"Content-Type: api/response\nContent-Length: 5\n\nfirst")
        writer.write(b"Content-Type: api/response\nContent-Length: 6\n\nsecond")
        await reader.read()

    async with scripted(script) as port, client_for(port) as client:
        await client.connect()
        first = asyncio.create_task(client.api("one", timeout=0.05))
        second = asyncio.create_task(client.api("two"))
        with pytest.raises(TimeoutError):
            await first
        release.set()
        async with asyncio.timeout(WAIT):
            assert await second == "second"


async def test_the_first_connection_refused_raises_os_error():
    async with scripted(handshake) as port:
        pass  # the port is free again
    client = EslClient("127.0.0.1", port, "ClueCon", node_name="fs-test")
    with pytest.raises(OSError):
        await client.connect()
    await client.close()


async def test_a_multi_line_sendmsg_argument_goes_in_a_body_and_newlines_elsewhere_are_refused():
    async def script(reader, writer, number):
        await handshake(reader, writer)
        head = await reader.readuntil(b"\n\n")
        assert b"content-type: text/plain\n" in head and b"Content-Length: 3\n" in head
        assert await reader.readexactly(3) == b"a\nb"
        writer.write(b"Content-Type: command/reply\nReply-Text: +OK\n\n")
        await reader.read()

    async with scripted(script) as port, client_for(port) as client:
        await client.connect()
        assert await client.sendmsg("u1", "set", "a\nb") == "+OK"
        with pytest.raises(ValueError, match="newline"):
            await client.api("status\n\nexit")
        with pytest.raises(ValueError, match="newline"):
            await client.sendmsg("u1\nexit", "answer")


async def test_a_rude_rejection_raises_auth_error():
    async def script(reader, writer, number):
        writer.write(b"Content-Type: text/rude-rejection\nContent-Length: 13\n\nAccess Denied")
        await writer.drain()

    async with scripted(script) as port:
        client = EslClient("127.0.0.1", port, "ClueCon", node_name="fs-test")
        with pytest.raises(AuthError, match="Access Denied"):
            await client.connect()
        await client.close()


async def test_an_unexpected_error_in_the_reader_logs_the_node_and_reconnects(caplog):
    async def script(reader, writer, number):
        await handshake(reader, writer)
        if number == 1:
            await reader.readuntil(b"\n\n")
            writer.write(json_event("HEARTBEAT"))
        await reader.read()

    hooks = Hooks()
    async with (
        scripted(script) as port,
        client_for(port, on_connected=hooks.on_connected, on_disconnected=hooks.on_disconnected) as client,
    ):
        dispatch = client._dispatch
        failures: list[Exception] = []

        async def flaky(frame):
            if failures:
                raise failures.pop()
            await dispatch(frame)

        client._dispatch = flaky  # type: ignore[method-assign]
        await client.connect()
        failures.append(RuntimeError("bug in a handler"))
        with pytest.raises(EslDisconnected, match="bug in a handler"):
            await client.api("status")
        await hooks.until(lambda: hooks.connected == 2)
        assert "bug in a handler" in hooks.disconnects[0]
    assert any("fs-test" in r.getMessage() and "reader failed" in r.getMessage() for r in caplog.records)
