"""fsim's small ESL client (fsim.client): framing, replies in FIFO order among events, clear failures.

Most tests talk to a scripted raw server that writes exactly the bytes a FreeSWITCH would (recorded
shapes), so the client's framing is checked byte by byte; one talks to fsim's own EslServer.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from fsim.client import EslAuthError, EslClient, EslConnectionError, EslTimeout
from fsim.runtime import Simulator, SimulatorSettings

TIMEOUT = 5.0
BANNER = b"Content-Type: auth/request\n\n"
ACCEPTED = b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n"
Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def reply(text: str) -> bytes:
    return f"Content-Type: command/reply\nReply-Text: {text}\n\n".encode()


def api_response(body: bytes) -> bytes:
    return b"Content-Type: api/response\nContent-Length: %d\n\n%s" % (len(body), body)


def plain_event(block: str, body: bytes | None = None) -> bytes:
    payload = block.encode() + (b"Content-Length: %d\n\n%s" % (len(body), body) if body else b"\n")
    return b"Content-Length: %d\nContent-Type: text/event-plain\n\n%s" % (len(payload), payload)


async def command(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.readuntil(b"\n\n"), TIMEOUT)


@asynccontextmanager
async def scripted(script: Script) -> AsyncIterator[int]:
    """A raw server on a free port that plays ``script`` to each client (after the banner and auth)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(BANNER)
        if await command(reader) == b"auth ClueCon\n\n":
            writer.write(ACCEPTED)
            await script(reader, writer)
        else:
            writer.write(reply("-ERR invalid"))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def test_replies_are_matched_in_fifo_order_while_events_arrive_in_between():
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await command(reader)  # api status
        await command(reader)  # sendmsg
        writer.write(plain_event("Event-Name: CHANNEL_EXECUTE\nUnique-ID: abc\nApplication-Data: a%20b\n"))
        writer.write(api_response(b"UP 0 years\n\nbody with a blank line\n"))  # split writes below
        body = b"+OK 6d0d489d\n"
        job = plain_event("Event-Name: BACKGROUND_JOB\nJob-UUID: j1\n", body)
        writer.write(job[:30])
        await writer.drain()
        writer.write(job[30:] + reply("+OK"))
        await command(reader)  # exit
        writer.write(reply("+OK bye"))

    async with scripted(script) as port, await EslClient.connect("127.0.0.1", port, timeout=TIMEOUT) as esl:
        status, sent = await asyncio.gather(
            esl.api("status"), esl.sendmsg("abc", [("call-command", "hangup")])
        )
        assert status == "UP 0 years\n\nbody with a blank line\n"
        assert sent == "+OK"
        execute, job = await esl.event(), await esl.event()
        assert (execute.name, execute.get("Application-Data"), execute.body) == (
            "CHANNEL_EXECUTE",
            "a b",
            None,
        )
        assert (job.name, job.get("Job-UUID"), job.body) == ("BACKGROUND_JOB", "j1", b"+OK 6d0d489d\n")
        assert (await esl.command("exit")).text == "+OK bye"


async def test_a_command_with_a_body_announces_its_length_and_commands_cannot_inject_lines():
    received: list[bytes] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await command(reader))
        received.append(await reader.readexactly(5))
        writer.write(reply("+OK"))

    async with scripted(script) as port, await EslClient.connect("127.0.0.1", port, timeout=TIMEOUT) as esl:
        assert await esl.sendmsg("abc", [("call-command", "execute")], b"hello") == "+OK"
        with pytest.raises(ValueError):
            await esl.api("status\n\nexit")
    assert received == [b"sendmsg abc\ncall-command: execute\nContent-Length: 5\n\n", b"hello"]


async def test_a_server_that_goes_away_fails_pending_commands_and_event_readers():
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await command(reader)  # api status: never answered
        writer.write(b"Content-Type: text/disconnect-notice\nContent-Length: 9\n\nGoodbye.\n")

    async with scripted(script) as port, await EslClient.connect("127.0.0.1", port, timeout=TIMEOUT) as esl:
        with pytest.raises(EslConnectionError):
            await esl.api("status")
        with pytest.raises(EslConnectionError):
            await esl.event()
        assert esl.notice is not None and esl.notice.body == b"Goodbye.\n"


async def test_a_wrong_password_is_an_auth_error():
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        pass

    async with scripted(script) as port:
        with pytest.raises(EslAuthError, match="refused the password: -ERR invalid"):
            await EslClient.connect("127.0.0.1", port, "WrongPassword", timeout=TIMEOUT)


async def test_nothing_listening_is_a_connection_error_and_silence_is_a_timeout():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(EslConnectionError, match="connection refused"):
        await EslClient.connect("127.0.0.1", port)

    silent = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)
    try:
        with pytest.raises(EslTimeout, match="no Event Socket banner"):
            await EslClient.connect("127.0.0.1", silent.sockets[0].getsockname()[1], timeout=0.2)
    finally:
        silent.close()


async def test_against_fsim_bgapi_results_arrive_as_json_events():
    async with Simulator(SimulatorSettings(esl_port=0, time_scale=0.01)) as sim:
        async with await EslClient.connect("127.0.0.1", sim.esl_port) as esl:
            assert await esl.subscribe("BACKGROUND_JOB", fmt="json") == "+OK event listener enabled json"
            job = await esl.bgapi("status", job_uuid="my-job")
            event = await esl.event()
            assert (job, event.name, event.get("Job-UUID")) == ("my-job", "BACKGROUND_JOB", "my-job")
            assert event.body is not None and event.body.startswith(b"UP ")
            assert (await esl.api("nosuchcommand")).startswith("-ERR nosuchcommand")
            with pytest.raises(EslTimeout):
                await esl.event(timeout=0.05)
