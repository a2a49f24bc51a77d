"""Node management over the bus: ``nodes_req`` answered by every ecallmgr, and ``node_status`` published.

::

    api = NodesApi(service, status_interval=30.0)   # service: the Ecallmgr (nodes, add_node, remove_node)
    await api.start()    # after the bus has started
    ...
    await api.close()

Each ecallmgr consumes ``nodes.req`` on the ``resource`` exchange with its own exclusive queue, so every
instance answers a request (the requester uses ``Bus.collect``): ``list``, ``add`` (Name, Host, Port,
Password) or ``remove`` (Name). The ``nodes_resp`` reply carries the instance's nodes after the action,
and an Error-Message when the action failed (a taken name or no Password on add, an unknown node on
remove). A node added over the bus must carry its own Password: the ecallmgr-wide one is never used.

``node_status`` (the instance's nodes: name, host, port, up, channel count, last heartbeat) goes to the
``notifications`` exchange as ``nodes.status.<escaped Node>``, without confirms, whenever a node goes up
or down or is added or removed (the nodes are looked at every ``watch_interval`` seconds, and right after
each request), and every ``status_interval`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ecallmgr.node import NodeStatus
from whistle_common.bus import Delivery, QueueSpec
from whistle_common.bus.transport import Subscription

if TYPE_CHECKING:
    from ecallmgr.service import Ecallmgr

log = logging.getLogger("ecallmgr.nodes_api")

REQUEST_EXCHANGE = "resource"
REQUEST_ROUTING_KEY = "nodes.req"
DEFAULT_STATUS_INTERVAL = 30.0
DEFAULT_WATCH_INTERVAL = 0.25


def node_fields(status: NodeStatus) -> dict[str, Any]:
    """One node as ``node_status``/``nodes_resp`` carry it."""
    fields: dict[str, Any] = {
        "Name": status.name,
        "Host": status.host,
        "Port": status.port,
        "Up": status.up,
        "Channel-Count": status.channel_count,
    }
    if status.last_heartbeat is not None:
        fields["Last-Heartbeat"] = status.last_heartbeat
    return fields


def nodes_fields(statuses: Iterable[NodeStatus]) -> list[dict[str, Any]]:
    return [node_fields(status) for status in statuses]


class NodesApi:
    """The ``nodes_req`` consumer and the ``node_status`` publisher of one ecallmgr."""

    def __init__(
        self,
        service: Ecallmgr,
        *,
        status_interval: float = DEFAULT_STATUS_INTERVAL,
        watch_interval: float = DEFAULT_WATCH_INTERVAL,
    ) -> None:
        if status_interval <= 0 or watch_interval <= 0:
            raise ValueError("the status and watch intervals must be positive")
        self.service = service
        self.status_interval = status_interval
        self.watch_interval = min(watch_interval, status_interval)
        self.published = 0  # node_status messages sent
        self._subscription: Subscription | None = None
        self._publisher: asyncio.Task[None] | None = None
        self._poke = asyncio.Event()

    @property
    def bus(self) -> Any:
        return self.service.bus

    @property
    def queue_name(self) -> str:
        return f"nodes.{self.bus.server_id}"

    async def start(self) -> None:
        """Bind our own queue to ``nodes.req`` and start publishing ``node_status``."""
        self._subscription = await self.bus.consume(
            QueueSpec(self.queue_name, durable=False, exclusive=True, auto_delete=True),
            self._on_request,
            bindings=[(REQUEST_EXCHANGE, REQUEST_ROUTING_KEY)],
        )
        self._publisher = asyncio.get_running_loop().create_task(self._publish_loop(), name="node-status")

    async def close(self) -> None:
        """Stop answering and publishing. Idempotent."""
        if self._publisher is not None:
            self._publisher.cancel()
            await asyncio.gather(self._publisher, return_exceptions=True)
            self._publisher = None
        if self._subscription is not None:
            subscription, self._subscription = self._subscription, None
            try:
                await subscription.cancel()
            except Exception as error:  # the bus closes next anyway
                log.debug("cancelling the nodes_req consumer: %r", error)

    # -- requests --------------------------------------------------------------------------------------

    async def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        """Carry out one ``nodes_req``; the ``nodes_resp`` to send back (without the request's Msg-ID)."""
        from ecallmgr.service import NodeSpec  # the service imports this module

        action = request.get("Action")
        error: str | None = None
        name = str(request.get("Name") or "")
        if action == "add":
            password = request.get("Password")
            if not password:  # never send the ecallmgr-wide password to a host named on the bus
                error = "Password is required"
            else:
                spec = NodeSpec(name, str(request["Host"]), int(request["Port"]), str(password))
                try:
                    await self.service.add_node(spec)
                    log.info("node %s (%s:%d) added over the bus", spec.name, spec.host, spec.port)
                except ValueError as exc:
                    error = str(exc)
        elif action == "remove":
            if await self.service.remove_node(name):
                log.info("node %s removed over the bus", name)
            else:
                error = f"unknown node {name!r}"
        self._poke.set()  # membership may have changed: node_status soon
        return self.bus.build(
            "nodes_resp",
            action=action,
            nodes=nodes_fields(self.service.nodes.status()),
            error_message=error,
        )

    async def _on_request(self, delivery: Delivery) -> None:
        if delivery.definition.name != "nodes_req":
            log.warning("unexpected %s on %s; dropped", delivery.definition.name, self.queue_name)
            return
        answer = await self.handle(delivery.message)
        await self.bus.reply(delivery.message, answer)

    # -- node_status -----------------------------------------------------------------------------------

    def _snapshot(self) -> dict[str, tuple[bool, str, int]]:
        return {s.name: (s.up, s.host, s.port) for s in self.service.nodes.status()}

    async def publish_status(self, reason: str = "periodic") -> None:
        """Publish ``node_status`` now (no confirm)."""
        message = self.bus.build(
            "node_status", reason=reason, nodes=nodes_fields(self.service.nodes.status())
        )
        await self.bus.send(message, confirm=False)
        self.published += 1

    async def _publish_loop(self) -> None:
        loop = asyncio.get_running_loop()
        previous: dict[str, tuple[bool, str, int]] | None = None
        last_sent = loop.time()
        while True:
            try:
                async with asyncio.timeout(self.watch_interval):
                    await self._poke.wait()
            except TimeoutError:
                pass
            self._poke.clear()
            current = self._snapshot()
            now = loop.time()
            if current != previous:
                reason = "changed"
            elif now - last_sent >= self.status_interval:
                reason = "periodic"
            else:
                continue
            try:
                await self.publish_status(reason)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("node_status could not be published")
                continue  # tried again at the next look
            previous, last_sent = current, now
