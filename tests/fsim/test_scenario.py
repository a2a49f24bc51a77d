"""Scenarios: the JSON format, its validation messages, the runner against a fake switch in virtual time."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest

from fsim.scenario import (
    Caller,
    DtmfStep,
    Endpoint,
    RegistrationSpec,
    Scenario,
    ScenarioError,
    ScenarioRunner,
    load_scenario,
    parse_scenario,
)
from tests.fsim.test_registrations import VirtualClock

EXAMPLE = {
    "time_scale": 0.01,
    "registrations": [
        {"user": "1000", "realm": "127.0.0.1", "password": "1234", "at": 0, "expires": 300,
         "unregister_at": 100}
    ],
    "endpoints": [
        {"number": "1001", "behaviour": "answer", "answer_after": 2, "talk_time": 30},
        {"number": "1002", "behaviour": "busy"},
        {"number": "1003", "behaviour": "reject", "cause": "call_rejected"},
        {"number": "1004", "behaviour": "no_answer"},
    ],
    "callers": [
        {
            "name": "alice", "from": "1000", "to": "ivr", "at": 1, "variables": {"sip_h_X-Test": "1"},
            "dtmf": [{"digits": "1", "after": "prompt", "delay": 0.5}, {"digits": "42#", "at": 12}],
            "talk_time": 20,
        },
        {"name": "bob", "from": 2000, "to": "silent", "hangup_at": 30, "hangup_cause": "ORIGINATOR_CANCEL"},
        {"name": "carol", "from": "3000", "to": "short", "talk_time": 60},
        {"from": "4000", "to": "ivr", "dtmf": [{"digits": "9", "after": "prompt", "timeout": 1}]},
    ],
}  # fmt: skip


def test_a_valid_scenario_becomes_dataclasses(tmp_path):
    path = tmp_path / "scenario.json"
    path.write_text(__import__("json").dumps(EXAMPLE))
    scenario = load_scenario(path)

    assert scenario.time_scale == 0.01
    assert scenario.registrations == (
        RegistrationSpec("1000", "127.0.0.1", "1234", at=0.0, expires=300, unregister_at=100.0),
    )
    assert scenario.registrations[0].contact_uri == "sip:1000@127.0.0.1:5070"
    assert scenario.endpoints == (
        Endpoint("1001", "answer", 2.0, None, 30.0),
        Endpoint("1002", "busy", 0.0, "USER_BUSY"),
        Endpoint("1003", "reject", 0.0, "CALL_REJECTED"),
        Endpoint("1004", "no_answer"),
    )
    alice, bob, _, anonymous = scenario.callers
    assert alice == Caller(
        "alice", "1000", "ivr", 1.0, {"sip_h_X-Test": "1"},
        (DtmfStep("1", after_prompt=True, delay=0.5), DtmfStep("42#", at=12.0)), talk_time=20.0,
    )  # fmt: skip
    assert (bob.caller, bob.hangup_at, bob.hangup_cause) == ("2000", 30.0, "ORIGINATOR_CANCEL")
    assert anonymous.name == "caller3"


def test_every_problem_is_reported_with_its_path():
    bad = {
        "time_scale": 0,
        "speed": 2,
        "registrations": [{"user": "1000", "password": "x", "expires": 0, "at": 10, "unregister_at": 5}],
        "endpoints": [
            {"number": "1001", "behaviour": "ring", "answer_after": -1},
            {"number": "1001", "behaviour": "busy", "cause": "NOT_A_CAUSE", "talk_time": 3},
        ],
        "callers": [
            {"name": "a", "from": "1000", "to": "", "hangup_cause": "BUSY",
             "dtmf": [{"digits": "12x"}, {"digits": "1", "at": 1, "after": "prompt"},
                      {"digits": "2", "after": "beep"}, {"digits": "3", "at": 2, "delay": 1}]},
            {"name": "a", "to": "1001", "variables": {"n": 1}, "dtmf": "123"},
            "not an object",
        ],
    }  # fmt: skip
    with pytest.raises(ScenarioError) as failure:
        parse_scenario(bad)
    assert failure.value.problems == [
        "$.speed: unknown field (allowed: callers, endpoints, registrations, time_scale)",
        "$.time_scale: must be > 0",
        "$.registrations[0].realm: is required",
        "$.registrations[0].unregister_at: must not come before at (10.0)",
        "$.registrations[0].expires: must be a whole number of seconds > 0 (unregister with unregister_at)",
        "$.endpoints[0].behaviour: must be answer, busy, reject or no_answer, not 'ring'",
        "$.endpoints[0].answer_after: must be a number of seconds >= 0",
        "$.endpoints[1].talk_time: only answering endpoints take talk_time (this one is busy)",
        "$.endpoints[1].cause: unknown hangup cause 'NOT_A_CAUSE' (e.g. NORMAL_CLEARING, USER_BUSY)",
        "$.callers[0].dtmf[0].digits: '12x': only 0-9, *, #, A-D (and w/W pauses) can be sent",
        '$.callers[0].dtmf[0]: needs exactly one of "at" (seconds after the answer) or "after": "prompt"',
        '$.callers[0].dtmf[1]: needs exactly one of "at" (seconds after the answer) or "after": "prompt"',
        "$.callers[0].dtmf[2].after: must be \"prompt\", not 'beep'",
        '$.callers[0].dtmf[3]: "delay" and "timeout" only go with "after": "prompt"',
        "$.callers[0].to: must be a non-empty string",
        "$.callers[0].hangup_cause: unknown hangup cause 'BUSY' (e.g. NORMAL_CLEARING, USER_BUSY)",
        "$.callers[1].from: is required",
        "$.callers[1].variables: must be an object of string values",
        "$.callers[1].dtmf: must be a list",
        "$.callers[2]: must be an object, not str",
        "$.endpoints[1].number: '1001' is already $.endpoints[0].number",
        "$.callers[1].name: 'a' is already $.callers[0].name",
    ]
    assert str(failure.value).startswith("invalid scenario:\n  $.speed: unknown field")


@pytest.mark.parametrize(
    ("source", "problem"),
    [("{not json", "$: not JSON"), ("[]", "$: must be an object, not list"),
     ('{"callers": {}}', "$.callers: must be a list")],
)  # fmt: skip
def test_malformed_documents(source, problem):
    with pytest.raises(ScenarioError) as failure:
        parse_scenario(source)
    assert failure.value.problems[0].startswith(problem)


@dataclass
class FakeCall:
    uuid: str
    fired: dict[str, list[object]] = field(default_factory=dict)
    taken: dict[str, int] = field(default_factory=dict)
    waiters: list[tuple[str, asyncio.Future[object | None]]] = field(default_factory=list)
    up: bool = True


class FakeSwitch:
    """ScenarioSwitch in virtual time. Destinations: ``ivr`` answers at +1 s and plays prompts that end
    +3 s and +10 s after the answer; ``short`` answers at +1 s, hangs up at +4 s; ``silent`` never answers."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.start = clock.now()
        self.log: list[tuple] = []
        self.calls: dict[str, FakeCall] = {}
        self._ids = itertools.count(1)
        self._tasks: list[asyncio.Task[None]] = []
        self.hangups_completed = 0

    def at(self) -> float:
        return self.clock.now() - self.start

    def fire(self, uuid: str, name: str) -> None:
        call = self.calls[uuid]
        if not call.up:
            return
        call.fired.setdefault(name, []).append(name)
        if name == "CHANNEL_HANGUP":
            call.up = False
        for waiter in list(call.waiters):
            wanted, future = waiter
            if not future.done() and (wanted == name or not call.up):
                future.set_result(None)

    async def _callee(self, uuid: str, destination: str) -> None:
        if destination == "silent":
            return
        await self.clock.sleep(1)
        self.fire(uuid, "CHANNEL_ANSWER")
        if destination == "short":
            await self.clock.sleep(3)
            self.log.append(("remote-hangup", self.at(), uuid))
            self.fire(uuid, "CHANNEL_HANGUP")
            return
        for pause in (3, 7):
            await self.clock.sleep(pause)
            self.fire(uuid, "PLAYBACK_STOP")

    async def place_call(self, caller: str, destination: str, variables: Mapping[str, str]) -> str:
        uuid = f"call-{next(self._ids)}"
        self.calls[uuid] = FakeCall(uuid)
        self.log.append(("place", self.at(), caller, destination, dict(variables)))
        self._tasks.append(asyncio.ensure_future(self._callee(uuid, destination)))
        return uuid

    async def wait_for_event(self, uuid: str, name: str, timeout: float | None) -> object | None:
        call = self.calls[uuid]
        while True:
            taken = call.taken.get(name, 0)
            if taken < len(call.fired.get(name, [])):
                call.taken[name] = taken + 1
                return call.fired[name][taken]
            if not call.up:
                return None
            future = asyncio.get_running_loop().create_future()
            call.waiters.append((name, future))
            timer = asyncio.ensure_future(self.clock.sleep(timeout)) if timeout is not None else None
            waits = {future, timer} if timer else {future}
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            call.waiters.remove((name, future))
            if timer is not None:
                timer.cancel()
            if not future.done():
                return None

    async def send_dtmf(self, uuid: str, digits: str) -> None:
        self.log.append(("dtmf", self.at(), uuid, digits))

    async def hangup(self, uuid: str, cause: str) -> None:
        if self.calls[uuid].up:
            self.log.append(("hangup", self.at(), uuid, cause))
            self.fire(uuid, "CHANNEL_HANGUP")
            await self.clock.sleep(0.5)  # the rest of the hangup (HANGUP_COMPLETE, DESTROY) takes a while
            self.hangups_completed += 1

    async def register(self, registration: RegistrationSpec) -> object:
        self.log.append(("register", self.at(), registration.user))
        return "registered"

    async def unregister(self, registration: RegistrationSpec) -> object:
        self.log.append(("unregister", self.at(), registration.user))
        return "unregistered"

    def add_endpoint(self, endpoint: Endpoint) -> None:
        self.log.append(("endpoint", self.at(), endpoint.number, endpoint.behaviour))


