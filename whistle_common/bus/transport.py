"""The small interface both bus backends implement: AMQP primitives on raw bytes, nothing more.

Everything above it (codecs, validation, dead-lettering, acknowledgement policy, request/reply) lives in
``Bus`` so that the in-memory and the RabbitMQ backends behave the same by construction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


class BusError(Exception):
    """Base class of the bus's errors."""


class PublishFailed(BusError):
    """The broker did not take a message (down, refused, or no confirm before the deadline)."""


class Unroutable(PublishFailed):
    """A mandatory message matched no queue (for example a command for a call nobody controls)."""


@dataclass
class RawDelivery:
    """One message as the transport received it; ``ack``/``nack`` settle it with the broker."""

    body: bytes
    content_type: str | None
    headers: Mapping[str, Any]
    exchange: str
    routing_key: str
    redelivered: bool
    ack: Callable[[], Awaitable[None]] = field(repr=False)
    nack: Callable[[bool], Awaitable[None]] = field(repr=False)  # argument: requeue


RawHandler = Callable[[RawDelivery], Awaitable[None]]


class Subscription(Protocol):
    async def cancel(self) -> None: ...


@dataclass(frozen=True)
class QueueSpec:
    """How a queue is declared: pools are durable and shared, a process's own queue is exclusive."""

    name: str
    durable: bool = True
    exclusive: bool = False
    auto_delete: bool = False
    arguments: Mapping[str, Any] = field(default_factory=dict)


class Transport(Protocol):
    """AMQP primitives. Publishing with ``confirm`` returns only once the broker has taken the message."""

    async def connect(self) -> None: ...

    async def close(self) -> None: ...

    async def declare_exchange(self, name: str, type_: str) -> None: ...

    async def declare_queue(self, spec: QueueSpec) -> None: ...

    async def bind(self, queue: str, exchange: str, routing_key: str) -> None: ...

    async def unbind(self, queue: str, exchange: str, routing_key: str) -> None: ...

    async def delete_queue(self, name: str) -> None: ...

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
    ) -> None: ...

    async def consume(self, queue: str, handler: RawHandler, *, prefetch: int) -> Subscription: ...
