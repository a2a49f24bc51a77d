"""What one ESL connection has yet to write: events, log lines and notices, in order, from one writer task.

The queue never blocks whoever fills it (the hub): past ``MAX_QUEUE_LEN`` messages new events are lost,
and after more than ``MAX_MISSED`` lost in a row the owner is told to drop the client, as FreeSWITCH does.
While ``held`` (a command is running on the connection) nothing is written, so the command's reply goes
first. Producers that would rather wait than lose events use :meth:`Outbox.wait_until` (see ``fsim.hub``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

from fsim.esl.framing import LogLine
from fsim.events import Event

log = logging.getLogger("fsim.esl")

MAX_QUEUE_LEN = 100_000
MAX_MISSED = 500
BATCH_BYTES = 262_144  # written in one go, then the transport drains
CLOSE = object()  # queue marker: close the connection once everything before it is written


class Outbox:
    """The ordered outgoing messages of one connection and the task that writes them.

    ``event_format()`` gives the format events are rendered in when written; ``on_close()`` is called when
    the ``CLOSE`` marker is reached or the client is gone; ``on_overflow()`` when too many were lost.
    """

    def __init__(
        self,
        writer: asyncio.StreamWriter,
        peer: str,
        *,
        event_format: Callable[[], str],
        on_close: Callable[[], None],
        on_overflow: Callable[[], None],
    ) -> None:
        self._writer = writer
        self._peer = peer
        self._event_format = event_format
        self._on_close = on_close
        self._on_overflow = on_overflow
        self._items: deque[object] = deque()  # Event, LogLine, raw bytes (notices) or CLOSE
        self._held = False
        self._wake = asyncio.Event()
        self._waiters: list[asyncio.Future[None]] = []  # wait_until callers, woken after each write
        self.closed = False  # nothing more is queued or written
        self.lost = 0  # events lost in a row

    def __len__(self) -> int:
        return len(self._items)

    @property
    def held(self) -> bool:
        return self._held

    @held.setter
    def held(self, value: bool) -> None:
        """Hold (a command runs) or release the writing; releasing writes what queued up meanwhile."""
        self._held = value
        if not value:
            self._wake.set()

    def push(self, item: Event | LogLine) -> None:
        """Queue an event or a log line; lost when the queue is full."""
        if self.closed:
            return
        if len(self._items) >= MAX_QUEUE_LEN:
            self.lost += 1
            if self.lost > MAX_MISSED:
                log.error("ESL %s: killed, %d events lost in a row", self._peer, self.lost)
                self._on_overflow()
            return
        self.lost = 0
        self._items.append(item)
        self._wake.set()

    def push_control(self, item: bytes | object) -> None:
        """Queue a notice (raw bytes) or the ``CLOSE`` marker, whatever the queue's length."""
        if self.closed:
            return
        self._items.append(item)
        self._wake.set()

    def drop(self, kind: type) -> None:
        """Forget queued items of one kind (noevents: events, nolog: log lines)."""
        kept = [item for item in self._items if not isinstance(item, kind)]
        self._items.clear()
        self._items.extend(kept)

    def close(self) -> None:
        """Forget everything queued, write nothing more, release every waiter."""
        self.closed = True
        self._items.clear()
        self._wake_waiters()

    async def wait_until(self, ready: Callable[[], bool]) -> None:
        """Return once ``ready()`` holds, checked after each batch written and when closed."""
        while not ready():
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    def _wake_waiters(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def run(self) -> None:
        """Write queued messages whenever not held, in batches, until closed or cancelled."""
        items, writer = self._items, self._writer
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while items and not self._held and not self.closed:
                    chunks: list[bytes] = []
                    size = 0
                    while items and size < BATCH_BYTES:
                        item = items.popleft()
                        if item is CLOSE:
                            writer.write(b"".join(chunks))
                            self._on_close()
                            return
                        chunks.append(self._render(item))
                        size += len(chunks[-1])
                    writer.write(b"".join(chunks))
                    await writer.drain()
                    if self._waiters:
                        self._wake_waiters()
        except ConnectionError as exc:
            log.info("ESL %s: connection lost while writing events (%s)", self._peer, exc)
            self._on_close()

    def _render(self, item: object) -> bytes:
        if isinstance(item, Event):
            return item.render(self._event_format())
        if isinstance(item, LogLine):
            return item.render()
        assert isinstance(item, bytes)  # a notice
        return item
