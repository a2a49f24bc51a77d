"""The ``user`` module: ring every device a user owns, at once or in turn, with per-device timing."""

from __future__ import annotations

import uuid
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


def user_flow(user_id: str, **data: Any) -> dict[str, Any]:
    return {"module": "user", "data": {"id": user_id, **data}, "children": {"_": then("CALL_REJECTED")}}


def rung(endpoints: list[dict[str, Any]]) -> list[tuple[str, int | None, int]]:
    """(Route, Endpoint-Delay, Endpoint-Timeout) of each endpoint."""
    return [(e["Route"], e.get("Endpoint-Delay"), e["Endpoint-Timeout"]) for e in endpoints]


async def test_every_registered_enabled_device_of_the_user_rings_at_once() -> None:
    async with CallflowHarness() as h, registrar_on(h) as registrar:
        await h.account()
        user_id = await save_user(h)
        desk = await save_device(h, "desk", owner_id=user_id)
        soft = await save_device(h, "soft", owner_id=user_id)
        await save_device(h, "off", owner_id=user_id, enabled=False)
        await save_device(h, "away", owner_id=user_id)  # never registers
        await save_device(h, "other", owner_id=uuid.uuid4().hex)
        for name in ("desk", "soft", "off", "other"):
            await register(h, registrar, name, f"sip:{name}@10.0.0.9:5060")
        switch = h.switch(bridges=["SUCCESS"])
        await run_call(h, switch, user_flow(user_id, timeout=25))
        assert switch.applications() == ["bridge", "hangup"] and hangup_cause(switch) is None
        [bridge] = switch.of("bridge")
        expected = sorted([(desk, "desk"), (soft, "soft")])  # the view lists a user's devices by id
        assert rung(bridge["Endpoints"]) == [
            (f"sofia/internal/sip:{n}@10.0.0.9:5060", None, 25) for _, n in expected
        ]
        assert [e["Custom-Channel-Vars"]["Owner-ID"] for e in bridge["Endpoints"]] == [user_id, user_id]
        assert (bridge["Timeout"], bridge["Dial-Endpoint-Method"]) == (25, "simultaneous")


async def test_find_me_follow_me_rings_the_named_devices_first_each_with_its_own_timing() -> None:
    async with CallflowHarness() as h, registrar_on(h) as registrar:
        await h.account()
        user_id = await save_user(h)
        desk = await save_device(h, "desk", owner_id=user_id)
        cell = await save_device(h, "cell", owner_id=user_id)
        soft = await save_device(h, "soft", owner_id=user_id)
        for name in ("desk", "cell", "soft"):
            await register(h, registrar, name, f"sip:{name}@10.0.0.9:5060")
        devices = {cell: {"delay": 0, "timeout": 10}, desk: {"delay": 5, "timeout": 30}}
        switch = h.switch(bridges=["SUCCESS"])
        await run_call(h, switch, user_flow(user_id, strategy="single", delay=2, timeout=12, devices=devices))
        [bridge] = switch.of("bridge")
        assert [e["Custom-Channel-Vars"]["Authorizing-ID"] for e in bridge["Endpoints"]] == [cell, desk, soft]
        assert [(e.get("Endpoint-Delay"), e["Endpoint-Timeout"]) for e in bridge["Endpoints"]] == [
            (None, 10),
            (5, 30),
            (2, 12),
        ]
        assert (bridge["Timeout"], bridge["Dial-Endpoint-Method"]) == (35, "single")


async def test_no_answer_goes_on_to_the_default_child() -> None:
    async with CallflowHarness() as h, registrar_on(h) as registrar:
        await h.account()
        user_id = await save_user(h)
        await save_device(h, "desk", owner_id=user_id)
        await register(h, registrar, "desk", "sip:desk@10.0.0.9:5060")
        switch = h.switch(bridges=["NO_ANSWER"])
        await run_call(h, switch, user_flow(user_id, fail_on_single_reject=True))
        assert switch.of("bridge")[0]["Fail-On-Single-Reject"] is True
        assert switch.applications() == ["bridge", "hangup"] and hangup_cause(switch) == "CALL_REJECTED"


async def test_a_user_with_nothing_to_ring_goes_on_without_a_bridge() -> None:
    async with CallflowHarness() as h, registrar_on(h):
        await h.account()
        user_id = await save_user(h)
        await save_device(h, "desk", owner_id=user_id)  # not registered
        disabled = await save_user(h, enabled=False)
        for target in (user_id, disabled):
            switch = h.switch(bridges=["SUCCESS"])
            await run_call(h, switch, user_flow(target))
            assert switch.applications() == ["hangup"] and hangup_cause(switch) == "CALL_REJECTED"


async def test_an_id_that_is_not_a_user_fails_the_module() -> None:
    async with CallflowHarness() as h, registrar_on(h):
        await h.account()
        device_id = await save_device(h, "desk")
        switch = h.switch()
        await run_call(h, switch, user_flow(device_id))
        assert switch.applications() == ["play", "hangup"]
