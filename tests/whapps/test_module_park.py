"""The park module: parking in a slot with hold music, retrieving through intercept, taken and empty
slots, the parked caller hanging up, and nobody coming back in time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.whapps.scripted import CallflowHarness, ScriptedSwitch
from whapps.callflow.modules.park import DEFAULT_HOLD, PLACED_IN_SLOT, SLOT_EMPTY, SLOT_IN_USE, slot_doc_id
from whistle_common.bus import Bus, Delivery, QueueSpec
from whistle_common.store import NotFound, account_db

WAIT = 5.0


class HoldingSwitch(ScriptedSwitch):
    """A scripted switch whose endless playback goes on until released (an intercept of this call, or a
    flush), as FreeSWITCH's does; ``on_intercept`` plays what an intercept does to the target."""

    def __init__(self, bus: Bus, *, intercept_response: str = "+OK", **script: Any) -> None:
        super().__init__(bus, **script)
        self.held: dict[str, Any] | None = None
        self.holding = asyncio.Event()
        self.intercept_response = intercept_response
        self.on_intercept: Callable[[str], Awaitable[None]] | None = None

    async def _on_command(self, delivery: Delivery) -> None:
        command = delivery.message
        application = command["Application-Name"]
        if application == "play" and command.get("Endless-Playback") and not self.hung_up:
            self.commands.append(command)
            self.held = command
            self.holding.set()
            return
        if application == "noop" and command.get("Insert-At") == "flush":
            await self.release()
        if application == "intercept" and not self.hung_up:
            self.commands.append(command)
            await self._complete(command, self.intercept_response)
            if self.on_intercept is not None:
                await self.on_intercept(str(command["Target-Call-ID"]))
            return
        await super()._on_command(delivery)

    async def release(self) -> None:
        """The hold music stops (the call was taken away from it)."""
        if self.held is not None:
            held, self.held = self.held, None
            await self._complete(held, "FILE PLAYED")


def say(what: str) -> dict[str, Any]:
    return {"module": "play", "data": {"id": f"/system_media/{what}", "answer": False}}


def park(children: dict[str, Any] | None = None, **data: Any) -> dict[str, Any]:
    return {"module": "park", "data": data, "children": children or {}}


def media(switch: ScriptedSwitch) -> list[str]:
    return [c["Media-Name"] for c in switch.of("play")]


async def slot(h: CallflowHarness, number: str) -> dict[str, Any] | None:
    try:
        return await h.store.get(account_db(h.account_id), slot_doc_id(number))
    except NotFound:
        return None


async def occupy(h: CallflowHarness, number: str, call_id: str) -> None:
    await h.save({"_id": slot_doc_id(number), "pvt_type": "parked_call", "slot": number, "call_id": call_id})


async def test_a_parked_call_holds_until_retrieved_then_the_two_calls_are_connected() -> None:
    async with CallflowHarness() as h:
        await h.account()
        parked, retriever = HoldingSwitch(h.switch_bus), HoldingSwitch(h.switch_bus)
        connected = asyncio.Event()

        async def connect(target: str) -> None:
            assert target == parked.call_id
            await parked.release()
            connected.set()

        retriever.on_intercept = connect
        parking = asyncio.create_task(h.run(parked, park(slot="5"), caller="1001"))
        await asyncio.wait_for(parked.holding.wait(), WAIT)
        doc = await slot(h, "5")
        assert doc is not None and (doc["call_id"], doc["caller_id_number"]) == (parked.call_id, "1001")
        retrieving = asyncio.create_task(h.run(retriever, park(action="retrieve"), capture_group="5"))
        await asyncio.wait_for(connected.wait(), WAIT)
        assert not parking.done() and not retrieving.done()  # bridged: both stay up
        await parked.hangup()
        await retriever.hangup()
        await asyncio.wait_for(asyncio.gather(parking, retrieving), WAIT)
        assert parked.applications() == ["answer", "play"]
        assert parked.of("play")[0]["Media-Name"] == DEFAULT_HOLD
        assert retriever.applications() == ["intercept"]
        assert await slot(h, "5") is None


async def test_the_slot_is_freed_when_the_parked_caller_hangs_up() -> None:
    async with CallflowHarness() as h:
        await h.account(music_on_hold={"media_id": "/system_media/moh"})
        parked = HoldingSwitch(h.switch_bus)
        parking = asyncio.create_task(h.run(parked, park(slot="7")))
        await asyncio.wait_for(parked.holding.wait(), WAIT)
        assert media(parked) == ["/system_media/moh"]
        await parked.hangup()
        await asyncio.wait_for(parking, WAIT)
        assert await slot(h, "7") is None


async def test_nobody_retrieving_in_time_frees_the_slot_and_follows_timeout() -> None:
    async with CallflowHarness() as h:
        await h.account()
        parked = HoldingSwitch(h.switch_bus)
        await h.run(
            parked, park({"timeout": say("nobody")}, slot="3", max_park_time=0.05, hold_media="/x/moh")
        )
        assert parked.applications() == ["answer", "play", "noop", "play", "hangup"]
        assert parked.of("noop")[0]["Insert-At"] == "flush"
        assert media(parked) == ["/x/moh", "/system_media/nobody"]
        assert await slot(h, "3") is None


async def test_a_taken_slot_says_so_and_follows_the_default_child() -> None:
    async with CallflowHarness() as h:
        await h.account()
        await occupy(h, "5", "someone-else")
        switch = HoldingSwitch(h.switch_bus)
        await h.run(switch, park({"_": say("sorry")}, slot="5"))
        assert switch.applications() == ["answer", "play", "play", "hangup"]
        assert media(switch) == [SLOT_IN_USE, "/system_media/sorry"]
        doc = await slot(h, "5")
        assert doc is not None and doc["call_id"] == "someone-else"


