"""The ``device`` module: ring one device, or go on (to voicemail) when it cannot or does not answer."""

from __future__ import annotations

import uuid
from typing import Any

from tests.whapps.scripted import CallflowHarness
from tests.whapps.test_endpoints import (
    device_leg,
    hangup_cause,
    register,
    registrar_on,
    run_call,
    save_device,
    then,
)

CONTACT = "sip:alice@10.0.0.5:5060"
ROUTE = "sofia/internal/sip:alice@10.0.0.5:5060"


def device_flow(device_id: str, children: dict[str, Any] | None = None, **data: Any) -> dict[str, Any]:
    return {
        "module": "device",
        "data": {"id": device_id, **data},
        "children": children if children is not None else {"_": then("CALL_REJECTED")},
    }


async def test_an_answered_device_ends_the_flow_with_the_call() -> None:
    async with CallflowHarness() as h, registrar_on(h) as registrar:
        await h.account()
        device_id = await save_device(h, "alice")
        await register(h, registrar, "alice", CONTACT)
        switch = h.switch(bridges=["SUCCESS"])
        await run_call(h, switch, device_flow(device_id))
        assert switch.applications() == ["bridge", "hangup"]
        assert hangup_cause(switch) is None  # the executor's hangup, not the '_' child's
        [bridge] = switch.of("bridge")
        assert bridge["Endpoints"] == [
            {
                "Invite-Format": "route",
                "Route": ROUTE,
                "To-User": "alice",
                "To-Realm": h.realm,
                "Endpoint-Timeout": 20,
                "Custom-Channel-Vars": device_leg(h, device_id),
            }
        ]
        assert (bridge["Timeout"], bridge["Dial-Endpoint-Method"]) == (20, "simultaneous")
        assert (bridge["Caller-ID-Name"], bridge["Caller-ID-Number"]) == ("Caller 1000", "1000")


async def test_no_answer_goes_on_to_the_default_child() -> None:
    async with CallflowHarness() as h, registrar_on(h) as registrar:
        await h.account()
        device_id = await save_device(h, "alice")
        await register(h, registrar, "alice", CONTACT)
        switch = h.switch(bridges=["NO_ANSWER"])
        await run_call(h, switch, device_flow(device_id))
        assert switch.applications() == ["bridge", "hangup"]
        assert hangup_cause(switch) == "CALL_REJECTED"


async def test_a_failure_goes_to_the_child_named_by_it_when_there_is_one() -> None:
    async with CallflowHarness() as h, registrar_on(h) as registrar:
        await h.account()
        device_id = await save_device(h, "alice")
        await register(h, registrar, "alice", CONTACT)
        switch = h.switch(bridges=["USER_BUSY"])
        children = {"USER_BUSY": then("USER_BUSY"), "_": then("CALL_REJECTED")}
        await run_call(h, switch, device_flow(device_id, children))
        assert hangup_cause(switch) == "USER_BUSY"


async def test_an_unregistered_device_rings_nothing_and_the_flow_goes_on() -> None:
    async with CallflowHarness() as h, registrar_on(h):
        await h.account()
        device_id = await save_device(h, "alice")
        switch = h.switch(bridges=["SUCCESS"])
        await run_call(h, switch, device_flow(device_id))
        assert switch.applications() == ["hangup"]
        assert hangup_cause(switch) == "CALL_REJECTED"


async def test_a_disabled_device_rings_nothing_even_when_registered() -> None:
    async with CallflowHarness() as h, registrar_on(h) as registrar:
        await h.account()
        device_id = await save_device(h, "alice", enabled=False)
        await register(h, registrar, "alice", CONTACT)
        switch = h.switch(bridges=["SUCCESS"])
        await run_call(h, switch, device_flow(device_id))
        assert switch.applications() == ["hangup"]
        assert hangup_cause(switch) == "CALL_REJECTED"


async def test_delay_and_timeout_shape_the_endpoint_and_the_bridge() -> None:
    async with CallflowHarness() as h, registrar_on(h) as registrar:
        await h.account()
        device_id = await save_device(h, "alice", media={"audio": {"codecs": ["PCMU", "G722"]}})
        await register(h, registrar, "alice", CONTACT)
        switch = h.switch(bridges=["SUCCESS"])
        flow = device_flow(
            device_id, delay=5, timeout=15, dial_strategy="single", custom_sip_headers={"X-Team": "sales"}
        )
        await run_call(h, switch, flow)
        [bridge] = switch.of("bridge")
        [endpoint] = bridge["Endpoints"]
        assert (endpoint["Endpoint-Delay"], endpoint["Endpoint-Timeout"]) == (5, 15)
        assert endpoint["Codecs"] == ["PCMU", "G722"]
        assert endpoint["Custom-SIP-Headers"] == {"X-Team": "sales"}
        assert (bridge["Timeout"], bridge["Dial-Endpoint-Method"]) == (20, "single")


