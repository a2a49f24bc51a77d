"""The scenario runner's view of a running fsim: :class:`SwitchScenario` implements ``ScenarioSwitch``.

``ScenarioRunner(scenario, SwitchScenario(switch, registrar), clock=switch.clock)`` plays a scenario against
the real call model: a caller is an inbound SIP call (``Switch.inbound_call``) that runs the dialplan (so
mod_xml_curl is asked), its DTMF arrives from the far end (``Channel.receive_dtmf``), devices register
through the :class:`~fsim.registrations.Registrar` (directory fetch, ``sofia::register``), and a scenario
endpoint becomes a simulated callee in ``switch.endpoints``.
"""

from __future__ import annotations

import asyncio
import uuid as uuidlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from fsim.channels.endpoints import Endpoint as Callee
from fsim.events import Event
from fsim.registrations import RegisterResult, Registrar
from fsim.scenario import Endpoint, RegistrationSpec
from fsim.switch import Switch

PAUSES = {"w": 0.5, "W": 1.0}  # FreeSWITCH's DTMF pause characters, in seconds


def callee(endpoint: Endpoint) -> Callee:
    """The simulated far end that plays a scenario endpoint's behaviour."""
    if endpoint.behaviour == "answer":
        return Callee.answers(after=endpoint.answer_after, hangup_after=endpoint.talk_time)
    if endpoint.behaviour == "busy":
        return Callee(answer_after=None, ring_after=None, reject_cause=endpoint.cause or "USER_BUSY")
    if endpoint.behaviour == "reject":
        return Callee.rejects(endpoint.cause or "CALL_REJECTED")
    return Callee.rings_out()


def callee_patterns(number: str) -> list[str]:
    """The dial targets that reach extension ``number``: ``user/<n>`` and its SIP contacts."""
    return [f"user/{number}", f"sofia/*/{number}@*", f"sofia/*/sip:{number}@*"]


@dataclass
class _CallLog:
    """The events of one channel since its creation, and each event name's read position."""

    events: list[Event] = field(default_factory=list)
    positions: dict[str, int] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    gone: bool = False


class SwitchScenario:
    """``fsim.scenario.ScenarioSwitch`` over a :class:`~fsim.switch.Switch` and its registrar.

    Call :meth:`start` before the first call (it subscribes to the switch's events) and :meth:`close`
    at the end (waiters get None). Times are simulated seconds of the switch's clock.
    """

    def __init__(self, switch: Switch, registrar: Registrar) -> None:
        self.switch = switch
        self.registrar = registrar
        self._logs: dict[str, _CallLog] = {}
        self._unsubscribe: Callable[[], None] | None = None

    def start(self) -> None:
        if self._unsubscribe is None:
            self._unsubscribe = self.switch.hub.subscribe(self._on_event)

    def close(self) -> None:
        """Stop listening; every pending and future ``wait_for_event`` returns None."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for log in self._logs.values():
            log.gone = True
            log.changed.set()

    def forget(self, uuid: str) -> None:
        """Drop the events kept for channel ``uuid`` (a long run can forget finished calls)."""
        self._logs.pop(uuid, None)

    def _on_event(self, event: Event) -> None:
        log = self._logs.get(event.get("Unique-ID") or "")
        if log is not None:
            log.events.append(event)
            if event.name == "CHANNEL_DESTROY":
                log.gone = True
            log.changed.set()

    # -- ScenarioSwitch ----------------------------------------------------------------------------

    async def place_call(self, caller: str, destination: str, variables: Mapping[str, str]) -> str:
        """An inbound SIP call from ``caller`` to ``destination``; it runs the dialplan at once."""
        self.start()
        uuid = str(uuidlib.uuid4())
        self._logs[uuid] = _CallLog()  # before the channel exists: nothing it fires is missed
        self.switch.inbound_call(destination, caller_id_number=caller, variables=variables, uuid=uuid)
        return uuid

    async def send_dtmf(self, uuid: str, digits: str) -> None:
        """The caller presses ``digits`` (``w``/``W`` pause half a second/a second)."""
        for digit in digits:
            if digit in PAUSES:
                await self.switch.clock.sleep(PAUSES[digit])
                continue
            channel = self.switch.channels.get(uuid)
            if channel is None:
                return
            channel.receive_dtmf(digit.upper())

    async def hangup(self, uuid: str, cause: str) -> None:
        channel = self.switch.channels.get(uuid)
        if channel is not None:
            channel.hangup(cause)

    async def wait_for_event(self, uuid: str, name: str, timeout: float | None) -> Event | None:
        """The next unread event ``name`` of channel ``uuid``; None on timeout or once the channel is gone.

        Channels not placed by :meth:`place_call` are followed from the first call on, not from creation.
        """
        log = self._logs.get(uuid)
        if log is None:
            if uuid not in self.switch.channels or self._unsubscribe is None:
                return None
            log = self._logs[uuid] = _CallLog()
        try:
            async with self.switch.clock.timeout(timeout):
                while True:
                    position = log.positions.get(name, 0)
                    for index in range(position, len(log.events)):
                        if log.events[index].name == name:
                            log.positions[name] = index + 1
                            return log.events[index]
                    log.positions[name] = len(log.events)
                    if log.gone:
                        return None
                    log.changed.clear()  # no await since the scan: no event can slip between
                    await log.changed.wait()
        except TimeoutError:
            return None

    async def register(self, registration: RegistrationSpec) -> RegisterResult:
        spec = registration
        return await self.registrar.register(
            spec.user, spec.realm, spec.password, spec.contact_uri, spec.expires, spec.user_agent,
            spec.network_ip, spec.network_port,
        )  # fmt: skip

    async def unregister(self, registration: RegistrationSpec) -> RegisterResult:
        spec = registration
        return await self.registrar.unregister(
            spec.user, spec.realm, spec.password, spec.contact_uri, spec.user_agent, spec.network_ip,
            spec.network_port,
        )  # fmt: skip

    def add_endpoint(self, endpoint: Endpoint) -> None:
        """Calls to ``user/<number>`` (or a SIP contact of that user) meet this callee from now on."""
        behaviour = callee(endpoint)
        for pattern in callee_patterns(endpoint.number):
            self.switch.endpoints.add(pattern, behaviour)
