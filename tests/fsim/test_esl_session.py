"""Binding an inbound socket to one channel (myevents), linger, sendmsg, and slow bgapi jobs."""

from __future__ import annotations

import asyncio
import time

from fsim.esl.framing import disconnect_notice, linger_notice
from tests.fsim.test_esl_support import EslClient, FakeSwitch, esl_server

A = "fa1e3499-b2c8-43f6-b85e-3dae39fed390"
B = "0b6c3a2e-1111-4222-8333-444455556666"


def two_legs() -> FakeSwitch:
    switch = FakeSwitch()
    switch.add_channel(A, "loopback/answer_park-a")
    switch.add_channel(B, "loopback/answer_park-b")
    return switch


async def test_myevents_with_linger_sends_the_linger_notice_the_remaining_events_then_disconnects():
    switch = two_legs()
    async with esl_server(switch) as server:
        client = await EslClient.connect(server.port)
        assert (await client.command(f"myevents {A} plain")).header("Reply-Text") == "+OK Events Enabled"
        assert (await client.command("linger 1")).header("Reply-Text") == "+OK will linger 1 seconds"
        switch.fire_channel_event("CHANNEL_PARK", B)  # the other leg: not this socket's channel
        switch.fire_channel_event("CHANNEL_EXECUTE", A)
        assert (await client.event()).name == "CHANNEL_EXECUTE"
        killed_at = time.monotonic()
        assert (await client.command(f"api uuid_kill {B} {A}")).body == b"+OK\n"
        assert (await client.command(f"api uuid_kill {A}")).body == b"+OK\n"
        hangup = await client.event()
        assert (hangup.name, hangup.get("Unique-ID")) == ("CHANNEL_HANGUP", A)
        assert (await client.message()).raw == linger_notice(A, "loopback/answer_park-a", 1)
        assert (await client.event()).name == "CHANNEL_HANGUP_COMPLETE"
        # CHANNEL_DESTROY is never delivered to the socket controlling the channel.
        final = await client.until_closed(timeout=5)
        assert [m.raw for m in final] == [disconnect_notice(session_uuid=A)]
        assert time.monotonic() - killed_at >= 0.9


async def test_myevents_without_linger_closes_the_socket_once_the_channel_hangs_up():
    switch = two_legs()
    async with esl_server(switch) as server:
        client = await EslClient.connect(server.port)
        await client.command(f"myevents {A}")
        assert (await client.command(f"api uuid_kill {A}")).body == b"+OK\n"
        assert (await client.event()).name == "CHANNEL_HANGUP"
        assert [m.raw for m in await client.until_closed()] == [disconnect_notice(session_uuid=A)]


async def test_exit_on_a_bound_socket_names_the_channel_in_the_disconnect_notice():
    switch = two_legs()
    async with esl_server(switch) as server:
        client = await EslClient.connect(server.port)
        await client.command(f"myevents {A}")
        assert (await client.command("linger")).header("Reply-Text") == "+OK will linger"
        assert (await client.command("nolinger")).header("Reply-Text") == "+OK will not linger"
        await client.send("exit\n\n")
        closing = await client.until_closed()
        assert [m.raw for m in closing][-1] == disconnect_notice(session_uuid=A)


async def test_myevents_refusals_and_freeswitch_quirks():
    switch = two_legs()
    async with esl_server(switch) as server:
        client = await EslClient.connect(server.port)
        assert (await client.command("myevents")).header("Reply-Text") == "-ERR command not found"
        assert (await client.command("myevents nosuchuuid plain")).header("Reply-Text") == "-ERR invalid uuid"
        # The format word is cut off before FreeSWITCH looks for it: events stay plain.
        assert (await client.command(f"myevents {A} json")).header("Reply-Text") == "+OK Events Enabled"
        assert (await client.command(f"myevents {A}")).header("Reply-Text") == "-ERR aready enabled."
        switch.fire_channel_event("CHANNEL_ANSWER", A)
        assert (await client.message()).content_type == "text/event-plain"
        assert (await client.command("resume")).header("Reply-Text") == "+OK"
        assert (await client.command("divert_events on")).header("Reply-Text") == "+OK events diverted"
        await client.close()

        unbound = await EslClient.connect(server.port)
        # An unknown uuid without a format: enabled, but bound to no channel (any Unique-ID passes).
        assert (await unbound.command("myevents nosuchuuid")).header("Reply-Text") == "+OK Events Enabled"
        assert (await unbound.command("linger")).header("Reply-Text") == "-ERR not controlling a session"
        switch.fire_channel_event("CHANNEL_ANSWER", B)
        assert (await unbound.event()).get("Unique-ID") == B
        await unbound.close()


