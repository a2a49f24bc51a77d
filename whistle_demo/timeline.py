"""A readable live timeline of calls, from what is on the bus: events, commands and hand-offs.

Each line is the time since the timeline started, the call's label (the scripted caller's name, or
"leg of <name>" for the legs a bridge rings), and what happened::

     1.204s  sales     ringing  from +14155550101 to 2000
     1.221s  sales     > answer
     1.260s  sales     > menu greeting /system_media/demo-attendant
     2.118s  sales     pressed 1
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from whistle_common.bus import Bus, Delivery, QueueSpec

Message = dict[str, Any]
Printer = Callable[[str], None]


# ecallmgr's own bookkeeping while routing (channel variables, the park): not what the caller lives
HIDDEN_APPLICATIONS = frozenset({"set", "park", "export"})


def _describe(message: Message) -> str | None:
    """One event as a few words, or None for the events the timeline leaves out."""
    name = message.get("Event-Name")
    application = message.get("Application-Name")
    if application in HIDDEN_APPLICATIONS:
        return None
    if name == "CHANNEL_CREATE":
        callee = message.get("Callee-ID-Number") or str(message.get("Request") or "").partition("@")[0]
        return f"ringing  from {message.get('Caller-ID-Number')} to {callee}".rstrip()
    if name == "CHANNEL_ANSWER":
        return "answered"
    if name == "CHANNEL_EXECUTE":
        data = message.get("Application-Data") or ""
        return f"> {application} {data}".rstrip()
    if name == "CHANNEL_EXECUTE_COMPLETE":
        response = message.get("Application-Response")
        if application == "play_and_collect_digits" and not response:
            response = "nothing pressed"
        return f"< {application} done: {response or 'ok'}"
    if name == "DTMF":
        return f"pressed {message.get('DTMF-Digit')}"
    if name == "CHANNEL_BRIDGE":
        other = message.get("Other-Leg-Destination-Number") or message.get("Other-Leg-Call-ID")
        return f"bridged to {other}"
    if name == "CHANNEL_UNBRIDGE":
        return "unbridged"
    if name == "CHANNEL_DESTROY":
        return f"hung up  {message.get('Hangup-Cause')}"
    if name == "dialplan":
        return f"! {message.get('Dialplan-Error')}: {message.get('Error-Message')}"
    return None


class Timeline:
    """Prints every call's story as it happens; ``label(call_id, name)`` names a call."""

    def __init__(self, bus: Bus, callers: dict[str, str], printer: Printer = print) -> None:
        self.bus = bus
        self.callers = callers  # caller-id number -> the caller's name
        self.printer = printer
        self.started = time.monotonic()
        self.labels: dict[str, str] = {}
        self.lines: list[str] = []

    async def start(self) -> None:
        queue = QueueSpec(f"{self.bus.server_id}.timeline", durable=False, exclusive=True, auto_delete=True)
        await self.bus.consume(
            queue, self._on_message, bindings=[("callevt", "call.*.*"), ("whapps", "#")], prefetch=1000
        )

    def _label_of(self, message: Message) -> str:
        """The caller's name for its own leg; ``name>1101`` for the legs ringing on its behalf."""
        call_id = str(message.get("Call-ID"))
        if call_id not in self.labels and message.get("Event-Name") == "CHANNEL_CREATE":
            name = self.callers.get(str(message.get("Caller-ID-Number")))
            if name and message.get("Call-Direction") == "outbound":
                name = f"{name}>{message.get('Callee-ID-Number') or 'leg'}"
            if name:
                self.labels[call_id] = name
        return self.labels.get(call_id, call_id[:8])

    async def _on_message(self, delivery: Delivery) -> None:
        message = delivery.message
        if delivery.exchange == "whapps":
            text = f"offered to {delivery.routing_key} (taken only if that whapp runs)"
        else:
            text = _describe(message) or ""
        if not text:
            return
        line = f"{time.monotonic() - self.started:8.3f}s  {self._label_of(message):<16} {text}"
        self.lines.append(line)
        self.printer(line)
