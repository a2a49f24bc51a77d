"""Channel lifecycle: states and their numbers, the dialplan hook, CDR variables on a fast clock, sendmsg."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from fsim.channels.channel import Channel
from fsim.clock import Clock
from tests.fsim.test_calls_support import TIMEOUT, EventLog, execute, make_switch, originate_parked, run_app


async def test_clock_scales_simulated_time() -> None:
    clock = Clock(0.001)
    loop = asyncio.get_running_loop()
    before, real_before = clock.now(), loop.time()
    await clock.sleep(50)
    assert clock.now() - before >= 50
    assert loop.time() - real_before < 1.0
    assert clock.real(300) == 0.3


async def test_inbound_call_runs_the_route_hook_and_reports_a_cdr() -> None:
    switch = make_switch(scale=0.001)
    log = EventLog(switch)
    routed: list[str] = []

    async def hook(channel: Channel) -> list[tuple[str, str]]:
        routed.append(channel.profile.destination_number)
        return [("answer", ""), ("playback", "silence_stream://300000"), ("hangup", "")]

    switch.route_hook = hook
    channel = switch.inbound_call("5000", caller_id_name="Alice", caller_id_number="1000")
    await log.wait("CHANNEL_DESTROY", {"Unique-ID": channel.uuid}, timeout=10)
    assert routed == ["5000"]
    assert log.names(channel.uuid) == [
        "CHANNEL_STATE", "CHANNEL_CREATE", "CHANNEL_CALLSTATE", "CHANNEL_STATE", "CHANNEL_STATE",
        "CHANNEL_EXECUTE", "CHANNEL_ANSWER", "CHANNEL_CALLSTATE", "CHANNEL_EXECUTE_COMPLETE",
        "CHANNEL_EXECUTE", "PLAYBACK_START", "PLAYBACK_STOP", "CHANNEL_EXECUTE_COMPLETE",
        "CHANNEL_EXECUTE", "CHANNEL_HANGUP", "CHANNEL_EXECUTE_COMPLETE",
        "CHANNEL_STATE", "CHANNEL_CALLSTATE", "CHANNEL_STATE", "CHANNEL_HANGUP_COMPLETE", "CHANNEL_DESTROY",
        "CHANNEL_STATE",
    ]  # fmt: skip
    states = [
        (event.get("Channel-State"), event.get("Channel-State-Number"))
        for event in log.find("CHANNEL_STATE", {"Unique-ID": channel.uuid})
    ]
    assert states == [
        ("CS_INIT", "1"), ("CS_ROUTING", "2"), ("CS_EXECUTE", "4"), ("CS_HANGUP", "10"),
        ("CS_REPORTING", "11"), ("CS_DESTROY", "12"),
    ]  # fmt: skip
    complete = log.find("CHANNEL_HANGUP_COMPLETE", {"Unique-ID": channel.uuid})[0]
    assert complete.headers[13] == ("Hangup-Cause", "NORMAL_CLEARING")
    # 300 simulated seconds of silence; a real millisecond is a simulated second on this clock
    billsec, duration = (
        int(complete.get("variable_billsec") or 0),
        int(complete.get("variable_duration") or 0),
    )
    assert 300 <= billsec <= duration <= 400
    assert complete.get("variable_last_app") == "hangup" and complete.get("variable_digits_dialed") == "none"
    assert complete.get("variable_caller_id") == '"Alice" <1000>'
    assert int(complete.get("variable_billusec") or 0) >= 300_000_000
    assert complete.get("Caller-Channel-Hangup-Time") == complete.get("variable_end_uepoch")


async def test_no_route_hangs_up_with_no_route_destination() -> None:
    switch = make_switch()
    log = EventLog(switch)
    channel = switch.inbound_call("nowhere")
    hangup = await log.wait("CHANNEL_HANGUP", {"Unique-ID": channel.uuid})
    assert hangup.get("Hangup-Cause") == "NO_ROUTE_DESTINATION"


@dataclass
class Action:
    application: str
    data: str = ""


@dataclass
class XmlRoute:
    """Shaped like fsim.dialplan_xml.Route: inline actions first, then the extension's."""

    actions: list[Action] = field(default_factory=list)
    inline: list[Action] = field(default_factory=list)


async def test_route_hook_may_return_a_dialplan_xml_route() -> None:
    async def hook(channel: Channel) -> XmlRoute:
        return XmlRoute(actions=[Action("set", "b=${a}-x"), Action("park")], inline=[Action("set", "a=1")])

    switch = make_switch(route_hook=hook)
    log = EventLog(switch)
    channel = switch.inbound_call("1234")
    await log.wait("CHANNEL_PARK", {"Unique-ID": channel.uuid})
    assert channel.get_var("b") == "1-x"
    assert [event.get("Application-Data") for event in log.find("CHANNEL_EXECUTE")] == ["a=1", "b=1-x", None]
    await switch.hangup_all()


