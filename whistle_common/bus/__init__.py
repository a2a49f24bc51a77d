"""The message bus: RabbitMQ (aio-pika) or in-memory, with one interface and one behaviour."""

from whistle_common.bus.bus import Binding, Bus, Delivery, Handler, RequestTimeout
from whistle_common.bus.memory import MemoryBroker, MemoryTransport
from whistle_common.bus.topology import EXCHANGES, INVALID_QUEUE, REASON_HEADER
from whistle_common.bus.transport import BusError, PublishFailed, QueueSpec, Unroutable

__all__ = [
    "EXCHANGES",
    "INVALID_QUEUE",
    "REASON_HEADER",
    "Binding",
    "Bus",
    "BusError",
    "Delivery",
    "Handler",
    "MemoryBroker",
    "MemoryTransport",
    "PublishFailed",
    "QueueSpec",
    "RequestTimeout",
    "Unroutable",
]
