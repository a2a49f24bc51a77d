"""The simulated FreeSWITCH: the composition root of events, hub, api, clock, channels, apps and endpoints.

::

    switch = Switch(identity=SwitchIdentity(hostname="vm"), scale=0.01)   # 100x faster than real time
    switch.endpoints.add("user/1001", Endpoint.answers(after=2))
    await switch.api.execute("originate", "{origination_uuid=...}loopback/answer_park/default &park()")
    await switch.sendmsg(uuid, [("call-command", "execute"), ("execute-app-name", "playback"), ...], None)

It satisfies ``fsim.core_api.SwitchCore`` (``events``, ``hub``, ``api``, ``sendmsg``, ``channel_name``,
``channel_variable``, ``channel_data``) for the Event Socket layer. The dialplan is a hook:
``Switch(route_hook=...)`` or ``switch.route_hook = ...`` takes
``async def hook(channel) -> [(app, data), ...] | None`` (see :mod:`fsim.channels.dialplan`; the default
reproduces the recording switch's static extensions). mod_xml_curl plugs in there.

Lifecycle: constructing a Switch starts nothing. ``await switch.start()`` (inside the running event loop)
starts its background tasks: the HEARTBEAT every ``event_heartbeat_interval`` simulated seconds.
``await switch.close()`` stops them, hangs up every channel (SYSTEM_SHUTDOWN, so connected ESL clients see
the hangups: close the ``EslServer`` after it) and cancels what is left. ``async with Switch(...) as switch``
does both. The api command ``fsim_burst`` (``fsim.burst``) is always registered.
"""

from __future__ import annotations

import asyncio
import logging
import uuid as uuidlib
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from typing import Any

from fsim import burst
from fsim.api import ApiRegistry
from fsim.apps import Application, conference_api, load
from fsim.apps.conference import ConferenceManager
from fsim.channels import commands
from fsim.channels.base import INBOUND
from fsim.channels.channel import Channel
from fsim.channels.dialplan import static_dialplan
from fsim.channels.endpoints import EndpointDirectory
from fsim.channels.flow import Route
from fsim.channels.profile import CallerProfile
from fsim.channels.registry import ChannelRegistry
from fsim.clock import Clock
from fsim.events import EventFactory, SwitchIdentity
from fsim.heartbeat import DEFAULT_INTERVAL, Heartbeat
from fsim.hub import EventHub

log = logging.getLogger(__name__)

RouteHook = Callable[[Channel], Awaitable[Any]]
Extension = list[tuple[str, str]]


