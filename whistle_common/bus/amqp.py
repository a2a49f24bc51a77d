"""The RabbitMQ backend, on aio-pika's robust connection.

After a broker restart aio-pika re-opens the channels and re-declares the exchanges, queues, bindings
and consumers it was asked for. Publishing with ``confirm`` waits for the broker's ack and, if the
connection is down, retries until ``publish_timeout`` before raising PublishFailed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import (
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustChannel,
    AbstractRobustConnection,
)

from whistle_common.bus.topology import DEFAULT_EXCHANGE
from whistle_common.bus.transport import (
    BusError,
    PublishFailed,
    QueueSpec,
    RawDelivery,
    RawHandler,
    Unroutable,
)

log = logging.getLogger(__name__)

# Errors that mean "the connection or channel is not usable right now": worth a retry with confirms.
_CONNECTION_ERRORS = (
    aiormq.exceptions.AMQPConnectionError,
    aiormq.exceptions.ChannelInvalidStateError,
    ConnectionError,
    RuntimeError,
    asyncio.TimeoutError,
)
# A channel closed by the broker (unknown exchange, precondition failed...): reported as PublishFailed.
_CHANNEL_ERRORS = (aiormq.exceptions.AMQPChannelError,)


DRAIN_EVERY = 32  # unconfirmed publishes between two waits for the socket to drain
CONSUMERS_PER_CHANNEL = 500  # well under RabbitMQ's channel_max (2047) even with one consumer per call


@dataclass(eq=False)
class _ConsumerChannel:
    """A channel shared by consumers with the same prefetch (basic.qos applies to each consumer)."""

    channel: AbstractRobustChannel
    consumers: int = 0


class _AmqpSubscription:
    def __init__(self, home: _ConsumerChannel, queue: AbstractQueue, tag: str) -> None:
        self._home, self._queue, self._tag = home, queue, tag
        self._cancelled = False

    async def cancel(self) -> None:
        if self._cancelled:
            return
        self._cancelled = True
        self._home.consumers -= 1
        await self._queue.cancel(self._tag)


class AmqpTransport:
    """A robust connection to RabbitMQ; see ``Transport`` for the contract."""

    def __init__(
        self,
        url: str,
        *,
        connection_name: str = "whistle",
        publish_timeout: float = 30.0,
        reconnect_interval: float = 1.0,
    ) -> None:
        self.url = url
        self.connection_name = connection_name
        self.publish_timeout = publish_timeout
        self.reconnect_interval = reconnect_interval
        self._connection: AbstractRobustConnection | None = None
        self._plain: AbstractRobustChannel | None = None  # publishes without confirms
        self._confirming: AbstractRobustChannel | None = None  # publishes with confirms
        self._admin: AbstractRobustChannel | None = None  # declarations
        self._exchanges: dict[tuple[int, str], AbstractExchange] = {}
        self._exchange_types: dict[str, str] = {}
        self._queues: dict[str, AbstractQueue] = {}
        self._consumer_channels: dict[int, list[_ConsumerChannel]] = {}
        self._channel_lock = asyncio.Lock()
        self._unconfirmed = 0

    async def connect(self) -> None:
        self._connection = await aio_pika.connect_robust(
            self.url,
            client_properties={"connection_name": self.connection_name},
            reconnect_interval=self.reconnect_interval,
        )
        self._plain = await self._connection.channel(publisher_confirms=False)
        self._confirming = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
        self._admin = await self._connection.channel(publisher_confirms=False)

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
        self._connection = None

    def _channel(self, channel: AbstractRobustChannel | None) -> AbstractRobustChannel:
        if channel is None:
            raise BusError("AMQP transport is not connected")
        return channel

    async def declare_exchange(self, name: str, type_: str) -> None:
        await self._channel(self._admin).declare_exchange(name, type_, durable=True)
        self._exchange_types[name] = type_

    async def _exchange(self, channel: AbstractRobustChannel, name: str) -> AbstractExchange:
        if name == DEFAULT_EXCHANGE:
            return channel.default_exchange
        key = (id(channel), name)
        if key not in self._exchanges:
            kind = self._exchange_types.get(name)
            if kind is None:
                raise PublishFailed(f"exchange {name!r} was not declared by this process")
            self._exchanges[key] = await channel.declare_exchange(name, kind, durable=True)
        return self._exchanges[key]

    async def declare_queue(self, spec: QueueSpec) -> None:
        self._queues[spec.name] = await self._channel(self._admin).declare_queue(
            spec.name,
            durable=spec.durable,
            exclusive=spec.exclusive,
            auto_delete=spec.auto_delete,
            arguments=dict(spec.arguments) or None,
        )

    async def bind(self, queue: str, exchange: str, routing_key: str) -> None:
        await self._queues[queue].bind(exchange, routing_key)

    async def unbind(self, queue: str, exchange: str, routing_key: str) -> None:
        await self._queues[queue].unbind(exchange, routing_key)

    async def delete_queue(self, name: str) -> None:
        queue = self._queues.pop(name, None)
        if queue is not None:
            await queue.delete(if_unused=False, if_empty=False)
        else:
            await self._channel(self._admin).queue_delete(name)

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
        if not confirm and not mandatory:  # only a confirming channel can tell us a message was returned
            await self._publish_unconfirmed(exchange, routing_key, body, content_type, headers, persistent)
            return
        message = aio_pika.Message(
            body,
            content_type=content_type,
            headers=dict(headers) if headers else None,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT
            if persistent
            else aio_pika.DeliveryMode.NOT_PERSISTENT,
        )
        await self._publish_confirmed(exchange, routing_key, message, mandatory)

    async def _publish_unconfirmed(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        content_type: str,
        headers: Mapping[str, Any] | None,
        persistent: bool,
    ) -> None:
        """The event hot path, straight onto aiormq's channel (DESIGN 6): no confirm, nothing to retry.

        aio-pika would hold the publish until it has reconnected; without confirms nobody would retry
        it, so while the broker is unreachable this raises PublishFailed at once.
        """
        if self._connection is None or not self._connection.connected.is_set():
            raise PublishFailed(
                f"publish to {exchange!r} {routing_key!r} failed: not connected to the broker"
            )
        properties = aiormq.spec.Basic.Properties(
            content_type=content_type,
            headers=dict(headers) if headers else None,
            delivery_mode=2 if persistent else 1,
        )
        try:
            channel = await self._channel(self._plain).get_underlay_channel()
            # Waiting for the socket drain on every message costs an event-loop round trip each; waiting
            # on one in DRAIN_EVERY still holds back a publisher that outruns the broker.
            self._unconfirmed += 1
            await channel.basic_publish(
                body,
                exchange=exchange,
                routing_key=routing_key,
                properties=properties,
                wait=self._unconfirmed % DRAIN_EVERY == 0,
            )
        except (*_CONNECTION_ERRORS, *_CHANNEL_ERRORS) as exc:
            raise PublishFailed(f"publish to {exchange!r} {routing_key!r} failed: {exc!r}") from exc

    async def _publish_confirmed(
        self, exchange: str, routing_key: str, message: aio_pika.Message, mandatory: bool
    ) -> None:
        """Retry through a broker outage until the broker confirms, or raise PublishFailed at the deadline."""
        deadline = asyncio.get_running_loop().time() + self.publish_timeout
        delay = 0.05
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            try:
                target = await self._exchange(self._channel(self._confirming), exchange)
                # asyncio.timeout, not publish(timeout=...): that one starts a task per message.
                async with asyncio.timeout(max(remaining, 0.01)):
                    confirmation = await target.publish(message, routing_key, mandatory=mandatory)
            except _CHANNEL_ERRORS as exc:
                raise PublishFailed(
                    f"broker closed the channel for {exchange!r} {routing_key!r}: {exc!r}"
                ) from exc
            except aio_pika.exceptions.DeliveryError as exc:
                if exc.frame is not None and isinstance(exc.frame, aiormq.spec.Basic.Return):
                    raise Unroutable(f"no queue bound for {exchange!r} {routing_key!r}") from exc
                raise PublishFailed(f"broker refused {exchange!r} {routing_key!r}: {exc!r}") from exc
            except _CONNECTION_ERRORS as exc:
                if asyncio.get_running_loop().time() + delay >= deadline:
                    raise PublishFailed(
                        f"no confirm for {exchange!r} {routing_key!r} within {self.publish_timeout}s: {exc!r}"
                    ) from exc
                log.warning("publish to %s %s failed (%r); retrying", exchange, routing_key, exc)
                await asyncio.sleep(delay)  # back-off while aio-pika reconnects
                delay = min(delay * 2, 1.0)
                continue
            if isinstance(confirmation, aiormq.spec.Basic.Nack):
                raise PublishFailed(f"broker nacked {exchange!r} {routing_key!r}")
            return

    async def consume(self, queue: str, handler: RawHandler, *, prefetch: int) -> _AmqpSubscription:
        connection = self._connection
        if connection is None:
            raise BusError("AMQP transport is not connected")
        home = await self._consumer_channel(connection, prefetch)
        channel = home.channel
        spec_queue = self._queues[queue]
        # Re-declare on this channel so aio-pika restores the consumer after a reconnect.
        robust_queue = await channel.declare_queue(
            spec_queue.name,
            durable=spec_queue.durable,
            exclusive=spec_queue.exclusive,
            auto_delete=spec_queue.auto_delete,
            arguments=spec_queue.arguments,
            passive=False,
        )

        async def on_message(incoming: AbstractIncomingMessage) -> None:
            async def ack() -> None:
                await _settle(incoming.ack(), "ack", queue)

            async def nack(requeue: bool) -> None:
                await _settle(incoming.nack(requeue=requeue), "nack", queue)

            await handler(
                RawDelivery(
                    body=incoming.body,
                    content_type=incoming.content_type,
                    headers=incoming.headers or {},
                    exchange=incoming.exchange or "",
                    routing_key=incoming.routing_key or "",
                    redelivered=bool(incoming.redelivered),
                    ack=ack,
                    nack=nack,
                )
            )

        tag = await robust_queue.consume(on_message, no_ack=False)
        return _AmqpSubscription(home, robust_queue, tag)

    async def _consumer_channel(
        self, connection: AbstractRobustConnection, prefetch: int
    ) -> _ConsumerChannel:
        """A channel for one more consumer: one per call would soon exhaust the connection's channels."""
        async with self._channel_lock:
            for home in self._consumer_channels.setdefault(prefetch, []):
                if home.consumers < CONSUMERS_PER_CHANNEL and not home.channel.is_closed:
                    home.consumers += 1
                    return home
            channel = await connection.channel(publisher_confirms=False)
            await channel.set_qos(prefetch_count=prefetch)  # per consumer: RabbitMQ's global=false
            home = _ConsumerChannel(channel, consumers=1)
            self._consumer_channels[prefetch].append(home)
            return home


async def _settle(operation: Any, verb: str, queue: str) -> None:
    """Ack or nack; if the channel died meanwhile the broker redelivers the message, so say so and go on."""
    try:
        await operation
    except _CONNECTION_ERRORS as exc:
        log.warning("could not %s a message from %s (%r); the broker will redeliver it", verb, queue, exc)
