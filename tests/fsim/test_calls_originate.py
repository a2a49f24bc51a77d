"""originate and the channel api commands, driven in-process: ``switch.api.execute`` and the event hub."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest

from fsim.channels.endpoints import Endpoint
from fsim.events import Event
from tests.fsim.test_calls_support import TIMEOUT, EventLog, by_name, make_switch, originate_parked


async def test_loopback_originate_creates_both_legs_and_answers_when_b_answers() -> None:
    switch = make_switch()
    log = EventLog(switch)
    a_uuid = await originate_parked(switch, log, origination_caller_id_number="1000")
    b = by_name(switch, "loopback/answer_park-b")
    a = switch.channels.get(a_uuid)
    assert a is not None and a.name == "loopback/answer_park-a" and a.direction == "outbound"
    assert b.direction == "inbound" and b.get_var("other_loopback_leg_uuid") == a_uuid
    assert log.names(a_uuid) == [
        "CHANNEL_UUID", "CHANNEL_OUTGOING", "CHANNEL_STATE", "CHANNEL_CREATE", "CHANNEL_ORIGINATE",
        "CHANNEL_STATE", "CHANNEL_STATE", "CHANNEL_ANSWER", "CHANNEL_CALLSTATE", "CALL_UPDATE",
        "CHANNEL_STATE", "CHANNEL_EXECUTE", "CHANNEL_PARK",
    ]  # fmt: skip
    update = log.find("CALL_UPDATE", {"Unique-ID": a_uuid})[0]
    assert (
        update.get("Caller-Callee-ID-Number") == "1000"
        and update.get("Caller-Caller-ID-Name") == "Outbound Call"
    )


async def test_originate_without_answer_times_out_with_no_answer() -> None:
    switch = make_switch()
    log = EventLog(switch)
    reply = await switch.api.execute("originate", "{originate_timeout=60}loopback/park_me/default &park()")
    assert reply == "-ERR NO_ANSWER\n"
    hangups = log.find("CHANNEL_HANGUP")
    assert {event.get("Hangup-Cause") for event in hangups} == {"NO_ANSWER"}
    await asyncio.wait_for(switch.channels.wait_empty(), TIMEOUT)


@pytest.mark.parametrize(
    ("endpoint", "reply", "progress"),
    [
        (Endpoint.answers(after=3), "+OK", True),
        (Endpoint.rings_out(), "-ERR NO_ANSWER\n", True),
        (Endpoint.busy(), "-ERR USER_BUSY\n", False),
        (Endpoint.rejects("CALL_REJECTED", after=1), "-ERR CALL_REJECTED\n", False),
    ],
)
async def test_originate_to_simulated_endpoints(endpoint: Endpoint, reply: str, progress: bool) -> None:
    switch = make_switch()
    log = EventLog(switch)
    switch.endpoints.add("user/1001", endpoint)
    started = switch.clock.now()
    out = await switch.api.execute("originate", "{originate_timeout=20}user/1001 &park()")
    assert out.startswith(reply)
    assert bool(log.find("CHANNEL_PROGRESS")) is progress
    if reply == "+OK":
        assert switch.clock.now() - started >= 3
        channel = switch.channels.get(out.split()[1])
        assert channel is not None and channel.name == "sofia/internal/1001@127.0.0.1" and channel.answered
        assert channel.get_var("dialed_user") == "1001"
        assert (await switch.api.execute("uuid_kill", channel.uuid)) == "+OK\n"
    elif reply == "-ERR NO_ANSWER\n":
        assert switch.clock.now() - started >= 20
    await asyncio.wait_for(switch.channels.wait_empty(), TIMEOUT)


async def test_unknown_user_and_endpoint_types() -> None:
    switch = make_switch()
    switch.endpoints.default = None
    assert await switch.api.execute("originate", "user/4242 &park()") == "-ERR USER_NOT_REGISTERED\n"
    assert (
        await switch.api.execute("originate", "sofia/internal/9@h &park()") == "-ERR NO_ROUTE_DESTINATION\n"
    )
    assert await switch.api.execute("originate", "error/user_busy &park()") == "-ERR USER_BUSY\n"
    assert await switch.api.execute("originate", "foo/bar &park()") == "-ERR CHAN_NOT_IMPLEMENTED\n"
    assert (await switch.api.execute("originate", "user/1")).startswith("-USAGE: <call url>")


async def test_simultaneous_ring_first_answer_wins_and_others_lose_the_race() -> None:
    switch = make_switch()
    log = EventLog(switch)
    switch.endpoints.add("user/1001", Endpoint.answers(after=600))
    switch.endpoints.add("user/1002", Endpoint.answers(after=2))
    out = await switch.api.execute("originate", "user/1001,user/1002 &park()")
    winner = switch.channels.get(out.split()[1])
    assert winner is not None and winner.name.startswith("sofia/internal/1002@")
    loser = log.find("CHANNEL_HANGUP", {"Channel-Name": "sofia/internal/1001@127.0.0.1"})
    assert loser[0].get("Hangup-Cause") == "LOSE_RACE"
    await switch.hangup_all()


async def test_sequential_dial_string_tries_the_next_group_after_a_failure() -> None:
    switch = make_switch()
    switch.endpoints.add("user/1001", Endpoint.busy())
    switch.endpoints.add("user/1002", Endpoint.answers())
    out = await switch.api.execute(
        "originate", "{ignore_early_media=true}user/1001|[leg_var=x]user/1002 &park()"
    )
    channel = switch.channels.get(out.split()[1])
    assert channel is not None and channel.name.startswith("sofia/internal/1002@")
    assert channel.get_var("leg_var") == "x" and channel.get_var("ignore_early_media") == "true"
    await switch.hangup_all()


async def test_originate_to_an_extension_runs_the_dialplan_on_the_a_leg() -> None:
    switch = make_switch()
    log = EventLog(switch)
    out = await switch.api.execute("originate", "user/1000 conf_room7 XML default")
    uuid = out.split()[1]
    await log.wait("CUSTOM", {"Action": "add-member", "Unique-ID": uuid})
    channel = switch.channels.get(uuid)
    assert channel is not None and channel.profile.destination_number == "conf_room7"
    assert channel.profile.profile_index == "2"
    await switch.hangup_all()


async def test_show_channels_and_status() -> None:
    switch = make_switch()
    log = EventLog(switch)
    assert await switch.api.execute("show", "channels as json") == '{"row_count": 0}\n'
    assert await switch.api.execute("show", "channels") == "\n0 total.\n"
    a_uuid = await originate_parked(
        switch, log, origination_caller_id_number="1000", origination_caller_id_name="'Fixture Caller'"
    )
    shown = orjson.loads(await switch.api.execute("show", "channels as json"))
    assert shown["row_count"] == 2
    row = shown["rows"][0]
    assert row["uuid"] == a_uuid and row["name"] == "loopback/answer_park-a" and row["state"] == "CS_EXECUTE"
    assert (row["cid_name"], row["callee_name"], row["callee_direction"]) == (
        "Outbound Call",
        "Fixture Caller",
        "RECV",
    )
    assert (row["initial_cid_name"], row["application"], row["callstate"]) == (
        "Fixture Caller",
        "park",
        "ACTIVE",
    )
    assert list(row) == list(orjson.loads(recorded_show_channels())["rows"][0])
    csv = await switch.api.execute("show", "channels")
    assert csv.startswith("uuid,direction,created,") and csv.endswith("\n\n2 total.\n")
    status = await switch.api.execute("status", "")
    assert status.startswith("UP 0 years, 0 days, ") and "is ready\n2 session(s) since startup\n" in status
    assert "2 session(s) - peak 2, last 5min 2 \n" in status and "1000 session(s) max\n" in status
    await switch.hangup_all()


def recorded_show_channels() -> bytes:
    from tests.fsim.recordings import messages, recording

    bodies = [
        m.body for m in messages(recording("call-lifecycle-control")) if m.body.startswith(b'{"row_count":2')
    ]
    return bodies[0]


async def test_uuid_commands() -> None:
    switch = make_switch()
    log = EventLog(switch)
    a_uuid = await originate_parked(switch, log)
    api = switch.api.execute
    assert await api("uuid_exists", a_uuid) == "true"
    assert await api("uuid_exists", "nope") == "false"
    assert await api("uuid_getvar", f"{a_uuid} fixture") == "_undef_"
    assert await api("uuid_setvar", f"{a_uuid} fixture hello world") == "+OK\n"
    assert await api("uuid_getvar", f"{a_uuid} fixture") == "hello world"
    assert await api("uuid_setvar", f"{a_uuid} fixture") == "+OK\n"
    assert await api("uuid_getvar", f"{a_uuid} fixture") == "_undef_"
    assert await api("uuid_setvar", a_uuid) == "-ERR No variable specified\n"
    assert await api("uuid_getvar", "nope x") == "-ERR No such channel!\n"
    assert await api("uuid_kill", "nope") == "-ERR No such channel!\n"
    assert await api("uuid_break", "nope") == "-ERR No such channel!\n"
    assert await api("uuid_send_dtmf", "nope 1") == "-ERR Cannot locate session!\n"
    assert await api("uuid_bridge", f"{a_uuid} nope") == "-ERR Invalid uuid\n"
    assert await api("uuid_transfer", "nope 1000") == "-ERR No such channel!\n"
    assert await api("reloadxml", "") == "+OK [Success]\n"
    assert await api("uuid_kill", f"{a_uuid} USER_BUSY") == "+OK\n"
    hangup = await log.wait("CHANNEL_HANGUP_COMPLETE", {"Unique-ID": a_uuid})
    assert hangup.get("Hangup-Cause") == "USER_BUSY" and hangup.get("variable_hangup_cause_q850") == "17"
    b_hangup = await log.wait("CHANNEL_HANGUP", {"Channel-Name": "loopback/answer_park-b"})
    assert b_hangup.get("Hangup-Cause") == "USER_BUSY"


async def test_uuid_bridge_and_uuid_transfer() -> None:
    switch = make_switch()
    log = EventLog(switch)
    first, second = await originate_parked(switch, log), await originate_parked(switch, log)
    mark = log.mark()
    assert await switch.api.execute("uuid_bridge", f"{first} {second}") == f"+OK {second}\n"
    bridge = await log.wait("CHANNEL_BRIDGE", since=mark)
    assert (bridge.get("Bridge-A-Unique-ID"), bridge.get("Bridge-B-Unique-ID")) == (first, second)
    await log.wait("CHANNEL_UNPARK", {"Unique-ID": second}, since=mark)
    await log.wait("CHANNEL_STATE", {"Unique-ID": second, "Channel-State": "CS_EXCHANGE_MEDIA"})
    assert await switch.api.execute("uuid_transfer", f"{second} conf_transfer XML default") == "+OK\n"
    await log.wait("CHANNEL_UNBRIDGE", {"Unique-ID": first}, since=mark)
    await log.wait("CUSTOM", {"Action": "add-member", "Unique-ID": second}, since=mark)
    await log.wait("CHANNEL_HANGUP", {"Unique-ID": first}, since=mark)  # its partner left: it hangs up
    await switch.hangup_all()


async def test_hupall_with_a_variable_filter() -> None:
    switch = make_switch()
    log = EventLog(switch)
    first, second = await originate_parked(switch, log, tag="x"), await originate_parked(switch, log, tag="y")
    assert await switch.api.execute("hupall", "CALL_REJECTED tag x") == (
        "+OK hangup all channels matching [tag]=[x] with cause: CALL_REJECTED\n"
    )
    await log.wait("CHANNEL_DESTROY", {"Unique-ID": first})
    assert second in switch.channels
    assert await switch.api.execute("hupall", "") == "+OK hangup all channels with cause MANAGER_REQUEST\n"
    await asyncio.wait_for(switch.channels.wait_empty(), TIMEOUT)


async def test_sofia_status_lists_the_internal_profile() -> None:
    switch = make_switch()
    status = await switch.api.execute("sofia", "status")
    lines = status.split("\n")
    assert lines[0] == "                     Name\t   Type\t                                      Data\tState"
    assert lines[1] == "=" * 97
    assert lines[2].startswith("                 internal\tprofile\t  ") and lines[2].endswith("RUNNING (0)")
    assert lines[-2:] == ["1 profile 0 aliases", ""]


async def test_five_thousand_parked_channels_then_hupall() -> None:
    # Real time here: under this load a fast clock would expire the originate timeouts.
    switch = make_switch(scale=1.0, max_sessions=20_000)
    switch.endpoints.add("sofia/internal/*", Endpoint.answers(after=0.2))
    parked = asyncio.Event()
    count = 0

    def on_event(event: Event) -> None:
        nonlocal count
        if event.name == "CHANNEL_PARK":
            count += 1
            if count == 5000:
                parked.set()

    switch.hub.subscribe(on_event)
    started = time.perf_counter()
    replies = await asyncio.gather(
        *(switch.api.execute("originate", f"sofia/internal/{n}@127.0.0.1 &park()") for n in range(5000))
    )
    assert all(reply.startswith("+OK ") for reply in replies), {reply for reply in replies}
    await asyncio.wait_for(parked.wait(), 60)
    created = time.perf_counter()
    assert len(switch.channels) == 5000 and all(channel.parked for channel in switch.channels)
    assert (
        await switch.api.execute("hupall", "NORMAL_CLEARING")
        == "+OK hangup all channels with cause NORMAL_CLEARING\n"
    )
    await asyncio.wait_for(switch.channels.wait_empty(), 60)
    done = time.perf_counter()
    print(
        f"\n5000 parked channels: originate+park {created - started:.2f} s, "
        f"hupall until all destroyed {done - created:.2f} s"
    )
