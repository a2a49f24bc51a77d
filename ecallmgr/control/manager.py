"""Every call this ecallmgr controls: ``CallControlManager`` creates, feeds and closes the CallControls.

::

    manager = CallControlManager(bus, bus.origin, node_for=lambda name: clients.get(name))
    await manager.adopt(call_id, "fs1")          # on route_win/park, and for each channel after a restart
    handled = manager.on_event("fs1", event.headers)   # from the ESL reader, inline: never blocks
    await manager.close()

``on_event`` returns True when the event was a CHANNEL_EXECUTE_COMPLETE of an application a CallControl
sent: the control publishes that completion itself (carrying the command's Msg-ID), so the node's
generic event publisher should skip it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from ecallmgr.control.queue import (
    DEFAULT_EXPIRES_MS,
    DEFAULT_KEEP_ALIVE,
    DEFAULT_PREFETCH,
    CallControl,
    NodeLookup,
    control_queue_name,
    declare_control_queue,
)
from whistle_common.api.catalogue import Origin
from whistle_common.bus.bus import Bus


class CallControlManager:
    """The CallControls of one ecallmgr process, by Call-ID."""

    def __init__(
        self,
        bus: Bus,
        origin: Origin,
        node_for: NodeLookup,
        *,
        keep_alive: float = DEFAULT_KEEP_ALIVE,
        expires_ms: int = DEFAULT_EXPIRES_MS,
        prefetch: int = DEFAULT_PREFETCH,
    ) -> None:
        self.bus, self.origin, self.node_for = bus, origin, node_for
        self.keep_alive, self.expires_ms, self.prefetch = keep_alive, expires_ms, prefetch
        self._calls: dict[str, CallControl] = {}

    @staticmethod
    def control_queue_name(call_id: str) -> str:
        """``ctl.<Call-ID>``: the Control-Queue announced in route_win."""
        return control_queue_name(call_id)

    def get(self, call_id: str) -> CallControl | None:
        return self._calls.get(call_id)

    def __len__(self) -> int:
        return len(self._calls)

    async def adopt(self, call_id: str, node_name: str) -> CallControl:
        """Control ``call_id`` on ``node_name`` (idempotent): declare and consume its control queue."""
        control = self._calls.get(call_id)
        if control is None:
            control = CallControl(
                self.bus,
                self.origin,
                call_id,
                node_name,
                self.node_for,
                keep_alive=self.keep_alive,
                expires_ms=self.expires_ms,
                prefetch=self.prefetch,
                on_stopped=self._forget,
            )
            self._calls[call_id] = control
        else:
            control.node_name = node_name
        try:
            await control.start()
        except BaseException:
            if self._calls.get(call_id) is control:
                del self._calls[call_id]
            raise
        return control

    def on_event(self, node_name: str, fs_event: Mapping[str, str]) -> bool:
        """Route one FreeSWITCH event to its call's control; True if that control publishes it itself."""
        call_id = fs_event.get("Unique-ID")
        control = self._calls.get(call_id) if call_id else None
        if control is None or control.node_name != node_name:
            return False
        return control.on_event(fs_event)

    def node_down(self, node_name: str) -> None:
        """The node's ESL connection is gone: what its calls were running fails with NODE_DOWN."""
        for control in list(self._calls.values()):
            if control.node_name == node_name:
                control.node_down()

    async def declare_queue(self, call_id: str) -> None:
        """Declare ``ctl.<Call-ID>`` ahead of adopting the call (while it is being routed)."""
        await declare_control_queue(self.bus, call_id, self.expires_ms)

    async def delete_queue(self, call_id: str) -> None:
        """Delete the control queue of a call that was routed elsewhere (never adopted here)."""
        if call_id not in self._calls:
            await self.bus.transport.delete_queue(control_queue_name(call_id))

    def ended(self, call_id: str) -> None:
        """The call's CHANNEL_DESTROY went by before its control existed: end the control as it would."""
        control = self._calls.get(call_id)
        if control is not None:
            control.on_event({"Event-Name": "CHANNEL_DESTROY", "Unique-ID": call_id})

    async def resync(
        self, node_name: str, live: set[str], exists: Callable[[str], Awaitable[bool]] | None = None
    ) -> None:
        """After a reconnect: the node's controlled calls that are no longer among its channels are gone.
        ``exists`` asks the node about each one first (its channel list can lag behind its calls)."""
        for control in list(self._calls.values()):
            if control.node_name != node_name or control.call_id in live:
                continue
            if exists is not None and await exists(control.call_id):
                continue
            await control.gone()

    def _forget(self, control: CallControl) -> None:
        if self._calls.get(control.call_id) is control:
            del self._calls[control.call_id]

    async def close(self) -> None:
        """Stop every control; unfinished commands stay in their queues for the next ecallmgr."""
        controls = list(self._calls.values())
        await asyncio.gather(*(control.close() for control in controls), return_exceptions=True)
        self._calls.clear()
