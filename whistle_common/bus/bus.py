"""The bus every whistle-voip process uses: typed messages in, typed messages out, nothing lost.

Outgoing messages are validated against the catalogue (publishing an invalid one raises). Incoming ones
are decoded by content type and validated; a message that fails either goes to ``whistle.invalid`` with
the reason in a header and a log line, and the consumer carries on. A handler's message is acknowledged
only after the handler returns; a handler that raises gets the message once more, then it is
dead-lettered too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from whistle_common import codec
from whistle_common.api import Catalogue, Issue, MessageDefinition, Origin, ValidationError
from whistle_common.bus import topology
from whistle_common.bus.amqp import AmqpTransport
from whistle_common.bus.memory import MemoryBroker, MemoryTransport
from whistle_common.bus.replies import ReplyRouter, Until
from whistle_common.bus.transport import (
    BusError,
    PublishFailed,
    QueueSpec,
    RawDelivery,
    Subscription,
    Transport,
)
from whistle_common.config import new_server_id

log = logging.getLogger(__name__)

DEFAULT_PREFETCH = 50  # Kazoo's default QoS


class RequestTimeout(BusError):
    """No reply arrived before the deadline."""


@dataclass(frozen=True)
class Delivery:
    """A valid incoming message and where it came from."""

    message: dict[str, Any]
    definition: MessageDefinition
    exchange: str
    routing_key: str
    redelivered: bool
    headers: Mapping[str, Any]

    @property
    def call_id(self) -> str | None:
        return self.message.get("Call-ID")


Handler = Callable[[Delivery], Awaitable[None]]
Binding = tuple[str, str]  # (exchange, routing key)


class _Tracked:
    """A subscription that leaves the bus's list when cancelled, so per-call consumers do not pile up."""

    def __init__(self, inner: Subscription, owner: list[Subscription]) -> None:
        self._inner, self._owner = inner, owner

    async def cancel(self) -> None:
        if self._inner in self._owner:
            self._owner.remove(self._inner)
        await self._inner.cancel()


