"""An in-process broker with AMQP's routing semantics, for unit tests and the single-process demo.

Direct, topic (``*`` one word, ``#`` zero or more) and fanout exchanges; the nameless default exchange;
competing consumers with a prefetch limit; unacknowledged messages requeued (marked redelivered) on nack
or when their consumer goes away; exclusive queues removed with the connection that declared them.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from whistle_common.bus.topology import DEFAULT_EXCHANGE
from whistle_common.bus.transport import (
    BusError,
    PublishFailed,
    QueueSpec,
    RawDelivery,
    RawHandler,
    Unroutable,
)
from whistle_common.routing import topic_matches

log = logging.getLogger(__name__)


@dataclass
class _Message:
    exchange: str
    routing_key: str
    body: bytes
    content_type: str | None
    headers: dict[str, Any]
    redelivered: bool = False


@dataclass(eq=False)
class _Consumer:
    queue: _Queue
    handler: RawHandler
    prefetch: int
    owner: MemoryTransport
    in_flight: int = 0
    cancelled: bool = False
    unacked: dict[int, _Message] = field(default_factory=dict)

    async def cancel(self) -> None:
        """Stop receiving; messages it had not settled go back to the queue."""
        if self.cancelled:
            return
        self.cancelled = True
        self.queue.consumers.remove(self)
        if self in self.owner._consumers:
            self.owner._consumers.remove(self)
        for message in self.unacked.values():
            message.redelivered = True
        # Back at the head in their original order, as RabbitMQ requeues them.
        self.queue.pending.extendleft(reversed(list(self.unacked.values())))
        self.unacked.clear()
        self.queue.pump()
        if self.queue.spec.auto_delete and not self.queue.consumers:
            await self.owner.delete_queue(self.queue.spec.name)  # as RabbitMQ does after the last consumer


@dataclass(eq=False)
class _Queue:
    spec: QueueSpec
    owner: MemoryTransport | None
    pending: deque[_Message] = field(default_factory=deque)
    consumers: list[_Consumer] = field(default_factory=list)
    next_consumer: int = 0

    def pump(self) -> None:
        """Hand pending messages to consumers with spare prefetch, round-robin."""
        while self.pending:
            ready = [c for c in self.consumers if c.in_flight < c.prefetch]
            if not ready:
                return
            consumer = ready[self.next_consumer % len(ready)]
            self.next_consumer += 1
            consumer.owner.deliver(consumer, self.pending.popleft())


class MemoryBroker:
    """One broker's state; every MemoryTransport connected to it sees the same exchanges and queues."""

    _named: ClassVar[dict[str, MemoryBroker]] = {}

    def __init__(self) -> None:
        self.exchanges: dict[str, str] = {DEFAULT_EXCHANGE: "direct"}
        self.queues: dict[str, _Queue] = {}
        self.bindings: dict[str, list[tuple[str, str]]] = {}  # exchange -> [(routing key, queue)]

    @classmethod
    def named(cls, name: str = "default") -> MemoryBroker:
        """The process's broker called ``name`` (``memory://name``), so in-process services can meet."""
        return cls._named.setdefault(name, cls())

    def route(self, exchange: str, routing_key: str) -> list[_Queue]:
        if exchange == DEFAULT_EXCHANGE:
            queue = self.queues.get(routing_key)
            return [queue] if queue else []
        kind = self.exchanges[exchange]
        names: dict[str, None] = {}
        for binding, queue in self.bindings.get(exchange, []):
            if (
                kind == "fanout"
                or (kind == "direct" and binding == routing_key)
                or (kind == "topic" and topic_matches(binding, routing_key))
            ):
                names[queue] = None
        return [self.queues[name] for name in names]


