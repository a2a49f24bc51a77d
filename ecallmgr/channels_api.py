"""Live channels over the bus: ``channels_req`` answered by every ecallmgr with ``channels_resp``.

::

    api = ChannelsApi(service)   # service: the Ecallmgr (nodes, control_manager, bus)
    await api.start()            # after the bus has started
    ...
    await api.close()

Each ecallmgr consumes ``channels.req`` on the ``resource`` exchange with its own exclusive queue, so every
instance answers (the requester uses ``Bus.collect``). The answer is read from FreeSWITCH itself (``show
channels as json`` on each connected node), not from a table kept beside it: FreeSWITCH is the truth about
what is live, and a table fed by events would drift after a lost connection. Each channel says whether this
ecallmgr controls it (consumes its control queue). ``answered_time`` is asked per channel (``uuid_getvar``,
which FreeSWITCH answers from the caller profile) for up to ``MAX_DETAILED`` channels per node. A node that
is down or does not answer in time is named in Unreachable-Nodes, and the channels ecallmgr last saw on it
in events are listed with what little is known of them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ecallmgr.node import FreeswitchNode, parse_channels
from whistle_common.bus import Delivery, QueueSpec
from whistle_common.bus.transport import Subscription

if TYPE_CHECKING:
    from ecallmgr.service import Ecallmgr

log = logging.getLogger("ecallmgr.channels_api")

REQUEST_EXCHANGE = "resource"
REQUEST_ROUTING_KEY = "channels.req"
API_TIMEOUT = 1.0  # seconds per node (asked all at once): well inside the requester's default --wait
MAX_DETAILED = 100  # channels per node whose answered time is asked (one api command each)

# show channels column -> channels_resp field (only non-empty values are copied)
_COLUMNS = (
    ("direction", "Call-Direction"),
    ("cid_name", "Caller-ID-Name"),
    ("cid_num", "Caller-ID-Number"),
    ("callee_name", "Callee-ID-Name"),
    ("callee_num", "Callee-ID-Number"),
    ("dest", "Destination-Number"),
    ("state", "Channel-State"),
    ("callstate", "Channel-Call-State"),
    ("application", "Application"),
)


def channel_fields(node: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """One ``show channels`` row as a channels_resp channel (without Controlled)."""
    fields: dict[str, Any] = {"Call-ID": str(row["uuid"]), "Media-Node": node}
    for column, name in _COLUMNS:
        value = row.get(column)
        if value not in (None, ""):
            fields[name] = str(value)
    created = str(row.get("created_epoch") or "")
    if created.isdigit():
        fields["Created-Time"] = int(created)
    return fields


def answered_seconds(value: str) -> float | None:
    """``uuid_getvar <uuid> answered_time`` (microseconds, 0 when unanswered) in epoch seconds, or None."""
    value = value.strip()
    if not value.isdigit() or int(value) == 0:
        return None  # unanswered, _undef_, or -ERR
    return int(value) / 1_000_000


class ChannelsApi:
    """The ``channels_req`` consumer of one ecallmgr."""

    def __init__(self, service: Ecallmgr, *, api_timeout: float = API_TIMEOUT) -> None:
        self.service = service
        self.api_timeout = api_timeout
        self._subscription: Subscription | None = None

    @property
    def bus(self) -> Any:
        return self.service.bus

    @property
    def queue_name(self) -> str:
        return f"channels.{self.bus.server_id}"

    async def start(self) -> None:
        """Bind our own queue to ``channels.req``."""
        self._subscription = await self.bus.consume(
            QueueSpec(self.queue_name, durable=False, exclusive=True, auto_delete=True),
            self._on_request,
            bindings=[(REQUEST_EXCHANGE, REQUEST_ROUTING_KEY)],
        )

    async def close(self) -> None:
        """Stop answering. Idempotent."""
        if self._subscription is not None:
            subscription, self._subscription = self._subscription, None
            try:
                await subscription.cancel()
            except Exception as error:  # the bus closes next anyway
                log.debug("cancelling the channels_req consumer: %r", error)

    async def channels(self, call_id: str | None = None) -> tuple[list[dict[str, Any]], list[str]]:
        """Every live channel of our nodes (only ``call_id`` when given), and the nodes not reachable."""
        found: list[dict[str, Any]] = []
        unreachable: list[str] = []
        nodes = list(self.service.nodes)
        # every node at once: one slow node must not make this ecallmgr miss the requester's deadline
        read = await asyncio.gather(*(self._read(node) for node in nodes))
        for node, rows in zip(nodes, read, strict=True):
            if rows is None:
                unreachable.append(node.name)
                channels = [{"Call-ID": uuid, "Media-Node": node.name} for uuid in sorted(node.channels)]
            else:
                channels = [channel_fields(node.name, row) for row in rows]
            if call_id is not None:
                channels = [channel for channel in channels if channel["Call-ID"] == call_id]
            found.extend(channels)
        await asyncio.gather(
            *(self._add_answered(node, [c for c in found if c["Media-Node"] == node.name][:MAX_DETAILED])
              for node, rows in zip(nodes, read, strict=True) if rows is not None)
        )  # fmt: skip
        for channel in found:
            self._add_control(channel)
        return found, unreachable

    async def _read(self, node: FreeswitchNode) -> list[dict[str, Any]] | None:
        if not node.up:
            return None
        try:
            return parse_channels(await node.api("show channels as json", timeout=self.api_timeout))
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a timeout, a lost connection, a body that is not JSON
            log.warning("node %s: show channels failed: %r", node.name, error)
            return None

    async def _add_answered(self, node: FreeswitchNode, channels: list[dict[str, Any]]) -> None:
        async def one(channel: dict[str, Any]) -> None:
            command = f"uuid_getvar {channel['Call-ID']} answered_time"
            try:
                answered = answered_seconds(await node.api(command, timeout=self.api_timeout))
            except asyncio.CancelledError:
                raise
            except Exception:  # the channel went meanwhile, or the node: the time stays unknown
                return
            if answered is not None:
                channel["Answered-Time"] = answered

        await asyncio.gather(*(one(channel) for channel in channels))

    def _add_control(self, channel: dict[str, Any]) -> None:
        manager = self.service.control_manager
        control = getattr(manager, "get", None)
        controlled = control is not None and control(channel["Call-ID"]) is not None
        channel["Controlled"] = controlled
        if controlled and manager is not None:
            channel["Control-Queue"] = manager.control_queue_name(channel["Call-ID"])

    async def handle(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """The ``channels_resp`` for one ``channels_req`` (without the request's Msg-ID)."""
        channels, unreachable = await self.channels(request.get("Call-ID"))
        return self.bus.build("channels_resp", channels=channels, unreachable_nodes=unreachable or None)

    async def _on_request(self, delivery: Delivery) -> None:
        if delivery.definition.name != "channels_req":
            log.warning("unexpected %s on %s; dropped", delivery.definition.name, self.queue_name)
            return
        await self.bus.reply(delivery.message, await self.handle(delivery.message))
