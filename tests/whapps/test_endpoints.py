"""Building bridge endpoints from devices and users, the views behind it, and helpers the module tests share:
a Registrar on the harness's in-memory broker, devices that register with it, and calls with a chosen
caller id or calling device."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import pytest

from tests.whapps.scripted import CallflowHarness, ScriptedSwitch
from whapps.call import Call
from whapps.callflow.endpoints import bridge_timeout, contact_uri
from whapps.callflow.executor import run_flow
from whapps.callflow.flow import FlowContext
from whapps.registrar.service import Registrar
from whistle_common.bus import Bus, MemoryTransport
from whistle_common.store import Store, ViewRow, account_db

WAIT = 5.0  # seconds for a registration to reach the registrar over the in-memory bus


# -- helpers for the module tests -----------------------------------------------------------------------


@asynccontextmanager
async def registrar_on(h: CallflowHarness) -> AsyncIterator[Registrar]:
    """A Registrar on the harness's broker and store (the callflow's registration queries reach it)."""
    bus = Bus(MemoryTransport(h.bus.transport.broker), app_name="registrar", node="test")  # type: ignore[attr-defined]
    await bus.start()
    registrar = Registrar(bus, h.store)
    await registrar.start()
    try:
        yield registrar
    finally:
        await registrar.stop()
        await bus.close()


async def register(
    h: CallflowHarness,
    registrar: Registrar,
    username: str,
    contact: str,
    *,
    expires: int = 3600,
    profile: str = "internal",
) -> None:
    """``username`` registers at ``contact`` (registration_success from the switch side, as ecallmgr)."""
    fields = {
        "Contact": f'"" <{contact}>',
        "Expires": expires,
        "Realm": h.realm,
        "Username": username,
        "Event-Timestamp": 1700000000,
        "Profile-Name": profile,
    }
    await h.switch_bus.send(h.switch_bus.build("registration_success", fields))
    await registrar.registrations.wait_for(h.realm, username, WAIT)


async def save_device(h: CallflowHarness, username: str | None = None, **fields: Any) -> str:
    """A device (with SIP credentials for ``username``) in the harness's account; returns its id."""
    doc: dict[str, Any] = {"pvt_type": "device", "name": username or "device", **fields}
    if username is not None:
        doc["sip"] = {"username": username, "password": "secret", **doc.get("sip", {})}
    return str((await h.save(doc))["_id"])


async def save_user(h: CallflowHarness, **fields: Any) -> str:
    doc = {"pvt_type": "user", "first_name": "Ada", "last_name": "Lovelace", **fields}
    return str((await h.save(doc))["_id"])


async def run_call(
    h: CallflowHarness,
    switch: ScriptedSwitch,
    flow: Mapping[str, Any],
    *,
    number: str = "2000",
    caller_id: tuple[str, str] | None = None,
    channel_vars: Mapping[str, str] | None = None,
) -> Call:
    """Like ``h.run``, with the call's caller id (as set_cid leaves it) and the route_req's CCVs chosen."""
    await switch.start()
    request = {
        "Call-ID": switch.call_id,
        "Caller-ID-Name": "Caller 1000",
        "Caller-ID-Number": "1000",
        "Request": f"{number}@{h.realm}",
        "To": f"{number}@{h.realm}",
        "From": f"1000@{h.realm}",
        "Custom-Channel-Vars": dict(channel_vars or {}),
    }
    win = {"Call-ID": switch.call_id, "Control-Queue": switch.control_queue}
    call = await h.whapp.events.adopt(win, account_id=h.account_id, request=request)
    if caller_id is not None:
        call.caller_id_name, call.caller_id_number = caller_id
    context = FlowContext(
        call=call, account_id=h.account_id, callflow={"_id": "cf", "flow": flow}, whapp=h.whapp
    )
    await run_flow(context, flow)
    return call


def then(cause: str) -> dict[str, Any]:
    """A child node that marks where the flow went: it hangs up with ``cause``."""
    return {"module": "hangup", "data": {"hangup_cause": cause}, "children": {}}


def hangup_cause(switch: ScriptedSwitch) -> str | None:
    """The cause of the flow's last hangup command (None: the executor's own hangup at the end)."""
    return switch.of("hangup")[-1].get("Hangup-Cause")


