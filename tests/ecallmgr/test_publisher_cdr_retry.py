"""A CDR is billing: while the broker refuses it, the publisher retries; it is confirmed once, late."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import ecallmgr.publisher as publisher_module
from ecallmgr.publisher import EventPublisher
from tests.fsim.recordings import events
from whistle_common.bus import Bus, Delivery, MemoryBroker, MemoryTransport, PublishFailed


class RefusingTransport(MemoryTransport):
    """Refuses the first ``refusals`` confirmed publishes, as a broker that is down would."""

    def __init__(self, broker: MemoryBroker, refusals: int) -> None:
        super().__init__(broker)
        self.refusals = refusals

    async def publish(self, exchange: str, routing_key: str, body: bytes, **options: Any) -> None:
        if options.get("confirm") and self.refusals > 0:
            self.refusals -= 1
            raise PublishFailed("broker unreachable (test)")
        await super().publish(exchange, routing_key, body, **options)


class CdrReader:
    """The cdr whapp's side on an in-memory broker: every CDR that arrives, and a wait for the first."""

    def __init__(self, broker: MemoryBroker) -> None:
        self.bus = Bus(MemoryTransport(broker), app_name="cdr", node="test")
        self.received: list[dict] = []
        self.arrived = asyncio.Event()

    async def start(self) -> CdrReader:
        await self.bus.start()
        await self.bus.consume(f"cdr-{uuid.uuid4().hex[:8]}", self._store, bindings=[("callevt", "cdr.*")])
        return self

    async def _store(self, delivery: Delivery) -> None:
        self.received.append(delivery.message)
        self.arrived.set()

    async def first(self, timeout: float = 10) -> None:
        async with asyncio.timeout(timeout):
            await self.arrived.wait()


def hangup_event() -> dict[str, str]:
    """The recorded CHANNEL_HANGUP_COMPLETE of a call (what a CDR is made of)."""
    hangup = next(e for e in events("call-lifecycle-json") if e.name == "CHANNEL_HANGUP_COMPLETE")
    return dict(hangup.headers)


async def test_a_cdr_the_broker_refuses_is_retried_until_confirmed_once(monkeypatch) -> None:
    monkeypatch.setattr(publisher_module, "CDR_RETRY_FIRST", 0.01)
    broker = MemoryBroker()
    bus = Bus(RefusingTransport(broker, refusals=3), app_name="ecallmgr", node="test")
    await bus.start()
    reader = await CdrReader(broker).start()
    hangup = hangup_event()
    publisher = EventPublisher(bus)
    try:
        await publisher.handle("fs1", hangup)
        await reader.first()
        await publisher.flush(10)
    finally:
        await publisher.close()
        await reader.bus.close()
        await bus.close()

    assert [m["Call-ID"] for m in reader.received] == [hangup["Unique-ID"]]
    assert publisher.stats.cdrs == 1 and publisher.stats.errors == 0
