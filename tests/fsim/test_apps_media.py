"""Media applications: playback lengths, uuid_break, record files, play_and_get_digits, read."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import pytest

from fsim.apps.media import tone_duration
from tests.fsim.test_calls_support import EventLog, execute, make_switch, originate_parked, run_app


def write_wav(path: Path, seconds: float, rate: int = 8000) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\x00\x00" * int(seconds * rate))
    return path


@pytest.mark.parametrize(
    ("spec", "seconds"),
    [
        ("%(200,100,440);loops=3", 0.9),
        ("%(100,50,600);loops=2", 0.3),
        ("%(200,100,440)", 0.3),
        ("v=-7;%(100,0,941.0,1477.0);%(500,500,350,440)", 1.1),
        ("L=2;%(1000,4000,450,480)", 10.0),
    ],
)
def test_tone_stream_duration(spec: str, seconds: float) -> None:
    assert tone_duration(spec) == pytest.approx(seconds)


async def test_playback_lengths_and_events(tmp_path: Path) -> None:
    switch = make_switch(default_playback_seconds=7)
    log = EventLog(switch)
    a_uuid = await originate_parked(switch, log)
    wav = write_wav(tmp_path / "prompt.wav", 2.5, rate=16000)
    cases = [
        ("tone_stream://%(200,100,440);loops=3", 900, "tone_stream"),
        ("silence_stream://1500", 1500, None),
        (str(wav), 2500, None),
        ("http://example.com/a.mp3", 7000, None),
        ("ivr/ivr-welcome.wav", 7000, None),
    ]
    for path, milliseconds, kind in cases:
        mark = log.mark()
        started = switch.clock.now()
        complete = await run_app(switch, log, a_uuid, "playback", path)
        assert switch.clock.now() - started >= milliseconds / 1000
        assert complete.get("Application-Response") == "FILE PLAYED"
        assert complete.get("variable_playback_ms") == str(milliseconds)
        start, stop = log.find("PLAYBACK_START", since=mark)[0], log.find("PLAYBACK_STOP", since=mark)[0]
        assert start.get("Playback-File-Type") == kind and start.get("Playback-File-Path") == path
        assert stop.get("Playback-Status") == "done"
    await switch.hangup_all()


async def test_missing_file_with_strict_files() -> None:
    switch = make_switch(strict_files=True)
    log = EventLog(switch)
    a_uuid = await originate_parked(switch, log)
    mark = log.mark()
    complete = await run_app(switch, log, a_uuid, "playback", "/nonexistent/file.wav")
    assert complete.get("Application-Response") == "FILE NOT FOUND"
    assert not log.find("PLAYBACK_START", since=mark)
    await switch.hangup_all()


async def test_uuid_break_stops_a_playback() -> None:
    switch = make_switch()
    log = EventLog(switch)
    a_uuid = await originate_parked(switch, log)
    event_uuid = "b7d9c0f2-0000-4000-8000-000000000001"
    await switch.sendmsg(a_uuid, execute("playback", "silence_stream://-1", event_uuid=event_uuid), None)
    await log.wait("PLAYBACK_START", {"Unique-ID": a_uuid})
    assert await switch.api.execute("uuid_break", a_uuid) == "+OK\n"
    stop = await log.wait("PLAYBACK_STOP", {"Unique-ID": a_uuid})
    complete = await log.wait("CHANNEL_EXECUTE_COMPLETE", {"Application-UUID": event_uuid})
    assert stop.get("Playback-Status") == "break" and complete.get("Application-Response") == "FILE PLAYED"
    assert switch.channels.get(a_uuid).parked  # type: ignore[union-attr]
    await switch.hangup_all()


async def test_playback_terminator_digit_stops_the_playback() -> None:
    switch = make_switch()
    log = EventLog(switch)
    a_uuid = await originate_parked(switch, log, playback_terminators="#")
    await switch.sendmsg(a_uuid, execute("playback", "silence_stream://60000"), None)
    await log.wait("PLAYBACK_START", {"Unique-ID": a_uuid})
    b_uuid = switch.channels.get(a_uuid).loopback_peer.uuid  # type: ignore[union-attr]
    await switch.api.execute("uuid_send_dtmf", f"{b_uuid} 1#")
    stop = await log.wait("PLAYBACK_STOP", {"Unique-ID": a_uuid})
    assert stop.get("Playback-Status") == "break" and stop.get("variable_playback_terminator_used") == "#"
    assert [event.get("DTMF-Digit") for event in log.find("DTMF", {"Unique-ID": a_uuid})] == ["1", "#"]
    await switch.hangup_all()


async def test_record_writes_a_wav_as_long_as_the_limit(tmp_path: Path) -> None:
    switch = make_switch()
    log = EventLog(switch)
    a_uuid = await originate_parked(switch, log)
    path = tmp_path / "rec" / "limit.wav"
    mark = log.mark()
    complete = await run_app(switch, log, a_uuid, "record", f"{path} 3")
    with wave.open(str(path)) as recorded:
        assert (recorded.getframerate(), recorded.getsampwidth(), recorded.getnchannels()) == (8000, 2, 1)
        assert recorded.getnframes() == 24000
    assert complete.get("variable_record_ms") == "3000" and complete.get("variable_record_seconds") == "3"
    assert complete.get("variable_record_file_size") == str(44 + 48000)
    start, stop = log.find("RECORD_START", since=mark)[0], log.find("RECORD_STOP", since=mark)[0]
    assert start.get("Record-File-Path") == stop.get("Record-File-Path") == str(path)
    await switch.hangup_all()


async def test_record_stops_on_a_terminator_digit(tmp_path: Path) -> None:
    switch = make_switch()
    log = EventLog(switch)
    a_uuid = await originate_parked(switch, log)
    path = tmp_path / "terminated.wav"
    await switch.sendmsg(a_uuid, execute("record", f"{path} 120"), None)
    await log.wait("RECORD_START", {"Unique-ID": a_uuid})
    await switch.clock.sleep(2)
    b_uuid = switch.channels.get(a_uuid).loopback_peer.uuid  # type: ignore[union-attr]
    await switch.api.execute("uuid_send_dtmf", f"{b_uuid} *")
    complete = await log.wait("CHANNEL_EXECUTE_COMPLETE", {"Unique-ID": a_uuid, "Application": "record"})
    assert complete.get("variable_playback_terminator_used") == "*"
    with wave.open(str(path)) as recorded:
        assert 2 <= recorded.getnframes() / 8000 < 120
    await switch.hangup_all()


async def test_record_session_and_uuid_record(tmp_path: Path) -> None:
    switch = make_switch()
    log = EventLog(switch)
    a_uuid = await originate_parked(switch, log)
    first, second = tmp_path / "session.wav", tmp_path / "api.wav"
    await run_app(switch, log, a_uuid, "record_session", str(first))
    assert await switch.api.execute("uuid_record", f"{a_uuid} start {second}") == "+OK Success\n"
    await run_app(switch, log, a_uuid, "playback", "silence_stream://2000")
    await run_app(switch, log, a_uuid, "stop_record_session", str(first))
    assert await switch.api.execute("uuid_record", f"{a_uuid} stop {second}") == "+OK Success\n"
    assert (
        await switch.api.execute("uuid_record", f"{a_uuid} stop {second}")
        == "-ERR Cannot stop record session!\n"
    )
    names = [
        (event.name, event.get("Record-File-Path") or event.get("Media-Bug-Target")) for event in log.events
    ]
    assert [name for name, target in names if target == str(first)] == [
        "RECORD_START", "MEDIA_BUG_START", "RECORD_STOP", "MEDIA_BUG_STOP",
    ]  # fmt: skip
    with wave.open(str(first)) as recorded:
        assert recorded.getnframes() >= 16000
    assert second.exists()
    await switch.hangup_all()


async def test_record_session_takes_its_limit_after_a_plus_as_mod_dptools_does(tmp_path: Path) -> None:
    switch = make_switch()
    log = EventLog(switch)
    a_uuid = await originate_parked(switch, log)
    limited = tmp_path / "limited.wav"
    await run_app(switch, log, a_uuid, "record_session", f"{limited} +1")
    await run_app(switch, log, a_uuid, "playback", "silence_stream://3000")
    stops = [e for e in log.events if e.name == "RECORD_STOP" and e.get("Record-File-Path") == str(limited)]
    assert len(stops) == 1  # ended by its one-second limit, during the three seconds of playback
    with wave.open(str(limited)) as recorded:
        assert recorded.getnframes() <= 8000 * 1.5
    await switch.hangup_all()


async def pagd(switch, log, a_uuid, b_uuid, arg: str, digits: str, *, wait_prompt: bool = True):  # type: ignore[no-untyped-def]
    mark = log.mark()
    task = asyncio.create_task(run_app(switch, log, a_uuid, "play_and_get_digits", arg))
    if wait_prompt:
        await log.wait("PLAYBACK_STOP", {"Unique-ID": a_uuid}, since=mark)
    if digits:
        await switch.api.execute("uuid_send_dtmf", f"{b_uuid} {digits}")
    return await task


async def test_play_and_get_digits() -> None:
    switch = make_switch()
    log = EventLog(switch)
    a_uuid = await originate_parked(switch, log)
    b_uuid = switch.channels.get(a_uuid).loopback_peer.uuid  # type: ignore[union-attr]
    channel = switch.channels.get(a_uuid)
    assert channel is not None
    base = "1 4 1 5000 # tone_stream://%(200,100,440) silence_stream://250 fixture_digits"
    complete = await pagd(switch, log, a_uuid, b_uuid, rf"{base} \d+", "123#")
    assert (
        complete.get("variable_fixture_digits") == "123" and complete.get("variable_read_result") == "success"
    )
    assert complete.get("variable_read_terminator_used") == "#"
    # the regex refuses, the one try is used up: the variable is cleared, <var>_invalid keeps the digits
    complete = await pagd(switch, log, a_uuid, b_uuid, rf"{base} ^9\d+$", "123#")
    assert (
        complete.get("variable_fixture_digits") is None and channel.get_var("fixture_digits_invalid") == "123"
    )
    # four digits end the collection without a terminator
    complete = await pagd(switch, log, a_uuid, b_uuid, rf"{base} \d+", "4567")
    assert complete.get("variable_fixture_digits") == "4567"
    # nothing typed: a timeout (fewer digits than the minimum: read_result failure), the invalid prompt, twice
    mark = log.mark()
    two_tries = "1 4 2 5000 # silence_stream://100 silence_stream://250 fixture_digits"
    complete = await pagd(switch, log, a_uuid, b_uuid, two_tries, "", wait_prompt=False)
    assert channel.get_var("read_result") == "failure" and complete.get("variable_fixture_digits") is None
    paths = [event.get("Playback-File-Path") for event in log.find("PLAYBACK_START", since=mark)]
    assert paths == ["silence_stream://100", "silence_stream://250"] * 2
    await switch.hangup_all()


async def test_read_stores_digits_typed_during_the_prompt() -> None:
    switch = make_switch()
    log = EventLog(switch)
    a_uuid = await originate_parked(switch, log)
    b_uuid = switch.channels.get(a_uuid).loopback_peer.uuid  # type: ignore[union-attr]
    mark = log.mark()
    task = asyncio.create_task(run_app(switch, log, a_uuid, "read", "2 3 silence_stream://60000 pin 5000 #"))
    await log.wait("PLAYBACK_START", {"Unique-ID": a_uuid}, since=mark)
    await switch.api.execute("uuid_send_dtmf", f"{b_uuid} 42#")
    complete = await task
    assert complete.get("variable_pin") == "42" and complete.get("variable_read_result") == "success"
    assert log.find("PLAYBACK_STOP", since=mark)[0].get("Playback-Status") == "break"
    await switch.hangup_all()