class MemoryTransport:
    """A connection to a MemoryBroker; see ``Transport`` for the contract."""

    def __init__(self, broker: MemoryBroker | None = None) -> None:
        self.broker = broker or MemoryBroker()
        self._tags = itertools.count()
        self._tasks: set[asyncio.Task[None]] = set()
        self._consumers: list[_Consumer] = []
        self._connected = False

    async def connect(self) -> None:
        self._connected = True

    async def close(self) -> None:
        self._connected = False
        for consumer in list(self._consumers):
            await consumer.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for name, queue in list(self.broker.queues.items()):
            if queue.owner is self:
                await self.delete_queue(name)

    def _check(self) -> None:
        if not self._connected:
            raise BusError("memory transport is not connected")

    async def declare_exchange(self, name: str, type_: str) -> None:
        self._check()
        existing = self.broker.exchanges.setdefault(name, type_)
        if existing != type_:
            raise BusError(f"exchange {name!r} exists as {existing}, not {type_}")

    async def declare_queue(self, spec: QueueSpec) -> None:
        self._check()
        queue = self.broker.queues.get(spec.name)
        if queue is None:
            self.broker.queues[spec.name] = _Queue(spec, self if spec.exclusive else None)
        elif queue.spec.exclusive and queue.owner is not self:
            raise BusError(f"queue {spec.name!r} is exclusive to another connection")

    async def bind(self, queue: str, exchange: str, routing_key: str) -> None:
        self._check()
        if exchange not in self.broker.exchanges or queue not in self.broker.queues:
            raise BusError(f"cannot bind {queue!r} to {exchange!r}: declare both first")
        entry = (routing_key, queue)
        if entry not in self.broker.bindings.setdefault(exchange, []):
            self.broker.bindings[exchange].append(entry)

    async def unbind(self, queue: str, exchange: str, routing_key: str) -> None:
        self._check()
        entries = self.broker.bindings.get(exchange, [])
        if (routing_key, queue) in entries:
            entries.remove((routing_key, queue))

    async def delete_queue(self, name: str) -> None:
        queue = self.broker.queues.pop(name, None)
        if queue is None:
            return
        for consumer in list(queue.consumers):
            consumer.cancelled = True
        queue.consumers.clear()
        for exchange, entries in self.broker.bindings.items():
            self.broker.bindings[exchange] = [entry for entry in entries if entry[1] != name]

    async def publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        *,
        content_type: str,
        headers: Mapping[str, Any] | None = None,
        persistent: bool = False,
        confirm: bool = False,
        mandatory: bool = False,
    ) -> None:
        if not self._connected:
            raise PublishFailed("memory transport is not connected")
        if exchange not in self.broker.exchanges:
            raise PublishFailed(f"no exchange {exchange!r}")
        queues = self.broker.route(exchange, routing_key)
        if not queues and mandatory:
            raise Unroutable(f"no queue bound for {exchange!r} {routing_key!r}")
        for queue in queues:
            queue.pending.append(_Message(exchange, routing_key, body, content_type, dict(headers or {})))
            queue.pump()

    async def consume(self, queue: str, handler: RawHandler, *, prefetch: int) -> _Consumer:
        self._check()
        if queue not in self.broker.queues:
            raise BusError(f"no queue {queue!r}")
        target = self.broker.queues[queue]
        consumer = _Consumer(target, handler, max(prefetch, 1), self)
        target.consumers.append(consumer)
        self._consumers.append(consumer)
        target.pump()
        return consumer

    def deliver(self, consumer: _Consumer, message: _Message) -> None:
        """Run the consumer's handler for ``message`` as a task this transport owns."""
        tag = next(self._tags)
        consumer.in_flight += 1
        consumer.unacked[tag] = message

        async def settle(requeue: bool | None) -> None:
            if consumer.unacked.pop(tag, None) is None:
                return  # already settled, or requeued when the consumer went away
            consumer.in_flight -= 1
            if requeue:
                message.redelivered = True
                consumer.queue.pending.appendleft(message)  # RabbitMQ requeues at the head
            consumer.queue.pump()

        async def ack() -> None:
            await settle(None)

        async def nack(requeue: bool) -> None:
            await settle(requeue)

        delivery = RawDelivery(
            body=message.body,
            content_type=message.content_type,
            headers=message.headers,
            exchange=message.exchange,
            routing_key=message.routing_key,
            redelivered=message.redelivered,
            ack=ack,
            nack=nack,
        )
        task = asyncio.get_running_loop().create_task(consumer.handler(delivery))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
