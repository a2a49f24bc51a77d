"""The exchanges of DESIGN section 2, the dead-letter queue, and the AMQP headers we set ourselves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ExchangeType = Literal["direct", "topic", "fanout"]


@dataclass(frozen=True)
class Exchange:
    name: str
    type: ExchangeType


EXCHANGES: tuple[Exchange, ...] = (
    Exchange("targeted", "direct"),  # replies and route_win, to one process's own queue (its Server-ID)
    Exchange("callmgr", "topic"),  # route.req, authn.req, registration.*, presence.*
    Exchange("callevt", "topic"),  # call.<Event-Name>.<Call-ID>, cdr.<Call-ID>
    Exchange("callctl", "direct"),  # commands, routed by the call's Control-Queue name
    Exchange("resource", "topic"),  # originate.req
    Exchange("whapps", "topic"),  # hand a live call to another whapp
    Exchange("conference", "topic"),  # conference.command.<id>, conference.event.<id>
    Exchange("notifications", "topic"),  # voicemail.new, mwi.update, ...
)
EXCHANGE_NAMES = frozenset(exchange.name for exchange in EXCHANGES)
DEFAULT_EXCHANGE = ""  # AMQP's nameless direct exchange: routing key = queue name

INVALID_QUEUE = "whistle.invalid"
REASON_HEADER = "x-whistle-reason"
SOURCE_QUEUE_HEADER = "x-whistle-queue"
SOURCE_EXCHANGE_HEADER = "x-whistle-exchange"
SOURCE_ROUTING_KEY_HEADER = "x-whistle-routing-key"
