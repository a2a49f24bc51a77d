"""intercept -> ``intercept [-bleg] <uuid>``, and on fsim: a parked call on hold music is taken over."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from ecallmgr.control import CallControlManager
from ecallmgr.control.commands import CommandRefused, plan
from ecallmgr.esl import EslClient, Event
from fsim.runtime import Simulator, SimulatorSettings
from whistle_common.bus.bus import Bus, Delivery
from whistle_common.bus.transport import QueueSpec

CALL = "call-1"
WAIT = 10.0
NODE = "fs-sim"


def apps(**fields: object) -> list[tuple[str, str | None]]:
    command = {"Application-Name": "intercept", "Call-ID": CALL, "Msg-ID": "m-1", **fields}
    return [(a.app, a.arg) for a in plan(command, CALL).apps]


def test_intercept_names_the_target_or_its_other_leg() -> None:
    assert apps(**{"Target-Call-ID": "parked-1"}) == [("intercept", "parked-1")]
    assert apps(**{"Target-Call-ID": "parked-1", "Other-Leg": True}) == [("intercept", "-bleg parked-1")]


@pytest.mark.parametrize("target", [CALL, "two words", "${system(id)}"])
def test_a_call_cannot_intercept_itself_or_smuggle_arguments(target: str) -> None:
    with pytest.raises(CommandRefused):
        apps(**{"Target-Call-ID": target})


async def test_on_fsim_intercept_connects_to_a_call_on_hold_music() -> None:
    url = f"memory://intercept-fsim-{uuid.uuid4().hex}"
    ecallmgr = Bus.from_url(url, app_name="ecallmgr", node="test")
    whapp = Bus.from_url(url, app_name="callflow", node="test")
    fs_events: asyncio.Queue[Event] = asyncio.Queue()
    completions: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    clients: dict[str, EslClient] = {}
    manager = CallControlManager(ecallmgr, ecallmgr.origin, clients.get, keep_alive=0.0)

    def on_fs_event(event: Event) -> None:
        manager.on_event(NODE, event.headers)
        fs_events.put_nowait(event)

    async def next_fs_event(name: str, unique_id: str | None = None, suffix: str = "") -> Event:
        async with asyncio.timeout(WAIT):
            while True:
                event = await fs_events.get()
                if event.name != name or not event.get("Channel-Name", "").endswith(suffix):
                    continue
                if unique_id in (None, event.get("Unique-ID")):
                    return event

    async def on_completion(delivery: Delivery) -> None:
        completions.put_nowait(delivery.message)

    async with Simulator(SimulatorSettings(esl_port=0, time_scale=0.01)) as sim:
        client = EslClient("127.0.0.1", sim.esl_port, "ClueCon", node_name=NODE, on_event=on_fs_event)
        clients[NODE] = client
        await ecallmgr.start()
        await whapp.start()
        jobs = []
        try:
            await client.connect()
            legs = []
            for _ in range(2):  # the -b legs park (fsim's park_me extension); they are our two calls
                jobs.append(asyncio.create_task(client.bgapi("originate loopback/park_me/default &park()")))
                legs.append((await next_fs_event("CHANNEL_PARK", suffix="-b"))["Unique-ID"])
            parked, retriever = legs
            for leg in legs:
                await whapp.consume(
                    QueueSpec(f"watch-{leg}", durable=False, exclusive=True, auto_delete=True),
                    on_completion,
                    bindings=[("callevt", f"call.CHANNEL_EXECUTE_COMPLETE.{leg}")],
                )
                await manager.adopt(leg, NODE)

            async def command(call_id: str, name: str, **fields: Any) -> dict[str, Any]:
                message = whapp.build(f"call_command.{name}", {"Call-ID": call_id, **fields})
                await whapp.send(message, routing_key=manager.control_queue_name(call_id))
                return message

            hold = await command(
                parked, "play", **{"Media-Name": "local_stream://moh", "Endless-Playback": True}
            )
            await next_fs_event("PLAYBACK_START", parked)
            taken = await command(retriever, "intercept", **{"Target-Call-ID": parked})
            bridge = await next_fs_event("CHANNEL_BRIDGE", retriever)
            assert bridge["Other-Leg-Unique-ID"] == parked
            async with asyncio.timeout(WAIT):
                done = {(await completions.get())["Msg-ID"] for _ in range(2)}
            assert done == {hold["Msg-ID"], taken["Msg-ID"]}  # the hold music ended; the intercept completed
            await client.api(f"uuid_kill {parked}")
            await next_fs_event("CHANNEL_DESTROY", retriever)  # the bridge ended with the parked call
        finally:
            for job in jobs:
                job.cancel()
            await manager.close()
            await client.close()
            await whapp.close()
            await ecallmgr.close()
