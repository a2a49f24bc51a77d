"""set_cid: the caller id the flow presents from then on (the call's attributes, no channel command)."""

from __future__ import annotations

from tests.whapps.scripted import CallflowHarness
from whapps.callflow.executor import FAILURE_MEDIA


async def test_name_and_number_are_replaced_for_the_rest_of_the_flow() -> None:
    async with CallflowHarness() as h:
        await h.account()
        switch = h.switch()
        flow = {"module": "set_cid", "data": {"caller_id_name": "Sales", "caller_id_number": "+15550100"}}
        ctx = await h.run(switch, flow, caller="1001")
        assert (ctx.call.caller_id_name, ctx.call.caller_id_number) == ("Sales", "+15550100")
        assert switch.applications() == ["hangup"]  # nothing is sent to the channel


async def test_only_the_name_can_be_set() -> None:
    async with CallflowHarness() as h:
        await h.account()
        ctx = await h.run(
            h.switch(), {"module": "set_cid", "data": {"caller_id_name": "Front desk"}}, caller="1001"
        )
        assert (ctx.call.caller_id_name, ctx.call.caller_id_number) == ("Front desk", "1001")


async def test_setting_nothing_is_invalid_data() -> None:
    async with CallflowHarness() as h:
        await h.account()
        switch = h.switch()
        ctx = await h.run(switch, {"module": "set_cid", "data": {}}, caller="1001")
        assert [c["Media-Name"] for c in switch.of("play")] == [FAILURE_MEDIA]
        assert ctx.call.caller_id_number == "1001"