class Bus:
    """Publish, consume, request and collect over one transport (RabbitMQ or in-memory)."""

    def __init__(
        self,
        transport: Transport,
        *,
        app_name: str,
        node: str,
        server_id: str | None = None,
        content_type: str = codec.JSON,
        catalogue: Catalogue | None = None,
        prefetch: int = DEFAULT_PREFETCH,
    ) -> None:
        if content_type not in codec.CONTENT_TYPES:
            raise ValueError(f"content type {content_type!r} is not one of {codec.CONTENT_TYPES}")
        self.transport = transport
        self.origin = Origin(
            app_name=app_name, node=node, server_id=server_id or new_server_id(app_name, node)
        )
        self.content_type = content_type
        self.catalogue = catalogue or Catalogue.default()
        self.prefetch = prefetch
        self._replies = ReplyRouter()
        self._targeted_handler: Handler | None = None
        self._subscriptions: list[Subscription] = []

    @classmethod
    def from_url(cls, url: str, *, app_name: str, node: str, **options: Any) -> Bus:
        """A bus on ``amqp://...`` (RabbitMQ) or ``memory://<name>`` (the in-process broker of that name)."""
        parsed = urlparse(url)
        if parsed.scheme == "memory":
            transport: Transport = MemoryTransport(MemoryBroker.named(parsed.netloc or "default"))
        elif parsed.scheme in ("amqp", "amqps"):
            transport = AmqpTransport(url, connection_name=f"{app_name}@{node}")
        else:
            raise ValueError(f"bus URL {url!r}: expected amqp://... or memory://name")
        return cls(transport, app_name=app_name, node=node, **options)

    @property
    def server_id(self) -> str:
        return self.origin.server_id

    async def start(self) -> None:
        """Connect, declare the exchanges and the dead-letter queue, and start our own targeted queue."""
        await self.transport.connect()
        try:
            for exchange in topology.EXCHANGES:
                await self.transport.declare_exchange(exchange.name, exchange.type)
            await self.transport.declare_queue(QueueSpec(topology.INVALID_QUEUE, durable=True))
            await self.consume(
                QueueSpec(self.server_id, durable=False, exclusive=True, auto_delete=True),
                self._on_targeted,
                bindings=[("targeted", self.server_id)],
            )
        except BaseException:
            await self.close()  # or the robust connection would keep reconnecting for nobody
            raise

    async def close(self) -> None:
        for subscription in self._subscriptions:
            try:
                await subscription.cancel()
            except Exception as exc:  # closing anyway; the connection goes next
                log.debug("cancelling a consumer while closing: %r", exc)
        self._subscriptions.clear()
        await self.transport.close()

    async def __aenter__(self) -> Bus:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- publishing -------------------------------------------------------------------------------------

    def build(self, name: str, fields: Mapping[str, Any] | None = None, /, **headers: Any) -> dict[str, Any]:
        """A valid message ``name`` with this process's default headers; see ``Catalogue.build``."""
        return self.catalogue.build(name, fields, origin=self.origin, **headers)

    async def send(
        self,
        message: Mapping[str, Any],
        *,
        routing_key: str | None = None,
        confirm: bool | None = None,
        mandatory: bool = False,
    ) -> None:
        """Publish ``message`` where its schema says (``x-exchange``, ``x-routing-key``).

        ``routing_key`` is required for messages without a key of their own (replies, commands).
        ``confirm`` defaults to the schema's ``x-confirm``. Raises ValidationError or PublishFailed.
        """
        definition = self.catalogue.validate(message)
        if definition.exchange is None:
            raise ValidationError(
                definition.name, [Issue("$", "its schema names no x-exchange: use publish()")]
            )
        key = routing_key if routing_key is not None else definition.routing_key(message)
        want_confirm = definition.confirm if confirm is None else confirm
        await self._publish(definition.exchange, key, message, confirm=want_confirm, mandatory=mandatory)

    async def publish(
        self,
        exchange: str,
        routing_key: str,
        message: Mapping[str, Any],
        *,
        confirm: bool = False,
        mandatory: bool = False,
    ) -> None:
        """Publish a validated ``message`` on ``exchange``; raises ValidationError or PublishFailed."""
        if exchange not in topology.EXCHANGE_NAMES and exchange != topology.DEFAULT_EXCHANGE:
            # On RabbitMQ an unknown exchange closes the shared publishing channel for everyone.
            raise PublishFailed(
                f"no exchange {exchange!r}: the bus declares {sorted(topology.EXCHANGE_NAMES)}"
            )
        self.catalogue.validate(message)
        await self._publish(exchange, routing_key, message, confirm=confirm, mandatory=mandatory)

    async def _publish(
        self, exchange: str, routing_key: str, message: Mapping[str, Any], *, confirm: bool, mandatory: bool
    ) -> None:
        await self.transport.publish(
            exchange,
            routing_key,
            codec.encode(message if isinstance(message, dict) else dict(message), self.content_type),
            content_type=self.content_type,
            persistent=confirm,  # what must be confirmed must also survive a broker restart
            confirm=confirm,
            mandatory=mandatory,
        )

    async def reply(self, request: Mapping[str, Any], message: Mapping[str, Any]) -> None:
        """Send ``message`` to the requester's Server-ID, carrying the request's Msg-ID."""
        server_id = request.get("Server-ID")
        if not server_id:
            raise ValidationError(
                "request", [Issue("$.Server-ID", "empty: the requester cannot be answered")]
            )
        answer = {**message, "Msg-ID": request.get("Msg-ID")}
        self.catalogue.validate(answer)
        await self._publish("targeted", str(server_id), answer, confirm=False, mandatory=False)

    # -- requests ---------------------------------------------------------------------------------------

    async def collect(
        self,
        request: Mapping[str, Any],
        *,
        timeout: float,
        until: Until | None = None,
        routing_key: str | None = None,
    ) -> list[dict[str, Any]]:
        """Send ``request`` and gather every reply until ``timeout``, or until ``until(reply)`` is true.

        Returns the replies in arrival order (possibly none). The request must carry our Server-ID.
        """
        if request.get("Server-ID") != self.server_id:
            raise ValueError("a request must carry this bus's Server-ID, or replies cannot reach it")
        msg_id = str(request["Msg-ID"])
        collector = self._replies.expect(msg_id, until)
        try:
            await self.send(request, routing_key=routing_key)
            try:
                async with asyncio.timeout(timeout):
                    await collector.done.wait()
            except TimeoutError:
                pass
            return list(collector.replies)
        finally:
            self._replies.forget(msg_id)

    async def request(
        self, request: Mapping[str, Any], *, timeout: float, routing_key: str | None = None
    ) -> dict[str, Any]:
        """Send ``request`` and return its first reply; raises RequestTimeout."""
        replies = await self.collect(
            request, timeout=timeout, until=lambda _reply: True, routing_key=routing_key
        )
        if not replies:
            raise RequestTimeout(
                f"no reply to {request.get('Event-Name')} {request.get('Msg-ID')} in {timeout}s"
            )
        return replies[0]

    def on_targeted(self, handler: Handler) -> None:
        """Handle messages sent to our Server-ID that are not replies to our requests (route_win...)."""
        self._targeted_handler = handler

    async def _on_targeted(self, delivery: Delivery) -> None:
        if self._replies.offer(delivery.message):
            return
        if self._targeted_handler is None:
            log.warning(
                "unexpected %s on our queue (Msg-ID %s); dropped",
                delivery.definition.name,
                delivery.message.get("Msg-ID"),
                extra={"call_id": delivery.call_id},
            )
            return
        await self._targeted_handler(delivery)

    # -- consuming --------------------------------------------------------------------------------------

    async def consume(
        self,
        queue: str | QueueSpec,
        handler: Handler,
        *,
        bindings: Iterable[Binding] = (),
        prefetch: int | None = None,
    ) -> Subscription:
        """Consume ``queue`` (a name means a durable, shared pool queue), bound by ``bindings``."""
        spec = queue if isinstance(queue, QueueSpec) else QueueSpec(queue, durable=True)
        await self.transport.declare_queue(spec)
        for exchange, routing_key in bindings:
            await self.transport.bind(spec.name, exchange, routing_key)

        async def on_raw(raw: RawDelivery) -> None:
            await self._handle(spec.name, raw, handler)

        subscription = await self.transport.consume(spec.name, on_raw, prefetch=prefetch or self.prefetch)
        self._subscriptions.append(subscription)
        return _Tracked(subscription, self._subscriptions)

    async def _handle(self, queue: str, raw: RawDelivery, handler: Handler) -> None:
        message: dict[str, Any] = {}
        try:
            message = codec.decode(raw.body, raw.content_type)
            definition = self.catalogue.validate(message)
        except (codec.DecodeError, ValidationError) as exc:
            call_id = message.get("Call-ID")
            await self._dead_letter(
                queue, raw, str(exc), call_id=call_id if isinstance(call_id, str) else None
            )
            return
        delivery = Delivery(message, definition, raw.exchange, raw.routing_key, raw.redelivered, raw.headers)
        try:
            await handler(delivery)
        except asyncio.CancelledError:
            await raw.nack(True)
            raise
        except Exception as exc:
            if raw.redelivered:
                await self._dead_letter(
                    queue, raw, f"handler failed twice: {exc!r}", call_id=delivery.call_id
                )
            else:
                log.exception(
                    "handler for %s on %s failed; requeued once",
                    definition.name,
                    queue,
                    extra={"call_id": delivery.call_id},
                )
                await raw.nack(True)
            return
        await raw.ack()

    async def _dead_letter(self, queue: str, raw: RawDelivery, reason: str, *, call_id: str | None) -> None:
        log.error(
            "dead-lettered a message from %s (%s %s): %s",
            queue,
            raw.exchange,
            raw.routing_key,
            reason,
            extra={"call_id": call_id},
        )
        headers = {
            **raw.headers,
            topology.REASON_HEADER: reason[:1000],
            topology.SOURCE_QUEUE_HEADER: queue,
            topology.SOURCE_EXCHANGE_HEADER: raw.exchange,
            topology.SOURCE_ROUTING_KEY_HEADER: raw.routing_key,
        }
        try:
            await self.transport.publish(
                topology.DEFAULT_EXCHANGE,
                topology.INVALID_QUEUE,
                raw.body,
                content_type=raw.content_type or "application/octet-stream",
                headers=headers,
                persistent=True,
                confirm=True,
            )
        except PublishFailed as exc:
            # Handed back rather than lost; if the connection is gone the broker redelivers it anyway.
            log.error("could not dead-letter a message from %s: %s", queue, exc, extra={"call_id": call_id})
            await raw.nack(True)
            return
        await raw.ack()
