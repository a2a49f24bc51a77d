"""Where fired events go: every listener (an ESL connection, a test) sees every event, in firing order.

Listeners never block. A listener that queues events for a slow reader (an ESL connection) can also
register as a :class:`Consumer`, so a producer that may outrun it (``fsim.burst``) waits with
:meth:`EventHub.drain` instead of overflowing the listener's queue, where events would be dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from fsim.events import Event

Listener = Callable[[Event], None]


class Consumer(Protocol):
    """A listener's queue as a producer sees it."""

    def backlog(self) -> int:
        """Events queued and not yet written; 0 when the caller cannot make it drain (see drain)."""
        ...

    async def wait_backlog(self, at_most: int) -> None:
        """Return once ``backlog() <= at_most`` (or the consumer is gone)."""
        ...


class EventHub:
    """Fan-out of fired events. Listeners must not block: they queue the event and return."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._consumers: list[Consumer] = []

    def subscribe(self, listener: Listener, *, consumer: Consumer | None = None) -> Callable[[], None]:
        """Start delivering events to ``listener``; returns the function that stops it.

        ``consumer``: the listener's queue, which :meth:`drain` waits for until unsubscribed."""
        self._listeners.append(listener)
        if consumer is not None:
            self._consumers.append(consumer)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)
            if consumer is not None and consumer in self._consumers:
                self._consumers.remove(consumer)

        return unsubscribe

    def fire(self, event: Event) -> None:
        for listener in list(self._listeners):
            listener(event)

    def backlog(self) -> int:
        """The longest queue of any registered consumer (0 without consumers)."""
        return max((consumer.backlog() for consumer in self._consumers), default=0)

    async def drain(self, high_water: int, low_water: int | None = None) -> None:
        """Wait while a consumer holds more than ``high_water`` events, until it is down to ``low_water``.

        ``low_water`` defaults to half of ``high_water``: a producer that checks after every event then
        waits in a few long pauses rather than once per event. Returns at once when no queue is too long.
        """
        low = high_water // 2 if low_water is None else min(low_water, high_water)
        for consumer in list(self._consumers):
            if consumer.backlog() > high_water:
                await consumer.wait_backlog(low)
