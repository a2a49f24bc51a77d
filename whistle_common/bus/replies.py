"""Waiting for replies that arrive on our own queue, matched to requests by Msg-ID."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Reply = dict[str, Any]
Until = Callable[[Reply], bool]


@dataclass
class _Collector:
    until: Until | None
    replies: list[Reply] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)


class ReplyRouter:
    """Routes replies to the request waiting on their Msg-ID; a reply nobody waits for is not ours."""

    def __init__(self) -> None:
        self._waiting: dict[str, _Collector] = {}

    def expect(self, msg_id: str, until: Until | None) -> _Collector:
        collector = _Collector(until)
        self._waiting[msg_id] = collector
        return collector

    def forget(self, msg_id: str) -> None:
        self._waiting.pop(msg_id, None)

    def offer(self, reply: Reply) -> bool:
        """Take ``reply`` if a request waits for its Msg-ID; return whether it was taken."""
        collector = self._waiting.get(str(reply.get("Msg-ID")))
        if collector is None:
            return False
        if collector.done.is_set():
            return True  # the request already has its answer; later replies are ours but unwanted
        collector.replies.append(reply)
        if collector.until is not None and collector.until(reply):
            collector.done.set()
        return True
