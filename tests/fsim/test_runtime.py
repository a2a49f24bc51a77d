"""The wiring of a running fsim: the xml_curl dialplan hook and its static fallback, the static directory,
registered devices as dial targets, and the Simulator's lifetime (start, close, scenario)."""

from __future__ import annotations

import asyncio
import socket

import pytest
from aiohttp import web

from fsim.channels.endpoints import Endpoint
from fsim.client import EslClient, EslConnectionError
from fsim.clock import Clock
from fsim.directory import DirectoryUser
from fsim.events import EventFactory
from fsim.hub import EventHub
from fsim.registrations import Registrar
from fsim.runtime import DeviceEndpoints, Simulator, SimulatorSettings, dialplan_hook, static_directory
from fsim.scenario import parse_scenario
from fsim.xml_curl import SIP_AUTH_ORIGIN, XmlCurlClient
from tests.fsim.test_calls_support import EventLog, make_switch
from tests.fsim.test_xml_curl import FakeApplication, app  # noqa: F401  (the fake xml_curl web server)

TIMEOUT = 5.0
NOT_FOUND = (
    '<document type="freeswitch/xml"><section name="result"><result status="not found"/></section></document>'
)
ONLY_2000 = """<document type="freeswitch/xml"><section name="dialplan"><context name="default">
  <extension name="only_2000"><condition field="destination_number" expression="^2000$">
    <action application="park"/></condition></extension>
</context></section></document>"""
SIP_AUTH = [("action", "sip_auth"), ("key", "id"), ("user", "1000"), ("domain", "127.0.0.1")]


async def route_through(answer_url: str, destination: str, timeout: float = TIMEOUT) -> tuple[EventLog, str]:
    """Place an inbound call whose dialplan comes from ``answer_url``; the events and how it went."""
    switch = make_switch()
    log = EventLog(switch)
    async with XmlCurlClient(answer_url, timeout, switch.events, now_us=switch.clock.now_us) as client:
        switch.route_hook = dialplan_hook(switch, client)
        channel = switch.inbound_call(destination, caller_id_number="1000")
        outcome = await log.wait(predicate=lambda e: e.name in ("CHANNEL_PARK", "CHANNEL_HANGUP_COMPLETE"))
        channel.hangup()
        async with asyncio.timeout(TIMEOUT):
            await switch.channels.wait_empty()
    return log, outcome.name if outcome.name == "CHANNEL_PARK" else outcome.get("Hangup-Cause") or ""


@pytest.mark.parametrize(
    "answer",
    [(500, "oops"), (200, NOT_FOUND), (200, "<document><unclosed>"), (200, "<document/>")],
    ids=["http-500", "not-found", "garbage", "no-dialplan-section"],
)
async def test_an_unusable_dialplan_answer_falls_back_to_the_static_dialplan(app: FakeApplication, answer):  # noqa: F811
    app.answers.append(answer)
    _, outcome = await route_through(app.url, "park_me")  # park_me parks in the static dialplan
    assert outcome == "CHANNEL_PARK"
    assert len(app.requests) == 1


async def test_a_dialplan_without_a_matching_extension_hangs_up_instead_of_falling_back(app: FakeApplication):  # noqa: F811
    app.answers.append((200, ONLY_2000))
    _, outcome = await route_through(app.url, "park_me")
    assert outcome == "NO_ROUTE_DESTINATION"


async def test_a_dialplan_fetch_that_times_out_falls_back_to_the_static_dialplan(app: FakeApplication):  # noqa: F811
    release = asyncio.Event()

    async def stuck(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text=NOT_FOUND, content_type="text/xml")

    app.answers.append(stuck)
    try:
        _, outcome = await route_through(app.url, "park_me", timeout=0.2)
    finally:
        release.set()
    assert outcome == "CHANNEL_PARK"


async def test_the_xml_curl_answer_routes_the_call(app: FakeApplication):  # noqa: F811
    log, outcome = await route_through(app.url, "xc_dest")  # the recorded answer: set, answer, park
    assert outcome == "CHANNEL_PARK"
    assert log.find("CHANNEL_PARK")[0].get("variable_xml_curl_served") == "true"


async def test_without_xml_curl_the_request_params_event_is_numbered_but_never_fired():
    switch = make_switch()
    switch.route_hook = dialplan_hook(switch, None)
    log = EventLog(switch)
    channel = switch.inbound_call("park_me")
    await log.wait("CHANNEL_PARK")
    sequences = [event.sequence for event in log.events]
    missing = sorted(set(range(sequences[0], sequences[-1] + 1)) - set(sequences))
    assert len(missing) == 1 and not log.find("REQUEST_PARAMS")
    before = log.events[sequences.index(missing[0] - 1)]
    assert (before.name, before.get("Channel-State")) == ("CHANNEL_STATE", "CS_ROUTING")
    channel.hangup()


async def test_the_static_directory_knows_the_recording_switchs_users_of_its_domain():
    events = EventFactory()
    fetch = static_directory({"1000": "1234"}, "127.0.0.1", events=events)
    user = await fetch(SIP_AUTH)
    assert isinstance(user, DirectoryUser)
    assert (user.id, user.password, dict(user.variables)["effective_caller_id_name"]) == (
        "1000", "1234", "Extension 1000",
    )  # fmt: skip
    assert await fetch([("user", "1001"), ("domain", "127.0.0.1")]) is None
    assert await fetch([("user", "1000"), ("domain", "example.com")]) is None
    # Three lookups, three REQUEST_PARAMS numbers taken: the next event is the fourth.
    assert events.make("HEARTBEAT", SIP_AUTH_ORIGIN).sequence == 4


