"""All live channels of a switch by Unique-ID, and the session counters ``status`` reports."""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fsim.channels.channel import Channel
    from fsim.clock import Clock


class ChannelRegistry:
    """Channels in creation order; counts sessions since startup, the peak, and sessions per second."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._channels: dict[str, Channel] = {}
        self._session_ids = itertools.count(1)
        self._empty = asyncio.Event()
        self._empty.set()
        self.since_startup = 0
        self.peak = 0
        self.peak_per_second = 0
        self._second = 0
        self._this_second = 0
        self.last_per_second = 0

    def next_session_id(self) -> int:
        """The next ``variable_session_id`` (FreeSWITCH's session counter)."""
        return next(self._session_ids)

    def add(self, channel: Channel) -> None:
        self._channels[channel.uuid] = channel
        self._empty.clear()
        self.since_startup += 1
        self.peak = max(self.peak, len(self._channels))
        second = math.floor(self._clock.now())
        if second != self._second:
            self.last_per_second, self._second, self._this_second = self._this_second, second, 0
        self._this_second += 1
        self.peak_per_second = max(self.peak_per_second, self._this_second)

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