async def test_transfer_reroutes_with_a_new_caller_profile() -> None:
    switch = make_switch()
    log = EventLog(switch)
    a_uuid = await originate_parked(switch, log)
    mark = log.mark()
    await switch.sendmsg(a_uuid, execute("transfer", "conf_sales XML default"), None)
    member = await log.wait("CUSTOM", {"Action": "add-member", "Unique-ID": a_uuid}, since=mark)
    assert (
        member.get("Caller-Destination-Number") == "conf_sales" and member.get("Caller-Profile-Index") == "2"
    )
    assert [event.name for event in log.find(since=mark) if event.get("Unique-ID") == a_uuid][:7] == [
        "CHANNEL_EXECUTE", "CHANNEL_EXECUTE_COMPLETE", "PRIVATE_COMMAND", "CHANNEL_UNPARK",
        "CHANNEL_EXECUTE_COMPLETE", "CHANNEL_STATE", "CHANNEL_STATE",
    ]  # fmt: skip
    routing = log.find("CHANNEL_STATE", {"Unique-ID": a_uuid}, since=mark)[0]
    assert routing.get("Channel-State") == "CS_ROUTING"
    await switch.hangup_all()


async def test_loops_repeat_an_application_that_lasts() -> None:
    switch = make_switch()
    log = EventLog(switch)
    a_uuid = await originate_parked(switch, log)
    mark = log.mark()
    headers = [*execute("playback", "silence_stream://1000"), ("loops", "3")]
    assert await switch.sendmsg(a_uuid, headers, None) == "+OK"
    starts = []
    for _ in range(3):
        starts.append(await log.wait("CHANNEL_EXECUTE", {"Unique-ID": a_uuid}, since=mark))
        mark = log.events.index(starts[-1]) + 1
    assert [event.get("variable_current_loop") for event in starts] == ["1", "2", "3"]
    assert {event.get("variable_total_loops") for event in starts} == {"3"}
    await switch.hangup_all()


async def test_application_uuid_comes_from_event_uuid() -> None:
    switch = make_switch()
    log = EventLog(switch)
    a_uuid = await originate_parked(switch, log)
    complete = await run_app(switch, log, a_uuid, "set", "x=1")
    execute_event = log.find("CHANNEL_EXECUTE", {"Application-UUID": complete.get("Application-UUID") or ""})
    assert execute_event and complete.get("Application-Response") == "_none_"
    assert switch.channels.get(a_uuid).get_var("x") == "1"  # type: ignore[union-attr]
    await switch.hangup_all()


async def test_sendmsg_hangup_queued_behind_a_locked_conference_waits_for_the_kick() -> None:
    switch = make_switch()
    log = EventLog(switch)
    a_uuid = await originate_parked(switch, log)
    await switch.sendmsg(a_uuid, execute("conference", "locked_room@default"), None)
    await log.wait("CUSTOM", {"Action": "add-member", "Unique-ID": a_uuid})
    assert (
        await switch.sendmsg(a_uuid, [("call-command", "hangup"), ("hangup-cause", "USER_BUSY")], None)
        == "+OK"
    )
    await switch.clock.sleep(30)  # an observation window (simulated): the locked conference holds it back
    assert not log.find("CHANNEL_HANGUP", {"Unique-ID": a_uuid})
    member_id = switch.channels.get(a_uuid).get_var("conference_member_id")  # type: ignore[union-attr]
    assert (
        await switch.api.execute("conference", f"locked_room kick {member_id}") == f"+OK kicked {member_id}\n"
    )
    hangup = await log.wait("CHANNEL_HANGUP", {"Unique-ID": a_uuid})
    assert hangup.get("Hangup-Cause") == "USER_BUSY"
    await asyncio.wait_for(switch.channels.wait_empty(), TIMEOUT)


async def test_sendmsg_to_unknown_channels_and_message_header_case() -> None:
    switch = make_switch()
    log = EventLog(switch)
    assert await switch.sendmsg("nope", [], None) == "-ERR invalid session id [nope]"
    a_uuid = await originate_parked(switch, log)
    headers = [("Call-Command", "execute"), ("Execute-App-Name", "set"), ("Execute-App-Arg", "y=2")]
    assert await switch.sendmsg(a_uuid, headers, None) == "+OK"
    await log.wait("CHANNEL_EXECUTE_COMPLETE", {"Unique-ID": a_uuid, "Application": "set"})
    private = await log.wait("PRIVATE_COMMAND", {"Unique-ID": a_uuid})
    assert private.headers[0] == ("Command", f"sendmsg {a_uuid}")
    assert switch.channel_name(a_uuid) == "loopback/answer_park-a" and switch.channel_name("nope") is None
    await switch.hangup_all()