async def test_the_bridge_presents_the_caller_id_the_flow_set_or_none_when_suppressed() -> None:
    async with CallflowHarness() as h, registrar_on(h) as registrar:
        await h.account()
        device_id = await save_device(h, "alice")
        await register(h, registrar, "alice", CONTACT)
        switch = h.switch(bridges=["SUCCESS"])
        await run_call(h, switch, device_flow(device_id), caller_id=("Reception", "+15550100"))
        [bridge] = switch.of("bridge")
        assert (bridge["Caller-ID-Name"], bridge["Caller-ID-Number"]) == ("Reception", "+15550100")
        switch = h.switch(bridges=["SUCCESS"])
        await run_call(h, switch, device_flow(device_id, suppress_clid=True))
        [bridge] = switch.of("bridge")
        assert "Caller-ID-Name" not in bridge and "Caller-ID-Number" not in bridge


async def test_a_device_does_not_ring_itself_unless_it_may() -> None:
    async with CallflowHarness() as h, registrar_on(h) as registrar:
        await h.account()
        device_id = await save_device(h, "alice")
        await register(h, registrar, "alice", CONTACT)
        calling_itself = {"Authorizing-ID": device_id}
        switch = h.switch(bridges=["SUCCESS"])
        await run_call(h, switch, device_flow(device_id), channel_vars=calling_itself)
        assert switch.applications() == ["hangup"]
        switch = h.switch(bridges=["SUCCESS"])
        await run_call(h, switch, device_flow(device_id, can_call_self=True), channel_vars=calling_itself)
        assert switch.applications() == ["bridge", "hangup"]


async def test_a_forwarded_device_is_dialled_at_its_number_through_the_dialplan() -> None:
    async with CallflowHarness() as h, registrar_on(h):
        await h.account()
        forward = {"enabled": True, "number": "+15550199"}
        device_id = await save_device(h, None, device_type="cellphone", call_forward=forward)
        switch = h.switch(bridges=["SUCCESS"])
        await run_call(h, switch, device_flow(device_id))
        [bridge] = switch.of("bridge")
        assert bridge["Endpoints"] == [
            {
                "Invite-Format": "loopback",
                "To-DID": "+15550199",
                "Endpoint-Timeout": 20,
                "Custom-Channel-Vars": device_leg(h, device_id),
            }
        ]


async def test_a_forward_to_something_that_is_not_a_number_is_never_dialled() -> None:
    async with CallflowHarness() as h:
        await h.account()
        forward = {"enabled": True, "number": "1000/evil_context"}  # would pick the loopback's context
        device_id = await save_device(h, None, device_type="cellphone", call_forward=forward)
        switch = h.switch(bridges=["SUCCESS"])
        await run_call(h, switch, device_flow(device_id))
        assert "bridge" not in switch.applications()  # no SIP username either: nothing to ring


async def test_a_route_device_is_dialled_at_its_route_without_asking_the_registrar() -> None:
    async with CallflowHarness() as h:  # no registrar at all: a query would find nobody
        await h.account()
        sip = {"invite_format": "route", "route": "sofia/internal/sip:pbx@192.0.2.7"}
        device_id = await save_device(h, "trunk", sip=sip)
        switch = h.switch(bridges=["SUCCESS"])
        await run_call(h, switch, device_flow(device_id))
        [bridge] = switch.of("bridge")
        assert [(e["Invite-Format"], e["Route"]) for e in bridge["Endpoints"]] == [
            ("route", "sofia/internal/sip:pbx@192.0.2.7")
        ]


async def test_a_missing_device_fails_the_module() -> None:
    async with CallflowHarness() as h, registrar_on(h):
        await h.account()
        switch = h.switch()
        await run_call(h, switch, device_flow(uuid.uuid4().hex))
        assert switch.applications() == ["play", "hangup"]  # the executor's failure prompt


async def test_a_contact_that_would_break_the_dial_string_is_not_rung() -> None:
    async with CallflowHarness() as h, registrar_on(h) as registrar:
        await h.account()
        device_id = await save_device(h, "alice")
        await register(h, registrar, "alice", "sip:alice@10.0.0.5,error/USER_BUSY")
        switch = h.switch(bridges=["SUCCESS"])
        await run_call(h, switch, device_flow(device_id))
        assert switch.applications() == ["hangup"] and hangup_cause(switch) == "CALL_REJECTED"
