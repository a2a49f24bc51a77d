"""Broken clients end only their own connection; the server keeps serving; close() ends everything."""

from __future__ import annotations

import asyncio
import logging

import pytest

from fsim.esl.framing import disconnect_notice
from fsim.esl.server import SHUTDOWN_MESSAGE
from tests.fsim.test_esl_support import EslClient, FakeSwitch, esl_server


async def test_malformed_oversized_and_truncated_commands_close_only_that_connection(caplog):
    caplog.set_level(logging.INFO, logger="fsim.esl")
    switch = FakeSwitch()
    async with esl_server(switch, max_header_block=4096, max_content_length=1024) as server:
        good = await EslClient.connect(server.port)
        await good.command("event plain CHANNEL_CREATE")

        oversized = await EslClient.connect(server.port)
        await oversized.send(b"api " + b"x" * 10_000 + b"\n\n")
        assert [m.raw for m in await oversized.until_closed()] == [disconnect_notice()]

        negative = await EslClient.connect(server.port)
        await negative.send(b"sendevent CUSTOM\ncontent-length: -5\n\n")
        assert [m.raw for m in await negative.until_closed()] == [disconnect_notice()]

        too_long_body = await EslClient.connect(server.port)
        await too_long_body.send(b"sendevent CUSTOM\ncontent-length: 5000\n\n")
        assert [m.raw for m in await too_long_body.until_closed()] == [disconnect_notice()]

        garbage = await EslClient.connect(server.port)
        await garbage.send(b"\xff\xfe\x00 \x01garbage: :\n: x\nno colon\n\n")
        assert (await garbage.reply()).header("Reply-Text") == "-ERR command not found"

        for partial in (b"api stat", b"sendevent CUSTOM\ncontent-length: 100\n\nonly part"):
            truncated = await EslClient.connect(server.port)
            await truncated.send(partial)
            truncated.writer.write_eof()
            assert [m.raw for m in await truncated.until_closed()] == [disconnect_notice()]

        assert (await good.command("api nosuchcommand")).content_type == "api/response"
        switch.add_channel("u1", "loopback/a")
        assert (await good.event()).get("Unique-ID") == "u1"
        assert (await garbage.command("api nosuchcommand")).content_type == "api/response"
        await good.close()
        await garbage.close()
    messages = [r.getMessage() for r in caplog.records]
    assert any("header block longer" in m for m in messages)
    assert any("Content-Length" in m and "out of range" in m for m in messages)
    assert any("in the middle of a command" in m for m in messages)


async def test_a_client_vanishing_while_events_flow_does_not_disturb_the_others():
    switch = FakeSwitch()
    async with esl_server(switch) as server:
        stays = await EslClient.connect(server.port)
        await stays.command("event plain CHANNEL_CREATE")
        leaves = await EslClient.connect(server.port)
        await leaves.command("event plain ALL")
        leaves.writer.transport.abort()
        for index in range(200):
            switch.add_channel(f"u{index}", f"loopback/{index}")
        names = [(await stays.event()).get("Unique-ID") for _ in range(200)]
        assert names == [f"u{index}" for index in range(200)]
        await stays.close()


async def test_many_channels_events_arrive_complete_and_in_firing_order():
    switch = FakeSwitch()
    async with esl_server(switch) as server:
        watcher = await EslClient.connect(server.port)
        await watcher.command("event json CHANNEL_CREATE CHANNEL_ANSWER CHANNEL_HANGUP")
        one_call = await EslClient.connect(server.port)
        await one_call.command("event plain ALL")
        await one_call.command("filter Unique-ID u4321")
        for index in range(5000):
            switch.add_channel(f"u{index}", f"loopback/{index}")
            switch.fire_channel_event("CHANNEL_ANSWER", f"u{index}")
            switch.fire_channel_event("CHANNEL_PARK", f"u{index}")
        for index in range(0, 5000):
            for name in ("CHANNEL_CREATE", "CHANNEL_ANSWER"):
                received = await watcher.event()
                assert (received.name, received.get("Unique-ID")) == (name, f"u{index}")
        assert [(await one_call.event()).name for _ in range(3)] == [
            "CHANNEL_CREATE",
            "CHANNEL_ANSWER",
            "CHANNEL_PARK",
        ]
        assert (await one_call.command("api nosuchcommand")).content_type == "api/response"
        assert not one_call.backlog
        await watcher.close()
        await one_call.close()


async def test_close_disconnects_every_client_and_cancels_running_jobs():
    switch = FakeSwitch()
    started = asyncio.Event()

    async def forever(argument: str) -> str:
        started.set()
        await asyncio.Event().wait()
        return ""

    switch.register("forever", forever)
    async with esl_server(switch) as server:
        first = await EslClient.connect(server.port)
        second = await EslClient.connect(server.port, password=None)
        await first.command("bgapi forever")
        await asyncio.wait_for(started.wait(), 5)
        assert len(server.connections) == 2
        await server.close()
        shutdown = disconnect_notice(SHUTDOWN_MESSAGE)
        assert [m.raw for m in await first.until_closed()] == [shutdown]
        assert [m.raw for m in await second.until_closed()] == [shutdown]
        assert not server._jobs
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", server.port)


async def test_no_command_within_the_auth_timeout_closes_the_connection():
    async with esl_server(auth_timeout=0.2) as server:
        client = await EslClient.connect(server.port, password=None)
        assert [m.raw for m in await client.until_closed()] == [disconnect_notice()]
