"""The callflow module: jumping to another callflow by id, and coming back to the _ child."""

from __future__ import annotations

from tests.whapps.scripted import CallflowHarness
from whapps.callflow.executor import FAILURE_MEDIA


async def test_it_runs_the_other_callflow_then_resumes_at_its_own_child() -> None:
    async with CallflowHarness() as h:
        await h.account()
        other = await h.save(
            {
                "pvt_type": "callflow",
                "numbers": ["3000"],
                "flow": {"module": "play", "data": {"id": "/system_media/other", "answer": False}},
            }
        )
        switch = h.switch()
        flow = {
            "module": "callflow",
            "data": {"id": other["_id"]},
            "children": {"_": {"module": "hangup", "data": {"hangup_cause": "USER_BUSY"}}},
        }
        await h.run(switch, flow)
        assert switch.applications() == ["play", "hangup"]
        assert switch.of("play")[0]["Media-Name"] == "/system_media/other"
        assert switch.of("hangup")[0]["Hangup-Cause"] == "USER_BUSY"


async def test_an_unknown_callflow_fails_with_the_prompt() -> None:
    async with CallflowHarness() as h:
        await h.account()
        switch = h.switch()
        flow = {"module": "callflow", "data": {"id": "nope"}, "children": {"_": {"module": "hangup"}}}
        await h.run(switch, flow)
        assert switch.applications() == ["play", "hangup"]
        assert switch.of("play")[0]["Media-Name"] == FAILURE_MEDIA


async def test_a_document_that_is_not_a_callflow_is_refused() -> None:
    async with CallflowHarness() as h:
        await h.account()
        media = await h.save({"pvt_type": "media", "name": "x", "media_source": "upload"})
        switch = h.switch()
        await h.run(switch, {"module": "callflow", "data": {"id": media["_id"]}})
        assert [c["Media-Name"] for c in switch.of("play")] == [FAILURE_MEDIA]
