"""End to end: fsim → mod_xml_curl → ecallmgr → route_req on RabbitMQ → a whapp parks the call, gets
route_win, drives it with call commands on ``callctl`` and watches its events and its one CDR."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from ecallmgr.service import Ecallmgr, EcallmgrSettings, NodeSpec
from fsim.channels.endpoints import Endpoint
from fsim.runtime import Simulator, SimulatorSettings
from tests.ecallmgr.whapp_stub import WAIT, Inbox, Message, TestWhapp

ENDLESS_TONE = "tone_stream://%(1000,0,440);loops=-1"  # plays until broken
SHORT_TONE = "tone_stream://%(100,100,350,440)"
FAR_END = "user/1001@127.0.0.1"  # fsim's simulated endpoint: answers, hangs up 2 s later


def playing(data: str) -> Callable[[Message], bool]:
    """A CHANNEL_EXECUTE of a playback of ``data``."""
    return lambda m: (
        m.get("Event-Name") == "CHANNEL_EXECUTE"
        and m.get("Application-Name") == "play"
        and m.get("Raw-Application-Data", m.get("Application-Data")) == data
    )


async def test_a_call_is_routed_parked_driven_by_commands_and_billed_once(amqp_url: str) -> None:
    tag = uuid.uuid4().hex[:12]
    settings = EcallmgrSettings(
        amqp_url=amqp_url, node=f"ecallmgr@e2e-{tag}", fetch_port=0, backoff_initial=0.01
    )
    call_id = str(uuid.uuid4())
    async with TestWhapp(amqp_url, tag) as whapp:
        whapp.expect(call_id)
        events = await whapp.watch(call_id)
        service = Ecallmgr(settings)
        async with service:
            sim_settings = SimulatorSettings(
                esl_port=0,
                time_scale=0.01,
                hostname=f"fs-{tag}",
                xml_curl_url=service.fetch.url,
                endpoints=[(FAR_END, Endpoint.answers(after=0.5, hangup_after=2))],
            )
            async with Simulator(sim_settings) as sim:
                node = await service.add_node(NodeSpec("fs1", "127.0.0.1", sim.esl_port))
                await node.wait_synced(WAIT)
                sim.switch.inbound_call("2000", caller_id_number="1000", uuid=call_id)

                win = await whapp.route_win(call_id)
                request = whapp.route_reqs[call_id]
                assert (request["Destination-Number"], request["Caller-ID-Number"]) == ("2000", "1000")
                assert win["Call-ID"] == call_id and win["Control-Queue"] == f"ctl.{call_id}"
                queue = win["Control-Queue"]

                async def send(name: str, **fields: object) -> Message:
                    return await whapp.command(call_id, queue, name, **fields)

                # answer, then a play at the tail
                answer = await send("answer")
                short = await send("play", **{"Media-Name": SHORT_TONE})
                for sent in (answer, short):
                    await whapp.completion(call_id, sent["Msg-ID"])

                # an endless playback runs; a tail play and a head noop queue behind it; a play with
                # Insert-At now interrupts it and runs next, then the head noop, then the tail play
                endless = await send("play", **{"Media-Name": ENDLESS_TONE})
                await events.wait_for(playing(ENDLESS_TONE))
                tail = await send("play", **{"Media-Name": SHORT_TONE})
                head = await send("noop", **{"Insert-At": "head"})
                now = await send("play", **{"Media-Name": SHORT_TONE, "Insert-At": "now"})
                await whapp.completion(call_id, tail["Msg-ID"])

                # a flush noop: the queued noop is dropped, the endless playback broken
                endless2 = await send("play", **{"Media-Name": ENDLESS_TONE})
                await events.wait_for(lambda m: playing(ENDLESS_TONE)(m) and _after(events, m, tail))
                dropped = await send("noop")
                flush = await send("noop", **{"Insert-At": "flush"})
                await whapp.completion(call_id, flush["Msg-ID"])

                # a short recording, then a bridge to the far end (which answers and hangs up)
                record = await send("record", **{"Media-Name": f"e2e-{tag}.wav", "Time-Limit": 1})
                bridge = await send(
                    "bridge",
                    Endpoints=[{"Invite-Format": "route", "Route": FAR_END}],
                    Timeout=20,
                )
                await whapp.completion(call_id, bridge["Msg-ID"])
                hangup = await send("hangup")
                await whapp.completion(call_id, hangup["Msg-ID"])
                await events.wait_for(lambda m: m.get("Event-Name") == "CHANNEL_DESTROY")

                ordered = [answer, short, endless, now, head, tail, endless2, flush, record, bridge, hangup]
                names = ["answer", "play", "play", "play", "noop", "play", "play", "noop", "record"]
                names += ["bridge", "hangup"]
                ids = {str(m["Msg-ID"]) for m in [*ordered, dropped]}
                got = whapp.completions(call_id, ids)
                assert [(m["Event-Name"], m["Application-Name"], m["Msg-ID"]) for m in got] == [
                    ("CHANNEL_EXECUTE_COMPLETE", name, m["Msg-ID"])
                    for name, m in zip(names, ordered, strict=True)
                ]
                by_id = {m["Msg-ID"]: m for m in got}
                assert by_id[head["Msg-ID"]]["Application-Response"] == head["Msg-ID"]
                assert by_id[flush["Msg-ID"]]["Application-Response"] == flush["Msg-ID"]
                assert by_id[short["Msg-ID"]]["Application-Response"] == "FILE PLAYED"
                assert by_id[bridge["Msg-ID"]]["Application-Response"] == "SUCCESS"
                bridged = await events.wait_for(lambda m: m.get("Event-Name") == "CHANNEL_BRIDGE")
                other_leg = bridged["Other-Leg-Call-ID"]
        # ecallmgr is closed: every CDR it published is confirmed; the marker goes after them
        await whapp.cdr_barrier()
        [cdr] = whapp.cdrs_of(call_id)
        assert cdr["Hangup-Cause"] == "NORMAL_CLEARING"
        assert cdr["Caller-ID-Number"] == "1000" and cdr["Other-Leg-Call-ID"] == other_leg
        assert cdr["Custom-Channel-Vars"]["Route-Win-Server-ID"] == whapp.bus.server_id
        assert len(whapp.cdrs_of(other_leg)) == 1  # the far end's leg: one CDR of its own


def _after(inbox: Inbox, message: Message, sent: Message) -> bool:
    """Whether ``message`` arrived after the completion of ``sent`` in ``inbox``."""
    messages = inbox.messages
    index = next(
        i
        for i, m in enumerate(messages)
        if m.get("Msg-ID") == sent["Msg-ID"] and m.get("Event-Name") == "CHANNEL_EXECUTE_COMPLETE"
    )
    return any(m is message for m in messages[index + 1 :])
