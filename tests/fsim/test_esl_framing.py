"""ESL framing: how client commands are read, and the server's messages compared with the recordings."""

from __future__ import annotations

import asyncio

import pytest

from fsim.esl.framing import (
    AUTH_REQUEST,
    Command,
    FramingError,
    LogLine,
    api_response,
    command_reply,
    disconnect_notice,
    linger_notice,
    read_command,
)
from tests.fsim.recordings import messages, recording


def stream(data: bytes, *, eof: bool = True) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    if eof:
        reader.feed_eof()
    return reader


async def read_all(data: bytes, **limits: int) -> list[Command]:
    reader, commands = stream(data), []
    while (command := await read_command(reader, **limits)) is not None:
        commands.append(command)
    return commands


def recorded(name: str, content_type: str) -> list[bytes]:
    return [m.raw for m in messages(recording(name)) if m.content_type == content_type]


async def test_a_command_is_its_first_line_then_headers_in_order_with_raw_values():
    [command] = await read_all(
        b"sendmsg 5eeb\ncall-command: execute\nexecute-app-name: playback\n"
        b"execute-app-arg: tone_stream://%(500,100,440);loops=3\nevent-lock: true\n\n"
    )
    assert command.line == "sendmsg 5eeb"
    assert command.headers == [
        ("call-command", "execute"),
        ("execute-app-name", "playback"),
        ("execute-app-arg", "tone_stream://%(500,100,440);loops=3"),
        ("event-lock", "true"),
    ]
    assert command.body is None
    assert command.header("EVENT-LOCK") == "true"


async def test_content_length_bytes_follow_the_block_and_the_next_command_follows_immediately():
    commands = await read_all(
        b"sendevent CUSTOM\nEvent-Subclass: fixture::test\ncontent-type: text/plain\ncontent-length: 10\n\n"
        b"hello bodyevent json ALL\n\n"
    )
    assert [(c.line, c.body) for c in commands] == [
        ("sendevent CUSTOM", b"hello body"),
        ("event json ALL", None),
    ]
    assert commands[0].headers[-1] == ("content-length", "10")


async def test_crlf_line_ends_and_blank_lines_between_commands_are_tolerated():
    commands = await read_all(b"\r\n\nauth ClueCon\r\n\r\n\n\nbgapi status\r\nJob-UUID: abc\r\n\r\n")
    assert [(c.line, c.headers) for c in commands] == [
        ("auth ClueCon", []),
        ("bgapi status", [("Job-UUID", "abc")]),
    ]


async def test_header_lines_split_at_the_first_colon_without_colon_ignored_and_empty_values_delete():
    [command] = await read_all(b"x\nA:  a: b\nnot a header\nJob-UUID: one\njob-uuid:\nB: c\n\n")
    assert command.headers == [("A", "a: b"), ("B", "c")]


async def test_a_clean_end_of_stream_between_commands_is_none():
    assert await read_command(stream(b"")) is None
    assert await read_command(stream(b"\n\r\n")) is None


async def test_a_stream_cut_in_the_middle_of_a_command_or_its_body_is_an_incomplete_read():
    with pytest.raises(asyncio.IncompleteReadError):
        await read_command(stream(b"api status\n"))
    with pytest.raises(asyncio.IncompleteReadError):
        await read_command(stream(b"sendevent CUSTOM\ncontent-length: 10\n\nhello"))


async def test_oversized_header_blocks_and_out_of_range_content_lengths_are_framing_errors():
    with pytest.raises(FramingError):
        await read_command(stream(b"api " + b"x" * 5000 + b"\n\n"), max_header_block=1024)
    with pytest.raises(FramingError):
        await read_command(stream(b"x\n" + b"H: v\n" * 300 + b"\n"), max_header_block=1024)
    with pytest.raises(FramingError):
        await read_command(stream(b"sendevent CUSTOM\ncontent-length: -5\n\n"))
    with pytest.raises(FramingError):
        await read_command(stream(b"sendevent CUSTOM\ncontent-length: 2000\n\n"), max_content_length=1000)


async def test_a_line_longer_than_the_reader_buffer_is_still_read_within_the_block_limit():
    reader = asyncio.StreamReader(limit=64)
    reader.feed_data(b"api echo " + b"y" * 500 + b"\n\n")
    reader.feed_eof()
    command = await read_command(reader)
    assert command is not None
    assert command.line == "api echo " + "y" * 500


def test_auth_request_command_reply_and_api_response_are_as_recorded():
    assert recording("esl-inbound-session").startswith(AUTH_REQUEST)
    replies = recorded("esl-inbound-session", "command/reply")
    assert command_reply("+OK accepted") in replies
    assert command_reply("-ERR command not found") in replies
    assert command_reply("+OK filter deleted. [all][]") in replies
    job = "3d95c40b-4fa5-4000-b88f-a164e2fc550e"
    assert command_reply(f"+OK Job-UUID: {job}", [("Job-UUID", job)]) in replies
    responses = recorded("esl-inbound-session", "api/response")
    assert api_response("-ERR nosuchcommand Command not found!\n") in responses
    assert api_response("+OK\n") in responses
    assert api_response("") == b"Content-Type: api/response\nContent-Length: 14\n\n-ERR no reply\n"


def test_reply_text_is_cut_at_freeswitch_reply_buffer():
    assert (
        command_reply("+OK " + "x" * 1000)
        == b"Content-Type: command/reply\nReply-Text: +OK " + b"x" * 507 + b"\n\n"
    )


def test_disconnect_and_linger_notices_are_as_recorded():
    assert disconnect_notice() in recorded("esl-wrong-password", "text/disconnect-notice")
    session = "fa1e3499-b2c8-43f6-b85e-3dae39fed390"
    notices = recorded("esl-myevents-linger", "text/disconnect-notice")
    assert notices == [
        linger_notice(session, "loopback/answer_park-a", 3),
        disconnect_notice(session_uuid=session),
    ]


def test_log_data_is_as_recorded():
    [frame] = [m for m in messages(recording("esl-log")) if m.content_type == "log/data"]
    line = LogLine(
        frame.body.decode(), level=6, channel=0, file="switch_time.c", func="switch_load_timezones", line=1437
    )
    assert line.render() == frame.raw