async def test_without_a_slot_the_lowest_free_one_is_taken_and_announced() -> None:
    async with CallflowHarness() as h:
        await h.account()
        await occupy(h, "1", "someone-else")
        parked = HoldingSwitch(h.switch_bus)
        parking = asyncio.create_task(h.run(parked, park()))
        await asyncio.wait_for(parked.holding.wait(), WAIT)
        assert parked.applications() == ["answer", "play", "say", "play"]
        assert media(parked)[0] == PLACED_IN_SLOT
        assert parked.of("say")[0]["Say-Text"] == "2"
        doc = await slot(h, "2")
        assert doc is not None and doc["call_id"] == parked.call_id
        await parked.hangup()
        await asyncio.wait_for(parking, WAIT)


async def test_retrieving_an_empty_slot_says_so_and_follows_the_default_child() -> None:
    async with CallflowHarness() as h:
        await h.account()
        switch = HoldingSwitch(h.switch_bus)
        await h.run(switch, park({"_": say("sorry")}, action="retrieve", slot="9"))
        assert switch.applications() == ["play", "play", "hangup"]
        assert media(switch) == [SLOT_EMPTY, "/system_media/sorry"]


@pytest.mark.parametrize(("occupied", "expected"), [(True, "intercept"), (False, "answer")])
async def test_auto_retrieves_an_occupied_slot_and_parks_in_an_empty_one(
    occupied: bool, expected: str
) -> None:
    async with CallflowHarness() as h:
        await h.account()
        if occupied:
            await occupy(h, "4", "waiting-call")
        switch = HoldingSwitch(h.switch_bus)

        async def bridged_then_done(target: str) -> None:
            await switch.hangup()

        switch.on_intercept = bridged_then_done
        running = asyncio.create_task(h.run(switch, park(action="auto"), capture_group="4"))
        if not occupied:
            await asyncio.wait_for(switch.holding.wait(), WAIT)
            await switch.hangup()
        await asyncio.wait_for(running, WAIT)
        assert switch.applications()[0] == expected
        if occupied:
            assert switch.of("intercept")[0]["Target-Call-ID"] == "waiting-call"
        assert await slot(h, "4") is None


async def test_a_parked_call_that_is_already_gone_is_an_empty_slot() -> None:
    async with CallflowHarness() as h:
        await h.account()
        await occupy(h, "6", "gone-call")
        switch = HoldingSwitch(h.switch_bus, intercept_response="-ERR no such call")
        await h.run(switch, park({"_": say("sorry")}, action="retrieve", slot="6"))
        assert switch.applications() == ["intercept", "play", "play", "hangup"]
        assert media(switch) == [SLOT_EMPTY, "/system_media/sorry"]
        assert await slot(h, "6") is None


async def test_a_slot_that_is_not_a_number_fails() -> None:
    async with CallflowHarness() as h:
        await h.account()
        switch = HoldingSwitch(h.switch_bus)
        await h.run(switch, park(action="retrieve"), capture_group="abc")
        assert switch.applications() == ["play", "hangup"]


async def answer_channels(h: CallflowHarness, live: set[str]) -> None:
    """An ecallmgr on the harness's bus whose nodes hold the channels ``live``."""

    async def on_request(delivery: Delivery) -> None:
        asked = delivery.message.get("Call-ID")
        channels = [{"Call-ID": c, "Media-Node": "fs1"} for c in sorted(live) if asked in (None, c)]
        await h.switch_bus.reply(
            delivery.message, h.switch_bus.build("channels_resp", {"Channels": channels})
        )

    await h.switch_bus.consume(
        QueueSpec("fake-ecallmgr.channels", durable=False, exclusive=True, auto_delete=True),
        on_request,
        bindings=[("resource", "channels.req")],
    )


async def test_retrieving_a_slot_whose_call_is_gone_does_not_intercept_anything() -> None:
    async with CallflowHarness() as h:
        await h.account()
        await answer_channels(h, live={"someone-else"})
        await occupy(h, "6", "gone-call")  # real FreeSWITCH's intercept of a gone uuid says nothing
        switch = HoldingSwitch(h.switch_bus)
        await h.run(switch, park({"_": say("sorry")}, action="retrieve", slot="6"))
        assert switch.applications() == ["play", "play", "hangup"]
        assert media(switch) == [SLOT_EMPTY, "/system_media/sorry"]
        assert await slot(h, "6") is None


async def test_a_slot_held_by_a_call_that_is_gone_is_free_to_park_in() -> None:
    async with CallflowHarness() as h:
        await h.account()
        await answer_channels(h, live=set())
        await occupy(h, "5", "gone-call")  # its parker stopped before the call ended: nobody freed it
        parked = HoldingSwitch(h.switch_bus)
        parking = asyncio.create_task(h.run(parked, park(slot="5")))
        await asyncio.wait_for(parked.holding.wait(), WAIT)
        doc = await slot(h, "5")
        assert doc is not None and doc["call_id"] == parked.call_id
        await parked.hangup()
        await asyncio.wait_for(parking, WAIT)


async def test_a_retrieval_that_fails_puts_the_parked_call_back_in_its_slot() -> None:
    async with CallflowHarness() as h:
        await h.account()
        await answer_channels(h, live={"waiting-call"})
        await occupy(h, "7", "waiting-call")
        switch = h.switch(failures={"intercept": "throw"})  # e.g. the two calls are on different nodes
        await h.run(switch, park({"_": say("sorry")}, action="retrieve", slot="7"))
        assert switch.applications()[:2] == ["intercept", "play"]
        doc = await slot(h, "7")
        assert doc is not None and doc["call_id"] == "waiting-call"  # still parked, retrievable again
