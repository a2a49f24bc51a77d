"""The conference application and api: members, floor, mute/deaf/kick/lock/record, list formats."""

from __future__ import annotations

import wave
from pathlib import Path

from tests.fsim import recordings
from tests.fsim.test_calls_support import EventLog, execute, make_switch, originate_parked


async def join(switch, log, room: str = "room1", **variables: str) -> str:  # type: ignore[no-untyped-def]
    uuid = await originate_parked(switch, log, **variables)
    mark = log.mark()
    await switch.sendmsg(uuid, execute("conference", f"{room}@default"), None)
    await log.wait("CUSTOM", {"Action": "add-member", "Unique-ID": uuid}, since=mark)
    return uuid


def actions(log: EventLog, since: int = 0) -> list[str]:
    return [event.get("Action") or "" for event in log.find("CUSTOM", since=since)]


async def test_members_join_talk_and_leave_with_the_recorded_events() -> None:
    switch = make_switch()
    log = EventLog(switch)
    first = await join(switch, log, origination_caller_id_number="1000")
    second = await join(switch, log, origination_caller_id_number="2000")
    assert actions(log) == ["conference-create", "add-member", "add-member", "floor-change"]
    create = log.find("CUSTOM", {"Action": "conference-create"})[0]
    assert create.headers[0] == ("Event-Subclass", "conference::maintenance")
    first_id = switch.channels.get(first).get_var("conference_member_id")  # type: ignore[union-attr]
    second_id = switch.channels.get(second).get_var("conference_member_id")  # type: ignore[union-attr]
    listing = await switch.api.execute("conference", "room1 list")
    assert listing == (
        f"{second_id};loopback/answer_park-a;{second};Outbound Call;default;hear|speak|floor;0;0;100\n"
        f"{first_id};loopback/answer_park-a;{first};Outbound Call;default;hear|speak;0;0;100\n"
    )
    mark = log.mark()
    await switch.api.execute("uuid_kill", second)
    await log.wait("CUSTOM", {"Action": "del-member", "Unique-ID": second}, since=mark)
    floor = log.find("CUSTOM", {"Action": "floor-change"}, since=mark)
    assert [(event.get("Old-ID"), event.get("New-ID")) for event in floor] == [
        ("none", "none"),
        ("none", first_id),
    ]
    mark = log.mark()
    assert await switch.api.execute("conference", f"room1 kick {first_id}") == f"+OK kicked {first_id}\n"
    await log.wait("CUSTOM", {"Action": "conference-destroy"}, since=mark)
    assert actions(log, mark) == ["kick-member", "floor-change", "del-member", "conference-destroy"]
    assert switch.channels.get(first).parked  # type: ignore[union-attr]  # back in park, as recorded
    assert await switch.api.execute("conference", "list") == "+OK No active conferences.\n"
    await switch.hangup_all()


async def test_member_controls_through_the_api_and_dtmf() -> None:
    switch = make_switch()
    log = EventLog(switch)
    uuid = await join(switch, log)
    member = switch.channels.get(uuid).get_var("conference_member_id")  # type: ignore[union-attr]
    api = switch.api.execute
    assert await api("conference", f"room1 mute {member}") == f"+OK mute {member}\n"
    assert await api("conference", f"room1 unmute {member}") == f"+OK unmute {member}\n"
    assert await api("conference", f"room1 deaf {member}") == f"+OK deaf {member}\n"
    assert await api("conference", f"room1 undeaf {member}") == f"+OK undeaf {member}\n"
    assert await api("conference", "room1 mute 99") == "-ERR Non-Existant ID 99\n"
    assert await api("conference", "nowhere list") == "-ERR Conference nowhere not found\n"
    assert await api("conference", "room1 frobnicate") == "-ERR Conference command 'frobnicate' not found.\n"
    mark = log.mark()
    twin = switch.channels.get(uuid).loopback_peer.uuid  # type: ignore[union-attr]
    await api("uuid_send_dtmf", f"{twin} 0")
    muted = await log.wait("CUSTOM", {"Action": "mute-member"}, since=mark)
    assert muted.get("Speak") == "false" and muted.get("Member-ID") == member
    assert ";hear;" in await api("conference", "room1 list")
    assert actions(log)[-5:] == [
        "mute-member",
        "unmute-member",
        "deaf-member",
        "undeaf-member",
        "mute-member",
    ]
    summary = await api("conference", "list")
    assert summary.startswith(
        "+OK Conference room1 (1 member rate: 8000 flags: running|answered|enforce_min|"
    )
    await switch.hangup_all()


async def test_lock_keeps_new_members_out() -> None:
    switch = make_switch()
    log = EventLog(switch)
    await join(switch, log)
    assert await switch.api.execute("conference", "room1 lock") == "+OK room1 locked\n"
    other = await originate_parked(switch, log)
    mark = log.mark()
    await switch.sendmsg(other, execute("conference", "room1@default"), None)
    complete = await log.wait(
        "CHANNEL_EXECUTE_COMPLETE", {"Unique-ID": other, "Application": "conference"}, since=mark
    )
    assert complete.get("variable_conference_locked") == "true"
    assert "add-member" not in actions(log, mark)
    assert await switch.api.execute("conference", "room1 unlock") == "+OK room1 unlocked\n"
    await switch.hangup_all()


async def test_conference_recording_writes_a_file(tmp_path: Path) -> None:
    switch = make_switch()
    log = EventLog(switch)
    await join(switch, log)
    path = tmp_path / "conf.wav"
    assert await switch.api.execute("conference", f"room1 record {path}") == f"+OK Record file {path}\n"
    await switch.clock.sleep(4)
    assert (
        await switch.api.execute("conference", f"room1 norecord {path}") == "+OK Stopped recording 1 file\n"
    )
    stop = log.find("CUSTOM", {"Action": "stop-recording"})[0]
    assert stop.get("Path") == str(path) and int(stop.get("Milliseconds-Elapsed") or 0) >= 4000
    with wave.open(str(path)) as recorded:
        assert recorded.getnframes() >= 32000
    await switch.hangup_all()


async def test_json_list_has_the_recorded_shape() -> None:
    switch = make_switch()
    log = EventLog(switch)
    await join(switch, log, room="fixture_room", origination_caller_id_number="2000")
    await join(switch, log, room="fixture_room", origination_caller_id_number="1000")
    ours = await switch.api.execute("conference", "fixture_room json_list")
    recorded = next(
        message.body.decode()
        for message in recordings.messages(recordings.recording("call-lifecycle-control"))
        if message.body.startswith(b'[{\n\t\t"conference_name"')
    )
    shape = [line.split(":")[0] for line in recorded.split("\n")]
    assert [line.split(":")[0] for line in ours.split("\n")] == shape
    await switch.hangup_all()
