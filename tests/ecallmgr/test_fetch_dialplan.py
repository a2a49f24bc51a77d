"""Dialplan fetches: recorded FreeSWITCH requests → route_req → route_resp → XML that fsim hunts."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from ecallmgr.fetch import FetchServer, PendingRouteWins, RouteWinner, route_win_message, send_route_win
from ecallmgr.fetch.dialplan import choose, dial_string, is_definitive
from fsim.dialplan_xml import Action, Route, route
from fsim.events import EventFactory, SwitchIdentity
from fsim.xml_curl import NotFound, XmlCurlClient
from tests.fsim.recordings import FREESWITCH
from whistle_common.bus import Bus, Delivery

SIP_REQUEST = FREESWITCH / "xml-curl-dialplan-request-sip.txt"
LOOPBACK_REQUEST = FREESWITCH / "xml-curl-dialplan-request.txt"
SIP_CALL_ID = "d5ad36d6-83d8-4968-bf1f-523d0b7afdd0"
TIMEOUT = 0.5  # the route deadline in these tests

Answer = Callable[[Delivery, Bus], Awaitable[None]]


def recorded(path: Any) -> tuple[bytes, dict[str, str], list[tuple[str, str]]]:
    """A recorded request's body (byte-exact), its headers and its decoded form pairs."""
    head, body = path.read_bytes().split(b"\r\n\r\n", 1)
    headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:])
    headers.pop("Host"), headers.pop("Content-Length")
    return body, headers, parse_qsl(body.decode(), keep_blank_values=True)


@dataclass
class Whapp:
    """A fake whapp pool member: records each route_req and answers it with ``answer``."""

    bus: Bus
    answer: Answer | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)

    async def on_route_req(self, delivery: Delivery) -> None:
        self.requests.append(delivery.message)
        if self.answer is not None:
            await self.answer(delivery, self.bus)


def resp(bus: Bus, method: str, **fields: Any) -> dict[str, Any]:
    """A route_resp from ``bus`` (wire-named ``fields``: Routes, Defer-Response, ...)."""
    return bus.build("route_resp", {"Method": method, **fields})


