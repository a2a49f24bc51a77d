"""Originate: originate_req on the bus → ecallmgr → ``bgapi originate`` on fsim → originate_resp; then the
call is driven through its Control-Queue. Each test has its own in-memory broker, so no other ecallmgr
can take its requests; the answered case also runs once on the real RabbitMQ."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from ecallmgr.originate import OriginateFailed, originate_command
from ecallmgr.service import Ecallmgr, EcallmgrSettings, NodeSpec
from fsim.channels.endpoints import Endpoint
from fsim.runtime import Simulator, SimulatorSettings
from tests.ecallmgr.whapp_stub import WAIT, Message, TestWhapp

ANSWERS = "user/1001@127.0.0.1"
BUSY = "user/1002@127.0.0.1"
REJECTS = "user/1003@127.0.0.1"
RINGS = "user/1004@127.0.0.1"  # rings until the originate's own timeout
SHORT_TONE = "tone_stream://%(100,100,350,440)"


def _route(target: str) -> dict[str, Any]:
    return {"Invite-Format": "route", "Route": target}


# -- the originate command -------------------------------------------------------------------------------


def test_park_command_carries_uuid_caller_id_timeout_and_ccvs() -> None:
    request = {
        "Endpoints": [_route(ANSWERS), {"Invite-Format": "username", "To-User": "1004", "To-Realm": "r.com"}],
        "Application-Name": "park",
        "Timeout": 15,
        "Outbound-Caller-ID-Name": "Quick Call",
        "Outbound-Caller-ID-Number": "1000",
        "Custom-Channel-Vars": {"Account-ID": "acc1"},
    }
    assert originate_command(request, "call-1") == (
        "originate {origination_uuid=call-1,origination_caller_id_name='Quick Call',"
        "origination_caller_id_number=1000,originate_timeout=15,ecallmgr_Account-ID=acc1}"
        f"{ANSWERS},user/1004@r.com &park()"
    )


def test_bridge_and_transfer_applications() -> None:
    base = {"Endpoints": [_route(ANSWERS)], "Dial-Endpoint-Method": "single"}
    bridge = {**base, "Application-Name": "bridge", "Application-Data": {"Endpoints": [_route(BUSY)]}}
    assert originate_command(bridge, "c").endswith(f"}}{ANSWERS} &bridge({BUSY})")
    assert originate_command(
        {**base, "Application-Name": "bridge", "Application-Data": REJECTS}, "c"
    ).endswith(f" &bridge({REJECTS})")
    transfer = {**base, "Application-Name": "transfer", "Application-Data": "2000"}
    assert originate_command(transfer, "c").endswith(f"}}{ANSWERS} 2000 XML default")
    with pytest.raises(OriginateFailed):
        originate_command({**base, "Application-Name": "transfer"}, "c")
    with pytest.raises(OriginateFailed):
        originate_command({**base, "Application-Name": "park", "Custom-Channel-Vars": {"X": "a}b"}}, "c")


# -- end to end ------------------------------------------------------------------------------------------


@asynccontextmanager
async def _setup(
    *, with_node: bool = True, amqp_url: str | None = None
) -> AsyncIterator[tuple[TestWhapp, Ecallmgr]]:
    tag = uuid.uuid4().hex[:12]
    url = amqp_url or f"memory://originate-{tag}"
    settings = EcallmgrSettings(amqp_url=url, node=f"ecallmgr@orig-{tag}", fetch_port=0, backoff_initial=0.01)
    async with TestWhapp(url, tag) as whapp, Ecallmgr(settings) as service:
        if not with_node:
            yield whapp, service
            return
        sim_settings = SimulatorSettings(
            esl_port=0,
            time_scale=0.01,
            hostname=f"fs-{tag}",
            xml_curl_url=service.fetch.url,
            endpoints=[
                (ANSWERS, Endpoint.answers(after=0.5)),
                (BUSY, Endpoint.busy()),
                (REJECTS, Endpoint.rejects("CALL_REJECTED", after=0.2)),
                (RINGS, Endpoint.rings_out()),
            ],
        )
        async with Simulator(sim_settings) as sim:
            node = await service.add_node(NodeSpec("fs1", "127.0.0.1", sim.esl_port))
            await node.wait_synced(WAIT)
            yield whapp, service


async def _originate(whapp: TestWhapp, target: str, **fields: Any) -> Message:
    request = whapp.bus.build(
        "originate_req",
        {"Endpoints": [_route(target)], "Application-Name": "park", "Timeout": 20, **fields},
    )
    return await whapp.bus.request(request, timeout=WAIT)


@pytest.mark.parametrize("broker", ["memory", "rabbitmq"])
async def test_an_answered_originate_replies_its_control_queue_which_takes_commands(
    broker: str, request: pytest.FixtureRequest
) -> None:
    call_id = str(uuid.uuid4())
    amqp_url = request.getfixturevalue("amqp_url") if broker == "rabbitmq" else None
    async with _setup(amqp_url=amqp_url) as (whapp, _service):
        events = await whapp.watch(call_id)
        resp = await _originate(
            whapp, ANSWERS, **{"Outbound-Call-ID": call_id, "Custom-Channel-Vars": {"Account-ID": "acc1"}}
        )
        assert resp["Event-Name"] == "originate_resp"
        assert (resp["Call-ID"], resp["Control-Queue"]) == (call_id, f"ctl.{call_id}")
        assert "Error-Message" not in resp

        noop = await whapp.command(call_id, resp["Control-Queue"], "noop")
        play = await whapp.command(call_id, resp["Control-Queue"], "play", **{"Media-Name": SHORT_TONE})
        done = await whapp.completion(call_id, noop["Msg-ID"])
        assert done["Event-Name"] == "CHANNEL_EXECUTE_COMPLETE"
        assert done["Application-Response"] == noop["Msg-ID"]
        played = await whapp.completion(call_id, play["Msg-ID"])
        assert played["Event-Name"] == "CHANNEL_EXECUTE_COMPLETE"
        assert played["Application-Response"] == "FILE PLAYED"

        hangup = await whapp.command(call_id, resp["Control-Queue"], "hangup")
        await whapp.completion(call_id, hangup["Msg-ID"])
        await events.wait_for(lambda m: m.get("Event-Name") == "CHANNEL_DESTROY")


async def test_without_outbound_call_id_a_new_one_is_chosen() -> None:
    async with _setup() as (whapp, _service):
        resp = await _originate(whapp, ANSWERS)
        call_id = resp["Call-ID"]
        assert uuid.UUID(call_id) and resp["Control-Queue"] == f"ctl.{call_id}"
        await whapp.watch(call_id)
        hangup = await whapp.command(call_id, resp["Control-Queue"], "hangup")
        await whapp.completion(call_id, hangup["Msg-ID"])


@pytest.mark.parametrize(("target", "cause"), [(BUSY, "USER_BUSY"), (REJECTS, "CALL_REJECTED")])
async def test_a_failed_originate_replies_the_cause(target: str, cause: str) -> None:
    async with _setup() as (whapp, service):
        call_id = str(uuid.uuid4())
        resp = await _originate(whapp, target, **{"Outbound-Call-ID": call_id})
        assert resp["Hangup-Cause"] == cause
        assert cause in resp["Error-Message"]
        assert "Control-Queue" not in resp and "Call-ID" not in resp
        assert service.control_manager is not None and service.control_manager.get(call_id) is None  # type: ignore[attr-defined]


async def test_no_node_up_replies_node_down() -> None:
    async with _setup(with_node=False) as (whapp, _service):
        resp = await _originate(whapp, ANSWERS)
        assert resp["Hangup-Cause"] == "NODE_DOWN"
        assert "Control-Queue" not in resp


async def test_an_unexpected_error_replies_a_failure_and_the_consumer_carries_on() -> None:
    async with _setup() as (whapp, service):
        assert service.originate is not None

        def broken() -> None:
            raise RuntimeError("boom")

        original = service.originate.pick_node
        service.originate.pick_node = broken  # type: ignore[method-assign,assignment]
        resp = await _originate(whapp, ANSWERS)
        assert resp["Hangup-Cause"] == "NORMAL_TEMPORARY_FAILURE" and "boom" in resp["Error-Message"]
        service.originate.pick_node = original  # type: ignore[method-assign]
        resp = await _originate(whapp, BUSY)
        assert resp["Hangup-Cause"] == "USER_BUSY"


async def test_an_originate_without_a_result_in_time_kills_its_leg() -> None:
    async with _setup() as (whapp, service):
        assert service.originate is not None
        # the leg rings for 1000 simulated seconds (10 s here); ecallmgr gives up after 1 s
        service.originate.margin = -999
        call_id = str(uuid.uuid4())
        events = await whapp.watch(call_id)
        resp = await _originate(whapp, RINGS, **{"Outbound-Call-ID": call_id, "Timeout": 1000})
        assert resp["Hangup-Cause"] == "ORIGINATOR_CANCEL" and "Control-Queue" not in resp
        destroyed = await events.wait_for(lambda m: m.get("Event-Name") == "CHANNEL_DESTROY")
        assert destroyed["Hangup-Cause"] == "ORIGINATOR_CANCEL"  # killed, not left to ring out
