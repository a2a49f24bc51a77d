"""Scripted callers, callees and devices for a simulation run: a JSON format, its dataclasses, a runner.

A scenario (all times in simulated seconds; ``time_scale`` is fsim.clock.Clock's scale, i.e. real seconds
per simulated second: 1 is real time, 0.01 runs 100 times faster)::

    {
      "time_scale": 0.01,
      "registrations": [{"user": "1000", "realm": "127.0.0.1", "password": "1234", "at": 0,
                         "expires": 300, "unregister_at": 120}],
      "endpoints": [{"number": "1001", "behaviour": "answer", "answer_after": 2},
                    {"number": "1002", "behaviour": "busy"},
                    {"number": "1003", "behaviour": "reject", "cause": "CALL_REJECTED"},
                    {"number": "1004", "behaviour": "no_answer"}],
      "callers": [{"name": "alice", "from": "1000", "to": "2000", "at": 1,
                   "variables": {"sip_h_X-Test": "1"},
                   "dtmf": [{"digits": "1", "after": "prompt"}, {"digits": "42#", "at": 12}],
                   "talk_time": 30, "hangup_at": 90, "hangup_cause": "NORMAL_CLEARING"}]
    }

* a caller's ``at`` counts from the start of the run; a DTMF step's ``at`` from the moment the call is
  answered; ``"after": "prompt"`` waits for the caller's next PLAYBACK_STOP (then ``delay`` seconds);
* ``talk_time`` hangs up that long after the answer, ``hangup_at`` that long after placing the call,
  answered or not (whichever comes first); without either the caller leaves the call up after its digits;
* an endpoint is a callee the switch simulates when a call is bridged to ``number``: it answers after
  ``answer_after`` seconds (and hangs up after ``talk_time`` if given), is busy (USER_BUSY), rejects
  with ``cause`` (CALL_REJECTED by default) or never answers.

:func:`parse_scenario` reports every problem at once, each with its path (``callers[0].dtmf[1].at``).
:class:`ScenarioRunner` plays a scenario against anything implementing :class:`ScenarioSwitch`.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from fsim.channels.states import HANGUP_CAUSES
from fsim.clock import Clock
from fsim.registrations import SimClock

Behaviour = Literal["answer", "busy", "reject", "no_answer"]
_DIGITS = re.compile(r"^[0-9*#A-Da-dwW]+$")


@dataclass(frozen=True)
class DtmfStep:
    """Digits a caller presses: ``at`` seconds after the answer, or after its next prompt (+ ``delay``)."""

    digits: str
    at: float | None = None
    after_prompt: bool = False
    delay: float = 0.0
    timeout: float | None = None  # how long to wait for the prompt to end (None: as long as the call lasts)


@dataclass(frozen=True)
class Caller:
    """One scripted call: ``caller`` dials ``destination`` at ``at``."""

    name: str
    caller: str
    destination: str
    at: float = 0.0
    variables: Mapping[str, str] = field(default_factory=dict)
    dtmf: tuple[DtmfStep, ...] = ()
    talk_time: float | None = None
    hangup_at: float | None = None
    hangup_cause: str = "NORMAL_CLEARING"


@dataclass(frozen=True)
class Endpoint:
    """A simulated callee for calls bridged to ``number``."""

    number: str
    behaviour: Behaviour = "answer"
    answer_after: float = 0.0
    cause: str | None = None  # the hangup cause of busy (USER_BUSY) and reject (CALL_REJECTED)
    talk_time: float | None = None


@dataclass(frozen=True)
class RegistrationSpec:
    """A device registering (what fsim.registrations.Registrar.register takes), optionally unregistering."""

    user: str
    realm: str
    password: str
    at: float = 0.0
    expires: int = 3600
    contact: str = ""  # sip:<user>@<network_ip>:<network_port> by default
    user_agent: str = "fsim-scenario"
    network_ip: str = "127.0.0.1"
    network_port: int = 5070
    unregister_at: float | None = None

    @property
    def contact_uri(self) -> str:
        return self.contact or f"sip:{self.user}@{self.network_ip}:{self.network_port}"


@dataclass(frozen=True)
class Scenario:
    time_scale: float = 1.0
    registrations: tuple[RegistrationSpec, ...] = ()
    endpoints: tuple[Endpoint, ...] = ()
    callers: tuple[Caller, ...] = ()


class ScenarioError(ValueError):
    """A scenario that does not validate; ``problems`` lists ``"path: what is wrong"`` lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid scenario:\n" + "\n".join(f"  {problem}" for problem in problems))
        self.problems = problems


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file (JSON)."""
    return parse_scenario(Path(path).read_text())


def parse_scenario(source: str | Mapping[str, Any]) -> Scenario:
    """Validate a scenario given as JSON text or already-decoded data; raises :class:`ScenarioError`."""
    if isinstance(source, str):
        try:
            source = json.loads(source)
        except json.JSONDecodeError as error:
            raise ScenarioError([f"$: not JSON ({error})"]) from None
    reader = _Reader()
    scenario = reader.scenario(source)
    if reader.problems:
        raise ScenarioError(reader.problems)
    return scenario


class _Reader:
    """Reads plain data into the dataclasses, noting every problem with its path instead of stopping."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def obj(
        self, data: Any, path: str, allowed: set[str], required: set[str] | None = None
    ) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            self.fail(path, f"must be an object, not {type(data).__name__}")
            return {}
        for key in sorted(set(data) - allowed):
            self.fail(f"{path}.{key}", f"unknown field (allowed: {', '.join(sorted(allowed))})")
        for key in sorted((required or set()) - set(data)):
            self.fail(f"{path}.{key}", "is required")
        return dict(data)

    def items(self, data: dict[str, Any], key: str, path: str) -> list[tuple[str, Any]]:
        value = data.get(key, [])
        if not isinstance(value, list):
            self.fail(f"{path}.{key}", "must be a list")
            return []
        return [(f"{path}.{key}[{index}]", item) for index, item in enumerate(value)]

    def text(self, data: dict[str, Any], key: str, path: str, default: str = "") -> str:
        value = data.get(key, default)
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)  # "1000" and 1000 both name extension 1000
        if not isinstance(value, str) or (key in data and not value):
            self.fail(f"{path}.{key}", "must be a non-empty string")
            return default
        return value

    def number(self, data: dict[str, Any], key: str, path: str, default: float | None = None) -> float | None:
        value = data.get(key, default)
        if value is None and key not in data:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            self.fail(f"{path}.{key}", "must be a number of seconds >= 0")
            return default
        return float(value)

    def cause(self, data: dict[str, Any], key: str, path: str, default: str | None) -> str | None:
        value = data.get(key, default)
        if value is not None and (not isinstance(value, str) or value.upper() not in HANGUP_CAUSES):
            self.fail(f"{path}.{key}", f"unknown hangup cause {value!r} (e.g. NORMAL_CLEARING, USER_BUSY)")
            return default
        return value.upper() if isinstance(value, str) else value

    def unique(self, values: list[str], path: str) -> None:
        first: dict[str, int] = {}
        for index, value in enumerate(values):
            if value in first:
                self.fail(path.format(index), f"{value!r} is already {path.format(first[value])}")
            first.setdefault(value, index)

    def scenario(self, data: Any) -> Scenario:
        data = self.obj(data, "$", {"time_scale", "registrations", "endpoints", "callers"})
        scale = self.number(data, "time_scale", "$", 1.0)
        if scale == 0:
            self.fail("$.time_scale", "must be > 0")
        registrations = tuple(
            self.registration(item, path) for path, item in self.items(data, "registrations", "$")
        )
        endpoints = tuple(self.endpoint(item, path) for path, item in self.items(data, "endpoints", "$"))
        callers = tuple(
            self.caller(item, path, index)
            for index, (path, item) in enumerate(self.items(data, "callers", "$"))
        )
        self.unique([endpoint.number for endpoint in endpoints], "$.endpoints[{}].number")
        self.unique([caller.name for caller in callers], "$.callers[{}].name")
        return Scenario(scale or 1.0, registrations, endpoints, callers)

    def registration(self, data: Any, path: str) -> RegistrationSpec:
        fields = {"user", "realm", "password", "at", "expires", "contact", "user_agent", "network_ip"}
        data = self.obj(data, path, fields | {"network_port", "unregister_at"}, {"user", "realm", "password"})
        at = self.number(data, "at", path, 0.0) or 0.0
        unregister_at = self.number(data, "unregister_at", path)
        if unregister_at is not None and unregister_at < at:
            self.fail(f"{path}.unregister_at", f"must not come before at ({at})")
        expires, port = data.get("expires", 3600), data.get("network_port", 5070)
        if isinstance(expires, bool) or not isinstance(expires, int) or expires <= 0:
            self.fail(
                f"{path}.expires", "must be a whole number of seconds > 0 (unregister with unregister_at)"
            )
            expires = 3600
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            self.fail(f"{path}.network_port", "must be a port number (1-65535)")
            port = 5070
        user, realm, password = (self.text(data, key, path) for key in ("user", "realm", "password"))
        contact, agent = (
            self.text(data, "contact", path),
            self.text(data, "user_agent", path, "fsim-scenario"),
        )
        ip = self.text(data, "network_ip", path, "127.0.0.1")
        return RegistrationSpec(user, realm, password, at, expires, contact, agent, ip, port, unregister_at)

    def endpoint(self, data: Any, path: str) -> Endpoint:
        data = self.obj(data, path, {"number", "behaviour", "answer_after", "cause", "talk_time"}, {"number"})
        behaviour = data.get("behaviour", "answer")
        if behaviour not in {"answer", "busy", "reject", "no_answer"}:
            self.fail(f"{path}.behaviour", f"must be answer, busy, reject or no_answer, not {behaviour!r}")
            behaviour = "answer"
        if "cause" in data and behaviour not in {"busy", "reject"}:
            self.fail(
                f"{path}.cause", f"only busy and reject endpoints take a cause (this one is {behaviour})"
            )
        default_cause = {"busy": "USER_BUSY", "reject": "CALL_REJECTED"}.get(behaviour)
        if behaviour != "answer":
            for key in sorted({"answer_after", "talk_time"} & set(data)):
                self.fail(f"{path}.{key}", f"only answering endpoints take {key} (this one is {behaviour})")
        return Endpoint(
            self.text(data, "number", path), behaviour, self.number(data, "answer_after", path, 0.0) or 0.0,
            self.cause(data, "cause", path, default_cause), self.number(data, "talk_time", path),
        )  # fmt: skip

    def caller(self, data: Any, path: str, index: int) -> Caller:
        allowed = {"name", "from", "to", "at", "variables", "dtmf", "talk_time", "hangup_at", "hangup_cause"}
        data = self.obj(data, path, allowed, {"from", "to"})
        variables = data.get("variables", {})
        if not isinstance(variables, Mapping) or not all(
            isinstance(key, str) and isinstance(value, str) for key, value in variables.items()
        ):
            self.fail(f"{path}.variables", "must be an object of string values")
            variables = {}
        dtmf = tuple(self.dtmf(item, step_path) for step_path, item in self.items(data, "dtmf", path))
        return Caller(
            self.text(data, "name", path, f"caller{index}"), self.text(data, "from", path),
            self.text(data, "to", path), self.number(data, "at", path, 0.0) or 0.0, dict(variables), dtmf,
            self.number(data, "talk_time", path), self.number(data, "hangup_at", path),
            self.cause(data, "hangup_cause", path, "NORMAL_CLEARING") or "NORMAL_CLEARING",
        )  # fmt: skip

    def dtmf(self, data: Any, path: str) -> DtmfStep:
        data = self.obj(data, path, {"digits", "at", "after", "delay", "timeout"}, {"digits"})
        digits = self.text(data, "digits", path)
        if digits and not _DIGITS.match(digits):
            self.fail(f"{path}.digits", f"{digits!r}: only 0-9, *, #, A-D (and w/W pauses) can be sent")
        if ("at" in data) == ("after" in data):
            self.fail(path, 'needs exactly one of "at" (seconds after the answer) or "after": "prompt"')
        if "after" in data and data["after"] != "prompt":
            self.fail(f"{path}.after", f'must be "prompt", not {data["after"]!r}')
        if "at" in data and ({"delay", "timeout"} & set(data)):
            self.fail(path, '"delay" and "timeout" only go with "after": "prompt"')
        return DtmfStep(
            digits, self.number(data, "at", path), "after" in data,
            self.number(data, "delay", path, 0.0) or 0.0, self.number(data, "timeout", path),
        )  # fmt: skip


