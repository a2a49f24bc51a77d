"""The whole running fsim: a Switch, its Event Socket server, mod_xml_curl, the registrar, a scenario.

::

    settings = SimulatorSettings(esl_port=8021, xml_curl_url="http://127.0.0.1:8088/xml_curl", time_scale=0.1)
    async with Simulator(settings) as fsim:           # listening once the block starts
        await fsim.run_scenario(load_scenario("calls.json"), timeout=60)

Wiring, as FreeSWITCH does it:

* dialplan (CS_ROUTING): with an xml_curl URL every channel's data is POSTed (``section=dialplan``) and the
  answer hunted by :func:`fsim.dialplan_xml.route`; a failed fetch or a "not found" answer falls back to the
  static dialplan (:func:`fsim.channels.dialplan.static_dialplan`), an answer without a matching extension
  hangs up with NO_ROUTE_DESTINATION. Without xml_curl the static dialplan answers, and the REQUEST_PARAMS
  event FreeSWITCH builds is still numbered (not fired), so Event-Sequence numbers run as recorded;
* directory (REGISTER): the same binding with ``section=directory``, falling back to the static directory
  of the recording switch (users 1000 and 1001, password 1234, domain 127.0.0.1);
* dialing ``user/<id>`` reaches the registered device (its contact, ``Registration.dial_url``), which
  behaves as the scenario's endpoint for that number says (see :class:`DeviceEndpoints`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fsim import scenario_api
from fsim.channels.channel import Channel
from fsim.channels.dialplan import static_dialplan
from fsim.channels.endpoints import ANSWERS, Endpoint, EndpointDirectory
from fsim.dialplan_xml import Route, route
from fsim.directory import DirectoryUser
from fsim.esl.server import EslServer
from fsim.events import EventFactory, SwitchIdentity
from fsim.registrations import DirectoryFetch, Headers, Registrar, xml_curl_directory
from fsim.scenario import Scenario, ScenarioReport, ScenarioRunner
from fsim.scenario_adapter import SwitchScenario
from fsim.switch import RouteHook, Switch
from fsim.xml_curl import (
    DIALPLAN_ORIGIN,
    LOCATE_USER_ORIGIN,
    SIP_AUTH_ORIGIN,
    NotFound,
    XmlCurlClient,
    XmlCurlError,
)

log = logging.getLogger("fsim")

STATIC_USERS: Mapping[str, str] = {"1000": "1234", "1001": "1234"}  # the recording switch's directory


@dataclass(frozen=True)
class SimulatorSettings:
    """Everything ``whistle fsim`` can be told. Times: ``xml_curl_timeout`` real seconds (0: none),
    ``time_scale`` real seconds per simulated second (0.01 runs a hundred times faster than real time)."""

    esl_host: str = "127.0.0.1"
    esl_port: int = 8021  # 0: any free port (Simulator.esl_port tells which)
    esl_password: str = "ClueCon"
    xml_curl_url: str | None = None  # None: static dialplan and directory only
    xml_curl_timeout: float = 10.0
    time_scale: float = 1.0
    endpoints: Sequence[tuple[str, Endpoint]] = ()  # dial-target pattern -> simulated far end
    default_endpoint: Endpoint | None = ANSWERS  # a target nothing matches (None: it fails)
    require_registration: bool = False  # user/<id> fails USER_NOT_REGISTERED unless <id> is registered
    sounds_dir: str | None = None
    hostname: str | None = None  # FreeSWITCH-Hostname; the machine's name by default
    domain: str = "127.0.0.1"
    static_users: Mapping[str, str] = field(default_factory=lambda: dict(STATIC_USERS))
    scenario: Scenario | None = None  # started by Simulator.start()


def dialplan_hook(
    switch: Switch, client: XmlCurlClient | None, fallback: RouteHook = static_dialplan
) -> RouteHook:
    """The route hook of a switch whose dialplan comes from ``client`` (None: ``fallback`` only)."""

    async def hook(channel: Channel) -> Route | Any:
        data = channel.basic_headers() + channel.variable_headers()
        if client is None:
            switch.events.make("REQUEST_PARAMS", DIALPLAN_ORIGIN, data)  # numbered, never fired
            return await fallback(channel)
        try:
            result = route(await client.fetch_dialplan(data), data)
        except XmlCurlError as error:
            result = NotFound(str(error))
        if isinstance(result, NotFound):  # first: a NotFound is truthy
            log.warning(
                "xml_curl dialplan for %s: %s; using the static dialplan", channel.name, result.reason
            )
            return await fallback(channel)
        return result or None  # an empty Route: NO_ROUTE_DESTINATION

    return hook


def static_directory(
    users: Mapping[str, str], domain: str, *, events: EventFactory | None = None
) -> DirectoryFetch:
    """The static XML directory: ``users`` (id -> password) of ``domain``, with the recording's variables.

    With ``events`` it numbers the lookup's REQUEST_PARAMS event as FreeSWITCH does without xml_curl (as a
    fallback behind xml_curl it must not: the binding already took the number).
    """

    async def fetch(fields: Headers) -> DirectoryUser | NotFound | None:
        values = dict(fields)
        if events is not None:
            origin = SIP_AUTH_ORIGIN if values.get("action") == "sip_auth" else LOCATE_USER_ORIGIN
            events.make("REQUEST_PARAMS", origin, fields)
        user = values.get("user", "")
        if values.get("domain", "").lower() != domain.lower() or user not in users:
            return None
        variables = [
            ("record_stereo", "true"), ("transfer_fallback_extension", "operator"),
            ("user_context", "default"), ("effective_caller_id_name", f"Extension {user}"),
            ("effective_caller_id_number", user), ("accountcode", user),
        ]  # fmt: skip
        return DirectoryUser(user, domain, [("password", users[user])], variables)

    return fetch


class DeviceEndpoints(EndpointDirectory):
    """An :class:`EndpointDirectory` that knows registrations: ``user/<id>@<domain>`` reaches the device.

    A registered user answers as its own entry says (``user/<id>``, or a pattern matching its contact
    ``sofia/internal/sip:<id>@ip:port``), else as :attr:`default`. An unregistered user is
    USER_NOT_REGISTERED when ``require_registration``, else treated like any other target.
    """

    def __init__(self, default: Endpoint | None = ANSWERS, *, require_registration: bool = False) -> None:
        super().__init__(default)
        self.require_registration = require_registration
        self.registrar: Registrar | None = None

    def lookup(self, target: str) -> Endpoint | None:
        found = super().lookup(target)
        if not target.startswith("user/"):
            return found
        user, _, domain = target[len("user/") :].partition("@")
        registration = self.registrar.lookup(user, domain) if self.registrar is not None else None
        if registration is None:
            return None if self.require_registration else found
        if found is self.default:  # nothing explicit for user/<id>: try the device's contact
            return super().lookup(registration.dial_url)
        return found


class Simulator:
    """One running fsim. ``await start()`` listens; ``await close()`` hangs up every call and stops
    everything it started (ESL clients get the shutdown notice). Also an async context manager."""

    def __init__(self, settings: SimulatorSettings | None = None) -> None:
        self.settings = settings = settings or SimulatorSettings()
        identity = SwitchIdentity(hostname=settings.hostname) if settings.hostname else SwitchIdentity()
        self.endpoints = DeviceEndpoints(
            settings.default_endpoint, require_registration=settings.require_registration
        )
        for pattern, endpoint in settings.endpoints:
            self.endpoints.add(pattern, endpoint)
        self.switch = Switch(
            identity=identity,
            scale=settings.time_scale,
            endpoints=self.endpoints,
            domain=settings.domain,
            sounds_dir=settings.sounds_dir,
        )
        self.xml_curl: XmlCurlClient | None = None
        self.switch.route_hook = dialplan_hook(self.switch, None)
        self._directory: DirectoryFetch = static_directory(
            settings.static_users, settings.domain, events=self.switch.events
        )
        self.registrar = Registrar(self.switch.events, self.switch.hub, self._lookup_user, self.switch.clock)
        self.endpoints.registrar = self.registrar
        self.esl = EslServer(self.switch, settings.esl_host, settings.esl_port, settings.esl_password)
        self.scenario = SwitchScenario(self.switch, self.registrar)
        self._scenario_task: asyncio.Task[ScenarioReport] | None = None
        self._state = "new"

    @property
    def esl_port(self) -> int:
        """The Event Socket port (the one bound, once started)."""
        return self.esl.port

    @property
    def scenario_task(self) -> asyncio.Task[ScenarioReport] | None:
        """The scenario being (or last) played, if any; its result is the report."""
        return self._scenario_task

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Connect the xml_curl binding, start the registrar and the switch (its HEARTBEAT), listen for
        ESL clients, start the scenario.

        Raises OSError when the ESL port cannot be bound (everything started is stopped again).
        """
        if self._state != "new":
            raise RuntimeError("a Simulator starts once")
        self._state = "started"
        settings = self.settings
        if settings.xml_curl_url:
            self.xml_curl = XmlCurlClient(
                settings.xml_curl_url,
                settings.xml_curl_timeout or None,
                self.switch.events,
                now_us=self.switch.clock.now_us,
            )
            self.switch.route_hook = dialplan_hook(self.switch, self.xml_curl)
            static = static_directory(settings.static_users, settings.domain)
            self._directory = xml_curl_directory(self.xml_curl, static)
        self.registrar.start()
        self.scenario.start()
        self.switch.api.register("fsim_scenario", scenario_api.handler(self.play_scenario))
        try:
            await self.switch.start()
            await self.esl.start()
        except BaseException:
            await self.close()
            raise
        if settings.scenario is not None:
            self.start_scenario(settings.scenario)

    async def _lookup_user(self, fields: Headers) -> DirectoryUser | NotFound | None:
        return await self._directory(fields)

    def start_scenario(self, scenario: Scenario) -> asyncio.Task[ScenarioReport]:
        """Play ``scenario`` on this switch's clock (its own time_scale is ignored); the task's result is
        its report. One scenario at a time; :meth:`close` cancels it."""
        if self._scenario_task is not None and not self._scenario_task.done():
            raise RuntimeError("a scenario is already running")
        runner = ScenarioRunner(scenario, self.scenario, clock=self.switch.clock)
        task = asyncio.get_running_loop().create_task(runner.run(), name="fsim-scenario")
        task.add_done_callback(_log_scenario_end)
        self._scenario_task = task
        return task

    async def play_scenario(self, scenario: Scenario) -> ScenarioReport:
        """Play ``scenario`` to its end (no deadline: the scenario's own times bound it)."""
        return await self.start_scenario(scenario)

    async def run_scenario(self, scenario: Scenario, timeout: float) -> ScenarioReport:
        """Play ``scenario`` to its end; raises TimeoutError (and stops it) after ``timeout`` real seconds."""
        task = self.start_scenario(scenario)
        async with asyncio.timeout(timeout):
            return await task

    async def close(self, timeout: float = 5.0) -> None:
        """Stop the scenario, close the switch (its heartbeat; every channel hung up with SYSTEM_SHUTDOWN,
        ``timeout`` real seconds to finish, then cancelled), close the ESL server, the registrar and the
        xml_curl binding. Idempotent."""
        if self._state == "closed":
            return
        self._state = "closed"
        if self._scenario_task is not None:
            self._scenario_task.cancel()
            await asyncio.gather(self._scenario_task, return_exceptions=True)
        await self.switch.close("SYSTEM_SHUTDOWN", timeout)  # ESL clients still see the hangups
        await self.esl.close()
        await self.registrar.aclose()
        self.scenario.close()
        if self.xml_curl is not None:
            await self.xml_curl.aclose()


def _log_scenario_end(task: asyncio.Task[ScenarioReport]) -> None:
    if task.cancelled():
        return
    error = task.exception()
    if error is not None:
        log.error("fsim scenario failed", exc_info=error)
        return
    for outcome in task.result().callers:
        log.debug(
            "fsim scenario: %s (%s) answered=%s digits=%s hung up by %s",
            outcome.name, outcome.uuid, outcome.answered, "".join(outcome.digits_sent), outcome.hung_up_by,
        )  # fmt: skip