def device_leg(h: CallflowHarness, device_id: str, *, owner: str | None = None) -> dict[str, Any]:
    """The Custom-Channel-Vars an endpoint of ``device_id`` carries."""
    ccvs = {"Authorizing-ID": device_id, "Authorizing-Type": "device", "Account-ID": h.account_id}
    if owner:
        ccvs["Owner-ID"] = owner
    return ccvs


# -- tests ------------------------------------------------------------------------------------------------


def test_a_contact_uri_is_taken_out_of_its_header_form() -> None:
    assert contact_uri('"Alice" <sip:alice@10.0.0.5:5060;transport=udp>;expires=300') == (
        "sip:alice@10.0.0.5:5060;transport=udp"
    )
    assert contact_uri("sip:alice@10.0.0.5:5060;expires=300") == "sip:alice@10.0.0.5:5060"


def test_the_bridge_lasts_until_the_latest_endpoint_has_rung_its_time() -> None:
    endpoints = [{"Endpoint-Timeout": 20}, {"Endpoint-Delay": 10, "Endpoint-Timeout": 15}]
    assert bridge_timeout(endpoints) == 25
    assert bridge_timeout([]) == 20


@pytest.fixture(params=["memory", pytest.param("couch", marks=pytest.mark.integration)])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    url = "memory://" if request.param == "memory" else request.getfixturevalue("couch_url")
    opened = Store.open(url)
    yield opened
    await opened.aclose()


async def test_devices_are_listed_by_owner_on_both_backends(store: Store) -> None:
    db = account_db(uuid.uuid4().hex)
    await store.create_db(db)
    await store.install_views(db)
    owner, other = uuid.uuid4().hex, uuid.uuid4().hex
    for doc_id, owner_id in (("d-2", owner), ("d-1", owner), ("d-3", other), ("d-4", None)):
        doc = {"pvt_type": "device", "_id": doc_id, "name": doc_id}
        await store.save(db, {**doc, "owner_id": owner_id} if owner_id else doc)
    await store.save(
        db, {"pvt_type": "device", "_id": "d-5", "name": "gone", "owner_id": owner, "pvt_deleted": True}
    )
    rows = await store.view(db, "devices/listing_by_owner", key=owner)
    assert rows == [ViewRow("d-1", owner, None), ViewRow("d-2", owner, None)]
    await store.delete_db(db)


async def test_enabled_resources_are_listed_cheapest_first_on_both_backends(store: Store) -> None:
    db = "offnet"
    await store.ensure_db(db)
    await store.install_views(db)
    tag = uuid.uuid4().hex[:8]
    gateways = [{"server": "carrier.example.com"}]
    for name, extra in (("b", {"weight_cost": 10}), ("a", {}), ("c", {"weight_cost": 10, "enabled": False})):
        doc = {
            "pvt_type": "resource",
            "_id": f"{tag}-{name}",
            "name": name,
            "rules": [],
            "gateways": gateways,
        }
        await store.save(db, {**doc, **extra})
    rows = [
        row for row in await store.view(db, "resources/listing_active_by_weight") if row.id.startswith(tag)
    ]
    assert rows == [ViewRow(f"{tag}-b", 10, None), ViewRow(f"{tag}-a", 50, None)]


async def test_a_registered_device_is_dialled_at_its_contact_through_its_profile() -> None:
    async with CallflowHarness() as h, registrar_on(h) as registrar:
        await h.account()
        device_id = await save_device(h, "alice", owner_id=(owner := uuid.uuid4().hex))
        await register(h, registrar, "alice", "sip:alice@10.0.0.5:5062", profile="external")
        switch = h.switch(bridges=["SUCCESS"])
        await run_call(h, switch, {"module": "device", "data": {"id": device_id}})
        [command] = switch.of("bridge")
        assert command["Endpoints"] == [
            {
                "Invite-Format": "route",
                "Route": "sofia/external/sip:alice@10.0.0.5:5062",
                "To-User": "alice",
                "To-Realm": h.realm,
                "Endpoint-Timeout": 20,
                "Custom-Channel-Vars": device_leg(h, device_id, owner=owner),
            }
        ]
