"""Call-control applications: variables, answer/pre_answer/ring_ready, respond, hangup, event, DTMF, sleep."""

from __future__ import annotations

import asyncio

from fsim.channels.channel import Channel
from tests.fsim.test_calls_support import TIMEOUT, EventLog, execute, make_switch, originate_parked, run_app


async def test_set_export_unset_and_variable_expansion() -> None:
    switch = make_switch()
    log = EventLog(switch)
    uuid = await originate_parked(switch, log)
    channel = switch.channels.get(uuid)
    assert channel is not None
    await run_app(switch, log, uuid, "set", "greeting=hello world")
    complete = await run_app(switch, log, uuid, "set", "echo=${greeting}!")
    assert (
        complete.get("Application-Data") == "echo=hello world!" and channel.get_var("echo") == "hello world!"
    )
    await run_app(switch, log, uuid, "export", "shared=1")
    await run_app(switch, log, uuid, "export", "nolocal:remote_only=2")
    assert channel.get_var("export_vars") == "shared,remote_only"
    assert channel.get_var("shared") == "1" and channel.get_var("remote_only") is None
    await run_app(switch, log, uuid, "unset", "greeting")
    await run_app(switch, log, uuid, "set", "echo=")
    assert channel.get_var("greeting") is None and channel.get_var("echo") is None
    await switch.hangup_all()


async def test_inbound_call_progress_then_answer() -> None:
    async def hook(channel: Channel) -> list[tuple[str, str]]:
        return [("ring_ready", ""), ("pre_answer", ""), ("sleep", "1000"), ("answer", ""), ("park", "")]

    switch = make_switch(route_hook=hook)
    log = EventLog(switch)
    channel = switch.inbound_call("100", caller_id_number="1000")
    await log.wait("CHANNEL_PARK", {"Unique-ID": channel.uuid})
    progress = [
        (event.name, event.get("Answer-State"), event.get("Channel-Call-State"))
        for event in log.events
        if event.get("Unique-ID") == channel.uuid
        and event.name.startswith(("CHANNEL_PROGRESS", "CHANNEL_ANSWER"))
    ]
    assert progress == [
        ("CHANNEL_PROGRESS", "ringing", "RINGING"),
        ("CHANNEL_PROGRESS_MEDIA", "early", "RINGING"),
        ("CHANNEL_ANSWER", "answered", "EARLY"),
    ]
    states = [
        event.get("Channel-Call-State")
        for event in log.find("CHANNEL_CALLSTATE", {"Unique-ID": channel.uuid})
    ]
    assert states == ["RINGING", "EARLY", "ACTIVE"]
    assert channel.profile.times.progress and channel.profile.times.progress_media and channel.answered
    await switch.hangup_all()


async def test_respond_and_hangup_causes() -> None:
    async def hook(channel: Channel) -> list[tuple[str, str]]:
        if channel.profile.destination_number == "busy":
            return [("respond", "486 Busy Here")]
        return [("hangup", "CALL_REJECTED")]

    switch = make_switch(route_hook=hook)
    log = EventLog(switch)
    busy, rejected = switch.inbound_call("busy"), switch.inbound_call("reject")
    await asyncio.wait_for(switch.channels.wait_empty(), TIMEOUT)
    assert log.find("CHANNEL_HANGUP", {"Unique-ID": busy.uuid})[0].get("Hangup-Cause") == "USER_BUSY"
    complete = log.find("CHANNEL_HANGUP_COMPLETE", {"Unique-ID": rejected.uuid})[0]
    assert (
        complete.get("Hangup-Cause") == "CALL_REJECTED" and complete.get("variable_hangup_cause_q850") == "21"
    )


async def test_unknown_application_hangs_up_with_destination_out_of_order() -> None:
    switch = make_switch()
    log = EventLog(switch)
    uuid = await originate_parked(switch, log)
    await switch.sendmsg(uuid, execute("no_such_app"), None)
    hangup = await log.wait("CHANNEL_HANGUP", {"Unique-ID": uuid})
    assert hangup.get("Hangup-Cause") == "DESTINATION_OUT_OF_ORDER"


async def test_event_application_fires_a_custom_event_with_channel_data() -> None:
    switch = make_switch()
    log = EventLog(switch)
    uuid = await originate_parked(switch, log)
    await run_app(switch, log, uuid, "event", "Event-Name=CUSTOM,Event-Subclass=fsim::test,Fixture=yes")
    event = log.find("CUSTOM", {"Event-Subclass": "fsim::test"})[0]
    assert event.headers[:2] == [("Event-Subclass", "fsim::test"), ("Fixture", "yes")]
    assert event.get("Unique-ID") == uuid and event.get("variable_uuid") == uuid
    await run_app(switch, log, uuid, "event", "Marker=1")
    assert log.find("CHANNEL_APPLICATION", {"Marker": "1", "Unique-ID": uuid})
    await switch.hangup_all()


async def test_send_dtmf_is_heard_on_the_loopback_twin() -> None:
    switch = make_switch()
    log = EventLog(switch)
    uuid = await originate_parked(switch, log)
    await run_app(switch, log, uuid, "send_dtmf", "45@200")
    twin = switch.channels.get(uuid).loopback_peer  # type: ignore[union-attr]
    first = await log.wait("DTMF", {"Unique-ID": twin.uuid})  # type: ignore[union-attr]
    second = await log.wait("DTMF", {"Unique-ID": twin.uuid, "DTMF-Digit": "5"})  # type: ignore[union-attr]
    assert (first.get("DTMF-Digit"), first.get("DTMF-Duration"), first.get("DTMF-Source")) == (
        "4",
        "1600",
        "UNKNOWN",
    )
    assert second.get("DTMF-Duration") == "1600" and not first.get(
        "variable_uuid"
    )  # DTMF carries no variables
    await switch.hangup_all()
    complete = await log.wait("CHANNEL_HANGUP_COMPLETE", {"Unique-ID": twin.uuid})  # type: ignore[union-attr]
    assert complete.get("variable_digits_dialed") == "45"


async def test_sleep_lasts_its_simulated_time_and_echo_waits_for_a_break() -> None:
    switch = make_switch()
    log = EventLog(switch)
    uuid = await originate_parked(switch, log)
    started = switch.clock.now()
    await run_app(switch, log, uuid, "sleep", "30000")
    assert switch.clock.now() - started >= 30
    await switch.sendmsg(uuid, execute("echo"), None)
    await log.wait("CHANNEL_EXECUTE", {"Unique-ID": uuid, "Application": "echo"})
    assert await switch.api.execute("uuid_break", uuid) == "+OK\n"
    await log.wait("CHANNEL_EXECUTE_COMPLETE", {"Unique-ID": uuid, "Application": "echo"})
    await switch.hangup_all()


async def test_uuid_break_all_flushes_the_queue() -> None:
    switch = make_switch()
    log = EventLog(switch)
    uuid = await originate_parked(switch, log)
    await switch.sendmsg(uuid, execute("playback", "silence_stream://-1"), None)
    await switch.sendmsg(uuid, execute("set", "never=1"), None)
    await log.wait("PLAYBACK_START", {"Unique-ID": uuid})
    assert await switch.api.execute("uuid_break", f"{uuid} all") == "+OK\n"
    await log.wait("CHANNEL_EXECUTE_COMPLETE", {"Unique-ID": uuid, "Application": "playback"})
    await switch.clock.sleep(5)
    assert switch.channels.get(uuid).get_var("never") is None  # type: ignore[union-attr]
    await switch.hangup_all()
