"""The core's HEARTBEAT: every ``event-heartbeat-interval`` (20 s by default) FreeSWITCH's scheduler runs its
``heartbeat`` task, which fires HEARTBEAT with the switch's session counters, and then fires RE_SCHEDULE
for the task's next run.

Header names and order are those of the ``call-lifecycle`` recordings (``switch_core.c send_heartbeat``
and ``switch_scheduler.c switch_scheduler_execute``); both events carry the same timestamp. The interval
is in simulated seconds: on a ``Clock(scale=0.001)`` a 20 s heartbeat comes every 20 real milliseconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from fsim.channels.commands import VERSION, uptime_text
from fsim.events import Event, Origin

if TYPE_CHECKING:
    from fsim.switch import Switch

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 20.0
_HEARTBEAT_ORIGIN = Origin("switch_core.c", "send_heartbeat", 95)
_RESCHEDULE_ORIGIN = Origin("switch_scheduler.c", "switch_scheduler_execute", 73)
_TASK_ID = "1"  # the heartbeat is the first task the core schedules


class IdleCpu:
    """``Idle-CPU``: the share of real time this process did not spend on the CPU since the last reading."""

    def __init__(self) -> None:
        self._wall = time.monotonic()
        self._cpu = time.process_time()

    def percent(self) -> float:
        wall, cpu = time.monotonic(), time.process_time()
        elapsed, busy = wall - self._wall, cpu - self._cpu
        self._wall, self._cpu = wall, cpu
        if elapsed <= 0:
            return 100.0
        return min(100.0, max(0.0, 100.0 * (1.0 - busy / elapsed)))


class Heartbeat:
    """The switch's heartbeat task; :meth:`start` and :meth:`stop` are called by ``Switch.start/close``.

    ``interval``: simulated seconds between heartbeats; None or <= 0 disables the task. Changing it takes
    effect from the next heartbeat. :meth:`beat` fires one pair of events at once (tests, ``fsctl``-like use).
    """

    def __init__(self, switch: Switch, interval: float | None = DEFAULT_INTERVAL) -> None:
        self.switch = switch
        self.interval = interval
        self._idle = IdleCpu()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Schedule the first heartbeat one interval from now (idempotent; needs a running loop)."""
        if self.running or not self.interval or self.interval <= 0:
            return
        self._task = asyncio.get_running_loop().create_task(self._run(), name="fsim heartbeat")

    async def stop(self) -> None:
        """Cancel the task and wait until it has ended (idempotent)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        while self.interval and self.interval > 0:
            await self.switch.clock.sleep(self.interval)
            try:
                self.beat()
            except Exception:  # a bug here must not stop the heartbeat for good
                log.exception("fsim heartbeat failed")

    def beat(self) -> tuple[Event, Event]:
        """Fire HEARTBEAT and then RE_SCHEDULE now; returns both events."""
        switch = self.switch
        now_us = switch.clock.now_us()
        events = switch.events
        heartbeat = events.make("HEARTBEAT", _HEARTBEAT_ORIGIN, self.heartbeat_headers(), timestamp_us=now_us)
        next_run = int(now_us / 1_000_000 + (self.interval or DEFAULT_INTERVAL))
        reschedule = events.make(
            "RE_SCHEDULE",
            _RESCHEDULE_ORIGIN,
            [
                ("Task-ID", _TASK_ID),
                ("Task-Desc", "heartbeat"),
                ("Task-Group", "core"),
                ("Task-Runtime", str(next_run)),
            ],
            timestamp_us=now_us,
        )
        switch.hub.fire(heartbeat)
        switch.hub.fire(reschedule)
        return heartbeat, reschedule

    def heartbeat_headers(self) -> list[tuple[str, str]]:
        """The HEARTBEAT headers after the common ones, from the switch's live counters."""
        switch = self.switch
        registry = switch.channels
        registry.refresh()
        uptime = max(0.0, switch.clock.now() - switch.started)
        return [
            ("Event-Info", "System Ready"),
            ("Up-Time", uptime_text(uptime)),
            ("FreeSWITCH-Version", f"{VERSION}~64bit"),
            ("Uptime-msec", str(int(uptime * 1000))),
            ("Session-Count", str(len(registry))),
            ("Max-Sessions", str(switch.max_sessions)),
            # runtime.sps: what is left of this second's session budget
            ("Session-Per-Sec", str(max(0, switch.sessions_per_second - registry.this_second))),
            ("Session-Per-Sec-Last", str(registry.last_per_second)),
            ("Session-Per-Sec-Max", str(registry.peak_per_second)),
            ("Session-Per-Sec-FiveMin", str(registry.peak_per_second_fivemin)),
            ("Session-Since-Startup", str(registry.since_startup)),
            ("Session-Peak-Max", str(registry.peak)),
            ("Session-Peak-FiveMin", str(registry.peak_fivemin)),
            ("Idle-CPU", f"{self._idle.percent():f}"),
        ]
