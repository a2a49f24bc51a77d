"""All live channels of a switch by Unique-ID, and the session counters ``status`` and HEARTBEAT report."""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fsim.channels.channel import Channel
    from fsim.clock import Clock


FIVE_MINUTES = 300  # FreeSWITCH resets its "last 5min" peaks every 300 seconds


class ChannelRegistry:
    """Channels in creation order, and the session counters ``status`` and HEARTBEAT report.

    Per-second counts use simulated seconds (the clock's); "five-minute" peaks restart at each
    300-second boundary, as FreeSWITCH's timer thread resets them.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._channels: dict[str, Channel] = {}
        self._session_ids = itertools.count(1)
        self._empty = asyncio.Event()
        self._empty.set()
        self.since_startup = 0
        self.peak = 0
        self.peak_fivemin = 0
        self.peak_per_second = 0
        self.peak_per_second_fivemin = 0
        self.last_per_second = 0
        self.this_second = 0  # sessions created in the current second (after ``refresh``)
        self._second = math.floor(clock.now())
        self._window = self._second // FIVE_MINUTES

    def next_session_id(self) -> int:
        """The next ``variable_session_id`` (FreeSWITCH's session counter)."""
        return next(self._session_ids)

    def refresh(self) -> None:
        """Bring the per-second and five-minute counters up to the clock's current second."""
        second = math.floor(self._clock.now())
        if second != self._second:
            self.last_per_second = self.this_second if second == self._second + 1 else 0
            self._second, self.this_second = second, 0
        window = second // FIVE_MINUTES
        if window != self._window:
            self._window = window
            self.peak_fivemin = len(self._channels)
            self.peak_per_second_fivemin = self.last_per_second

    def add(self, channel: Channel) -> None:
        self.refresh()
        self._channels[channel.uuid] = channel
        self._empty.clear()
        self.since_startup += 1
        self.this_second += 1
        count = len(self._channels)
        self.peak = max(self.peak, count)
        self.peak_fivemin = max(self.peak_fivemin, count)
        self.peak_per_second = max(self.peak_per_second, self.this_second)
        self.peak_per_second_fivemin = max(self.peak_per_second_fivemin, self.this_second)

    def remove(self, channel: Channel) -> None:
        if self._channels.get(channel.uuid) is channel:
            del self._channels[channel.uuid]
        if not self._channels:
            self._empty.set()

    def get(self, uuid: str | None) -> Channel | None:
        return self._channels.get(uuid) if uuid else None

    def __contains__(self, uuid: object) -> bool:
        return uuid in self._channels

    def __iter__(self) -> Iterator[Channel]:
        return iter(list(self._channels.values()))

    def __len__(self) -> int:
        return len(self._channels)

    async def wait_empty(self) -> None:
        """Until no channel is left (all destroyed)."""
        await self._empty.wait()