@dataclass
class Rig:
    server: FetchServer
    whapp: Whapp
    ecallmgr: Bus

    async def post(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        async with httpx.AsyncClient(trust_env=False) as http:
            return await http.post(self.server.url + "/dialplan", content=body, headers=headers, timeout=5)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    url = f"memory://fetch-dialplan-{uuid.uuid4().hex}"
    ecallmgr = Bus.from_url(url, app_name="ecallmgr", node="ecallmgr@test")
    whapp_bus = Bus.from_url(url, app_name="callflow", node="callflow@test")
    await ecallmgr.start()
    await whapp_bus.start()
    whapp = Whapp(whapp_bus)
    await whapp_bus.consume("callflow.route_req", whapp.on_route_req, bindings=[("callmgr", "route.req")])
    server = FetchServer(ecallmgr, port=0, route_timeout=TIMEOUT, authn_timeout=TIMEOUT)
    await server.start()
    try:
        yield Rig(server, whapp, ecallmgr)
    finally:
        await server.close()
        await whapp_bus.close()
        await ecallmgr.close()


def answering(*replies: Callable[[Bus], dict[str, Any]], delay: float = 0.0) -> Answer:
    async def answer(delivery: Delivery, bus: Bus) -> None:
        for make in replies:
            if delay:
                await asyncio.sleep(delay)
            await bus.reply(delivery.message, make(bus))

    return answer


async def hunt(rig: Rig, path: Any = SIP_REQUEST) -> Route | NotFound:
    body, headers, pairs = recorded(path)
    answer = await rig.post(body, headers)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/xml")
    return route(answer.text, pairs)


async def test_route_req_carries_the_recorded_sip_call(rig: Rig) -> None:
    rig.whapp.answer = answering(lambda bus: resp(bus, "park"))
    await hunt(rig)
    (request,) = rig.whapp.requests
    assert request["Event-Name"] == "route_req" and request["Server-ID"] == rig.ecallmgr.server_id
    assert request["Call-ID"] == SIP_CALL_ID
    assert request["From"] == "1000@127.0.0.1"
    assert request["To"] == "9999@127.0.0.1"
    assert request["Request"] == "9999@127.0.0.1"
    assert request["Caller-ID-Name"] == "SIPp Fixture" and request["Caller-ID-Number"] == "1000"
    assert request["Destination-Number"] == "9999"
    assert request["Call-Direction"] == "inbound"
    assert request["Switch-Hostname"] == "vm"
    assert request["User-Agent"] == "SIPp-fixture"
    assert request["Custom-SIP-Headers"] == {"X-Fixture-Header": "fixture-value-123"}
    assert request["Orig-IP"] == "127.0.0.1" and request["From-Tag"] == "7224SIPpTag001"


async def test_route_req_for_a_loopback_leg_falls_back_to_caller_profile(rig: Rig) -> None:
    rig.whapp.answer = answering(lambda bus: resp(bus, "park"))
    await hunt(rig, LOOPBACK_REQUEST)
    (request,) = rig.whapp.requests
    assert request["Call-ID"] == "f74689a5-feb2-4b4b-89b0-57e75ec326e0"
    assert request["From"] == "1000@norealm"
    assert request["Request"] == "xc_dest@norealm"
    assert request["Callee-ID-Name"] == "Outbound Call"


async def test_custom_channel_vars_come_from_ecallmgr_variables(rig: Rig) -> None:
    rig.whapp.answer = answering(lambda bus: resp(bus, "park"))
    body, headers, _ = recorded(SIP_REQUEST)
    body += b"&variable_ecallmgr_Account-ID=abc123&variable_ecallmgr_Authorizing-Type=device"
    await rig.post(body, headers)
    (request,) = rig.whapp.requests
    assert request["Custom-Channel-Vars"] == {"Account-ID": "abc123", "Authorizing-Type": "device"}


async def test_park_sets_the_winners_ccvs_and_exports_who_won(rig: Rig) -> None:
    ccvs = {"Account-ID": "a" * 32, "CallFlow-ID": "cf1"}
    rig.whapp.answer = answering(
        lambda bus: resp(bus, "park", **{"Custom-Channel-Vars": ccvs, "Pre-Park": "ring_ready"})
    )
    result = await hunt(rig)
    assert isinstance(result, Route)
    request = rig.whapp.requests[0]
    assert result.actions == [
        Action("set", f"ecallmgr_Account-ID={'a' * 32}"),
        Action("set", "ecallmgr_CallFlow-ID=cf1"),
        Action("export", "ecallmgr_Ecallmgr-Node=ecallmgr@test"),
        Action("export", f"ecallmgr_Fetch-ID={request['Msg-ID']}"),
        Action("export", f"ecallmgr_Route-Win-Server-ID={rig.whapp.bus.server_id}"),
        Action("ring_ready"),
        Action("park"),
    ]
    winner = rig.server.pending.pop(SIP_CALL_ID)
    assert winner is not None and winner.server_id == rig.whapp.bus.server_id
    assert winner.custom_channel_vars == ccvs


async def test_bridge_tries_each_route_then_hangs_up_with_the_cause(rig: Rig) -> None:
    routes = [
        {"Invite-Format": "route", "Route": "sofia/internal/2000@10.0.0.2"},
        {
            "Invite-Format": "username",
            "To-User": "2001",
            "To-Realm": "example.com",
            "Caller-ID-Number": "1000",
        },
    ]
    rig.whapp.answer = answering(lambda bus: resp(bus, "bridge", Routes=routes))
    result = await hunt(rig)
    assert isinstance(result, Route)
    assert result.actions == [
        Action("set", "hangup_after_bridge=true"),
        Action("set", "continue_on_fail=true"),
        Action("set", "failure_causes=NORMAL_CLEARING,ORIGINATOR_CANCEL,CRASH"),
        Action("bridge", "sofia/internal/2000@10.0.0.2"),
        Action("bridge", "[origination_caller_id_number=1000]user/2001@example.com"),
        Action("hangup", "${originate_disposition}"),
    ]
    assert SIP_CALL_ID not in rig.server.pending


async def test_error_responds_with_the_code_and_message(rig: Rig) -> None:
    rig.whapp.answer = answering(
        lambda bus: resp(bus, "error", **{"Route-Error-Code": "486", "Route-Error-Message": "Busy Here"})
    )
    result = await hunt(rig)
    assert isinstance(result, Route) and result.actions == [Action("respond", "486 Busy Here")]


async def test_no_answer_is_refused_with_604_within_the_deadline(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    started = time.monotonic()
    result = await hunt(rig)
    elapsed = time.monotonic() - started
    assert isinstance(result, Route) and result.actions == [Action("respond", "604 No Available Handlers")]
    assert TIMEOUT <= elapsed < TIMEOUT + 1.0
    assert any(SIP_CALL_ID == getattr(record, "call_id", None) for record in caplog.records)


async def test_a_definitive_park_stops_the_wait(rig: Rig) -> None:
    rig.server.dialplan.timeout = 5.0
    rig.whapp.answer = answering(lambda bus: resp(bus, "park"))
    started = time.monotonic()
    result = await hunt(rig)
    assert isinstance(result, Route) and result.actions[-1] == Action("park")
    assert time.monotonic() - started < 2.0


async def test_park_beats_an_earlier_error_and_a_deferred_bridge(rig: Rig) -> None:
    bridge = [{"Invite-Format": "route", "Route": "sofia/internal/2000@10.0.0.2"}]
    rig.whapp.answer = answering(
        lambda bus: resp(bus, "error", **{"Route-Error-Code": "404"}),
        lambda bus: resp(bus, "bridge", Routes=bridge, **{"Defer-Response": True}),
        lambda bus: resp(bus, "park"),
        delay=0.05,
    )
    result = await hunt(rig)
    assert isinstance(result, Route) and result.actions[-1] == Action("park")


async def test_a_deferred_reply_is_used_when_nobody_better_answers(rig: Rig) -> None:
    rig.whapp.answer = answering(
        lambda bus: resp(bus, "error", **{"Route-Error-Code": "404", "Defer-Response": True}),
        lambda bus: resp(bus, "park", **{"Defer-Response": True, "Server-ID": "fallback-whapp"}),
    )
    started = time.monotonic()
    result = await hunt(rig)
    assert time.monotonic() - started >= TIMEOUT  # deferred replies never end the wait
    assert isinstance(result, Route) and result.actions[-1] == Action("park")
    assert Action("export", "ecallmgr_Route-Win-Server-ID=fallback-whapp") in result.actions


def test_choice_rules() -> None:
    park, bridge, error = ({"Method": method} for method in ("park", "bridge", "error"))
    deferred_park = {"Method": "park", "Defer-Response": True}
    assert choose([]) is None
    assert choose([error, bridge, park]) is park
    assert choose([deferred_park, bridge]) is bridge  # a normal answer beats a deferred one
    assert choose([error, deferred_park]) is deferred_park  # but an error never beats a route
    assert choose([{"Method": "error", "Defer-Response": True}, error]) is error
    assert is_definitive(park) and is_definitive(bridge)
    assert not is_definitive(error) and not is_definitive(deferred_park)


async def test_the_simulators_xml_curl_client_gets_a_park(rig: Rig) -> None:
    rig.whapp.answer = answering(lambda bus: resp(bus, "park"))
    _, _, pairs = recorded(SIP_REQUEST)
    channel_data = [
        (k, v) for k, v in pairs if k.startswith(("Channel-", "Unique-ID", "Caller-", "variable_"))
    ]
    identity = SwitchIdentity(core_uuid=str(uuid.uuid4()), hostname="vm", ipv4="127.0.0.1", ipv6="::1")
    async with XmlCurlClient(rig.server.url, timeout=5, events=EventFactory(identity)) as client:
        answer = await client.fetch_dialplan(channel_data)
    result = route(answer, channel_data)
    assert isinstance(result, Route) and result.actions[-1] == Action("park")


async def test_malicious_values_are_escaped_and_never_expanded(rig: Rig) -> None:
    evil = {"Quote": 'a"b<c>&d', "Expand": "${system(rm -rf /)}", "Bad=Name": "x", "Line": "a\nb"}
    routes = [{"Invite-Format": "route", "Route": "sofia/internal/${bad}"}]
    rig.whapp.answer = answering(
        lambda bus: resp(bus, "park", **{"Custom-Channel-Vars": evil, "Ringback-Media": "</action><x/>&amp;"})
    )
    result = await hunt(rig)
    assert isinstance(result, Route)
    assert Action("set", 'ecallmgr_Quote=a"b<c>&d') in result.actions
    assert Action("set", "ringback=</action><x/>&amp;") in result.actions
    assert not any("${" in action.data or "\n" in action.data for action in result.actions)
    assert not any("Bad=Name" in action.data for action in result.actions)
    assert dial_string(routes[0]) == "sofia/internal/${bad}"  # bridge_actions then skips it
    rig.whapp.answer = answering(lambda bus: resp(bus, "bridge", Routes=routes))
    bridged = await hunt(rig)
    assert isinstance(bridged, Route) and not any(a.application == "bridge" for a in bridged.actions)
    rig.whapp.answer = answering(
        lambda bus: resp(bus, "error", **{"Route-Error-Code": "403", "Route-Error-Message": "no ${x} <&>"})
    )
    refused = await hunt(rig)
    assert isinstance(refused, Route) and refused.actions == [Action("respond", "403 no x <&>")]


def test_pending_route_wins_expire() -> None:
    now = [100.0]
    pending = PendingRouteWins(ttl=10, clock=lambda: now[0])
    pending.add("call-1", RouteWinner("whapp-q", {"Method": "park"}))
    assert pending.peek("call-1") is not None and len(pending) == 1
    now[0] += 11
    assert pending.pop("call-1") is None


async def test_route_win_goes_to_the_winner(rig: Rig) -> None:
    got: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def on_targeted(delivery: Delivery) -> None:
        await got.put(delivery.message)

    rig.whapp.bus.on_targeted(on_targeted)
    winner = RouteWinner(rig.whapp.bus.server_id, {"Custom-Channel-Vars": {"CallFlow-ID": "cf1"}})
    message = route_win_message(rig.ecallmgr, winner, "call-9", "ctl.call-9", switch_hostname="vm")
    assert message["Msg-ID"] == "call-9" and message["Control-Queue"] == "ctl.call-9"
    await send_route_win(rig.ecallmgr, winner, "call-9", "ctl.call-9", switch_hostname="vm")
    received = await asyncio.wait_for(got.get(), 2)
    assert received["Event-Name"] == "route_win" and received["Call-ID"] == "call-9"
    assert received["Custom-Channel-Vars"] == {"CallFlow-ID": "cf1"}


def test_the_winner_can_be_read_back_from_channel_variables() -> None:
    winner = RouteWinner.from_variables(
        {"variable_ecallmgr_Route-Win-Server-ID": "whapp-q", "variable_ecallmgr_Fetch-ID": "f1"}
    )
    assert winner is not None and (winner.server_id, winner.fetch_id) == ("whapp-q", "f1")
    assert RouteWinner.from_variables({}) is None


class RecordingQueues:
    """The call-control part as the dialplan fetch sees it: what was declared and deleted, in order."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str]] = []
        self.deleted = asyncio.Event()

    async def declare_queue(self, call_id: str) -> None:
        self.log.append(("declare", call_id))

    async def delete_queue(self, call_id: str) -> None:
        self.log.append(("delete", call_id))
        self.deleted.set()


async def test_the_control_queue_is_declared_while_routing_and_kept_for_a_park(rig: Rig) -> None:
    queues = RecordingQueues()
    rig.server.dialplan.control_queues = queues
    rig.whapp.answer = answering(lambda bus: resp(bus, "park"))
    assert isinstance(await hunt(rig), Route)
    winner = rig.server.pending.pop(SIP_CALL_ID)
    assert winner is not None and winner.queue_ready is not None
    await winner.queue_ready  # what the park awaits before sending route_win
    assert queues.log == [("declare", SIP_CALL_ID)]


async def test_a_call_routed_otherwise_has_its_early_control_queue_deleted(rig: Rig) -> None:
    queues = RecordingQueues()
    rig.server.dialplan.control_queues = queues
    rig.whapp.answer = answering(lambda bus: resp(bus, "error", **{"Route-Error-Code": "486"}))
    assert isinstance(await hunt(rig), Route)
    async with asyncio.timeout(5):
        await queues.deleted.wait()
    assert queues.log == [("declare", SIP_CALL_ID), ("delete", SIP_CALL_ID)]
