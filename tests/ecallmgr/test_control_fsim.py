"""Call control end to end: fsim over real sockets, the real EslClient, the in-memory bus."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from ecallmgr.control import CallControlManager
from ecallmgr.esl import EslClient, Event
from fsim.runtime import Simulator, SimulatorSettings
from whistle_common.bus.bus import Bus, Delivery
from whistle_common.bus.transport import QueueSpec

WAIT = 10.0
NODE = "fs-sim"


async def test_commands_run_on_fsim_and_complete_in_order_with_their_msg_ids():
    url = f"memory://control-fsim-{uuid.uuid4().hex}"
    ecallmgr = Bus.from_url(url, app_name="ecallmgr", node="test")
    whapp = Bus.from_url(url, app_name="callflow", node="test")
    fs_events: asyncio.Queue[Event] = asyncio.Queue()
    bus_events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    clients: dict[str, EslClient] = {}
    manager = CallControlManager(ecallmgr, ecallmgr.origin, clients.get, keep_alive=0.0)

    def on_fs_event(event: Event) -> None:
        manager.on_event(NODE, event.headers)
        fs_events.put_nowait(event)

    async def next_fs_event(name: str, leg_suffix: str = "") -> Event:
        async with asyncio.timeout(WAIT):
            while True:
                event = await fs_events.get()
                if event.name == name and event.get("Channel-Name", "").endswith(leg_suffix):
                    return event

    async def next_bus_event() -> dict[str, Any]:
        async with asyncio.timeout(WAIT):
            return await bus_events.get()

    async with Simulator(SimulatorSettings(esl_port=0, time_scale=0.01)) as sim:
        client = EslClient("127.0.0.1", sim.esl_port, "ClueCon", node_name=NODE, on_event=on_fs_event)
        clients[NODE] = client
        await ecallmgr.start()
        await whapp.start()
        try:
            await client.connect()
            job = asyncio.create_task(client.bgapi("originate loopback/park_me/default &park()"))
            parked = await next_fs_event("CHANNEL_PARK", "-b")
            call_id = parked["Unique-ID"]

            async def on_bus_event(delivery: Delivery) -> None:
                bus_events.put_nowait(delivery.message)

            await whapp.consume(
                QueueSpec(f"watch-{call_id}", durable=False, exclusive=True, auto_delete=True),
                on_bus_event,
                bindings=[("callevt", f"call.*.{call_id}")],
            )
            control = await manager.adopt(call_id, NODE)
            control_queue = manager.control_queue_name(call_id)

            async def command(name: str, **fields: Any) -> dict[str, Any]:
                message = whapp.build(f"call_command.{name}", {"Call-ID": call_id, **fields})
                await whapp.send(message, routing_key=control_queue)
                return message

            sent = [
                await command("answer"),
                await command("play", **{"Media-Name": "tone_stream://%(100,100,350,440)"}),
                await command("noop"),
            ]
            completions = [await next_bus_event() for _ in sent]
            assert [(c["Event-Name"], c["Application-Name"], c["Msg-ID"]) for c in completions] == [
                ("CHANNEL_EXECUTE_COMPLETE", name, message["Msg-ID"])
                for name, message in zip(["answer", "play", "noop"], sent, strict=True)
            ]
            assert completions[1]["Application-Response"] == "FILE PLAYED"
            assert completions[1]["Raw-Application-Data"] == "tone_stream://%(100,100,350,440)"
            assert completions[2]["Application-Response"] == sent[2]["Msg-ID"]
            assert all(c["Call-ID"] == call_id for c in completions)

            hangup = await command("hangup")
            done = await next_bus_event()
            assert (done["Application-Name"], done["Msg-ID"]) == ("hangup", hangup["Msg-ID"])
            destroyed = await next_fs_event("CHANNEL_DESTROY", "-b")
            assert destroyed["Unique-ID"] == call_id
            async with asyncio.timeout(WAIT):
                await control.stopped.wait()
            assert control.destroyed and manager.get(call_id) is None
            async with asyncio.timeout(WAIT):
                assert (await job).startswith("+OK")
        finally:
            await manager.close()
            await client.close()
            await whapp.close()
            await ecallmgr.close()
