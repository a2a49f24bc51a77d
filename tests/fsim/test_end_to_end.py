"""fsim as a whole, the issue's "done when": a stand-in for ecallmgr's mod_xml_curl endpoint (aiohttp) and an
ESL client, against a Simulator on free ports.

A scripted call goes through a dialplan fetch, parks, is driven by sendmsg from the ESL client and ends with
a CDR-bearing CHANNEL_HANGUP_COMPLETE; with xml_curl down the static dialplan routes; a device registers
through the directory fetch and the ESL client sees ``sofia::register``.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from fsim.cli import CallDriver, CallRequest
from fsim.client import EslClient, EslEvent
from fsim.runtime import Simulator, SimulatorSettings
from fsim.scenario import parse_scenario

TIMEOUT = 10.0
SCALE = 0.01  # a hundred simulated seconds per real second

PARK = """<document type="freeswitch/xml"><section name="dialplan"><context name="default">
  <extension name="ecallmgr_park"><condition field="destination_number" expression="^2000$">
    <action application="set" data="xml_curl_served=true"/>
    <action application="park"/>
  </condition></extension>
  <extension name="ecallmgr_ivr"><condition field="destination_number" expression="^ivr$">
    <action application="answer"/>
    <action application="playback" data="tone_stream://%(200,100,440);loops=2"/>
    <action application="park"/>
  </condition></extension>
</context></section></document>"""
DIRECTORY = """<document type="freeswitch/xml"><section name="directory"><domain name="127.0.0.1">
  <groups><group name="default"><users><user id="1000">
    <params><param name="password" value="1234"/></params>
    <variables><variable name="xml_curl_user" value="true"/></variables>
  </user></users></group></groups>