class ScenarioSwitch(Protocol):
    """What the runner needs of the simulated switch (fsim.switch wires it; tests use a fake).

    Times are simulated seconds. ``wait_for_event`` returns the first event ``name`` (CHANNEL_ANSWER,
    PLAYBACK_STOP, CHANNEL_HANGUP) of channel ``uuid`` that no earlier ``wait_for_event`` for the same uuid
    and name has returned, counting from the channel's creation (so an answer that came while
    ``place_call`` was returning is not missed); None on timeout, or when the channel is gone without it.
    ``hangup`` of a channel that is already gone does nothing.
    """

    async def place_call(self, caller: str, destination: str, variables: Mapping[str, str]) -> str:
        """Start an inbound call from ``caller`` to ``destination``; returns the new channel's uuid."""
        ...

    async def send_dtmf(self, uuid: str, digits: str) -> None: ...

    async def hangup(self, uuid: str, cause: str) -> None: ...

    async def wait_for_event(self, uuid: str, name: str, timeout: float | None) -> object | None: ...

    async def register(self, registration: RegistrationSpec) -> object:
        """Register the device (Registrar.register with the spec's fields and contact_uri)."""
        ...

    async def unregister(self, registration: RegistrationSpec) -> object: ...

    def add_endpoint(self, endpoint: Endpoint) -> None:
        """From now on, calls bridged to ``endpoint.number`` meet this callee."""
        ...


