"""The FreeSWITCH nodes of one ecallmgr: one reconnecting Event Socket connection each.

::

    node = FreeswitchNode("fs1", "10.0.0.5", 8021, "ClueCon", bus=bus, publisher=EventPublisher(bus),
                          control_manager=calls, pending_route_wins=fetch_server.pending)
    nodes = NodeSet()
    await nodes.add(node)            # connects in the background, retrying with exponential backoff
    nodes.status()                   # [NodeStatus(name="fs1", up=True, channel_count=3, ...)]
    await nodes.remove("fs1")

Every event of the node goes, in order, to the call-control manager (``on_event``) and then to the
:class:`~ecallmgr.publisher.EventPublisher`. On every (re)connection the node reads ``show channels as
json`` and hands each channel to the control manager (``adopt``), so calls carry on after an ecallmgr
restart or a lost connection. When a channel parks and a route winner is known for it (recorded by the
dialplan fetch in ``pending_route_wins``, or written on the channel as ``ecallmgr_Route-Win-Server-ID``),
the call is adopted and ``route_win`` goes to the winner with the call's Control-Queue.

The control manager (``ecallmgr.control.CallControlManager``) is optional: without one, channels are only
counted and route_win names ``ctl.<Call-ID>``. Its ``adopt`` and ``on_event`` may be sync or async; when
``on_event`` returns True (a CHANNEL_EXECUTE_COMPLETE that the call's control publishes itself, with the
command's Msg-ID) the event is not published again; ``node_down(name)``, if it has one, is called when
the connection is lost.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from ecallmgr.esl import EslClient, Event
from ecallmgr.fetch.route_win import PendingRouteWins, RouteWinner, send_route_win
from ecallmgr.publisher import FLUSHES, REGISTER, EventPublisher
from ecallmgr.translate.call_event import CUSTOM_EVENTS, EXECUTE_EVENTS, PUBLISHED_AS_IS
from whistle_common.bus import Bus

log = logging.getLogger("ecallmgr.node")

# What is translated onto the bus (ecallmgr.translate), plus what the node acts on itself: parks (route_win)
# and hangups (the CDR). One list, so that a new translated event cannot be left unsubscribed.
CHANNEL_EVENTS = tuple(
    sorted(PUBLISHED_AS_IS | EXECUTE_EVENTS | {"CHANNEL_PARK", "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE"})
)
CUSTOM_SUBCLASSES = tuple(sorted({*CUSTOM_EVENTS, REGISTER, *FLUSHES, "conference::maintenance"}))
SUBSCRIPTIONS = ("BACKGROUND_JOB", "HEARTBEAT", *CHANNEL_EVENTS, "CUSTOM", *CUSTOM_SUBCLASSES)
CONTROL_QUEUE_PREFIX = "ctl."


class ControlManager(Protocol):
    """What a node needs of ``ecallmgr.control.CallControlManager`` (methods may be sync or async)."""

    def adopt(self, call_id: str, node_name: str) -> Any: ...

    def on_event(self, node_name: str, fs_event: Mapping[str, str]) -> Any: ...

    def control_queue_name(self, call_id: str) -> str: ...


@dataclass(frozen=True)
class NodeStatus:
    """One node as ecallmgr sees it. ``last_heartbeat``: epoch seconds of the last HEARTBEAT, or None."""

    name: str
    host: str
    port: int
    up: bool
    channel_count: int
    last_heartbeat: float | None
    connections: int
    events: int


async def _maybe_await(result: Any) -> Any:
    if inspect.isawaitable(result):
        return await result
    return result


def parse_channels(body: str) -> list[dict[str, Any]]:
    """The rows of ``show channels as json`` (``{"row_count": 0}`` without rows); raises ValueError."""
    data = orjson.loads(body)
    if not isinstance(data, dict):
        raise ValueError("show channels as json: not an object")
    rows = data.get("rows") or []
    if not isinstance(rows, list):
        raise ValueError("show channels as json: rows is not a list")
    return [row for row in rows if isinstance(row, dict) and row.get("uuid")]


class FreeswitchNode:
    """One FreeSWITCH node: its Event Socket connection, its channels, its events."""

    def __init__(
        self,
        name: str,
        host: str,
        port: int,
        password: str,
        *,
        bus: Bus,
        publisher: EventPublisher,
        control_manager: ControlManager | None = None,
        pending_route_wins: PendingRouteWins | None = None,
        subscriptions: Iterable[str] = SUBSCRIPTIONS,
        backoff_initial: float = 0.1,
        backoff_max: float = 30.0,
        timeout: float = 10.0,
    ) -> None:
        self.name, self.host, self.port = name, host, port
        self.bus = bus
        self.publisher = publisher
        self.control_manager = control_manager
        self.pending_route_wins = pending_route_wins
        self.backoff_initial, self.backoff_max = backoff_initial, backoff_max
        self.client = EslClient(
            host,
            port,
            password,
            node_name=name,
            events="json",
            subscriptions=subscriptions,
            on_event=self._on_event,
            on_connected=self._on_connected,
            on_disconnected=self._on_disconnected,
            timeout=timeout,
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
        )
        self.channels: set[str] = set()
        self.last_heartbeat: float | None = None
        self.events = 0
        self.resyncs = 0  # channel lists read (one per successful (re)connection)
        self.synced = asyncio.Event()  # set once the channels of the current connection are read
        self._starter: asyncio.Task[None] | None = None
        self._parks: set[asyncio.Task[None]] = set()  # route wins being sent, off the event reader
        self._parking: dict[str, bool] = {}  # Call-ID -> destroyed meanwhile, while its park task runs
        self._reading_channels: list[tuple[str, str]] | None = None  # CREATE/DESTROY seen during a resync
        self._closed = False

    def __repr__(self) -> str:
        return f"<FreeswitchNode {self.name} {self.host}:{self.port}>"

    # -- lifecycle -------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect in the background: the first connection is retried with exponential backoff until it
        succeeds (then the client itself reconnects whenever the connection is lost)."""
        if self._starter is not None or self._closed:
            raise RuntimeError(f"{self!r} is already started (or closed)")
        self._starter = asyncio.get_running_loop().create_task(
            self._connect_loop(), name=f"node-connect-{self.name}"
        )

    async def _connect_loop(self) -> None:
        delay = self.backoff_initial
        while not self._closed:
            try:
                await self.client.connect()
                return
            except asyncio.CancelledError:
                raise
            except Exception as error:  # OSError, TimeoutError, AuthError...: keep trying, log each
                log.warning(
                    "node %s (%s:%d): cannot connect: %r; retrying in %.1fs",
                    self.name,
                    self.host,
                    self.port,
                    error,
                    delay,
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff_max)

    async def wait_synced(self, timeout: float = 10.0) -> None:
        """Wait until connected and the node's channels are read; TimeoutError after ``timeout``."""
        async with asyncio.timeout(timeout):
            await self.synced.wait()

    async def close(self) -> None:
        """Stop connecting, close the connection. Idempotent."""
        self._closed = True
        if self._starter is not None and not self._starter.done():
            self._starter.cancel()
            await asyncio.gather(self._starter, return_exceptions=True)
        for task in list(self._parks):
            task.cancel()
        await asyncio.gather(*self._parks, return_exceptions=True)
        await self.client.close()
        self.synced.clear()

    # -- what other parts use --------------------------------------------------------------------------

    @property
    def up(self) -> bool:
        return self.client.connected.is_set()

    def status(self) -> NodeStatus:
        return NodeStatus(
            self.name,
            self.host,
            self.port,
            self.up,
            len(self.channels),
            self.last_heartbeat,
            self.client.connections,
            self.events,
        )

    async def api(self, command: str, *, timeout: float | None = None) -> str:
        return await self.client.api(command, timeout=timeout)

    async def bgapi(self, command: str, *, timeout: float | None = None) -> str:
        return await self.client.bgapi(command, timeout=timeout)

    async def sendmsg(self, uuid: str, app: str, arg: str | None = None, **options: Any) -> str:
        return await self.client.sendmsg(uuid, app, arg, **options)

    def control_queue_name(self, call_id: str) -> str:
        if self.control_manager is not None:
            return self.control_manager.control_queue_name(call_id)
        return CONTROL_QUEUE_PREFIX + call_id

    # -- connection hooks ------------------------------------------------------------------------------

    async def _on_connected(self, client: EslClient) -> None:
        """Re-read the node's channels and (re)adopt each one."""
        self.synced.clear()
        self._reading_channels = []  # events go on while we ask: what they say is newer than the answer
        try:
            rows: list[dict[str, Any]] | None = parse_channels(await client.api("show channels as json"))
        except Exception:
            log.exception("node %s: could not read its channels", self.name)
            rows = None  # unknown, not none: no call is declared gone on that basis
        seen, self._reading_channels = self._reading_channels, None
        if rows is not None:
            self.channels = {str(row["uuid"]) for row in rows}
        for event, uuid in seen:
            if event == "CHANNEL_CREATE":
                self.channels.add(uuid)
            else:
                self.channels.discard(uuid)
        self.resyncs += 1
        log.info("node %s: connected, %d channels", self.name, len(self.channels))
        for call_id in list(self.channels):
            await self._adopt(call_id)
        resync = getattr(self.control_manager, "resync", None)
        if rows is not None and resync is not None:
            try:
                await _maybe_await(resync(self.name, self.channels, self._exists))
            except Exception:
                log.exception("node %s: could not end the calls that went while it was away", self.name)
        self.synced.set()

    def _on_disconnected(self, client: EslClient, reason: str) -> None:
        self.synced.clear()
        node_down = getattr(self.control_manager, "node_down", None)
        if node_down is not None:
            try:
                node_down(self.name)  # what the node's calls were running fails with NODE_DOWN
            except Exception:
                log.exception("node %s: call control failed on node down", self.name)

    async def _adopt(self, call_id: str) -> bool:
        if self.control_manager is None:
            return True
        try:
            await _maybe_await(self.control_manager.adopt(call_id, self.name))
            return True
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("node %s: could not adopt call %s", self.name, call_id, extra={"call_id": call_id})
            return False

    # -- events ----------------------------------------------------------------------------------------

    async def _on_event(self, event: Event) -> None:
        self.events += 1
        name = event.name
        fs = event.headers
        if name == "CHANNEL_CREATE":
            if uuid := fs.get("Unique-ID"):
                self.channels.add(uuid)
                if self._reading_channels is not None:
                    self._reading_channels.append((name, uuid))
        elif name == "CHANNEL_DESTROY":
            uuid = fs.get("Unique-ID") or ""
            self.channels.discard(uuid)
            if uuid in self._parking:
                self._parking[uuid] = True
            if self._reading_channels is not None:
                self._reading_channels.append((name, uuid))
        elif name == "HEARTBEAT":
            self.last_heartbeat = time.time()
            return
        elif name == "BACKGROUND_JOB":
            return
        elif name == "CHANNEL_PARK":
            # Adopting (declaring and consuming ctl.<Call-ID>) takes broker round trips: done inline it
            # would hold up every other event of the node, and the replies of its commands, meanwhile.
            if uuid := fs.get("Unique-ID"):
                self._parking[uuid] = False
            task = asyncio.get_running_loop().create_task(self._on_park(fs), name=f"park-{self.name}")
            self._parks.add(task)
            task.add_done_callback(self._parks.discard)
        if self.control_manager is not None:
            try:
                handled = self.control_manager.on_event(self.name, fs)
                if inspect.isawaitable(handled):
                    handled = await handled
            except asyncio.CancelledError:
                raise
            except Exception:
                handled = False
                call_id = fs.get("Unique-ID")
                log.exception(
                    "node %s: call control failed on %s of %s", self.name, name, call_id,
                    extra={"call_id": call_id},
                )  # fmt: skip
            if handled is True:  # the call's control publishes this completion itself (with its Msg-ID)
                return
        await self.publisher.handle(self.name, fs)

    async def _exists(self, call_id: str) -> bool:
        """``uuid_exists``: FreeSWITCH's own session table, not its (lagging) channel list. True when it
        cannot tell: a call is never declared gone on a doubt."""
        try:
            return (await self.api(f"uuid_exists {call_id}")).strip() != "false"
        except Exception as error:
            log.warning(
                "node %s: uuid_exists %s failed: %r", self.name, call_id, error, extra={"call_id": call_id}
            )
            return True

    async def _kill(self, call_id: str, why: str) -> None:
        log.error("node %s: hanging up %s: %s", self.name, call_id, why, extra={"call_id": call_id})
        try:
            await self.api(f"uuid_kill {call_id} NORMAL_TEMPORARY_FAILURE")
        except Exception as error:  # the node went away too: the call goes with it
            log.warning(
                "node %s: could not hang up %s: %r", self.name, call_id, error, extra={"call_id": call_id}
            )

    async def _send_route_win(self, winner: RouteWinner, call_id: str, fs: Mapping[str, str]) -> None:
        await send_route_win(
            self.bus,
            winner,
            call_id,
            self.control_queue_name(call_id),
            switch_hostname=fs.get("FreeSWITCH-Hostname"),
        )
        log.info("node %s: call %s parked; route_win to %s", self.name, call_id, winner.server_id)

    async def _on_park(self, fs: Mapping[str, str]) -> None:
        call_id = fs.get("Unique-ID")
        if not call_id:
            return
        try:
            winner = self.pending_route_wins.pop(call_id) if self.pending_route_wins is not None else None
            if winner is None:
                winner = RouteWinner.from_variables(fs)
            if winner is None or not winner.server_id:
                return
            # Declared while routing: the winner may send commands at once; they wait in the queue
            # while we start consuming it. Otherwise (a winner read from the channel) adopt first.
            early = winner.queue_ready is not None and await _succeeded(winner.queue_ready)
            if early:
                await self._send_route_win(winner, call_id, fs)
            if not await self._adopt(call_id):
                if early:  # its winner is already sending commands nobody will run: end it, clearly
                    await self._kill(call_id, "its control queue could not be consumed")
                return
            if self._parking.get(call_id):  # it hung up while we adopted it: nobody is to drive it
                ended = getattr(self.control_manager, "ended", None)
                if ended is not None:
                    ended(call_id)
                return
            if not early:
                await self._send_route_win(winner, call_id, fs)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("node %s: route_win for %s failed", self.name, call_id, extra={"call_id": call_id})
        finally:
            self._parking.pop(call_id, None)


