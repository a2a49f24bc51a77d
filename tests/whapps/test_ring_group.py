"""The ``ring_group`` module: devices and users' devices, at once or in turn, with repeats."""

from __future__ import annotations

from typing import Any

from tests.whapps.scripted import CallflowHarness
from tests.whapps.test_endpoints import (
    hangup_cause,
    register,
    registrar_on,
    run_call,
    save_device,
    save_user,
    then,
)


def group_flow(endpoints: list[dict[str, Any]], **data: Any) -> dict[str, Any]:
    return {
        "module": "ring_group",
        "data": {"endpoints": endpoints, **data},
        "children": {"_": then("CALL_REJECTED")},
    }


async def _group(h: CallflowHarness, registrar: Any) -> tuple[str, str, str, str]:
    """A user owning 'desk' and 'cell', and a shared 'lobby' phone; all registered."""
    user_id = await save_user(h)
    desk = await save_device(h, "desk", owner_id=user_id)
    cell = await save_device(h, "cell", owner_id=user_id)
    lobby = await save_device(h, "lobby")
    for name in ("desk", "cell", "lobby"):
        await register(h, registrar, name, f"sip:{name}@10.0.0.9:5060")
    return user_id, desk, cell, lobby


def timing(endpoints: list[dict[str, Any]]) -> list[tuple[str, int | None, int]]:
    return [
        (e["Custom-Channel-Vars"]["Authorizing-ID"], e.get("Endpoint-Delay"), e["Endpoint-Timeout"])
        for e in endpoints
    ]


async def test_members_ring_with_their_own_delay_and_timeout_and_a_device_rings_once() -> None:
    async with CallflowHarness() as h, registrar_on(h) as registrar:
        await h.account()
        user_id, desk, cell, lobby = await _group(h, registrar)
        members = [
            {"id": lobby, "endpoint_type": "device", "timeout": 30},
            {"id": user_id, "endpoint_type": "user", "delay": 10, "timeout": 15},
            {"id": desk, "endpoint_type": "device"},  # already rung as the user's device
        ]
        switch = h.switch(bridges=["SUCCESS"])
        await run_call(h, switch, group_flow(members))
        assert switch.applications() == ["bridge", "hangup"] and hangup_cause(switch) is None
        [bridge] = switch.of("bridge")
        user_devices = sorted([cell, desk])
        assert timing(bridge["Endpoints"]) == [(lobby, None, 30)] + [(d, 10, 15) for d in user_devices]
        assert (bridge["Timeout"], bridge["Dial-Endpoint-Method"]) == (30, "simultaneous")


async def test_the_single_strategy_rings_members_in_turn_within_the_group_timeout() -> None:
    async with CallflowHarness() as h, registrar_on(h) as registrar:
        await h.account()
        _, desk, _, lobby = await _group(h, registrar)
        members = [{"id": desk, "endpoint_type": "device"}, {"id": lobby, "endpoint_type": "device"}]
        switch = h.switch(bridges=["SUCCESS"])
        await run_call(h, switch, group_flow(members, strategy="single", timeout=40))
        [bridge] = switch.of("bridge")
        assert timing(bridge["Endpoints"]) == [(desk, None, 20), (lobby, None, 20)]
        assert (bridge["Timeout"], bridge["Dial-Endpoint-Method"]) == (40, "single")


async def test_an_unanswered_group_is_rung_again_until_answered() -> None:
    async with CallflowHarness() as h, registrar_on(h) as registrar:
        await h.account()
        _, desk, _, _ = await _group(h, registrar)
        switch = h.switch(bridges=["NO_ANSWER", "SUCCESS"])
        await run_call(h, switch, group_flow([{"id": desk, "endpoint_type": "device"}], repeats=3))
        assert switch.applications() == ["bridge", "bridge", "hangup"] and hangup_cause(switch) is None


async def test_after_the_last_repeat_the_flow_goes_on_to_the_default_child() -> None:
    async with CallflowHarness() as h, registrar_on(h) as registrar:
        await h.account()
        _, desk, _, _ = await _group(h, registrar)
        switch = h.switch(bridges=["NO_ANSWER", "NO_ANSWER"])
        await run_call(h, switch, group_flow([{"id": desk, "endpoint_type": "device"}], repeats=2))
        assert switch.applications() == ["bridge", "bridge", "hangup"]
        assert hangup_cause(switch) == "CALL_REJECTED"


async def test_a_group_with_no_member_that_can_ring_goes_on_without_a_bridge() -> None:
    async with CallflowHarness() as h, registrar_on(h):
        await h.account()
        away = await save_device(h, "away")
        switch = h.switch(bridges=["SUCCESS"])
        await run_call(h, switch, group_flow([{"id": away, "endpoint_type": "device"}]))
        assert switch.applications() == ["hangup"] and hangup_cause(switch) == "CALL_REJECTED"


async def test_the_caller_hanging_up_stops_the_repeats() -> None:
    async with CallflowHarness() as h, registrar_on(h) as registrar:
        await h.account()
        _, desk, _, _ = await _group(h, registrar)
        switch = h.switch(hangup_after=1)  # the caller hangs up while the first bridge rings
        await run_call(h, switch, group_flow([{"id": desk, "endpoint_type": "device"}], repeats=3))
        assert switch.applications() == ["bridge"]
