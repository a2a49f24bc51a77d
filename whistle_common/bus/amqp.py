"""The RabbitMQ backend, on aio-pika's robust connection.

After a broker restart aio-pika re-opens the channels and re-declares the exchanges, queues, bindings
and consumers it was asked for. Publishing with ``confirm`` waits for the broker's ack and, if the
connection is down, retries until ``publish_timeout`` before raising PublishFailed.

Publishing (the call-event and CDR hot path, DESIGN 6) skips aio-pika's and aiormq's per-message
machinery: each publish is encoded here into its AMQP frames (basic.publish, content header, body) and
appended, in call order, to the :class:`_FrameBatch` of its channel (one for unconfirmed publishes, one
for confirmed ones); a flusher task hands the whole batch to aiormq's connection writer as ONE frame
(one socket write for many messages: a write costs more than encoding a message) and waits for the
socket to drain before it sends the next, so what is published meanwhile piles up into the next batch.
Order is kept (one batch per channel, one writer queue). Confirmed publishes take their delivery tag and
register their confirmation future in aiormq's channel (which resolves it from the broker's ack, nack or
return) in the same step that appends their frames, so tags and wire order agree; nothing else publishes
on that channel. A publisher that outruns the socket waits once a batch holds ``MAX_BATCH_BYTES``.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import uuid as uuidlib
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any

import aio_pika
import aiormq
import pamqp.commands
import pamqp.header
from aio_pika.abc import (
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


MAX_BATCH_BYTES = 1 << 20  # message bytes waiting in a batch before an unconfirmed publisher waits
CONSUMERS_PER_CHANNEL = 500  # well under RabbitMQ's channel_max (2047) even with one consumer per call


@dataclass(eq=False)
class _ConsumerChannel:
    """A channel shared by consumers with the same prefetch (basic.qos applies to each consumer)."""

    channel: AbstractRobustChannel
    consumers: int = 0


# -- AMQP 0-9-1 frames of one basic.publish, encoded without pamqp's per-field Python work ---------------

_FRAME_HEADER = struct.Struct(">BHI")  # frame type, channel, payload size
_CONTENT_HEADER = struct.Struct(">HHQ")  # class id, weight, body size
_FRAME_END = b"\xce"
_METHOD, _HEADER, _BODY = 1, 2, 3
_BASIC_CLASS = 60
_PUBLISH = b"\x00\x3c\x00\x28\x00\x00"  # class basic (60), method publish (40), reserved-1 (0)
_NO_FLAGS = b"\x00"  # mandatory and immediate off
_MANDATORY = b"\x01"  # mandatory on (only a confirming channel can report the return)

_properties_cache: dict[tuple[str, int], bytes] = {}


def encode_properties(
    content_type: str,
    delivery_mode: int,
    headers: Mapping[str, Any] | None = None,
    message_id: str | None = None,
) -> bytes:
    """The property flags and list of a content header, encoded by pamqp (cached: the hot path publishes
    with the same few content types, no headers and no message id)."""
    key = (content_type, delivery_mode)
    plain = not headers and message_id is None
    if plain and (cached := _properties_cache.get(key)) is not None:
        return cached
    properties = pamqp.commands.Basic.Properties(
        content_type=content_type,
        headers=dict(headers) if headers else None,
        delivery_mode=delivery_mode,
        message_id=message_id,
    )
    # ContentHeader.marshal() is class id (2), weight (2), body size (8), then flags and properties.
    encoded = pamqp.header.ContentHeader(0, 0, properties).marshal()[12:]
    if plain:
        _properties_cache[key] = encoded
    return encoded


def encode_publish(
    channel: int,
    max_body: int,
    exchange: str,
    routing_key: str,
    body: bytes,
    properties: bytes,
    *,
    mandatory: bool = False,
) -> list[bytes]:
    """The frames of one basic.publish on ``channel`` as byte strings to concatenate: the method, the
    content header (``properties`` from :func:`encode_properties`) and the body split into frames of at
    most ``max_body`` bytes (frame_max less the 8 bytes of framing), as aiormq sends them."""
    exchange_name, key = exchange.encode(), routing_key.encode()
    if len(exchange_name) > 255 or len(key) > 255:
        raise PublishFailed(f"exchange or routing key longer than 255 bytes: {exchange!r} {routing_key!r}")
    method = b"".join((_PUBLISH, bytes((len(exchange_name),)), exchange_name, bytes((len(key),)), key))
    method += _MANDATORY if mandatory else _NO_FLAGS
    header = _CONTENT_HEADER.pack(_BASIC_CLASS, 0, len(body)) + properties
    frames = [
        _FRAME_HEADER.pack(_METHOD, channel, len(method)), method, _FRAME_END,
        _FRAME_HEADER.pack(_HEADER, channel, len(header)), header, _FRAME_END,
    ]  # fmt: skip
    if len(body) <= max_body:
        if body:
            frames += (_FRAME_HEADER.pack(_BODY, channel, len(body)), body, _FRAME_END)
        return frames
    for start in range(0, len(body), max_body):
        chunk = body[start : start + max_body]
        frames += (_FRAME_HEADER.pack(_BODY, channel, len(chunk)), chunk, _FRAME_END)
    return frames


class _FrameBatch:
    """Encoded publishes for one aiormq channel, handed to its connection's writer as one frame batch
    by a flusher task that runs while there is something to write."""

    def __init__(self, name: str, timeout: float) -> None:
        self.name = name
        self.timeout = timeout  # for one batch to reach the socket
        self.channel: aiormq.abc.AbstractChannel | None = None
        self.size = 0  # message bytes waiting
        self._frames: list[bytes] = []
        self._flusher: asyncio.Task[None] | None = None
        self._flushed: asyncio.Future[None] | None = None  # resolved after each batch, for waiting publishers

    def bind(self, channel: aiormq.abc.AbstractChannel) -> None:
        """Encode for ``channel`` from now on. Frames encoded for an earlier channel (before a reconnect)
        are dropped: their channel number may be another channel's now (their confirmations, if any,
        were failed by aiormq when that channel closed, and are retried)."""
        if channel is not self.channel:
            if self._frames:
                log.warning("%s: %d bytes of messages lost with their channel", self.name, self.size)
                self._frames.clear()
                self.size = 0
            self.channel = channel

    def add(self, frames: list[bytes], size: int) -> None:
        self._frames += frames
        self.size += size
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush(), name=f"amqp-{self.name}")

    async def wait_room(self) -> None:
        """Return once the batch holds at most MAX_BATCH_BYTES (backpressure for unconfirmed publishers)."""
        while self.size > MAX_BATCH_BYTES and self._flusher is not None:
            if self._flushed is None:
                self._flushed = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._flushed)  # shared by every waiting publisher

    async def close(self) -> None:
        """Let what was published go out (within ``timeout``) before the connection closes."""
        flusher = self._flusher
        if flusher is None:
            return
        try:
            async with asyncio.timeout(self.timeout):
                await asyncio.shield(flusher)
        except Exception as exc:  # a broken connection loses those messages anyway
            log.warning("%s: messages not written before close: %r", self.name, exc)
            flusher.cancel()

    async def _flush(self) -> None:
        try:
            while self._frames:
                channel = self.channel
                payload = b"".join(self._frames)
                self._frames.clear()
                self.size = 0
                if channel is None or channel.is_closed:
                    log.warning("%s: %d bytes of messages lost with their channel", self.name, len(payload))
                    continue
                # Written, or lost with its channel: never dropped while the channel lives on, or the
                # delivery tags already taken for these frames would be acked for later messages. A
                # broker that stops reading (a memory alarm) holds this up; confirmed publishers time
                # out meanwhile and retry (at-least-once).
                drained = channel.create_future()  # aiormq rejects it when the channel closes
                frame = aiormq.abc.ChannelFrame(payload=payload, should_close=False, drain_future=drained)
                try:
                    try:
                        channel.write_queue.put_nowait(frame)  # the usual case: room in the writer's queue
                    except asyncio.QueueFull:
                        await _until_closed(channel, channel.write_queue.put(frame))
                    await drained
                except (*_CONNECTION_ERRORS, *_CHANNEL_ERRORS, asyncio.CancelledError) as exc:
                    if isinstance(exc, asyncio.CancelledError) and _cancelled():
                        raise
                    log.warning("%s: %d bytes of messages lost with their channel: %r", self.name,
                                len(payload), exc)  # fmt: skip
                self._wake_publishers()
        finally:
            self._flusher = None
            self._wake_publishers()

    def _wake_publishers(self) -> None:
        flushed, self._flushed = self._flushed, None
        if flushed is not None and not flushed.done():
            flushed.set_result(None)


async def _until_closed(channel: aiormq.abc.AbstractChannel, operation: Awaitable[None]) -> None:
    """Run ``operation``; ChannelInvalidStateError if the channel closes first (``operation`` dropped)."""
    task = asyncio.ensure_future(operation)
    closing = channel.closing
    try:
        await asyncio.wait({task, closing}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not task.done():
            task.cancel()
    if not task.done() or task.cancelled():
        raise aiormq.exceptions.ChannelInvalidStateError("channel closed")
    task.result()


def _cancelled() -> bool:
    """Whether the running task is being cancelled: a CancelledError that is not this is aiormq failing
    one of its futures because a channel closed (with CancelledError as the reason)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


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
        self._exchange_types: dict[str, str] = {}
        self._queues: dict[str, AbstractQueue] = {}
        self._consumer_channels: dict[int, list[_ConsumerChannel]] = {}
        self._channel_lock = asyncio.Lock()
        self._unconfirmed = _FrameBatch(f"{connection_name}-unconfirmed", publish_timeout)
        self._confirmed = _FrameBatch(f"{connection_name}-confirmed", publish_timeout)

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
        await self._unconfirmed.close()  # what was published before close() still goes out
        await self._confirmed.close()
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
        await self._publish_confirmed(
            exchange, routing_key, body, content_type, headers, 2 if persistent else 1, mandatory
        )

    async def _publish_unconfirmed(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        content_type: str,
        headers: Mapping[str, Any] | None,
        persistent: bool,
    ) -> None:
        """Encode the message into the unconfirmed buffer (see the module docstring); no confirm, nothing
        to retry. aio-pika would hold the publish until it has reconnected; without confirms nobody would
        retry it, so while the broker is unreachable this raises PublishFailed at once."""
        connection = self._connection
        if connection is None or not connection.connected.is_set():
            raise PublishFailed(
                f"publish to {exchange!r} {routing_key!r} failed: not connected to the broker"
            )
        batch = self._unconfirmed
        channel = batch.channel
        if channel is None or channel.is_closed:
            try:
                channel = await self._channel(self._plain).get_underlay_channel()
            except (*_CONNECTION_ERRORS, *_CHANNEL_ERRORS) as exc:
                raise PublishFailed(f"publish to {exchange!r} {routing_key!r} failed: {exc!r}") from exc
            if channel.is_closed:
                raise PublishFailed(f"publish to {exchange!r} {routing_key!r} failed: channel closed")
            batch.bind(channel)
        properties = encode_properties(content_type, 2 if persistent else 1, headers)
        batch.add(
            encode_publish(channel.number, channel.max_content_size, exchange, routing_key, body, properties),
            len(body),
        )
        if batch.size > MAX_BATCH_BYTES:
            await batch.wait_room()

    async def _publish_confirmed(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        content_type: str,
        headers: Mapping[str, Any] | None,
        delivery_mode: int,
        mandatory: bool,
    ) -> None:
        """Retry through a broker outage until the broker confirms, or raise PublishFailed at the deadline."""
        if exchange != DEFAULT_EXCHANGE and exchange not in self._exchange_types:
            raise PublishFailed(f"exchange {exchange!r} was not declared by this process")
        deadline = asyncio.get_running_loop().time() + self.publish_timeout
        delay = 0.05
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            try:
                # the deadline covers waiting for the connection too: aio-pika waits for ever otherwise
                async with asyncio.timeout(max(remaining, 0.01)):
                    confirmation = self._enqueue_confirmed(
                        await self._channel(self._confirming).get_underlay_channel(),
                        exchange, routing_key, body, content_type, headers, delivery_mode, mandatory,
                    )  # fmt: skip
                    try:
                        frame = await confirmation
                    except asyncio.CancelledError as exc:
                        if _cancelled():
                            raise
                        # aiormq failed the confirmation because the channel closed: a lost connection
                        raise aiormq.exceptions.ChannelInvalidStateError("channel closed") from exc
            except _CHANNEL_ERRORS as exc:
                raise PublishFailed(
                    f"broker closed the channel for {exchange!r} {routing_key!r}: {exc!r}"
                ) from exc
            except aiormq.exceptions.DeliveryError as exc:
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
            if isinstance(frame, aiormq.spec.Basic.Nack):
                raise PublishFailed(f"broker nacked {exchange!r} {routing_key!r}")
            return

    def _enqueue_confirmed(
        self,
        channel: aiormq.abc.AbstractChannel,
        exchange: str,
        routing_key: str,
        body: bytes,
        content_type: str,
        headers: Mapping[str, Any] | None,
        delivery_mode: int,
        mandatory: bool,
    ) -> asyncio.Future[Any]:
        """Take the next delivery tag of ``channel``, register the confirmation aiormq will resolve, and
        append the frames to the confirmed batch, all without an await: tags follow the wire order.
        (What aiormq's basic_publish does under its channel lock, for one message and one write.)"""
        if channel.is_closed:
            raise aiormq.exceptions.ChannelInvalidStateError("channel closed")
        batch = self._confirmed
        batch.bind(channel)
        # aiormq finds the confirmation of a returned (mandatory) message by its message id.
        message_id = uuidlib.uuid4().hex if mandatory else None
        properties = encode_properties(content_type, delivery_mode, headers, message_id)
        # Encoded before the tag is taken: a message refused here must not use one up.
        frames = encode_publish(
            channel.number,
            channel.max_content_size,
            exchange,
            routing_key,
            body,
            properties,
            mandatory=mandatory,
        )
        confirmation = channel.create_future()
        channel.delivery_tag += 1
        tag = channel.delivery_tag
        channel.confirmations[tag] = confirmation
        if message_id is not None:
            returns = channel.message_id_delivery_tag
            returns[message_id] = tag
            confirmation.add_done_callback(lambda _: returns.pop(message_id, None))
        batch.add(frames, len(body))
        return confirmation

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