async def _succeeded(future: asyncio.Future[None]) -> bool:
    """Whether ``future`` ends well (its failure was logged where it was started)."""
    try:
        await future
    except asyncio.CancelledError:
        raise
    except Exception:
        return False
    return True


class NodeSet:
    """The nodes of one ecallmgr, by name; nodes can be added and removed while running."""

    def __init__(self) -> None:
        self._nodes: dict[str, FreeswitchNode] = {}

    def __contains__(self, name: object) -> bool:
        return name in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def __iter__(self) -> Iterator[FreeswitchNode]:
        return iter(list(self._nodes.values()))

    def get(self, name: str) -> FreeswitchNode | None:
        return self._nodes.get(name)

    @property
    def names(self) -> list[str]:
        return list(self._nodes)

    async def add(self, node: FreeswitchNode) -> None:
        """Start ``node`` (connecting in the background); ValueError if its name is taken."""
        if node.name in self._nodes:
            raise ValueError(f"node {node.name!r} is already configured")
        self._nodes[node.name] = node
        await node.start()

    async def remove(self, name: str) -> bool:
        """Close and forget node ``name``; False when there is none."""
        node = self._nodes.pop(name, None)
        if node is None:
            return False
        await node.close()
        return True

    async def configure(self, wanted: Iterable[FreeswitchNode]) -> None:
        """Make the set ``wanted`` (by name): start the new nodes, close those no longer wanted. A node
        whose address changed is replaced."""
        wanted_by_name = {node.name: node for node in wanted}
        for name, node in list(self._nodes.items()):
            new = wanted_by_name.get(name)
            if new is None or (new.host, new.port) != (node.host, node.port):
                await self.remove(name)
        for name, node in wanted_by_name.items():
            if name not in self._nodes:
                await self.add(node)

    def status(self) -> list[NodeStatus]:
        return [node.status() for node in self._nodes.values()]

    async def close(self) -> None:
        nodes = list(self._nodes.values())
        self._nodes.clear()
        await asyncio.gather(*(node.close() for node in nodes), return_exceptions=True)