async def test_the_runner_plays_every_caller_on_its_own_timeline():
    clock = VirtualClock()
    switch = FakeSwitch(clock)
    runner = ScenarioRunner(parse_scenario(EXAMPLE), switch, clock)

    report = await clock.run(runner.run())
    for task in switch._tasks:
        task.cancel()

    by_time = sorted(switch.log, key=lambda entry: entry[1])
    assert by_time == [
        ("endpoint", 0.0, "1001", "answer"),
        ("endpoint", 0.0, "1002", "busy"),
        ("endpoint", 0.0, "1003", "reject"),
        ("endpoint", 0.0, "1004", "no_answer"),
        ("register", 0.0, "1000"),
        ("place", 0.0, "2000", "silent", {}),
        ("place", 0.0, "3000", "short", {}),
        ("place", 0.0, "4000", "ivr", {}),
        ("place", 1.0, "1000", "ivr", {"sip_h_X-Test": "1"}),  # alice is call-4
        ("remote-hangup", 4.0, "call-2"),  # carol's callee hangs up long before her talk_time
        ("dtmf", 5.5, "call-4", "1"),  # alice answered at 2, prompt ended at 5, then 0.5 s delay
        ("dtmf", 14.0, "call-4", "42#"),  # 12 s after alice's answer
        ("hangup", 22.0, "call-4", "NORMAL_CLEARING"),  # talk_time 20 after the answer
        ("hangup", 30.0, "call-1", "ORIGINATOR_CANCEL"),  # bob gave up ringing at hangup_at
        ("unregister", 100.0, "1000"),
    ]
    assert switch.hangups_completed == 2  # the runner never cancels a hangup it started
    alice, bob, carol, anonymous = report.callers
    assert (alice.uuid, alice.answered, alice.digits_sent, alice.hung_up_by) == (
        "call-4",
        True,
        ["1", "42#"],
        "caller",
    )
    assert (bob.answered, bob.hung_up_by) == (False, "caller")
    assert (carol.answered, carol.hung_up_by, carol.digits_sent) == (True, "remote", [])
    # The first prompt ends 3 s after the answer: a 1 s timeout misses it; the call is left up.
    assert (anonymous.missed_prompt, anonymous.digits_sent, anonymous.hung_up_by) == (True, [], None)
    assert [(action, result) for action, _, result in report.registrations] == [
        ("register", "registered"), ("unregister", "unregistered")
    ]  # fmt: skip


async def test_a_runner_without_a_clock_uses_the_scenarios_time_scale():
    from fsim.clock import Clock

    runner = ScenarioRunner(Scenario(time_scale=0.001), FakeSwitch(VirtualClock()))
    assert isinstance(runner.clock, Clock) and runner.clock.scale == 0.001
    assert (await runner.run()).callers == []
