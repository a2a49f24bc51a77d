"""fsim's ESL server replays the client side of real FreeSWITCH recordings and answers byte for byte.

Only values the recording shows as volatile (ids FreeSWITCH generated itself) are substituted before
comparing; events fsim emits for the replayed commands must have the recorded header names, in order.
"""

from __future__ import annotations

import re
from collections import Counter

from fsim.esl.framing import LogLine
from tests.fsim.recordings import Message, RecordedEvent, messages, parse_event, recording
from tests.fsim.test_esl_support import EslClient, FakeSwitch, client_commands, esl_server, replies

UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
CALL_COMMANDS = (b"originate", b"uuid_kill", b"uuid_setvar")


def recorded(name: str) -> tuple[list[bytes], list[Message]]:
    """The commands a recording's client sent, and the FreeSWITCH messages it received."""
    return client_commands(recording(name, "app-to-fs")), list(messages(recording(name)))


def with_volatile_ids(recorded_reply: bytes, fsim_reply: bytes, command: bytes) -> bytes:
    """The recorded reply with the ids FreeSWITCH generated replaced by the ones fsim generated.

    An id the client chose (it appears in the command) is not volatile and stays as recorded.
    """
    ours = iter(UUID.findall(fsim_reply))
    return UUID.sub(lambda m: m.group(0) if m.group(0) in command else next(ours, m.group(0)), recorded_reply)


def event_key(event: RecordedEvent) -> tuple[str | None, ...]:
    """What identifies the events of the replayed commands (API, BACKGROUND_JOB, CUSTOM)."""
    return (
        event.name,
        event.get("API-Command") or event.get("Job-Command") or event.get("Event-Subclass"),
        event.get("API-Command-Argument") or event.get("Job-Command-Arg"),
    )


async def test_wrong_password_gets_err_invalid_and_the_disconnect_notice_in_one_segment_then_close():
    commands, _ = recorded("esl-wrong-password")
    expected = recording("esl-wrong-password")
    async with esl_server() as server:
        client = await EslClient.connect(server.port, password=None)
        await client.send(commands[0])
        segment = await client.reader.read(4096)
        assert client.received + segment == expected
        assert await client.reader.read() == b""
        await client.close()


async def test_a_command_before_auth_is_refused_and_the_connection_stays_open_for_auth():
    commands, _ = recorded("esl-command-before-auth")
    async with esl_server() as server:
        client = await EslClient.connect(server.port, password=None)
        for command in commands:
            await client.send(command)
            await client.reply()
        assert bytes(client.received) == recording("esl-command-before-auth")
        await client.close()


async def test_log_nolog_and_the_log_data_frame_are_byte_exact():
    commands, fs_messages = recorded("esl-log")
    log_frame = next(m for m in fs_messages if m.content_type == "log/data")
    switch = FakeSwitch()
    async with esl_server(switch) as server:

        async def reloadxml(argument: str) -> str:
            fields = dict(log_frame.headers)
            server.log(
                LogLine(
                    log_frame.body.decode(),
                    level=int(fields["Log-Level"]),
                    channel=int(fields["Text-Channel"]),
                    file=fields["Log-File"],
                    func=fields["Log-Func"],
                    line=int(fields["Log-Line"]),
                )
            )
            return "+OK [Success]\n"

        switch.register("reloadxml", reloadxml)
        client = await EslClient.connect(server.port, password=None)
        for command in commands[:-1]:
            await client.send(command)
            await client.reply()
            if command.startswith(b"api reloadxml"):
                assert (await client.message()).content_type == "log/data"
        await client.send(commands[-1])
        await client.until_closed()
        assert bytes(client.received) == recording("esl-log")


async def test_inbound_session_commands_replies_and_events_match_the_recording():
    commands, fs_messages = recorded("esl-inbound-session")
    recorded_replies = replies(fs_messages)
    recorded_events = [e for e in map(parse_event, fs_messages) if e is not None]
    status_body = recorded_replies[2].body.decode()
    switch = FakeSwitch()

    async def status(argument: str) -> str:
        return status_body

    async def show(argument: str) -> str:
        return '{"row_count": 0}\n'

    switch.register("status", status)
    switch.register("show", show)
    async with esl_server(switch) as server:
        client = await EslClient.connect(server.port, password=None)
        for command, expected in zip(commands, recorded_replies, strict=True):
            if any(word in command for word in CALL_COMMANDS):
                continue
            await client.send(command)
            if command.startswith(b"exit"):
                break
            ours = await client.reply()
            assert ours.raw == with_volatile_ids(expected.raw, ours.raw, command), command
        ours_after_exit = await client.until_closed()

    assert [m.raw for m in ours_after_exit[-2:]] == [
        b"Content-Type: command/reply\nReply-Text: +OK bye\n\n",
        fs_messages[-1].raw,  # the disconnect notice
    ]
    emitted = [e for e in map(parse_event, messages(bytes(client.received))) if e is not None]
    by_key = {event_key(e): e for e in recorded_events if e.format == "plain"}
    assert Counter(event_key(e) for e in emitted) == Counter(
        [
            ("API", "status", None),
            ("API", "show", "channels as json"),
            ("API", "nosuchcommand", "foo"),
            ("API", "show", "channels as json"),
            ("API", "status", None),
            ("BACKGROUND_JOB", "status", None),
            ("API", "nosuchcommand", None),
            ("BACKGROUND_JOB", "nosuchcommand", None),
            ("CUSTOM", "fixture::test", None),
        ]
    )
    for event in emitted:
        original = by_key[event_key(event)]
        assert [name for name, _ in event.headers] == [name for name, _ in original.headers], event_key(event)
        if event.name != "API":
            for name in ("Event-Calling-File", "Event-Calling-Function", "Event-Calling-Line-Number"):
                assert event.get(name) == original.get(name)
    custom = next(e for e in emitted if e.name == "CUSTOM")
    assert custom.body == b"hello body"
    for name in ("Command", "Fixture-Header", "content-type", "content-length"):
        assert custom.get(name) == by_key[event_key(custom)].get(name)
    chosen = next(e for e in emitted if e.get("Job-UUID") == "3d95c40b-4fa5-4000-b88f-a164e2fc550e")
    assert chosen.body == status_body.encode()
    failed = next(
        e for e in emitted if e.name == "BACKGROUND_JOB" and e.get("Job-Command") == "nosuchcommand"
    )
    assert failed.body == b"-ERR nosuchcommand Command not found!\n"


async def test_each_event_is_written_after_the_reply_of_the_command_that_caused_it():
    switch = FakeSwitch()
    async with esl_server(switch) as server:
        client = await EslClient.connect(server.port)
        await client.command("event plain ALL")
        api_reply = await client.command("api nosuchcommand foo")
        assert api_reply.body == b"-ERR nosuchcommand Command not found!\n"
        assert not client.backlog
        assert (await client.event()).get("API-Command") == "nosuchcommand"
        bg_reply = await client.command("bgapi nosuchcommand")
        assert not client.backlog
        job = bg_reply.header("Job-UUID")
        assert bg_reply.header("Reply-Text") == f"+OK Job-UUID: {job}"
        assert [(await client.event()).name for _ in range(2)] == ["API", "BACKGROUND_JOB"]
        await client.send("sendevent CUSTOM\nEvent-Subclass: a::b\n\n")
        sent = await client.reply()
        assert not client.backlog
        custom = await client.event()
        assert sent.header("Reply-Text") == f"+OK {custom.get('Event-UUID')}"
        await client.close()
