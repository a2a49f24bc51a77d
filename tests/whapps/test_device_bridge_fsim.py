"""A device registers and is called, over RabbitMQ and pouchdb-server, with fsim and ecallmgr in process.

Registration: fsim's REGISTER -> directory fetch -> ecallmgr's authn_req -> the registrar's authn_resp ->
fsim checks the digest -> sofia::register -> ecallmgr's registration_success -> the registrar.
Call: fsim's inbound call -> route_req -> the callflow parks it -> route_win -> the ``device`` module asks
the registrar for the contact -> bridge to ``sofia/internal/<contact>`` -> fsim's endpoint for that
contact answers (any other target fails: the simulator has no default endpoint).
"""

from __future__ import annotations

import uuid
from contextlib import AsyncExitStack

import pytest

from ecallmgr.service import Ecallmgr, EcallmgrSettings, NodeSpec
from fsim.runtime import Simulator, SimulatorSettings
from fsim.scenario import parse_scenario
from tests.ecallmgr.whapp_stub import WAIT, TestWhapp
from whapps.callflow.service import Callflow
from whapps.registrar.service import Registrar
from whistle_common.bus import Bus
from whistle_common.store import Store, account_db, init_databases

pytestmark = pytest.mark.integration


async def _account(store: Store, realm: str, username: str) -> str:
    """An account of ``realm`` with device ``username`` and a callflow ringing it on 2000."""
    await init_databases(store)
    account_id = uuid.uuid4().hex
    account = {"_id": account_id, "pvt_type": "account", "name": f"Acme {realm}", "realm": realm}
    await store.save("accounts", account)
    db = account_db(account_id)
    await store.ensure_db(db)
    await store.install_views(db)
    await store.save(db, account)
    device = await store.save(
        db, {"pvt_type": "device", "name": "Alice", "sip": {"username": username, "password": "s3cret"}}
    )
    flow = {"module": "device", "data": {"id": device["_id"], "timeout": 10}, "children": {}}
    await store.save(db, {"pvt_type": "callflow", "numbers": ["2000"], "flow": flow})
    return str(device["_id"])


async def test_a_registered_device_is_bridged_at_its_contact(amqp_url: str, couch_url: str) -> None:
    tag = uuid.uuid4().hex[:10]
    realm, username, call_id = f"{tag}.fsim.test", f"alice{tag}", str(uuid.uuid4())
    async with AsyncExitStack() as stack:
        store = Store.open(couch_url)
        stack.push_async_callback(store.aclose)
        device_id = await _account(store, realm, username)
        registrar = Registrar(await _bus(stack, amqp_url, "registrar", tag), store)
        callflow = Callflow(await _bus(stack, amqp_url, "callflow", tag), store)
        for whapp in (registrar, callflow):
            await whapp.start()
            stack.push_async_callback(whapp.stop)
        watcher = await stack.enter_async_context(TestWhapp(amqp_url, tag))
        settings = EcallmgrSettings(
            amqp_url=amqp_url, node=f"ecallmgr@{tag}", fetch_port=0, backoff_initial=0.01
        )
        service = await stack.enter_async_context(Ecallmgr(settings))
        sim_settings = SimulatorSettings(
            esl_port=0,
            time_scale=0.01,
            hostname=f"fs-{tag}",
            xml_curl_url=service.fetch.url,
            domain=realm,
            default_endpoint=None,  # a bridge to anything but the device's contact fails
        )
        sim = await stack.enter_async_context(Simulator(sim_settings))
        node = await service.add_node(NodeSpec("fs1", "127.0.0.1", sim.esl_port))
        await node.wait_synced(WAIT)

        # the device registers: its credentials come from the registrar, its contact goes to it
        scenario = parse_scenario(
            {
                "registrations": [{"user": username, "realm": realm, "password": "s3cret"}],
                "endpoints": [{"number": username, "behaviour": "answer", "answer_after": 1, "talk_time": 2}],
            }
        )
        report = await sim.run_scenario(scenario, timeout=WAIT)
        [(_, _, registered)] = report.registrations
        assert registered.status == 200  # type: ignore[attr-defined]
        found = await registrar.registrations.wait_for(realm, username, WAIT)
        assert found["Contact"].endswith(f"<sip:{username}@127.0.0.1:5070>")
        assert found["Custom-Channel-Vars"]["Authorizing-ID"] == device_id

        # a call to 2000 rings the device at that contact, which answers
        events = await watcher.watch(call_id)
        to_realm = {"sip_to_host": realm, "sip_req_host": realm}
        sim.switch.inbound_call("2000", caller_id_number="1000", uuid=call_id, variables=to_realm)
        execute = await events.wait_for(
            lambda m: m.get("Event-Name") == "CHANNEL_EXECUTE" and m.get("Application-Name") == "bridge"
        )
        data = str(execute.get("Raw-Application-Data") or execute.get("Application-Data"))
        assert data.endswith(f"sofia/internal/sip:{username}@127.0.0.1:5070")
        bridged = await events.wait_for(lambda m: m.get("Event-Name") == "CHANNEL_BRIDGE")
        assert bridged["Other-Leg-Call-ID"]
        done = await events.wait_for(
            lambda m: (
                m.get("Event-Name") == "CHANNEL_EXECUTE_COMPLETE" and m.get("Application-Name") == "bridge"
            )
        )
        assert done["Application-Response"] == "SUCCESS"
        await events.wait_for(lambda m: m.get("Event-Name") == "CHANNEL_DESTROY")


async def _bus(stack: AsyncExitStack, amqp_url: str, app_name: str, tag: str) -> Bus:
    bus = Bus.from_url(amqp_url, app_name=app_name, node=f"{app_name}@{tag}")
    await bus.start()
    stack.push_async_callback(bus.close)
    return bus
