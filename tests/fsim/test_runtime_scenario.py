"""The scenario runner's switch (fsim.scenario_adapter.SwitchScenario) over a real Switch and Registrar."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from fsim.channels.endpoints import Endpoint as Callee
from fsim.registrations import Registrar
from fsim.runtime import static_directory
from fsim.scenario import Endpoint, RegistrationSpec
from fsim.scenario_adapter import SwitchScenario, callee
from fsim.switch import Switch
from tests.fsim.test_calls_support import EventLog, make_switch

TIMEOUT = 5.0


@pytest.fixture
async def adapter() -> AsyncIterator[SwitchScenario]:
    switch = make_switch()
    registrar = Registrar(
        switch.events, switch.hub, static_directory({"1000": "1234"}, "127.0.0.1"), switch.clock
    )
    scenario_switch = SwitchScenario(switch, registrar)
    scenario_switch.start()
    yield scenario_switch
    scenario_switch.close()
    await hang_up_all(switch)


async def hang_up_all(switch: Switch) -> None:
    async with asyncio.timeout(TIMEOUT):
        await switch.hangup_all()


async def test_a_placed_call_is_an_inbound_sip_call_that_runs_the_dialplan(adapter: SwitchScenario):
    uuid = await adapter.place_call("1000", "answer_park", {"sip_h_X-Test": "1"})

    park = await adapter.wait_for_event(uuid, "CHANNEL_PARK", 60)
    assert park is not None
    assert park.get("Channel-Name") == "sofia/internal/1000@127.0.0.1"
    assert (park.get("Caller-Caller-ID-Number"), park.get("Caller-Destination-Number")) == (
        "1000",
        "answer_park",
    )
    assert park.get("variable_sip_h_X-Test") == "1"


async def test_each_event_is_returned_once_per_name_even_when_it_came_before_the_wait(
    adapter: SwitchScenario,
):
    uuid = await adapter.place_call("1000", "9999", {})  # answers, plays a tone, parks
    assert await adapter.wait_for_event(uuid, "CHANNEL_PARK", 60) is not None

    answer = await adapter.wait_for_event(uuid, "CHANNEL_ANSWER", 0)  # long past, still found
    assert answer is not None and answer.get("Unique-ID") == uuid
    assert await adapter.wait_for_event(uuid, "CHANNEL_ANSWER", 1) is None  # only one: a timeout
    assert await adapter.wait_for_event(uuid, "CHANNEL_PARK", 1) is None  # PARK's own position moved on


async def test_waiting_on_a_channel_that_is_gone_returns_none(adapter: SwitchScenario):
    uuid = await adapter.place_call("1000", "park_me", {})
    waiting = asyncio.ensure_future(adapter.wait_for_event(uuid, "CHANNEL_ANSWER", None))
    assert await adapter.wait_for_event(uuid, "CHANNEL_PARK", 60) is not None

    await adapter.hangup(uuid, "ORIGINATOR_CANCEL")

    assert await asyncio.wait_for(waiting, TIMEOUT) is None
    hangup = await adapter.wait_for_event(uuid, "CHANNEL_HANGUP", None)
    assert hangup is not None and hangup.get("Hangup-Cause") == "ORIGINATOR_CANCEL"
    assert await adapter.wait_for_event(uuid, "CHANNEL_HANGUP", None) is None
    await adapter.hangup(uuid, "NORMAL_CLEARING")  # gone: nothing happens
    assert await adapter.wait_for_event("no-such-uuid", "CHANNEL_ANSWER", None) is None


async def test_the_caller_presses_digits_that_arrive_as_dtmf_events(adapter: SwitchScenario):
    log = EventLog(adapter.switch)
    uuid = await adapter.place_call("1000", "answer_park", {})
    assert await adapter.wait_for_event(uuid, "CHANNEL_PARK", 60) is not None

    await adapter.send_dtmf(uuid, "1w2#")

    for _ in range(3):
        await adapter.wait_for_event(uuid, "DTMF", 60)
    assert [event.get("DTMF-Digit") for event in log.find("DTMF", {"Unique-ID": uuid})] == ["1", "2", "#"]


async def test_registering_a_spec_goes_through_the_registrar(adapter: SwitchScenario):
    spec = RegistrationSpec("1000", "127.0.0.1", "1234", expires=120, network_port=5080)

    result = await adapter.register(spec)

    assert result.status == 200 and result.registration is not None
    assert result.registration.dial_url == "sofia/internal/sip:1000@127.0.0.1:5080"
    assert (await adapter.unregister(spec)).status == 200
    assert adapter.registrar.lookup("1000", "127.0.0.1") is None
    assert (await adapter.register(RegistrationSpec("1000", "127.0.0.1", "wrong"))).status == 403


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        (Endpoint("1001", "answer", answer_after=2, talk_time=30), Callee.answers(2, hangup_after=30)),
        (Endpoint("1002", "busy", cause="USER_BUSY"), Callee.busy()),
        (Endpoint("1003", "reject", cause="CALL_REJECTED"), Callee.rejects("CALL_REJECTED")),
        (Endpoint("1004", "no_answer"), Callee.rings_out()),
    ],
)
def test_each_scenario_behaviour_becomes_a_simulated_callee(endpoint: Endpoint, expected: Callee):
    assert callee(endpoint) == expected


async def test_an_added_endpoint_meets_calls_to_its_user_and_its_sip_contacts(adapter: SwitchScenario):
    adapter.add_endpoint(Endpoint("1002", "reject", cause="CALL_REJECTED"))
    switch = adapter.switch

    assert await switch.originate("user/1002 &park()") == "-ERR CALL_REJECTED\n"
    assert await switch.originate("sofia/internal/sip:1002@10.1.2.3:5060 &park()") == "-ERR CALL_REJECTED\n"
    assert (await switch.originate("user/1003 &park()")).startswith("+OK ")  # the default answers
