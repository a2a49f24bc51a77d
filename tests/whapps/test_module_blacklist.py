"""The blacklist module: listed (and anonymous) callers are turned away, the others go on."""

from __future__ import annotations

from typing import Any

from tests.whapps.scripted import CallflowHarness
from whapps.callflow.executor import FAILURE_MEDIA

NEXT_STEP = {"module": "play", "data": {"id": "/system_media/welcome", "answer": False}}


def guarded(**data: Any) -> dict[str, Any]:
    return {"module": "blacklist", "data": data, "children": {"_": NEXT_STEP}}


async def test_a_caller_on_a_blacklist_document_is_rejected() -> None:
    async with CallflowHarness() as h:
        await h.account()
        doc = await h.save({"pvt_type": "blacklist", "name": "spam", "numbers": {"+1 555-0100": {}}})
        switch = h.switch()
        await h.run(switch, guarded(ids=[doc["_id"]]), caller="15550100")
        assert switch.applications() == ["hangup"]
        assert switch.commands[0]["Hangup-Cause"] == "CALL_REJECTED"


async def test_other_callers_go_on_to_the_next_step() -> None:
    async with CallflowHarness() as h:
        await h.account()
        doc = await h.save({"pvt_type": "blacklist", "name": "spam", "numbers": {"15550100": {}}})
        switch = h.switch()
        await h.run(switch, guarded(ids=[doc["_id"]], numbers=["2000"]), caller="1001")
        assert switch.applications() == ["play", "hangup"]
        assert switch.of("play")[0]["Media-Name"] == "/system_media/welcome"


async def test_inline_numbers_with_a_prompt_and_a_cause_of_our_choosing() -> None:
    async with CallflowHarness() as h:
        await h.account()
        switch = h.switch()
        flow = guarded(numbers=["1001"], media="/system_media/rejected", hangup_cause="USER_BUSY")
        await h.run(switch, flow, caller="1001")
        assert switch.applications() == ["play", "hangup"]
        assert switch.of("play")[0]["Media-Name"] == "/system_media/rejected"
        assert switch.of("hangup")[0]["Hangup-Cause"] == "USER_BUSY"


async def test_anonymous_callers_are_blocked_only_when_asked() -> None:
    async with CallflowHarness() as h:
        await h.account()
        blocked, allowed = h.switch(), h.switch()
        await h.run(blocked, guarded(should_block_anonymous=True), caller="anonymous")
        await h.run(allowed, guarded(numbers=["1"]), caller="anonymous")
        assert blocked.applications() == ["hangup"]
        assert allowed.applications() == ["play", "hangup"]


async def test_a_disabled_or_missing_list_blocks_nobody() -> None:
    async with CallflowHarness() as h:
        await h.account()
        doc = await h.save(
            {"pvt_type": "blacklist", "name": "off", "numbers": {"1001": {}}, "enabled": False}
        )
        switch = h.switch()
        await h.run(switch, guarded(ids=[doc["_id"], "missing"]), caller="1001")
        assert switch.applications() == ["play", "hangup"]


async def test_no_list_at_all_is_invalid_data() -> None:
    async with CallflowHarness() as h:
        await h.account()
        switch = h.switch()
        await h.run(switch, guarded(), caller="1001")
        assert [c["Media-Name"] for c in switch.of("play")] == [FAILURE_MEDIA]
