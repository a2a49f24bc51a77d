"""A call that ends while ecallmgr cannot hear its node is ended for its whapp too, on reconnect."""

from __future__ import annotations

import uuid

from ecallmgr.service import Ecallmgr, EcallmgrSettings, NodeSpec
from fsim.esl.server import EslServer
from fsim.runtime import Simulator, SimulatorSettings
from tests.ecallmgr.whapp_stub import WAIT, TestWhapp


async def test_a_call_gone_during_an_esl_outage_is_destroyed_on_reconnect() -> None:
    tag = uuid.uuid4().hex[:12]
    url = f"memory://resync-{tag}"
    settings = EcallmgrSettings(
        amqp_url=url, node=f"ecallmgr@resync-{tag}", fetch_port=0, backoff_initial=0.01
    )
    kept, lost = str(uuid.uuid4()), str(uuid.uuid4())
    async with TestWhapp(url, tag) as whapp, Ecallmgr(settings) as service:
        async with Simulator(SimulatorSettings(esl_port=0, time_scale=0.01)) as sim:
            node = await service.add_node(NodeSpec("fs1", "127.0.0.1", sim.esl_port))
            await node.wait_synced(WAIT)
            manager = service.control_manager
            assert manager is not None
            events = {call_id: await whapp.watch(call_id) for call_id in (kept, lost)}
            for call_id in (kept, lost):
                sim.switch.inbound_call("park_me", caller_id_number="1000", uuid=call_id)
                await events[call_id].wait_for(lambda m: m.get("Event-Name") == "CHANNEL_CREATE")
                await manager.adopt(call_id, "fs1")  # as a route_win would have

            port = sim.esl_port
            await sim.esl.close()  # ecallmgr goes deaf; FreeSWITCH keeps its calls...
            assert (await sim.switch.api.execute("uuid_kill", lost)).startswith("+OK")  # ...but one ends
            server = EslServer(sim.switch, port=port)
            await server.start()
            try:
                gone = await events[lost].wait_for(lambda m: m.get("Event-Name") == "CHANNEL_DESTROY")
                assert gone["Disposition"] == "gone while the node was unreachable"
                control = manager.get(lost)
                assert control is None or control.destroyed
                kept_control = manager.get(kept)
                assert kept_control is not None and not kept_control.destroyed
                assert not [m for m in events[kept].messages if m.get("Event-Name") == "CHANNEL_DESTROY"]
            finally:
                await node.close()
                await server.close()
