"""The ecallmgr process: the bus, the mod_xml_curl endpoint, the FreeSWITCH nodes, call control.

::

    settings = EcallmgrSettings(amqp_url="amqp://guest:guest@127.0.0.1:5672/", node="ecallmgr1",
                                nodes=[NodeSpec.parse("fs1@10.0.0.5:8021")], password="ClueCon")
    await Ecallmgr(settings).run_forever()      # until SIGTERM or SIGINT

or ``start()`` / ``close()`` (also an async context manager). ``add_node``/``remove_node`` change the
nodes while running. The call-control manager (``ecallmgr.control.CallControlManager``) is used when it
can be imported; without it events, CDRs, registrations and route_win still work.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ecallmgr.cdr_spool import CdrSpool
from ecallmgr.channels_api import ChannelsApi
from ecallmgr.fetch import FetchServer
from ecallmgr.fetch.server import DEFAULT_PORT as DEFAULT_FETCH_PORT
from ecallmgr.node import ControlManager, FreeswitchNode, NodeSet, NodeStatus
from ecallmgr.nodes_api import NodesApi
from ecallmgr.originate import OriginateService
from ecallmgr.publisher import EventPublisher
from whistle_common.bus import Bus
from whistle_common.config import DEFAULT_AMQP_URL

log = logging.getLogger("ecallmgr")

APP_NAME = "ecallmgr"
DEFAULT_ESL_PORT = 8021
DEFAULT_PASSWORD = "ClueCon"

ControlFactory = Callable[[Bus, Any, Callable[[str], FreeswitchNode | None]], ControlManager]


@dataclass(frozen=True)
class NodeSpec:
    """A node from configuration: ``name@host:port`` or ``name=host:port`` (port 8021 when left out)."""

    name: str
    host: str
    port: int = DEFAULT_ESL_PORT
    password: str | None = None  # None: the ecallmgr-wide password

    @classmethod
    def parse(cls, text: str, password: str | None = None) -> NodeSpec:
        """``fs1@10.0.0.5:8021``, ``fs1=10.0.0.5:8021``, ``fs1@[::1]:8021`` or just ``10.0.0.5``."""
        text = text.strip()
        name, sep, address = text.partition("=")
        if not sep:
            name, sep, address = text.rpartition("@")
        if not sep:
            name, address = "", text
        host, colon, port = address.rpartition(":")
        if not colon or "]" in port:
            host, port = address, str(DEFAULT_ESL_PORT)
        host = host.strip("[]")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"node {text!r}: expected NAME@HOST:PORT (or NAME=HOST:PORT)")
        return cls(name or host, host, int(port), password)


def parse_nodes(text: str | Sequence[str], password: str | None = None) -> list[NodeSpec]:
    """Nodes separated by commas or whitespace (``ECALLMGR_NODES``), or a list of them; ValueError when
    one is malformed or two share a name."""
    items = text.replace(",", " ").split() if isinstance(text, str) else list(text)
    specs = [NodeSpec.parse(item, password) for item in items if item.strip()]
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"node names must be unique: {names}")
    return specs


@dataclass(frozen=True)
class EcallmgrSettings:
    """What one ecallmgr process needs to know."""

    amqp_url: str = DEFAULT_AMQP_URL
    node: str = "ecallmgr"  # this process's Node on the bus
    nodes: Sequence[NodeSpec] = ()
    password: str = DEFAULT_PASSWORD
    fetch_host: str = "127.0.0.1"
    fetch_port: int = DEFAULT_FETCH_PORT  # 0: any free port
    route_timeout: float | None = None  # None: the fetch module's defaults
    authn_timeout: float | None = None
    content_type: str | None = None
    validate_events: bool = True
    backoff_initial: float = 0.1
    backoff_max: float = 30.0
    control: bool = True  # use ecallmgr.control when importable
    node_status_interval: float = 30.0  # seconds between node_status messages (also sent on up/down)
    cdr_spool: str | None = None  # a directory: CDRs kept on disk until confirmed (None: memory only)


def default_control_factory() -> ControlFactory | None:
    """``ecallmgr.control.CallControlManager`` if it can be imported, else None (logged)."""
    try:
        from ecallmgr.control import CallControlManager  # type: ignore[import-not-found,unused-ignore]
    except ImportError as error:
        log.warning("call control is not available (%s): events only", error)
        return None
    return CallControlManager  # type: ignore[no-any-return]


class Ecallmgr:
    """One ecallmgr process. ``control_factory`` overrides how the call-control manager is made (tests);
    pass ``control_factory=None`` with ``settings.control=False`` for none."""

    def __init__(
        self,
        settings: EcallmgrSettings,
        *,
        bus: Bus | None = None,
        control_factory: ControlFactory | None = None,
    ) -> None:
        self.settings = settings
        options: dict[str, Any] = {}
        if settings.content_type:
            options["content_type"] = settings.content_type
        self.bus = bus or Bus.from_url(settings.amqp_url, app_name=APP_NAME, node=settings.node, **options)
        spool = CdrSpool(settings.cdr_spool) if settings.cdr_spool else None
        self.publisher = EventPublisher(self.bus, validate=settings.validate_events, spool=spool)
        fetch_options: dict[str, Any] = {}
        if settings.route_timeout is not None:
            fetch_options["route_timeout"] = settings.route_timeout
        if settings.authn_timeout is not None:
            fetch_options["authn_timeout"] = settings.authn_timeout
        self.fetch = FetchServer(
            self.bus, host=settings.fetch_host, port=settings.fetch_port, **fetch_options
        )
        self.nodes = NodeSet()
        self.nodes_api = NodesApi(self, status_interval=settings.node_status_interval)
        self.channels_api = ChannelsApi(self)
        self._control_factory = control_factory
        self.control_manager: ControlManager | None = None
        self.originate: OriginateService | None = None
        self._stop = asyncio.Event()
        self.started = asyncio.Event()  # set once start() has returned
        self._started = False
        self._closed = False

    async def __aenter__(self) -> Ecallmgr:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Connect the bus, listen for mod_xml_curl, make the control manager, connect every node (in the
        background: a node that is down does not stop the start). Raises when the bus or the fetch port
        fails (after closing what was started)."""
        if self._started:
            raise RuntimeError("an Ecallmgr starts once")
        self._started = True
        try:
            await self.bus.start()
            if replayed := self.publisher.replay_spool():
                log.warning("ecallmgr: %d CDRs left by the last run are being published", replayed)
            await self.fetch.start()
            factory = self._control_factory
            if factory is None and self.settings.control:
                factory = default_control_factory()
            if factory is not None:
                self.control_manager = factory(self.bus, self.bus.origin, self.nodes.get)
                if hasattr(self.control_manager, "declare_queue"):
                    self.fetch.dialplan.control_queues = self.control_manager  # type: ignore[assignment]
            self.originate = OriginateService(self.bus, self.nodes, self.control_manager)
            await self.originate.start()
            for spec in self.settings.nodes:
                await self.add_node(spec)
            await self.nodes_api.start()
            await self.channels_api.start()
        except BaseException:
            await self.close()
            raise
        self.started.set()
        log.info(
            "ecallmgr %s started: mod_xml_curl on %s, nodes %s",
            self.bus.server_id,
            self.fetch.url,
            ", ".join(f"{s.name}@{s.host}:{s.port}" for s in self.settings.nodes) or "none",
        )

    def make_node(self, spec: NodeSpec) -> FreeswitchNode:
        return FreeswitchNode(
            spec.name,
            spec.host,
            spec.port,
            spec.password if spec.password is not None else self.settings.password,
            bus=self.bus,
            publisher=self.publisher,
            control_manager=self.control_manager,
            pending_route_wins=self.fetch.pending,
            backoff_initial=self.settings.backoff_initial,
            backoff_max=self.settings.backoff_max,
        )

    async def add_node(self, spec: NodeSpec) -> FreeswitchNode:
        """Start serving one more node; ValueError if its name is taken."""
        node = self.make_node(spec)
        await self.nodes.add(node)
        return node

    async def remove_node(self, name: str) -> bool:
        return await self.nodes.remove(name)

    def status(self) -> list[NodeStatus]:
        return self.nodes.status()

    def stop(self) -> None:
        """Make :meth:`run_forever` return (what SIGTERM does)."""
        self._stop.set()

    async def run_forever(self, *, handle_signals: bool = True) -> None:
        """Start, serve until SIGTERM/SIGINT (or :meth:`stop`), then close."""
        loop = asyncio.get_running_loop()
        signals = (signal.SIGTERM, signal.SIGINT) if handle_signals else ()
        for number in signals:
            loop.add_signal_handler(number, self.stop)
        try:
            await self.start()
            await self._stop.wait()  # the process's lifetime: the one wait without a timeout
            log.info("ecallmgr: stopping")
        finally:
            for number in signals:
                loop.remove_signal_handler(number)
            await self.close()

    async def close(self) -> None:
        """Close control first (handing commands back), then nodes, publisher, fetch, bus; idempotent."""
        if self._closed:
            return
        self._closed = True
        if self.originate is not None:
            await self.originate.close()
        await self.nodes_api.close()
        await self.channels_api.close()
        if self.control_manager is not None:  # first: unfinished commands are handed back, not failed
            closer = getattr(self.control_manager, "close", None)
            if closer is not None:
                try:
                    result = closer()
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    log.exception("ecallmgr: closing call control failed")
        await self.nodes.close()
        await self.publisher.close()
        await self.fetch.close()
        await self.bus.close()
