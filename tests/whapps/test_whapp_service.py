"""The Whapp base class: what a class declares is what it consumes, on both kinds of queue."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest

from whistle_common.bus import Bus, Delivery, MemoryBroker, MemoryTransport
from whistle_common.store import Store
from whistle_common.whapp import Whapp, per_instance, pool, targeted


class Recorder(Whapp):
    name = "recorder"
    changed: asyncio.Condition  # shared by the instances of a test: notified on every message

    async def _arrived(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def setup(self) -> None:
        self.pooled: list[str] = []
        self.broadcast: list[str] = []
        self.wins: list[str] = []

    @pool("route_req", ("callmgr", "route.req"))
    async def on_route_req(self, delivery: Delivery) -> None:
        self.pooled.append(str(delivery.message["Call-ID"]))
        await self._arrived()

    @per_instance("registrations", ("callmgr", "registration.success.#"))
    async def on_registration(self, delivery: Delivery) -> None:
        self.broadcast.append(str(delivery.message["Username"]))
        await self._arrived()

    @targeted("route_win")
    async def on_route_win(self, delivery: Delivery) -> None:
        self.wins.append(str(delivery.message["Call-ID"]))
        await self._arrived()


def test_the_class_lists_what_it_consumes() -> None:
    assert [(name, c.kind, c.name) for name, c in Recorder.consumes()] == [
        ("on_route_req", "pool", "route_req"),
        ("on_registration", "instance", "registrations"),
        ("on_route_win", "targeted", "route_win"),
    ]


def test_a_handler_must_be_async() -> None:
    with pytest.raises(TypeError, match="async"):
        pool("x")(lambda self, delivery: None)  # type: ignore[arg-type]


async def _until(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout), Recorder.changed:
        await Recorder.changed.wait_for(predicate)


async def test_pool_messages_are_shared_and_per_instance_messages_reach_every_instance() -> None:
    broker = MemoryBroker.named(f"whapp-{uuid.uuid4().hex}")
    buses = [Bus(MemoryTransport(broker), app_name="recorder", node=f"n{i}") for i in range(3)]
    store = Store.open("memory://")
    Recorder.changed = asyncio.Condition()
    for bus in buses:
        await bus.start()
    first, second = Recorder(buses[0], store), Recorder(buses[1], store)
    await first.start()
    await second.start()
    sender = buses[2]
    try:
        for index in range(10):
            request = sender.build(
                "route_req", {"Call-ID": f"c{index}", "From": "a@b", "To": "c@d", "Request": "c@d"}
            )
            await sender.send(request)
        registration = sender.build(
            "registration_success",
            {"Contact": "sip:1000@1.2.3.4", "Expires": 60, "Realm": "r.test", "Username": "1000",
             "Event-Timestamp": 0},
        )  # fmt: skip
        await sender.send(registration)
        win = sender.build("route_win", {"Call-ID": "c3", "Control-Queue": "ctl.c3"})
        await sender.publish("targeted", second.bus.server_id, win)
        await _until(lambda: len(first.pooled) + len(second.pooled) == 10 and second.wins)
        await _until(lambda: first.broadcast and second.broadcast)
        assert sorted(first.pooled + second.pooled) == sorted(f"c{i}" for i in range(10))
        assert first.pooled and second.pooled  # competing consumers: both took some
        assert first.broadcast == second.broadcast == ["1000"]
        assert second.wins == ["c3"] and first.wins == []
    finally:
        await first.stop()
        await second.stop()
        for bus in buses:
            await bus.close()
