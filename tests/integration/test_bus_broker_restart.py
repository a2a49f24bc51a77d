"""The bus rides out a broker restart: consumers come back by themselves and no confirmed message is lost."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import pytest

from tests.rabbit_broker import owned_broker_url
from tests.samples import cdr
from whistle_common.bus import Bus, Delivery, PublishFailed

pytestmark = pytest.mark.integration

WAIT = 60.0


def queue_settled(broker: object, queue: str) -> bool:
    """Whether the broker holds no unacknowledged message for ``queue`` (so a restart redelivers none)."""
    listing = broker.rabbitctl_output("list_queues", "name", "messages_unacknowledged")  # type: ignore[attr-defined]
    for line in listing.splitlines():
        name, _, unacked = line.partition("\t")
        if name == queue:
            return unacked.strip() == "0"
    return False


async def wait_settled(broker: object, queue: str) -> None:
    async with asyncio.timeout(WAIT):
        # Each rabbitmqctl call takes about a second, which paces this poll.
        while not await asyncio.to_thread(queue_settled, broker, queue):
            pass


async def test_confirmed_messages_before_during_and_after_a_broker_restart_are_each_consumed_once(
    owned_broker,
) -> None:
    url = owned_broker_url(owned_broker)
    queue = f"cdr-restart-{uuid.uuid4().hex[:8]}"
    seen: Counter[str] = Counter()
    arrived = asyncio.Event()

    async def store_cdr(delivery: Delivery) -> None:
        seen[delivery.message["Call-ID"]] += 1
        arrived.set()

    async def wait_for(count: int) -> None:
        async with asyncio.timeout(WAIT):
            while sum(seen.values()) < count:
                arrived.clear()
                await arrived.wait()

    consumer = Bus.from_url(url, app_name="cdr", node="test")
    publisher = Bus.from_url(url, app_name="ecallmgr", node="test")
    await consumer.start()
    await publisher.start()
    await consumer.consume(queue, store_cdr, bindings=[("callevt", "cdr.*")])

    before = [f"before-{i}" for i in range(10)]
    during = [f"during-{i}" for i in range(10)]
    after = [f"after-{i}" for i in range(10)]
    try:
        for call_id in before:
            await publisher.send(cdr(publisher, call_id))
        await wait_for(len(before))
        await wait_settled(owned_broker, queue)

        await asyncio.to_thread(owned_broker.stop)
        # Without confirms there is nothing to retry against: the publish fails at once, loudly.
        with pytest.raises(PublishFailed):
            async with asyncio.timeout(WAIT):
                await publisher.send(cdr(publisher, "lost"), confirm=False)
        # A confirmed publish gives up at its deadline, even while there is no connection to wait on.
        transport = publisher.transport
        deadline, transport.publish_timeout = transport.publish_timeout, 0.5  # type: ignore[attr-defined]
        with pytest.raises(PublishFailed):
            async with asyncio.timeout(WAIT):
                await publisher.send(cdr(publisher, "given-up"))
        transport.publish_timeout = deadline  # type: ignore[attr-defined]
        # Published while the broker is down: each send retries until the broker is back and confirms.
        sending = asyncio.gather(*(publisher.send(cdr(publisher, call_id)) for call_id in during))
        await asyncio.to_thread(owned_broker.start)
        async with asyncio.timeout(WAIT):
            await sending
        for call_id in after:
            await publisher.send(cdr(publisher, call_id))

        await wait_for(len(before) + len(during) + len(after))
    finally:
        await publisher.close()
        await consumer.close()

    assert set(seen) == set(before + during + after)
    assert set(seen.values()) == {1}