@dataclass
class CallerOutcome:
    """What happened to one scripted caller."""

    name: str
    uuid: str | None = None
    answered: bool = False
    digits_sent: list[str] = field(default_factory=list)
    hung_up_by: str | None = None  # "caller" (its script), "remote" (the call ended otherwise), None: left up
    missed_prompt: bool = False  # a step's prompt never ended (its "timeout" passed or the call ended)


@dataclass
class ScenarioReport:
    """Each caller's outcome; (``"register"|"unregister"``, spec, switch result) per registration step."""

    callers: list[CallerOutcome]
    registrations: list[tuple[str, RegistrationSpec, object]] = field(default_factory=list)


class ScenarioRunner:
    """Plays a :class:`Scenario` against a :class:`ScenarioSwitch`, every caller and device concurrently."""

    def __init__(self, scenario: Scenario, switch: ScenarioSwitch, clock: SimClock | None = None) -> None:
        self.scenario = scenario
        self.switch = switch
        self.clock: SimClock = clock or Clock(scenario.time_scale)
        self._start = 0.0

    async def run(self) -> ScenarioReport:
        """Declare the endpoints, then run the registrations and the callers; returns when all are done."""
        self._start = self.clock.now()
        for endpoint in self.scenario.endpoints:
            self.switch.add_endpoint(endpoint)
        report = ScenarioReport([CallerOutcome(caller.name) for caller in self.scenario.callers])
        async with asyncio.TaskGroup() as group:
            for registration in self.scenario.registrations:
                group.create_task(self._registration(registration, report))
            for caller, outcome in zip(self.scenario.callers, report.callers, strict=True):
                group.create_task(self._caller(caller, outcome))
        return report

    async def _until(self, moment: float) -> None:
        await self.clock.sleep(max(0.0, moment - self.clock.now()))

    async def _registration(self, spec: RegistrationSpec, report: ScenarioReport) -> None:
        await self._until(self._start + spec.at)
        report.registrations.append(("register", spec, await self.switch.register(spec)))
        if spec.unregister_at is not None:
            await self._until(self._start + spec.unregister_at)
            report.registrations.append(("unregister", spec, await self.switch.unregister(spec)))

    async def _caller(self, spec: Caller, outcome: CallerOutcome) -> None:
        await self._until(self._start + spec.at)
        outcome.uuid = uuid = await self.switch.place_call(spec.caller, spec.destination, spec.variables)
        ended = asyncio.ensure_future(self.switch.wait_for_event(uuid, "CHANNEL_HANGUP", None))
        script = asyncio.ensure_future(self._script(spec, uuid, self.clock.now(), outcome))
        await asyncio.wait({ended, script}, return_when=asyncio.FIRST_COMPLETED)
        if outcome.hung_up_by != "caller":  # the call ended under the script: stop it (but never mid-hangup)
            script.cancel()
        await asyncio.gather(script, return_exceptions=True)
        ended.cancel()
        await asyncio.gather(ended, return_exceptions=True)
        if not script.cancelled() and script.exception() is not None:
            raise script.exception()  # type: ignore[misc]
        if outcome.hung_up_by is None and not ended.cancelled() and ended.result() is not None:
            outcome.hung_up_by = "remote"

    async def _script(self, spec: Caller, uuid: str, placed: float, outcome: CallerOutcome) -> None:
        if await self.switch.wait_for_event(uuid, "CHANNEL_ANSWER", spec.hangup_at) is None:
            if spec.hangup_at is not None:  # gave up ringing
                outcome.hung_up_by = "caller"
                await self.switch.hangup(uuid, spec.hangup_cause)
            return
        outcome.answered = True
        answered = self.clock.now()
        deadlines = [placed + spec.hangup_at] if spec.hangup_at is not None else []
        deadlines += [answered + spec.talk_time] if spec.talk_time is not None else []
        steps = asyncio.ensure_future(self._dtmf(spec, uuid, answered, outcome))
        if not deadlines:
            await steps
            return
        try:
            await self._until(min(deadlines))
        finally:
            steps.cancel()
            await asyncio.gather(steps, return_exceptions=True)
        if not steps.cancelled() and steps.exception() is not None:
            raise steps.exception()  # type: ignore[misc]
        outcome.hung_up_by = "caller"
        await self.switch.hangup(uuid, spec.hangup_cause)

    async def _dtmf(self, spec: Caller, uuid: str, answered: float, outcome: CallerOutcome) -> None:
        for step in spec.dtmf:
            if step.after_prompt:
                if await self.switch.wait_for_event(uuid, "PLAYBACK_STOP", step.timeout) is None:
                    outcome.missed_prompt = True
                    return
                await self.clock.sleep(step.delay)
            else:
                await self._until(answered + (step.at or 0.0))
            await self.switch.send_dtmf(uuid, step.digits)
            outcome.digits_sent.append(step.digits)
