"""The bridge application: B legs to simulated endpoints, bridge events and variables, after-bridge rules."""

from __future__ import annotations

import asyncio

from fsim.channels.endpoints import Endpoint
from tests.fsim.test_calls_support import TIMEOUT, EventLog, execute, make_switch, originate_parked, run_app


async def test_bridge_to_an_answering_endpoint_and_the_far_end_hangs_up() -> None:
    switch = make_switch()
    log = EventLog(switch)
    switch.endpoints.add("user/1001", Endpoint.answers(after=2, hangup_after=30))
    a_uuid = await originate_parked(switch, log)
    await run_app(switch, log, a_uuid, "export", "exported_var=yes")
    mark = log.mark()
    complete = await run_app(switch, log, a_uuid, "bridge", "{bridge_var=1}user/1001")
    b_hangup = log.find("CHANNEL_HANGUP", {"Channel-Name": "sofia/internal/1001@127.0.0.1"}, since=mark)[0]
    b_uuid = b_hangup.get("Unique-ID") or ""
    assert b_hangup.get("variable_bridge_var") == "1" and b_hangup.get("variable_exported_var") == "yes"
    assert b_hangup.get("variable_last_bridge_role") == "originatee"
    bridge = log.find("CHANNEL_BRIDGE", since=mark)[0]
    assert bridge.headers[13:15] == [("Bridge-A-Unique-ID", a_uuid), ("Bridge-B-Unique-ID", b_uuid)]
    assert bridge.get("Other-Type") == "originatee" and bridge.get("Other-Leg-Unique-ID") == b_uuid
    assert log.find("CHANNEL_UNBRIDGE", {"Unique-ID": a_uuid}, since=mark)
    assert log.find("CHANNEL_STATE", {"Unique-ID": b_uuid, "Channel-State": "CS_EXCHANGE_MEDIA"})
    states = [
        event.get("Channel-Call-State")
        for event in log.find("CHANNEL_CALLSTATE", {"Unique-ID": a_uuid}, since=mark)
    ]
    assert states == ["RING_WAIT", "ACTIVE"]
    assert complete.get("variable_originate_disposition") == "SUCCESS"
    assert complete.get("variable_bridge_hangup_cause") == "NORMAL_CLEARING"
    assert (
        complete.get("variable_last_bridge_to") == b_uuid and complete.get("Application-Response") == "_none_"
    )
    b_complete = await log.wait("CHANNEL_HANGUP_COMPLETE", {"Unique-ID": b_uuid})
    assert int(b_complete.get("variable_billsec") or 0) >= 29  # the far end hung up 30 s after answering
    assert switch.channels.get(a_uuid).parked  # type: ignore[union-attr]  # no hangup_after_bridge: back in park
    await switch.hangup_all()


async def test_hangup_after_bridge_hangs_up_the_caller_with_the_far_end_cause() -> None:
    switch = make_switch()
    log = EventLog(switch)
    switch.endpoints.add(
        "user/1001", Endpoint(answer_after=1, hangup_after=5, hangup_cause="NORMAL_UNSPECIFIED")
    )
    a_uuid = await originate_parked(switch, log, hangup_after_bridge="true")
    await switch.sendmsg(a_uuid, execute("bridge", "user/1001"), None)
    hangup = await log.wait("CHANNEL_HANGUP", {"Unique-ID": a_uuid})
    assert hangup.get("Hangup-Cause") == "NORMAL_UNSPECIFIED"
    await asyncio.wait_for(switch.channels.wait_empty(), TIMEOUT)


async def test_failed_bridge_sets_the_disposition_and_hangs_up_unless_told_to_continue() -> None:
    switch = make_switch()
    log = EventLog(switch)
    switch.endpoints.add("user/1002", Endpoint.busy())
    switch.endpoints.add("user/1003", Endpoint.rings_out())
    a_uuid = await originate_parked(switch, log)
    # NO_ANSWER: the caller goes on
    complete = await run_app(switch, log, a_uuid, "bridge", "{originate_timeout=10}user/1003")
    assert complete.get("variable_originate_disposition") == "NO_ANSWER"
    assert complete.get("variable_DIALSTATUS") == "NOANSWER"
    await run_app(switch, log, a_uuid, "set", "continue_on_fail=USER_BUSY")
    complete = await run_app(switch, log, a_uuid, "bridge", "user/1002")
    assert (
        complete.get("variable_originate_disposition") == "USER_BUSY"
        and complete.get("variable_DIALSTATUS") == "BUSY"
    )
    assert a_uuid in switch.channels and switch.channels.get(a_uuid).ready  # type: ignore[union-attr]
    await run_app(switch, log, a_uuid, "unset", "continue_on_fail")
    await switch.sendmsg(a_uuid, execute("bridge", "user/1002"), None)
    hangup = await log.wait("CHANNEL_HANGUP", {"Unique-ID": a_uuid})
    assert hangup.get("Hangup-Cause") == "USER_BUSY"
    await asyncio.wait_for(switch.channels.wait_empty(), TIMEOUT)


async def test_caller_hanging_up_cancels_the_ringing_legs() -> None:
    switch = make_switch()
    log = EventLog(switch)
    switch.endpoints.add("user/*", Endpoint.rings_out())
    a_uuid = await originate_parked(switch, log)
    await switch.sendmsg(a_uuid, execute("bridge", "user/1001,user/1002"), None)
    await log.wait("CHANNEL_PROGRESS", {"Channel-Name": "sofia/internal/1002@127.0.0.1"})
    await switch.api.execute("uuid_kill", a_uuid)
    await asyncio.wait_for(switch.channels.wait_empty(), TIMEOUT)
    causes = {event.get("Channel-Name"): event.get("Hangup-Cause") for event in log.find("CHANNEL_HANGUP")}
    assert (
        causes["sofia/internal/1001@127.0.0.1"]
        == causes["sofia/internal/1002@127.0.0.1"]
        == "ORIGINATOR_CANCEL"
    )


async def test_dtmf_crosses_the_bridge() -> None:
    switch = make_switch()
    log = EventLog(switch)
    a_uuid = await originate_parked(switch, log)
    b_leg_uuid = "0082e6b9-d8fa-4377-987d-9451bf80442c"
    await switch.sendmsg(
        a_uuid, execute("bridge", f"{{origination_uuid={b_leg_uuid}}}loopback/answer_park/default"), None
    )
    await log.wait("CHANNEL_STATE", {"Unique-ID": b_leg_uuid, "Channel-State": "CS_EXCHANGE_MEDIA"})
    a_twin = switch.channels.get(a_uuid).loopback_peer.uuid  # type: ignore[union-attr]
    await switch.api.execute("uuid_send_dtmf", f"{a_twin} 7")  # heard by A, sent on to the B leg's twin
    dtmf = await log.wait(
        "DTMF",
        {"Channel-Name": "loopback/answer_park-b", "DTMF-Digit": "7"},
        predicate=lambda e: e.get("Unique-ID") != a_twin,
    )
    assert dtmf.get("DTMF-Duration") == "2000"
    await switch.hangup_all()
