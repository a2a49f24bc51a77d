"""The callflow whapp's routing: route_req answered with a park for numbers it has, then route_win runs
the flow; calls it has nothing for get no answer (another whapp may have one)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.whapps.scripted import CallflowHarness, ScriptedSwitch
from whapps.callflow import service

BUSY = {"module": "hangup", "data": {"hangup_cause": "USER_BUSY"}}


def route_req(h: CallflowHarness, call_id: str, number: str, realm: str, **fields: Any) -> dict[str, Any]:
    return h.switch_bus.build(
        "route_req",
        {"Call-ID": call_id, "From": f"1000@{realm}", "To": f"{number}@{realm}",
         "Request": f"{number}@{realm}", "Caller-ID-Number": "1000", **fields},
    )  # fmt: skip


async def ask(h: CallflowHarness, request: dict[str, Any]) -> list[dict[str, Any]]:
    return await h.switch_bus.collect(request, timeout=1.0, until=lambda _reply: True)


async def test_a_number_with_a_callflow_is_parked_and_its_flow_runs_on_route_win() -> None:
    async with CallflowHarness() as h:
        await h.account(realm="park.test")
        saved = await h.save({"pvt_type": "callflow", "numbers": ["2000"], "flow": BUSY})
        switch = ScriptedSwitch(h.switch_bus)
        await switch.start()
        [reply] = await ask(h, route_req(h, switch.call_id, "2000", "park.test"))
        assert reply["Method"] == "park"
        assert reply["Custom-Channel-Vars"] == {"Account-ID": h.account_id, "Callflow-ID": saved["_id"]}
        win = h.switch_bus.build(
            "route_win", {"Call-ID": switch.call_id, "Control-Queue": switch.control_queue}
        )
        await h.switch_bus.publish("targeted", h.bus.server_id, win)
        async with asyncio.timeout(5):
            await switch.ended.wait()
        assert switch.applications() == ["hangup"]
        assert switch.commands[0]["Hangup-Cause"] == "USER_BUSY"


async def test_the_account_comes_from_the_channel_variables_before_the_realm() -> None:
    async with CallflowHarness() as h:
        await h.account(realm="first.test")
        await h.save({"pvt_type": "callflow", "numbers": ["2000"], "flow": BUSY})
        request = route_req(
            h, "c1", "2000", "unknown.test", **{"Custom-Channel-Vars": {"Account-ID": h.account_id}}
        )
        [reply] = await ask(h, request)
        assert reply["Custom-Channel-Vars"]["Account-ID"] == h.account_id


async def test_unknown_realms_and_numbers_without_a_callflow_get_no_answer() -> None:
    async with CallflowHarness() as h:
        await h.account(realm="quiet.test")
        await h.save({"pvt_type": "callflow", "numbers": ["2000"], "flow": BUSY})
        assert await ask(h, route_req(h, "c1", "2000", "elsewhere.test")) == []
        assert await ask(h, route_req(h, "c2", "2999", "quiet.test")) == []


async def test_a_route_win_for_a_call_we_did_not_route_is_ignored() -> None:
    async with CallflowHarness() as h:
        await h.account(realm="win.test")
        switch = ScriptedSwitch(h.switch_bus)
        await switch.start()
        win = h.switch_bus.build(
            "route_win", {"Call-ID": switch.call_id, "Control-Queue": switch.control_queue}
        )
        await h.switch_bus.publish("targeted", h.bus.server_id, win)
        # a later call that was routed still works: the whapp carried on
        await h.save({"pvt_type": "callflow", "numbers": ["2000"], "flow": BUSY})
        other = ScriptedSwitch(h.switch_bus)
        await other.start()
        assert await ask(h, route_req(h, other.call_id, "2000", "win.test"))
        win = h.switch_bus.build(
            "route_win", {"Call-ID": other.call_id, "Control-Queue": other.control_queue}
        )
        await h.switch_bus.publish("targeted", h.bus.server_id, win)
        async with asyncio.timeout(5):
            await other.ended.wait()
        assert switch.commands == [] and other.applications() == ["hangup"]


async def test_a_call_routed_but_never_won_stops_being_watched(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "ROUTE_WIN_WAIT", 0.05)
    async with CallflowHarness() as h:
        await h.account(realm="lost.test")
        await h.save({"pvt_type": "callflow", "numbers": ["2000"], "flow": BUSY})
        events = h.whapp.events
        unwatched = asyncio.Event()
        original = events.unwatch

        async def unwatch(call_id: str) -> None:
            await original(call_id)
            unwatched.set()

        monkeypatch.setattr(events, "unwatch", unwatch)
        key = "call.CHANNEL_DESTROY.never-won"

        def watching() -> bool:
            return events.queue in {q.spec.name for q in h.bus.transport.broker.route("callevt", key)}

        assert await ask(h, route_req(h, "never-won", "2000", "lost.test"))
        assert watching()  # bound from the route_req on, before any route_win
        async with asyncio.timeout(5):
            await unwatched.wait()
        assert not watching()  # nobody won it here: no longer bound


async def test_no_match_is_only_for_callers_the_registrar_authenticated() -> None:
    async with CallflowHarness() as h:
        await h.account(realm="fraud.test")
        await h.save({"pvt_type": "callflow", "numbers": ["no_match"], "flow": BUSY})
        outsider = route_req(h, "c1", "0044123456789", "fraud.test")
        assert await ask(h, outsider) == []  # nobody may dial the world through an unknown caller
        device = {"Authorizing-Type": "device", "Authorizing-ID": "d1", "Account-ID": h.account_id}
        phone = route_req(h, "c2", "0044123456789", "fraud.test", **{"Custom-Channel-Vars": device})
        [reply] = await ask(h, phone)
        assert reply["Method"] == "park"
