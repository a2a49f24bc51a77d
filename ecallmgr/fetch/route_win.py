"""Remembering who won a call's routing, so that ``route_win`` reaches them when the channel parks.

The dialplan fetch records the winning ``route_resp`` here (and also writes its Server-ID on the channel,
see :data:`WINNER_SERVER_ID_VAR`, so that any ecallmgr can find it after a restart). The call-control part
takes the entry when CHANNEL_PARK arrives and sends :func:`route_win_message` to the winner.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from whistle_common.bus import Bus

# Channel variables the park XML exports (``ecallmgr_<K>`` appear as Custom-Channel-Vars <K> in events).
WINNER_SERVER_ID_VAR = "ecallmgr_Route-Win-Server-ID"
FETCH_ID_VAR = "ecallmgr_Fetch-ID"
ECALLMGR_NODE_VAR = "ecallmgr_Ecallmgr-Node"

DEFAULT_TTL = 60.0  # seconds a parked-to-be call may take to reach CHANNEL_PARK


@dataclass(frozen=True)
class RouteWinner:
    """The route_resp that won a call: where route_win goes (Server-ID) and the reply itself."""

    server_id: str
    reply: Mapping[str, Any]
    fetch_id: str = ""
    recorded_at: float = field(default_factory=time.monotonic, compare=False)
    queue_ready: asyncio.Future[None] | None = field(default=None, compare=False)  # ctl.<Call-ID> declared

    @property
    def custom_channel_vars(self) -> dict[str, Any]:
        return dict(self.reply.get("Custom-Channel-Vars") or {})

    @classmethod
    def from_reply(
        cls, reply: Mapping[str, Any], queue_ready: asyncio.Future[None] | None = None
    ) -> RouteWinner:
        return cls(
            server_id=str(reply.get("Server-ID") or ""),
            reply=reply,
            fetch_id=str(reply.get("Msg-ID")),
            queue_ready=queue_ready,
        )

    @classmethod
    def from_variables(cls, variables: Mapping[str, str]) -> RouteWinner | None:
        """The winner the park XML wrote on the channel (``variable_`` prefix optional), or None."""

        def get(name: str) -> str:
            return variables.get(name) or variables.get(f"variable_{name}") or ""

        server_id = get(WINNER_SERVER_ID_VAR)
        if not server_id:
            return None
        return cls(server_id=server_id, reply={}, fetch_id=get(FETCH_ID_VAR))


class PendingRouteWins:
    """Call-ID → :class:`RouteWinner`, for calls routed to ``park`` whose CHANNEL_PARK has not come yet.

    Entries older than ``ttl`` seconds are dropped (the channel never parked: hung up, transferred...).
    """

    def __init__(self, ttl: float = DEFAULT_TTL, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._winners: dict[str, tuple[float, RouteWinner]] = {}

    def add(self, call_id: str, winner: RouteWinner) -> None:
        self._expire()
        self._winners[call_id] = (self._clock(), winner)

    def pop(self, call_id: str) -> RouteWinner | None:
        """The winner of ``call_id`` (and forget it), or None when unknown or expired."""
        self._expire()
        entry = self._winners.pop(call_id, None)
        return entry[1] if entry is not None else None

    def peek(self, call_id: str) -> RouteWinner | None:
        entry = self._winners.get(call_id)
        return entry[1] if entry is not None else None

    def __contains__(self, call_id: object) -> bool:
        return call_id in self._winners

    def __len__(self) -> int:
        return len(self._winners)

    def _expire(self) -> None:
        cutoff = self._clock() - self.ttl
        for call_id in [key for key, (at, _) in self._winners.items() if at < cutoff]:
            del self._winners[call_id]


def route_win_message(
    bus: Bus,
    winner: RouteWinner,
    call_id: str,
    control_queue: str,
    *,
    switch_hostname: str | None = None,
) -> dict[str, Any]:
    """The ``route_win`` for ``winner`` (Msg-ID = Call-ID, as Kazoo does); raises ValidationError.

    Send it with ``bus.send(message, routing_key=winner.server_id)`` (``targeted`` exchange).
    """
    return bus.build(
        "route_win",
        {
            "Call-ID": call_id,
            "Control-Queue": control_queue,
            "Msg-ID": call_id,
            "Custom-Channel-Vars": winner.custom_channel_vars or None,
            "Switch-Hostname": switch_hostname,
        },
    )


async def send_route_win(
    bus: Bus, winner: RouteWinner, call_id: str, control_queue: str, *, switch_hostname: str | None = None
) -> None:
    """Build and send the route_win to the winner's Server-ID; raises ValidationError or PublishFailed."""
    message = route_win_message(bus, winner, call_id, control_queue, switch_hostname=switch_hostname)
    await bus.send(message, routing_key=winner.server_id)