async def registered(endpoints: DeviceEndpoints, user: str = "1000") -> Registrar:
    hub = EventHub()
    registrar = Registrar(EventFactory(), hub, static_directory({user: "1234"}, "127.0.0.1"), Clock(0.01))
    endpoints.registrar = registrar
    result = await registrar.register(
        user, "127.0.0.1", "1234", f"sip:{user}@10.0.0.5:5070", 300, "ua", "10.0.0.5", 5070
    )
    assert result.status == 200
    return registrar


async def test_a_registered_device_answers_as_its_own_entry_or_its_contact_says():
    busy, rejects = Endpoint.busy(), Endpoint.rejects("CALL_REJECTED")
    endpoints = DeviceEndpoints(require_registration=True)
    assert endpoints.lookup("user/1000@127.0.0.1") is None  # USER_NOT_REGISTERED
    await registered(endpoints)
    assert endpoints.lookup("user/1000@127.0.0.1") is endpoints.default
    endpoints.add(
        "sofia/*/sip:1000@*", rejects
    )  # the device's contact: sofia/internal/sip:1000@10.0.0.5:5070
    assert endpoints.lookup("user/1000@127.0.0.1") is rejects
    endpoints.add("user/1000", busy)  # its own entry wins
    assert endpoints.lookup("user/1000@127.0.0.1") is busy
    assert endpoints.lookup("user/1001@127.0.0.1") is None
    assert endpoints.lookup("sofia/gateway/carrier/5551234") is endpoints.default


async def test_without_require_registration_any_user_answers_as_the_directory_says():
    endpoints = DeviceEndpoints()
    endpoints.add("user/1002", Endpoint.busy())
    assert endpoints.lookup("user/1001@127.0.0.1") is endpoints.default
    assert endpoints.lookup("user/1002@127.0.0.1") == Endpoint.busy()


# -- the Simulator ------------------------------------------------------------------------------------


def settings(**options: object) -> SimulatorSettings:
    return SimulatorSettings(**{"esl_port": 0, "time_scale": 0.01, **options})  # type: ignore[arg-type]


async def test_closing_hangs_up_every_call_then_says_goodbye_to_esl_clients():
    sim = Simulator(settings())
    await sim.start()
    esl = await EslClient.connect("127.0.0.1", sim.esl_port)
    await esl.subscribe("CHANNEL_PARK", "CHANNEL_HANGUP_COMPLETE")
    channel = sim.switch.inbound_call("park_me")
    assert (await esl.event()).name == "CHANNEL_PARK"

    await sim.close()

    complete = await esl.event()
    assert (complete.name, complete.get("Unique-ID")) == ("CHANNEL_HANGUP_COMPLETE", channel.uuid)
    assert complete.get("Hangup-Cause") == "SYSTEM_SHUTDOWN"
    with pytest.raises(EslConnectionError):
        await esl.event()
    assert esl.notice is not None and esl.notice.body.startswith(b"The system is being shut down")
    await esl.close()
    with pytest.raises(EslConnectionError):
        await EslClient.connect("127.0.0.1", sim.esl_port)
    assert not [task for task in asyncio.all_tasks() if task.get_name() == "registrar-expiry"]
    await sim.close()  # a second close does nothing


async def test_a_simulator_that_cannot_listen_raises_and_leaves_nothing_running():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        sim = Simulator(settings(esl_port=taken.getsockname()[1]))
        with pytest.raises(OSError):
            await sim.start()
    assert not [task for task in asyncio.all_tasks() if task.get_name() == "registrar-expiry"]
    with pytest.raises(RuntimeError):
        await sim.start()


async def test_the_settings_scenario_starts_with_the_simulator_and_reports_each_caller():
    scenario = parse_scenario(
        {"callers": [{"name": "bob", "from": "1001", "to": "answer_park", "talk_time": 5}]}
    )
    async with Simulator(settings(scenario=scenario)) as sim:
        assert sim.scenario_task is not None
        report = await asyncio.wait_for(sim.scenario_task, TIMEOUT)
    [bob] = report.callers
    assert (bob.answered, bob.hung_up_by) == (True, "caller")


async def test_a_scenario_that_outlives_its_timeout_is_stopped():
    scenario = parse_scenario({"callers": [{"from": "1001", "to": "park_me", "at": 3600}]})
    async with Simulator(settings()) as sim:
        with pytest.raises(TimeoutError):
            await sim.run_scenario(scenario, timeout=0.05)
        assert sim.scenario_task is not None and sim.scenario_task.cancelled()


async def test_registered_devices_and_scenario_endpoints_answer_bridges_to_user():
    scenario = parse_scenario({
        "registrations": [{"user": "1000", "realm": "127.0.0.1", "password": "1234"}],
        "endpoints": [{"number": "1000", "behaviour": "busy"}, {"number": "1001", "behaviour": "answer"}],
    })  # fmt: skip
    async with Simulator(settings(require_registration=True)) as sim:
        report = await sim.run_scenario(scenario, timeout=TIMEOUT)
        assert [result.status for _, _, result in report.registrations] == [200]
        assert await sim.switch.originate("user/1000 &park()") == "-ERR USER_BUSY\n"
        assert await sim.switch.originate("user/1001 &park()") == "-ERR USER_NOT_REGISTERED\n"
        assert sim.registrar.lookup("1000", "127.0.0.1") is not None


async def test_the_simulator_runs_the_switchs_heartbeat_for_esl_clients():
    async with Simulator(settings()) as sim:  # 20 simulated seconds: 0.2 real seconds at this scale
        async with await EslClient.connect("127.0.0.1", sim.esl_port) as esl:
            await esl.subscribe("HEARTBEAT")
            beat = await esl.event(timeout=TIMEOUT)
    assert (beat.name, beat.get("Event-Info")) == ("HEARTBEAT", "System Ready")