async def test_bgapi_on_a_bound_socket_reports_the_job_owner():
    switch = two_legs()

    async def echo(argument: str) -> str:
        return argument

    switch.register("echo", echo)
    async with esl_server(switch) as server:
        client = await EslClient.connect(server.port)
        await client.command(f"myevents {A}")
        await client.command("event plain BACKGROUND_JOB")
        reply = await client.command("bgapi echo hi")
        job = await client.event()
        assert job.get("Job-UUID") == reply.header("Job-UUID")
        assert job.get("Job-Owner-UUID") == A
        assert [name for name, _ in job.headers][-5:] == [
            "Job-UUID",
            "Job-Owner-UUID",
            "Job-Command",
            "Job-Command-Arg",
            "Content-Length",
        ]
        await client.close()


async def test_sendmsg_passes_headers_and_body_to_the_switch_and_relays_its_reply():
    switch = two_legs()
    async with esl_server(switch) as server:
        client = await EslClient.connect(server.port)
        await client.send(
            f"sendmsg {A}\ncall-command: execute\nexecute-app-name: set\ncontent-type: text/plain\n"
            "content-length: 9\n\nfoo=bar\n\n"
            "sendmsg 00000000-0000-0000-0000-000000000000\ncall-command: execute\n"
            "execute-app-name: answer\n\n"
        )
        assert (await client.reply()).header("Reply-Text") == "+OK"
        assert (await client.reply()).header("Reply-Text") == (
            "-ERR invalid session id [00000000-0000-0000-0000-000000000000]"
        )
        empty = await client.command("sendmsg\ncall-command: execute\nexecute-app-name: answer")
        assert empty.raw == b"Content-Type: command/reply\nReply-Text: -ERR invalid session id []\n\n"
        assert switch.sendmsgs == [
            (
                A,
                [
                    ("call-command", "execute"),
                    ("execute-app-name", "set"),
                    ("content-type", "text/plain"),
                    ("content-length", "9"),
                ],
                b"foo=bar\n\n",
            )
        ]
        # A socket bound by myevents may leave the uuid out: the message goes to its own channel.
        await client.command(f"myevents {B}")
        assert (await client.command("sendmsg\ncall-command: hangup")).header("Reply-Text") == "+OK"
        assert switch.sendmsgs[-1][0] == B
        await client.close()


async def test_bgapi_replies_at_once_and_its_job_event_comes_when_the_slow_command_finishes():
    switch = FakeSwitch()
    answered: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def originate(argument: str) -> str:
        return await answered

    switch.register("originate", originate)
    async with esl_server(switch) as server:
        client = await EslClient.connect(server.port)
        await client.command("event plain BACKGROUND_JOB")
        reply = await client.command("bgapi originate loopback/park_me/default &park()")
        assert reply.header("Reply-Text") == f"+OK Job-UUID: {reply.header('Job-UUID')}"
        # The connection keeps answering while the job runs.
        assert (await client.command("api nosuchcommand")).body == b"-ERR nosuchcommand Command not found!\n"
        assert not client.backlog
        answered.set_result(f"+OK {A}\n")
        job = await client.event()
        assert job.get("Job-UUID") == reply.header("Job-UUID")
        assert job.get("Job-Command-Arg") == "loopback/park_me/default &park()"
        assert job.body == f"+OK {A}\n".encode()
        await client.close()