</domain></section></document>"""


@dataclass
class Ecallmgr:
    """Stands in for ecallmgr's mod_xml_curl endpoint: records each POSTed form, answers by section."""

    url: str = ""
    forms: list[dict[str, str]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        form = {name: str(value) for name, value in (await request.post()).items()}
        form["_content_type"] = request.headers.get("Content-Type", "")
        form["_user_agent"] = request.headers.get("User-Agent", "")
        self.forms.append(form)
        self.arrived.set()
        answer = DIRECTORY if form.get("section") == "directory" else PARK
        return web.Response(text=answer, content_type="text/xml")

    def sections(self, section: str) -> list[dict[str, str]]:
        return [form for form in self.forms if form.get("section") == section]


@pytest.fixture
async def ecallmgr() -> AsyncIterator[Ecallmgr]:
    stand_in = Ecallmgr()
    server = web.Application()
    server.router.add_post("/xml_curl", stand_in.handle)
    runner = web.AppRunner(server)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    stand_in.url = f"http://127.0.0.1:{port}/xml_curl"
    yield stand_in
    await runner.cleanup()


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@asynccontextmanager
async def running(**settings: Any) -> AsyncIterator[Simulator]:
    """A Simulator on a free ESL port, fast, named like the recording switch."""
    async with Simulator(SimulatorSettings(esl_port=0, time_scale=SCALE, hostname="vm", **settings)) as sim:
        yield sim


class Events:
    """An ESL client's events as they arrive; ``wait`` finds a past or future one."""

    def __init__(self, esl: EslClient) -> None:
        self.esl = esl
        self.seen: list[EslEvent] = []

    async def wait(
        self, name: str, uuid: str | None = None, *, predicate: Callable[[EslEvent], bool] | None = None
    ) -> EslEvent:
        async with asyncio.timeout(TIMEOUT):
            index = 0
            while True:
                while index < len(self.seen):
                    event = self.seen[index]
                    index += 1
                    if event.name == name and uuid in (None, event.get("Unique-ID")):
                        if predicate is None or predicate(event):
                            return event
                self.seen.append(await self.esl.event(timeout=TIMEOUT))


@asynccontextmanager
async def esl_client(sim: Simulator, *events: str) -> AsyncIterator[Events]:
    async with await EslClient.connect("127.0.0.1", sim.esl_port, "ClueCon") as esl:
        assert (await esl.subscribe(*events)).startswith("+OK event listener enabled")
        yield Events(esl)


async def test_a_scripted_call_is_routed_by_xml_curl_parks_obeys_sendmsg_and_ends_with_a_cdr(ecallmgr):
    scenario = parse_scenario(
        {"callers": [{"name": "alice", "from": "1000", "to": "2000", "talk_time": 3600,
                      "dtmf": [{"digits": "1", "after": "prompt"}]}]}
    )  # fmt: skip
    async with running(xml_curl_url=ecallmgr.url) as sim, esl_client(sim, "ALL") as events:
        played = sim.start_scenario(scenario)

        park = await events.wait("CHANNEL_PARK")
        uuid = park.get("Unique-ID")
        assert uuid
        await asyncio.wait_for(ecallmgr.arrived.wait(), TIMEOUT)
        [form] = ecallmgr.sections("dialplan")
        assert (form["_content_type"], form["_user_agent"]) == (
            "application/x-www-form-urlencoded",
            "freeswitch-xml/1.0",
        )
        assert {name: form[name] for name in ("hostname", "section", "tag_name", "Event-Name")} == {
            "hostname": "vm", "section": "dialplan", "tag_name": "", "Event-Name": "REQUEST_PARAMS",
        }  # fmt: skip
        assert form["Channel-State"] == "CS_ROUTING" and form["Unique-ID"] == uuid
        assert form["Caller-Destination-Number"] == form["Hunt-Destination-Number"] == "2000"
        assert form["Caller-Caller-ID-Number"] == "1000" and form["Caller-Context"] == "default"
        assert park.get("variable_xml_curl_served") == "true"  # the answer's extension ran
        assert park.get("Answer-State") == "ringing"  # ecallmgr's XML parks without answering

        esl = events.esl
        assert await esl.execute(uuid, "answer") == "+OK"
        await events.wait("CHANNEL_ANSWER", uuid)
        assert await esl.execute(uuid, "playback", "tone_stream://%(200,100,440);loops=2") == "+OK"
        stop = await events.wait("PLAYBACK_STOP", uuid)
        assert stop.get("Playback-Status") == "done"
        digit = await events.wait("DTMF", uuid)  # the caller pressed 1 after the prompt, per the scenario
        assert digit.get("DTMF-Digit") == "1"
        hangup = [("call-command", "hangup"), ("hangup-cause", "NORMAL_CLEARING")]
        assert await esl.sendmsg(uuid, hangup) == "+OK"

        complete = await events.wait("CHANNEL_HANGUP_COMPLETE", uuid)
        assert complete.get("Hangup-Cause") == complete.get("variable_hangup_cause") == "NORMAL_CLEARING"
        assert complete.get("variable_hangup_cause_q850") == "16"
        duration, billsec = int(complete.get("variable_duration")), int(complete.get("variable_billsec"))
        assert duration >= billsec >= 0
        for cdr_variable in ("start_stamp", "answer_stamp", "end_stamp", "start_epoch", "answer_uepoch"):
            assert complete.get(f"variable_{cdr_variable}"), cdr_variable
        assert [event.name for event in events.seen if event.get("Unique-ID") == uuid][-1:] == [
            "CHANNEL_HANGUP_COMPLETE"
        ]

        report = await asyncio.wait_for(played, TIMEOUT)
        [alice] = report.callers
        assert (alice.uuid, alice.answered, alice.digits_sent, alice.hung_up_by) == (
            uuid,
            True,
            ["1"],
            "remote",
        )


async def test_the_call_command_logic_routes_through_xml_curl_and_sends_digits_after_the_prompt(ecallmgr):
    lines: list[str] = []
    async with running(xml_curl_url=ecallmgr.url) as sim, esl_client(sim, "DTMF") as events:
        async with await EslClient.connect("127.0.0.1", sim.esl_port, "ClueCon") as esl:
            request = CallRequest("1000", "ivr", digits="12", dtmf_after="prompt", hangup_after=0.0)
            outcome = await asyncio.wait_for(CallDriver(esl, request, lines.append).run(), TIMEOUT)

        assert outcome.answered and outcome.digits_sent and outcome.established
        assert outcome.hangup_cause == "NORMAL_CLEARING"
        [form] = ecallmgr.sections("dialplan")  # the -b leg ran the dialplan, for "ivr", from 1000
        assert form["Channel-Name"] == "loopback/ivr-b" and form["Caller-Caller-ID-Number"] == "1000"
        assert form["variable_origination_uuid"] == outcome.uuid
        digits = [await events.wait("DTMF", predicate=lambda e, d=d: e.get("DTMF-Digit") == d) for d in "12"]
        assert {event.get("Channel-Name") for event in digits} == {"loopback/ivr-b"}
    assert lines[0] == f"call {outcome.uuid}: placed loopback/ivr/default from 1000"
    assert lines[-1].startswith(f"call {outcome.uuid}: hung up NORMAL_CLEARING")


async def test_with_xml_curl_down_the_static_dialplan_routes_the_call():
    lines: list[str] = []
    down = f"http://127.0.0.1:{closed_port()}/xml_curl"
    async with running(xml_curl_url=down, xml_curl_timeout=2.0) as sim:
        async with await EslClient.connect("127.0.0.1", sim.esl_port) as esl:
            parked = await CallDriver(
                esl, CallRequest("1000", "park_me", hangup_after=0.0), lines.append
            ).run()
        async with await EslClient.connect("127.0.0.1", sim.esl_port) as esl:
            unrouted = await CallDriver(esl, CallRequest("1000", "2000"), lines.append).run()

    assert parked.parked and parked.dialplan_uuid and parked.hangup_cause == "NORMAL_CLEARING"
    assert unrouted.hangup_cause == "NO_ROUTE_DESTINATION" and not unrouted.established


async def test_a_device_registers_through_the_directory_fetch_and_becomes_reachable(ecallmgr):
    scenario = parse_scenario(
        {"registrations": [{"user": "1000", "realm": "127.0.0.1", "password": "1234", "expires": 300}]}
    )
    async with running(xml_curl_url=ecallmgr.url, require_registration=True) as sim:
        async with esl_client(sim, "CUSTOM", "sofia::register", "sofia::register_attempt") as events:
            assert await events.esl.api("originate user/1000 &park()") == "-ERR USER_NOT_REGISTERED\n"

            report = await sim.run_scenario(scenario, timeout=TIMEOUT)

            register = await events.wait(
                "CUSTOM", predicate=lambda e: e.get("Event-Subclass") == "sofia::register"
            )
            assert (register.get("from-user"), register.get("status"), register.get("expires")) == (
                "1000", "Registered(UDP)", "300",
            )  # fmt: skip
            assert register.get("xml_curl_user") == "true"  # a variable only the fetched directory has
            assert register.get("contact") == '"" <sip:1000@127.0.0.1:5070>'
            [form] = ecallmgr.sections("directory")
            assert (form["action"], form["user"], form["domain"], form["sip_profile"]) == (
                "sip_auth", "1000", "127.0.0.1", "internal",
            )  # fmt: skip
            assert (form["tag_name"], form["key_name"], form["key_value"]) == ("domain", "name", "127.0.0.1")
            [(step, _, result)] = report.registrations
            assert (step, result.status) == ("register", 200)

            answer = await events.esl.api("originate user/1000 &park()")
            assert answer.startswith("+OK ")
            assert await events.esl.api(f"uuid_kill {answer.split()[1]}") == "+OK\n"