class Switch:
    """One simulated FreeSWITCH process."""

    def __init__(
        self,
        *,
        identity: SwitchIdentity | None = None,
        clock: Clock | None = None,
        scale: float = 1.0,
        endpoints: EndpointDirectory | None = None,
        route_hook: RouteHook | None = None,
        max_sessions: int = 1000,
        sessions_per_second: int = 30,
        domain: str = "127.0.0.1",
        default_playback_seconds: float = 5.0,
        sounds_dir: str | None = None,
        strict_files: bool = False,
        originate_timeout: float = 60.0,
        first_sequence: int = 1,
        event_heartbeat_interval: float | None = DEFAULT_INTERVAL,
    ) -> None:
        """``scale``: real seconds per simulated second (ignored when ``clock`` is given).

        ``default_playback_seconds``: how long a file that is not a readable WAV (or a URL) plays;
        ``strict_files``: a missing absolute path answers FILE NOT FOUND instead of playing that long;
        ``originate_timeout``: simulated seconds an originate or bridge rings when nothing says otherwise;
        ``event_heartbeat_interval``: simulated seconds between HEARTBEATs once started (None: none).
        """
        self.identity = identity or SwitchIdentity()
        self.events = EventFactory(self.identity, first_sequence=first_sequence)
        self.hub = EventHub()
        self.api = ApiRegistry(self.events, self.hub)
        self.clock = clock or Clock(scale)
        self.channels = ChannelRegistry(self.clock)
        self.endpoints = endpoints or EndpointDirectory()
        self.apps: dict[str, Application] = dict(load())
        self.conferences = ConferenceManager(self)
        self.global_vars: dict[str, str] = {}
        self.route_hook: RouteHook = route_hook or static_dialplan
        self.max_sessions = max_sessions
        self.sessions_per_second = sessions_per_second
        self.domain = domain
        self.default_playback_seconds = default_playback_seconds
        self.sounds_dir = sounds_dir
        self.strict_files = strict_files
        self.originate_timeout = originate_timeout
        self.started = self.clock.now()
        self._tasks: set[asyncio.Task[None]] = set()
        self.heartbeat = Heartbeat(self, event_heartbeat_interval)
        self._closed = False
        commands.register(self)
        conference_api.register(self)
        burst.register(self)

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the background tasks (the HEARTBEAT scheduler). Idempotent; needs the running loop.

        Channels, api commands and ESL work without it; only time-driven core events need it."""
        if self._closed:
            raise RuntimeError("this Switch is closed; create a new one")
        self.heartbeat.start()

    async def close(self, cause: str = "SYSTEM_SHUTDOWN", timeout: float = 5.0) -> None:
        """Stop the heartbeat, hang up every channel with ``cause`` and wait (at most ``timeout`` real
        seconds) until they are destroyed, then cancel channel and spawned tasks still running.
        Idempotent; events fired meanwhile reach the hub's listeners as usual."""
        self._closed = True
        await self.heartbeat.stop()
        for channel in self.channels:
            channel.hangup(cause)
        try:
            await asyncio.wait_for(self.channels.wait_empty(), timeout)
        except TimeoutError:
            log.warning("fsim: %d channel(s) still up %ss after shutdown", len(self.channels), timeout)
        tasks = [task for task in self._tasks if not task.done()]
        tasks += [c.task for c in self.channels if c.task is not None and not c.task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def __aenter__(self) -> Switch:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- SwitchCore --------------------------------------------------------------------------------

    async def sendmsg(self, uuid: str, headers: list[tuple[str, str]], body: bytes | None) -> str:
        """Queue a sendmsg on channel ``uuid``; ``+OK`` at once, or ``-ERR invalid session id [<uuid>]``."""
        channel = self.channels.get(uuid)
        if channel is None:
            return f"-ERR invalid session id [{uuid}]"
        if not headers or headers[0][0] != "Command":
            headers = [("Command", f"sendmsg {uuid}"), *headers]
        channel.queue_message(list(headers), body)
        return "+OK"

    def channel_name(self, uuid: str) -> str | None:
        channel = self.channels.get(uuid)
        return channel.name if channel is not None else None

    def channel_data(self, uuid: str) -> list[tuple[str, str]] | None:
        """``switch_channel_event_set_data`` of ``uuid``: basic data, ``variable_*``; None: no channel."""
        channel = self.channels.get(uuid)
        return None if channel is None else channel.basic_headers() + channel.variable_headers()

    def channel_variable(self, uuid: str, name: str) -> str | None:
        """Variable ``name`` of channel ``uuid``; None: unset, or no such channel."""
        channel = self.channels.get(uuid)
        return None if channel is None else channel.get_var(name)

    # -- helpers for the other layers --------------------------------------------------------------

    async def route_call(self, channel: Channel) -> Extension | None:
        """The route hook's extension for ``channel`` as ``[(app, data), ...]``; None: no route."""
        result = await self.route_hook(channel)
        if result is None:
            return None
        if hasattr(result, "actions"):
            result = [*getattr(result, "inline", []), *result.actions]
        extension: Extension = []
        for item in result:
            if isinstance(item, tuple):
                extension.append((str(item[0]), str(item[1]) if len(item) > 1 else ""))
            else:
                extension.append((item.application, item.data or ""))
        return extension or None

    def inbound_call(self, destination: str, **options: Any) -> Channel:
        """A new inbound call (as if a SIP INVITE arrived) that runs the dialplan for ``destination``.

        ``options`` are those of :meth:`new_inbound_channel` (caller id, name, context, variables...).
        """
        channel = self.new_inbound_channel(destination, **options)
        self.channels.add(channel)
        channel.start(Route())
        return channel

    def new_inbound_channel(
        self,
        destination: str,
        *,
        caller_id_name: str = "",
        caller_id_number: str = "0000000000",
        name: str | None = None,
        context: str = "default",
        network_addr: str = "127.0.0.1",
        variables: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        uuid: str | None = None,
        kind: str = "sofia",
    ) -> Channel:
        """The channel :meth:`inbound_call` would run, built but neither registered nor started."""
        uuid = uuid or str(uuidlib.uuid4())
        name = name or f"sofia/internal/{caller_id_number}@{self.domain}"
        profile = CallerProfile(
            direction=INBOUND,
            logical_direction=INBOUND,
            username=caller_id_number,
            caller_id_name=caller_id_name,
            caller_id_number=caller_id_number,
            orig_caller_id_name=caller_id_name,
            orig_caller_id_number=caller_id_number,
            network_addr=network_addr,
            ani=caller_id_number,
            destination_number=destination,
            source="mod_sofia" if kind == "sofia" else f"mod_{kind}",
            context=context,
        )
        codec = ("PCMU", 8000, 64000) if kind == "sofia" else ("L16", 8000, 128000)
        channel = Channel(
            self, uuid=uuid, name=name, direction=INBOUND, profile=profile, codec=codec, kind=kind
        )
        for var, value in (
            ("direction", INBOUND),
            ("uuid", uuid),
            ("call_uuid", uuid),
            ("session_id", str(channel.session_id)),
            ("channel_name", name),
        ):
            channel.set_var(var, value)
        for var, value in dict(variables).items():
            channel.set_var(var, value)
        return channel

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run ``coroutine`` as a task the switch keeps a reference to until it is done."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def originate(self, argument: str) -> str:
        """``api originate <argument>`` (fires the API event); ``+OK <uuid>\\n`` or ``-ERR <CAUSE>\\n``."""
        return await self.api.execute("originate", argument)

    async def hangup_all(self, cause: str = "NORMAL_CLEARING") -> None:
        """Hang up every channel and wait until all are destroyed."""
        for channel in self.channels:
            channel.hangup(cause)
        await self.channels.wait_empty()
