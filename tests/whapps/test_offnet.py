"""The ``offnet`` module: carrier resources from the global offnet database, cheapest first, in turn."""

from __future__ import annotations

from typing import Any

from tests.whapps.scripted import CallflowHarness
from tests.whapps.test_endpoints import hangup_cause, run_call, then

PHONE = {"Authorizing-Type": "device", "Authorizing-ID": "phone-1"}  # what the registrar tags

US = r"^\+?1?(\d{10})$"


async def save_resource(
    h: CallflowHarness, name: str, rules: list[str], gateways: list[dict[str, Any]], **extra: Any
) -> str:
    doc = {"pvt_type": "resource", "_id": name, "name": name, "rules": rules, "gateways": gateways, **extra}
    return str((await h.store.save("offnet", doc))["_id"])


def offnet_flow(**data: Any) -> dict[str, Any]:
    return {"module": "offnet", "data": data, "children": {"_": then("CALL_REJECTED")}}


async def test_matching_resources_are_tried_cheapest_first_each_gateway_in_turn() -> None:
    async with CallflowHarness() as h:
        await h.account()
        await save_resource(
            h,
            "pricey",
            [US],
            [
                {
                    "server": "sip.pricey.example",
                    "port": 5080,
                    "username": "acme",
                    "password": "pw",
                    "realm": "pricey",
                }
            ],
            weight_cost=80,
        )
        await save_resource(
            h,
            "cheap",
            [r"^\+44", US],
            [
                {"server": "a.cheap.example", "prefix": "+1", "suffix": "#1", "codecs": ["PCMU"]},
                {"server": "down.cheap.example", "enabled": False},
                {"server": "b.cheap.example", "progress_timeout": 4},
            ],
            weight_cost=10,
        )
        await save_resource(h, "uk-only", [r"^\+44"], [{"server": "uk.example"}], weight_cost=1)
        await save_resource(h, "off", [US], [{"server": "off.example"}], weight_cost=1, enabled=False)
        switch = h.switch(bridges=["SUCCESS"])
        await run_call(
            h, switch, offnet_flow(timeout=30), number="+14155550123", caller_id=("Acme", "+14155550100"),
            channel_vars=PHONE,
        )  # fmt: skip
        assert switch.applications() == ["bridge", "hangup"] and hangup_cause(switch) is None
        [bridge] = switch.of("bridge")
        assert bridge["Endpoints"] == [
            {
                "Invite-Format": "route",
                "Route": "sofia/internal/sip:+14155550123#1@a.cheap.example",
                "To-DID": "4155550123",
                "Endpoint-Timeout": 30,
                "Custom-Channel-Vars": {"Resource-ID": "cheap", "Resource-Type": "offnet"},
                "Codecs": ["PCMU"],
            },
            {
                "Invite-Format": "route",
                "Route": "sofia/internal/sip:4155550123@b.cheap.example",
                "To-DID": "4155550123",
                "Endpoint-Timeout": 30,
                "Custom-Channel-Vars": {"Resource-ID": "cheap", "Resource-Type": "offnet"},
                "Endpoint-Progress-Timeout": 4,
            },
            {
                "Invite-Format": "route",
                "Route": "sofia/internal/sip:4155550123@sip.pricey.example:5080",
                "To-DID": "4155550123",
                "Endpoint-Timeout": 30,
                "Custom-Channel-Vars": {"Resource-ID": "pricey", "Resource-Type": "offnet"},
                "Auth-User": "acme",
                "Auth-Password": "pw",
                "Auth-Realm": "pricey",
            },
        ]
        assert (bridge["Timeout"], bridge["Dial-Endpoint-Method"]) == (30, "single")
        assert (bridge["Caller-ID-Name"], bridge["Caller-ID-Number"]) == ("Acme", "+14155550100")


async def test_to_did_overrides_the_dialled_number() -> None:
    async with CallflowHarness() as h:
        await h.account()
        await save_resource(h, "any", [r"^(\d+)$"], [{"server": "gw.example"}])
        switch = h.switch(bridges=["SUCCESS"])
        await run_call(h, switch, offnet_flow(to_did="5551234"), number="911", channel_vars=PHONE)
        assert [e["Route"] for e in switch.of("bridge")[0]["Endpoints"]] == [
            "sofia/internal/sip:5551234@gw.example"
        ]


async def test_every_gateway_failing_goes_on_to_the_default_child() -> None:
    async with CallflowHarness() as h:
        await h.account()
        await save_resource(h, "cheap", [US], [{"server": "a.example"}, {"server": "b.example"}])
        switch = h.switch(bridges=["NORMAL_TEMPORARY_FAILURE"])
        await run_call(h, switch, offnet_flow(), number="+14155550123", channel_vars=PHONE)
        assert switch.applications() == ["bridge", "hangup"] and hangup_cause(switch) == "CALL_REJECTED"


async def test_no_matching_resource_goes_on_without_a_bridge_to_a_no_route_child() -> None:
    async with CallflowHarness() as h:
        await h.account()
        await save_resource(h, "uk-only", [r"^\+44"], [{"server": "uk.example"}])
        await save_resource(h, "broken", ["(unclosed"], [{"server": "broken.example"}])
        switch = h.switch(bridges=["SUCCESS"])
        flow = offnet_flow()
        flow["children"]["NO_ROUTE_DESTINATION"] = then("UNALLOCATED_NUMBER")
        await run_call(h, switch, flow, number="+14155550123", channel_vars=PHONE)
        assert switch.applications() == ["hangup"] and hangup_cause(switch) == "UNALLOCATED_NUMBER"


async def test_a_dialled_string_that_is_not_a_number_fails_the_module() -> None:
    async with CallflowHarness() as h:
        await h.account()
        await save_resource(h, "any", [".*"], [{"server": "gw.example"}])
        switch = h.switch()
        await run_call(h, switch, offnet_flow(), number="alice", channel_vars=PHONE)
        assert switch.applications() == ["play", "hangup"]


async def test_an_unauthenticated_caller_is_not_called_out_unless_the_flow_allows_it() -> None:
    async with CallflowHarness() as h:
        await h.account()
        await save_resource(h, "us", [US], [{"server": "us.example"}])
        switch = h.switch(bridges=["SUCCESS"])
        await run_call(h, switch, offnet_flow(), number="+14155550123")  # an outsider, no Authorizing-Type
        assert "bridge" not in switch.applications()  # refused: nobody dials out at the account's expense
        allowed = h.switch(bridges=["SUCCESS"])
        await run_call(h, allowed, offnet_flow(allow_unauthenticated=True), number="+14155550123")
        assert "bridge" in allowed.applications()
