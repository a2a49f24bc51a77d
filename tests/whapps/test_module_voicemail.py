"""The voicemail hand-off: taken (the call is left up and forgotten), refused, no answer, no box."""

from __future__ import annotations

from typing import Any

from tests.whapps.scripted import CallflowHarness
from whapps.callflow.executor import FAILURE_MEDIA
from whistle_common.bus import Delivery, QueueSpec

FALLBACK = {"module": "play", "data": {"id": "/system_media/fallback", "answer": False}}


async def other_whapp(h: CallflowHarness, key: str, status: str | None) -> list[dict[str, Any]]:
    """A stand-in whapp on ``key``: records the requests, answers ``status`` (None: stays silent)."""
    received: list[dict[str, Any]] = []

    async def on_request(delivery: Delivery) -> None:
        received.append(delivery.message)
        if status is not None:
            fields = {"Call-ID": delivery.message["Call-ID"], "Status": status}
            if status == "refused":
                fields["Error-Message"] = "box full"
            await h.switch_bus.reply(delivery.message, h.switch_bus.build("handoff_resp", fields))

    queue = QueueSpec(f"test-{key}", durable=False, exclusive=True, auto_delete=True)
    await h.switch_bus.consume(queue, on_request, bindings=[("whapps", key)])
    return received


async def test_a_taken_voicemail_call_is_neither_hung_up_nor_watched_any_more() -> None:
    async with CallflowHarness() as h:
        account = await h.account()
        box = await h.save({"pvt_type": "vmbox", "name": "Alice", "mailbox": "1001"})
        received = await other_whapp(h, "voicemail.leave", "taken")
        switch = h.switch()
        flow = {"module": "voicemail", "data": {"id": box["_id"], "max_message_length": 120}}
        await h.run(switch, flow, caller="2002")
        assert switch.applications() == []
        assert not switch.hung_up
        assert switch.call_id not in h.whapp.events.calls
        [request] = received
        assert request["Call-ID"] == switch.call_id
        assert request["Control-Queue"] == switch.control_queue
        assert (request["Account-ID"], request["Vmbox-ID"], request["Action"]) == (
            account,
            box["_id"],
            "leave",
        )
        assert (request["Caller-ID-Number"], request["Max-Message-Length"]) == ("2002", 120)


async def test_checking_voicemail_goes_to_the_check_key_without_a_box() -> None:
    async with CallflowHarness() as h:
        await h.account()
        received = await other_whapp(h, "voicemail.check", "taken")
        switch = h.switch()
        await h.run(switch, {"module": "voicemail", "data": {"action": "check"}})
        assert [r["Action"] for r in received] == ["check"]
        assert "Vmbox-ID" not in received[0]
        assert not switch.hung_up


async def test_a_refused_hand_off_follows_the_default_child() -> None:
    async with CallflowHarness() as h:
        await h.account()
        box = await h.save({"pvt_type": "vmbox", "name": "Alice", "mailbox": "1001"})
        await other_whapp(h, "voicemail.leave", "refused")
        switch = h.switch()
        await h.run(switch, {"module": "voicemail", "data": {"id": box["_id"]}, "children": {"_": FALLBACK}})
        assert switch.applications() == ["play", "hangup"]
        assert switch.of("play")[0]["Media-Name"] == "/system_media/fallback"
        assert switch.call_id not in h.whapp.events.calls


async def test_no_answer_without_a_default_child_fails_with_the_prompt() -> None:
    async with CallflowHarness() as h:
        await h.account()
        box = await h.save({"pvt_type": "vmbox", "name": "Alice", "mailbox": "1001"})
        received = await other_whapp(h, "voicemail.leave", None)
        switch = h.switch()
        await h.run(switch, {"module": "voicemail", "data": {"id": box["_id"], "timeout": 0.05}})
        assert len(received) == 1
        assert switch.applications() == ["play", "hangup"]
        assert switch.of("play")[0]["Media-Name"] == FAILURE_MEDIA


async def test_a_missing_box_fails_before_asking_anyone() -> None:
    async with CallflowHarness() as h:
        await h.account()
        received = await other_whapp(h, "voicemail.leave", "taken")
        switch = h.switch()
        await h.run(switch, {"module": "voicemail", "data": {"id": "missing"}})
        assert received == []
        assert switch.applications() == ["play", "hangup"]
