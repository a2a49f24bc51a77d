"""Burst mode: many synthetic call lifecycles, delivered whole and in order to ESL clients that read slower
than fsim produces (backpressure instead of the 100,000-message drop)."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

import pytest

from fsim import burst as burst_module
from fsim.burst import EVENTS_PER_CALL, EVENTS_PER_CALL_WITH_STATES, burst
from fsim.esl import outbox as outbox_module
from fsim.esl.server import EslServer
from tests.fsim.recordings import events
from tests.fsim.test_calls_support import EventLog, make_switch
from tests.fsim.test_esl_support import EslClient

LIFECYCLE = [
    "CHANNEL_CREATE",
    "CHANNEL_EXECUTE",
    "CHANNEL_ANSWER",
    "CHANNEL_EXECUTE_COMPLETE",
    "CHANNEL_HANGUP",
    "CHANNEL_HANGUP_COMPLETE",
    "CHANNEL_DESTROY",
]


class LeanReader:
    """Reads plain events off an ESL socket keeping only Event-Name, Unique-ID and Event-Sequence."""

    def __init__(self, client: EslClient) -> None:
        self.reader = client.reader
        self.calls: dict[str, list[str]] = defaultdict(list)
        self.sequences: list[int] = []
        self.others: list[tuple[str, bytes]] = []  # replies, and events without a Unique-ID
        self.channel_events = 0

    async def read(self) -> None:
        """One message."""
        block = await self.reader.readuntil(b"\n\n")
        length = 0
        content_type = ""
        for line in block.split(b"\n"):
            if line.startswith(b"Content-Length: "):
                length = int(line[16:])
            elif line.startswith(b"Content-Type: "):
                content_type = line[14:].decode()
        body = await self.reader.readexactly(length) if length else b""
        if content_type != "text/event-plain":
            self.others.append((content_type, block + body))
            return
        name = uuid = ""
        for line in body.split(b"\n", 40):
            if line.startswith(b"Event-Name: "):
                name = line[12:].decode()
            elif line.startswith(b"Event-Sequence: "):
                self.sequences.append(int(line[16:]))
            elif line.startswith(b"Unique-ID: "):
                uuid = line[11:].decode()
                break
        if uuid:
            self.calls[uuid].append(name)
            self.channel_events += 1
        else:
            self.others.append((name, body))


@pytest.fixture
async def served():
    switch = make_switch()
    server = EslServer(switch, port=0)
    await server.start()
    try:
        yield switch, server
    finally:
        await server.close()
        await switch.close()


async def all_subscriber(server: EslServer) -> EslClient:
    client = await EslClient.connect(server.port)
    reply = await client.command("event plain ALL")
    assert reply.header("Reply-Text") == "+OK event listener enabled plain"
    return client


async def test_a_slow_all_subscriber_gets_every_burst_event_in_order_per_channel(served, monkeypatch, capsys):
    switch, server = served
    # Without backpressure a queue this small would lose most of the burst.
    monkeypatch.setattr(outbox_module, "MAX_QUEUE_LEN", 2_000)
    client = await all_subscriber(server)
    reader = LeanReader(client)
    calls = 3_000
    started = time.perf_counter()
    producer = asyncio.create_task(burst(switch, calls, 50, high_water=1_000))
    async with asyncio.timeout(120):
        while reader.channel_events < calls * EVENTS_PER_CALL:
            await reader.read()
            if reader.channel_events % 2_000 == 0:
                await asyncio.sleep(0.001)  # a reader that pauses now and then
        result = await producer
    elapsed = time.perf_counter() - started
    with capsys.disabled():
        rate = result.events / elapsed
        print(f"\nfsim burst: {result.events:,} events of {calls:,} calls, one ALL subscriber over TCP")
        print(f"fsim burst: {elapsed:.2f} s, {rate:,.0f} events/s (client and server in this process)")
    assert result.events == calls * EVENTS_PER_CALL
    assert len(reader.calls) == calls
    assert all(names == LIFECYCLE for names in reader.calls.values())
    assert reader.sequences == sorted(reader.sequences)  # one producer: delivered in firing order
    assert [connection._outbox.lost for connection in server.connections] == [0]
    assert len(switch.channels) == 0 and switch.channels.since_startup == calls
    await client.close()


async def test_bgapi_fsim_burst_reports_the_event_count_after_the_events(served):
    _, server = served
    client = await all_subscriber(server)
    reply = await client.command("bgapi fsim_burst 200 20")
    assert (reply.header("Reply-Text") or "").startswith("+OK Job-UUID: ")
    reader = LeanReader(client)
    async with asyncio.timeout(30):
        while not any(kind == "BACKGROUND_JOB" for kind, _ in reader.others):
            await reader.read()
    job = next(body for kind, body in reader.others if kind == "BACKGROUND_JOB")
    assert job.endswith(b"\n\n+OK 1400 events\n")
    assert reader.channel_events == 200 * EVENTS_PER_CALL  # all of them came before the job's event
    await client.close()


async def test_api_fsim_burst_does_not_wait_for_its_own_connection(served, monkeypatch):
    switch, server = served
    monkeypatch.setattr(burst_module, "HIGH_WATER", 50)  # far below the 140 events this connection holds
    client = await all_subscriber(server)
    reader = LeanReader(client)
    await client.send("api fsim_burst 20 5\n\n")
    async with asyncio.timeout(10):
        await reader.read()  # api holds this connection's events: the reply comes first
        assert reader.others[0][0] == "api/response" and reader.others[0][1].endswith(b"+OK 140 events\n")
        while reader.channel_events < 140:
            await reader.read()
    for usage in ("fsim_burst", "fsim_burst x", "fsim_burst 10 0", "fsim_burst 1 2 3"):
        name, _, argument = usage.partition(" ")
        assert await switch.api.execute(name, argument) == "-USAGE: fsim_burst <calls> [<concurrency>]\n"
    await client.close()


async def test_burst_channels_look_like_real_inbound_sip_calls_and_can_include_state_events():
    switch = make_switch()
    log = EventLog(switch)
    result = await burst(switch, 3, 2, states=True)
    assert result.events == 3 * EVENTS_PER_CALL_WITH_STATES == len(log.events)
    uuid = log.events[0].get("Unique-ID") or ""
    assert log.names(uuid) == [
        "CHANNEL_STATE", "CHANNEL_CREATE", "CHANNEL_STATE", "CHANNEL_CALLSTATE", "CHANNEL_STATE",
        "CHANNEL_EXECUTE", "CHANNEL_ANSWER", "CHANNEL_CALLSTATE", "CHANNEL_EXECUTE_COMPLETE",
        "CHANNEL_HANGUP", "CHANNEL_STATE", "CHANNEL_CALLSTATE", "CHANNEL_STATE", "CHANNEL_HANGUP_COMPLETE",
        "CHANNEL_DESTROY", "CHANNEL_STATE",
    ]  # fmt: skip
    create = log.find("CHANNEL_CREATE", {"Unique-ID": uuid})[0]
    real = next(event for event in events("sip-call-plain") if event.name == "CHANNEL_CREATE")
    basic = [name for name, _ in create.headers if not name.startswith("variable_")]
    assert basic == [name for name, _ in real.headers if not name.startswith("variable_")]
    real_variables = [name for name, _ in real.headers if name.startswith("variable_")]
    ours = [name for name, _ in create.headers if name.startswith("variable_")]
    assert len(set(real_variables) & set(ours)) >= len(real_variables) - 4
    complete = log.find("CHANNEL_HANGUP_COMPLETE", {"Unique-ID": uuid})[0]
    assert complete.get("variable_hangup_cause") == "NORMAL_CLEARING" and complete.get("variable_billsec")
    # The calls interleave, two at a time, each in order.
    firsts = [event.get("Unique-ID") for event in log.events[:4]]
    assert len(set(firsts)) == 2


async def test_a_cancelled_burst_leaves_no_channel_behind(served):
    switch, server = served
    client = await EslClient.connect(server.port)
    await client.command("event plain ALL")  # subscribed but never reading: the burst waits on it
    task = asyncio.create_task(burst(switch, 10_000, 100, high_water=500))
    for _ in range(1_000):  # until the burst waits for the reader (10 s at most)
        if server.connections[0].backlog() > 500:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    assert not task.done() and server.connections[0].backlog() > 250
    assert switch.channels.since_startup >= 100
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(switch.channels) == 0
    await client.close()
