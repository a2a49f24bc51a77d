"""The record_call module: start and stop a background recording, and a refused recording."""

from __future__ import annotations

from tests.whapps.scripted import CallflowHarness
from whapps.callflow.executor import FAILURE_MEDIA
from whapps.callflow.modules.record_call import default_name


async def test_start_then_stop_records_into_one_file() -> None:
    async with CallflowHarness() as h:
        await h.account()
        switch = h.switch()
        flow = {
            "module": "record_call",
            "data": {"format": "wav", "time_limit": 60},
            "children": {
                "_": {
                    "module": "play",
                    "data": {"id": "/system_media/hello"},
                    "children": {"_": {"module": "record_call", "data": {"action": "stop"}}},
                }
            },
        }
        ctx = await h.run(switch, flow)
        assert switch.applications() == ["record_call", "answer", "play", "record_call", "hangup"]
        start, stop = switch.of("record_call")
        name = f"call_recording_{switch.call_id}.wav"
        assert (start["Record-Action"], start["Media-Name"], start["Time-Limit"]) == ("start", name, 60)
        assert (stop["Record-Action"], stop["Media-Name"]) == ("stop", name)
        assert "record_call" not in ctx.call.values


async def test_stop_without_a_known_recording_stops_them_all() -> None:
    async with CallflowHarness() as h:
        await h.account()
        switch = h.switch()
        await h.run(switch, {"module": "record_call", "data": {"action": "stop"}})
        assert switch.applications() == ["record_call", "hangup"]
        assert "Media-Name" not in switch.of("record_call")[0]


def test_the_default_name_is_a_bare_file_name() -> None:
    assert default_name("abc/../x@10.0.0.1", "mp3") == "call_recording_abc_.._x_10.0.0.1.mp3"


async def test_a_refused_recording_fails_with_the_prompt() -> None:
    async with CallflowHarness() as h:
        await h.account()
        switch = h.switch(failures={"record_call": "invalid"})
        await h.run(switch, {"module": "record_call", "data": {}, "children": {"_": {"module": "hangup"}}})
        assert switch.applications() == ["record_call", "play", "hangup"]
        assert switch.of("play")[0]["Media-Name"] == FAILURE_MEDIA


async def test_a_media_name_with_a_path_is_invalid_data() -> None:
    async with CallflowHarness() as h:
        await h.account()
        switch = h.switch()
        await h.run(switch, {"module": "record_call", "data": {"media_name": "/etc/passwd"}})
        assert switch.applications() == ["play", "hangup"]
