"""Simulated time for fsim: every timed behaviour (ring delays, playback lengths, CDR stamps) goes through it.

A :class:`Clock` runs ``scale`` real seconds per simulated second: with ``scale=0.01`` a five-minute call
lasts three real seconds, yet its CDR says ``duration=300``. ``now()`` is an epoch time in simulated seconds
that starts at the real wall-clock time when the clock is created.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


class Clock:
    """Scaled time: ``await clock.sleep(s)`` waits ``s`` simulated seconds (``s * scale`` real seconds)."""

    def __init__(self, scale: float = 1.0, *, epoch: float | None = None) -> None:
        if scale <= 0:
            raise ValueError("a Clock needs a positive scale (real seconds per simulated second)")
        self.scale = scale
        self._epoch = time.time() if epoch is None else epoch
        self._origin = time.monotonic()

    def now(self) -> float:
        """Simulated epoch seconds."""
        return self._epoch + (time.monotonic() - self._origin) / self.scale

    def now_us(self) -> int:
        """Simulated epoch microseconds (FreeSWITCH's ``switch_micro_time_now``)."""
        return int(self.now() * 1_000_000)

    def real(self, seconds: float) -> float:
        """How many real seconds ``seconds`` simulated seconds last."""
        return max(0.0, seconds * self.scale)

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` simulated seconds."""
        await asyncio.sleep(self.real(seconds))

    async def wait_for(self, awaitable: Awaitable[T], seconds: float | None) -> T:
        """``asyncio.wait_for`` with a timeout in simulated seconds (None: no timeout)."""
        if seconds is None:
            return await awaitable
        return await asyncio.wait_for(awaitable, self.real(seconds))

    def timeout(self, seconds: float | None) -> asyncio.Timeout:
        """``asyncio.timeout`` in simulated seconds (None: never)."""
        return asyncio.timeout(None if seconds is None else self.real(seconds))
