"""prepend_cid: prefixes before the current or original caller id, and reset."""

from __future__ import annotations

from typing import Any

from tests.whapps.scripted import CallflowHarness


def chain(*nodes: dict[str, Any]) -> dict[str, Any]:
    """Nodes one after the other through their _ children."""
    flow: dict[str, Any] = {}
    for node in reversed(nodes):
        flow = {**node, "children": {"_": flow}} if flow else node
    return flow


def prepend(**data: Any) -> dict[str, Any]:
    return {"module": "prepend_cid", "data": data}


async def test_prefixes_add_up_on_the_current_caller_id() -> None:
    async with CallflowHarness() as h:
        await h.account()
        switch = h.switch()
        flow = chain(
            prepend(caller_id_name_prefix="Sales: ", caller_id_number_prefix="9"),
            prepend(caller_id_name_prefix="VIP "),
        )
        ctx = await h.run(switch, flow, caller="1001")
        assert (ctx.call.caller_id_name, ctx.call.caller_id_number) == ("VIP Sales: Caller 1001", "91001")
        assert switch.applications() == ["hangup"]


async def test_applied_to_the_original_a_prefix_replaces_earlier_ones() -> None:
    async with CallflowHarness() as h:
        await h.account()
        flow = chain(
            prepend(caller_id_name_prefix="Sales: "),
            prepend(caller_id_name_prefix="Support: ", apply_to="original"),
        )
        ctx = await h.run(h.switch(), flow, caller="1001")
        assert ctx.call.caller_id_name == "Support: Caller 1001"


async def test_reset_brings_back_the_caller_id_the_call_came_with() -> None:
    async with CallflowHarness() as h:
        await h.account()
        flow = chain(
            {"module": "set_cid", "data": {"caller_id_name": "X", "caller_id_number": "1"}},
            prepend(caller_id_number_prefix="00"),
            prepend(action="reset"),
        )
        ctx = await h.run(h.switch(), flow, caller="1001")
        assert (ctx.call.caller_id_name, ctx.call.caller_id_number) == ("Caller 1001", "1001")


async def test_a_prefix_that_is_not_a_number_is_invalid_data() -> None:
    async with CallflowHarness() as h:
        await h.account()
        switch = h.switch()
        ctx = await h.run(switch, prepend(caller_id_number_prefix="abc"), caller="1001")
        assert switch.applications() == ["play", "hangup"]
        assert ctx.call.caller_id_number == "1001"
