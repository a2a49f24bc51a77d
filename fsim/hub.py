"""Where fired events go: every listener (an ESL connection, a test) sees every event, in firing order."""

from __future__ import annotations

from collections.abc import Callable

from fsim.events import Event

Listener = Callable[[Event], None]


class EventHub:
    """Fan-out of fired events. Listeners must not block: they queue the event and return."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Start delivering events to ``listener``; returns the function that stops it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def fire(self, event: Event) -> None:
        for listener in list(self._listeners):
            listener(event)
