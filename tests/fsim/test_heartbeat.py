"""HEARTBEAT and its RE_SCHEDULE: timing on the switch's clock, the recorded headers, live counters."""

from __future__ import annotations

import asyncio
import re
import uuid as uuidlib

from fsim.esl.server import EslServer
from fsim.events import Event
from fsim.switch import Switch
from tests.fsim.recordings import RecordedEvent, events
from tests.fsim.test_calls_support import EventLog, make_switch
from tests.fsim.test_esl_support import EslClient


def recorded(name: str) -> RecordedEvent:
    return next(event for event in events("call-lifecycle-json") if event.name == name)


def names(event: Event | RecordedEvent) -> list[str]:
    return [name for name, _ in event.headers]


async def next_heartbeat(log: EventLog, since: int = 0) -> tuple[Event, Event]:
    """The next HEARTBEAT from ``since`` on, and the event fired right after it."""
    beat = await log.wait("HEARTBEAT", since=since)
    position = log.events.index(beat)
    following = await log.wait(since=position + 1)
    return beat, following


async def call(switch: Switch) -> str:
    uuid = str(uuidlib.uuid4())
    result = await switch.originate(f"{{origination_uuid={uuid}}}loopback/answer_park/default &park()")
    assert result == f"+OK {uuid}\n"
    return uuid


async def test_heartbeat_and_re_schedule_carry_the_recorded_headers_in_the_recorded_order():
    switch = make_switch(scale=0.001)  # 20 simulated seconds: 20 real milliseconds
    log = EventLog(switch)
    async with switch:
        beat, reschedule = await next_heartbeat(log)
    assert names(beat) == names(recorded("HEARTBEAT"))
    assert names(reschedule) == names(recorded("RE_SCHEDULE"))
    assert reschedule.name == "RE_SCHEDULE" and reschedule.sequence == beat.sequence + 1
    assert reschedule.get("Event-Date-Timestamp") == beat.get("Event-Date-Timestamp")
    assert beat.get("Event-Calling-File") == "switch_core.c"
    assert beat.get("Event-Calling-Function") == "send_heartbeat"
    assert [reschedule.get(h) for h in ("Task-ID", "Task-Desc", "Task-Group")] == ["1", "heartbeat", "core"]
    fired_at = int(beat.get("Event-Date-Timestamp") or 0) // 1_000_000
    assert int(reschedule.get("Task-Runtime") or 0) in (fired_at + 20, fired_at + 19)
    assert beat.get("Event-Info") == "System Ready"
    assert beat.get("FreeSWITCH-Version") == "1.11.3-dev~64bit"
    assert re.fullmatch(
        r"0 years, 0 days, 0 hours, \d+ minutes?, \d+ seconds?, \d+ milliseconds?, \d+ microseconds?",
        beat.get("Up-Time") or "",
    )
    assert int(beat.get("Uptime-msec") or 0) >= 19_000
    assert re.fullmatch(r"\d+\.\d{6}", beat.get("Idle-CPU") or "")
    assert 0.0 <= float(beat.get("Idle-CPU") or -1) <= 100.0


async def test_heartbeats_come_every_interval_of_simulated_time_and_stop_with_the_switch():
    switch = make_switch(scale=0.001, event_heartbeat_interval=30)
    log = EventLog(switch)
    await switch.start()
    first, _ = await next_heartbeat(log)
    second, _ = await next_heartbeat(log, log.events.index(first) + 1)
    await switch.close()
    gap_us = int(second.get("Event-Date-Timestamp") or 0) - int(first.get("Event-Date-Timestamp") or 0)
    assert gap_us >= 29_000_000  # at least the interval; a loaded machine makes simulated gaps longer
    assert int(second.get("Uptime-msec") or 0) > int(first.get("Uptime-msec") or 0)
    assert not switch.heartbeat.running
    count = len(log.find("HEARTBEAT"))
    await asyncio.sleep(0.2)  # more than six intervals
    assert len(log.find("HEARTBEAT")) == count


async def test_no_heartbeat_before_start_nor_when_disabled():
    idle = make_switch(scale=0.001)
    disabled = make_switch(scale=0.001, event_heartbeat_interval=None)
    logs = EventLog(idle), EventLog(disabled)
    async with disabled:
        await asyncio.sleep(0.1)
    assert not logs[0].find("HEARTBEAT") and not logs[1].find("HEARTBEAT")


async def test_heartbeat_counters_follow_the_live_channels():
    switch = make_switch(max_sessions=100)
    log = EventLog(switch)
    async with switch:
        first = await call(switch)
        await call(switch)  # two loopback calls: four channels
        beat, _ = await next_heartbeat(log, log.mark())
        counters = {name: int(value) for name, value in beat.headers if name.startswith("Session-")}
        assert counters["Session-Count"] == len(switch.channels) == 4
        assert counters["Session-Since-Startup"] == 4
        assert counters["Session-Peak-Max"] == counters["Session-Peak-FiveMin"] == 4
        assert 1 <= counters["Session-Per-Sec-Max"] <= 4
        assert counters["Session-Per-Sec-FiveMin"] <= counters["Session-Per-Sec-Max"]
        assert beat.get("Max-Sessions") == "100"
        channel = switch.channels.get(first)
        assert channel is not None and channel.loopback_peer is not None
        legs = [channel, channel.loopback_peer]
        channel.hangup()
        await asyncio.wait_for(asyncio.gather(*(leg.destroyed_event.wait() for leg in legs)), 5)
        beat, _ = await next_heartbeat(log, log.mark())
    later = dict(beat.headers)
    assert later["Session-Count"] == "2"
    assert later["Session-Since-Startup"] == later["Session-Peak-Max"] == "4"
    assert later["Session-Per-Sec-Last"] == "0" and later["Session-Per-Sec"] == "30"  # long since created
    assert len(switch.channels) == 0  # close() hung up the other call


async def test_an_esl_client_subscribed_to_heartbeat_receives_it_and_its_re_schedule():
    switch = make_switch(scale=0.001)
    server = EslServer(switch, port=0)
    await server.start()
    try:
        async with switch:
            client = await EslClient.connect(server.port)
            reply = await client.command("event plain HEARTBEAT RE_SCHEDULE")
            assert reply.header("Reply-Text") == "+OK event listener enabled plain"
            beat, reschedule = await client.event(), await client.event()
            await client.close()
    finally:
        await server.close()
    assert (beat.name, reschedule.name) == ("HEARTBEAT", "RE_SCHEDULE")
    assert names(beat) == names(recorded("HEARTBEAT"))
    assert dict(beat.headers)["Event-Info"] == "System Ready"
