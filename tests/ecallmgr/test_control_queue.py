"""CallControl / CallControlManager against a fake FreeSWITCH node and the in-memory bus."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from ecallmgr.control import CallControlManager
from whistle_common.bus.bus import Bus, Delivery
from whistle_common.bus.memory import MemoryBroker, MemoryTransport
from whistle_common.bus.transport import QueueSpec, RawDelivery, RawHandler

WAIT = 5.0
NODE = "fs1"


@dataclass
class Sent:
    uuid: str
    app: str
    arg: str | None
    event_uuid: str | None
    event_lock: bool
    loops: int


class FakeNode:
    """Records sendmsg/api; the test fires the CHANNEL_EXECUTE_COMPLETE events."""

    def __init__(self) -> None:
        self.connected = asyncio.Event()
        self.connected.set()
        self.sent: list[Sent] = []
        self.apis: list[str] = []
        self.sendmsg_reply = "+OK"
        self.api_replies: dict[str, str] = {}
        self._changed = asyncio.Condition()

    async def sendmsg(
        self,
        uuid: str,
        app: str,
        arg: str | None = None,
        *,
        event_uuid: str | None = None,
        event_lock: bool = False,
        loops: int = 1,
        timeout: float | None = None,
    ) -> str:
        async with self._changed:
            self.sent.append(Sent(uuid, app, arg, event_uuid, event_lock, loops))
            self._changed.notify_all()
        return self.sendmsg_reply

    async def api(self, command: str, *, timeout: float | None = None) -> str:
        async with self._changed:
            self.apis.append(command)
            self._changed.notify_all()
        return self.api_replies.get(command.split(" ")[0], "+OK\n")

    async def until(self, predicate: Callable[[], bool]) -> None:
        async with asyncio.timeout(WAIT), self._changed:
            await self._changed.wait_for(predicate)

    async def nth_sent(self, n: int) -> Sent:
        await self.until(lambda: len(self.sent) >= n)
        return self.sent[n - 1]


class SpyTransport(MemoryTransport):
    """The in-memory transport, telling whoever waits on :attr:`settled` about every ack and nack."""

    def __init__(self, broker: MemoryBroker) -> None:
        super().__init__(broker)
        self.settled = asyncio.Condition()

    async def consume(self, queue: str, handler: RawHandler, *, prefetch: int) -> Any:
        async def spied(raw: RawDelivery) -> None:
            ack, nack = raw.ack, raw.nack

            async def on_ack() -> None:
                await ack()
                async with self.settled:
                    self.settled.notify_all()

            async def on_nack(requeue: bool) -> None:
                await nack(requeue)
                async with self.settled:
                    self.settled.notify_all()

            raw.ack, raw.nack = on_ack, on_nack
            await handler(raw)

        return await super().consume(queue, spied, prefetch=prefetch)


class Harness:
    def __init__(self, ecallmgr: Bus, whapp: Bus, manager: CallControlManager, node: FakeNode) -> None:
        self.ecallmgr, self.whapp, self.manager, self.node = ecallmgr, whapp, manager, node
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.call_id = f"call-{uuid.uuid4().hex[:8]}"

    async def watch(self) -> None:
        async def on_event(delivery: Delivery) -> None:
            self.events.put_nowait(delivery.message)

        name = f"watch-{self.call_id}"
        await self.whapp.consume(
            QueueSpec(name, durable=False, exclusive=True, auto_delete=True),
            on_event,
            bindings=[("callevt", f"call.*.{self.call_id}")],
        )

    async def command(self, name: str, **fields: Any) -> dict[str, Any]:
        message = self.whapp.build(f"call_command.{name}", {"Call-ID": self.call_id, **fields})
        await self.whapp.send(message, routing_key=self.manager.control_queue_name(self.call_id))
        return message

    async def next_event(self) -> dict[str, Any]:
        async with asyncio.timeout(WAIT):
            return await self.events.get()

    def complete(self, sent: Sent, response: str = "_none_", **extra: str) -> bool:
        return self.manager.on_event(
            NODE,
            {
                "Event-Name": "CHANNEL_EXECUTE_COMPLETE",
                "Unique-ID": self.call_id,
                "Channel-State": "CS_EXECUTE",
                "Channel-Call-State": "ACTIVE",
                "Application": sent.app,
                "Application-Data": sent.arg or "",
                "Application-Response": response,
                "Application-UUID": sent.event_uuid or "",
                "Event-Date-Timestamp": "1700000000000000",
                **extra,
            },
        )

    async def until_queued(self, n: int) -> None:
        """Until the call's control holds ``n`` commands (running or queued)."""
        control = self.manager.get(self.call_id)
        assert control is not None
        async with asyncio.timeout(WAIT):
            await control.wait_for(lambda: control.held >= n)

    async def until_settled(self) -> None:
        """Until every command message of the call is acknowledged."""
        queue = queue_of(self)
        settled = self.ecallmgr.transport.settled  # type: ignore[attr-defined]
        async with asyncio.timeout(WAIT), settled:
            await settled.wait_for(
                lambda: not queue.pending and not any(c.in_flight for c in queue.consumers)
            )

    def destroy(self) -> None:
        self.manager.on_event(
            NODE,
            {
                "Event-Name": "CHANNEL_DESTROY",
                "Unique-ID": self.call_id,
                "Channel-State": "CS_DESTROY",
                "Hangup-Cause": "NORMAL_CLEARING",
            },
        )


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    name = f"control-{uuid.uuid4().hex}"
    url = f"memory://{name}"
    ecallmgr = Bus(SpyTransport(MemoryBroker.named(name)), app_name="ecallmgr", node="test")
    whapp = Bus.from_url(url, app_name="callflow", node="test")
    await ecallmgr.start()
    await whapp.start()
    node = FakeNode()
    manager = CallControlManager(ecallmgr, ecallmgr.origin, lambda name: node if name == NODE else None)
    h = Harness(ecallmgr, whapp, manager, node)
    await h.watch()
    await manager.adopt(h.call_id, NODE)
    try:
        yield h
    finally:
        await manager.close()
        await whapp.close()
        await ecallmgr.close()


def queue_of(h: Harness) -> Any:
    return h.ecallmgr.transport.broker.queues[h.manager.control_queue_name(h.call_id)]  # type: ignore[attr-defined]


# -- the tests --------------------------------------------------------------------------------------------


async def test_the_control_queue_is_durable_with_x_expires_and_adopt_is_idempotent(harness):
    h = harness
    queue = queue_of(h)
    assert h.manager.control_queue_name(h.call_id) == f"ctl.{h.call_id}"
    assert queue.spec.durable and queue.spec.arguments["x-expires"] == 600_000
    assert await h.manager.adopt(h.call_id, NODE) is h.manager.get(h.call_id)
    assert len(queue.consumers) == 1


async def test_commands_run_one_at_a_time_in_order_and_completions_carry_the_command_msg_id(harness):
    h = harness
    answer = await h.command("answer")
    play = await h.command("play", **{"Media-Name": "tone_stream://%(100,100,350,440)"})
    first = await h.node.nth_sent(1)
    assert (first.uuid, first.app, first.event_lock) == (h.call_id, "answer", True)
    assert first.event_uuid
    assert len(h.node.sent) == 1  # nothing else until answer completes
    assert h.complete(first) is True  # ours: the node must not publish it again
    done = await h.next_event()
    assert (done["Event-Name"], done["Application-Name"], done["Msg-ID"]) == (
        "CHANNEL_EXECUTE_COMPLETE",
        "answer",
        answer["Msg-ID"],
    )
    terminators = await h.node.nth_sent(2)
    assert (terminators.app, terminators.arg) == ("set", "playback_terminators=none")
    h.complete(terminators)
    playback = await h.node.nth_sent(3)
    assert (playback.app, playback.arg) == ("playback", "tone_stream://%(100,100,350,440)")
    assert len({s.event_uuid for s in h.node.sent}) == 3  # a fresh Event-UUID each time
    h.complete(playback, "FILE PLAYED")
    done = await h.next_event()
    assert (done["Application-Name"], done["Application-Response"], done["Msg-ID"]) == (
        "play",
        "FILE PLAYED",
        play["Msg-ID"],
    )
    assert done["Raw-Application-Name"] == "playback"


async def test_a_completion_that_is_not_ours_is_left_to_the_node(harness):
    h = harness
    foreign = Sent(h.call_id, "park", None, "not-ours", False, 1)
    assert h.complete(foreign) is False


async def test_tones_complete_under_their_own_name(harness):
    h = harness
    tones = await h.command("tones", Tones=[{"Frequencies": [440], "Duration-ON": 100, "Duration-OFF": 0}])
    h.complete(await h.node.nth_sent(1))
    h.complete(await h.node.nth_sent(2), "FILE PLAYED")
    done = await h.next_event()
    assert (done["Application-Name"], done["Msg-ID"]) == ("tones", tones["Msg-ID"])


async def test_noop_is_a_barrier_that_completes_with_its_msg_id_at_the_head(harness):
    h = harness
    await h.command("answer")
    noop = await h.command("noop")
    answer = await h.node.nth_sent(1)
    h.complete(answer)
    assert (await h.next_event())["Application-Name"] == "answer"
    done = await h.next_event()
    assert (done["Application-Name"], done["Application-Response"], done["Msg-ID"]) == (
        "noop",
        noop["Msg-ID"],
        noop["Msg-ID"],
    )
    assert len(h.node.sent) == 1  # noop ran nothing on FreeSWITCH


async def test_insert_at_head_goes_next(harness):
    h = harness
    await h.command("answer")
    answer = await h.node.nth_sent(1)
    await h.command("send_dtmf", DTMFs="1")
    await h.command("send_dtmf", DTMFs="2", **{"Insert-At": "head"})
    await h.until_queued(3)
    h.complete(answer)
    second = await h.node.nth_sent(2)
    assert second.arg == "2"
    h.complete(second)
    assert (await h.node.nth_sent(3)).arg == "1"


async def test_insert_at_now_breaks_what_runs_and_goes_next(harness):
    h = harness
    await h.command("play", **{"Media-Name": "silence_stream://60000"})
    await h.command("send_dtmf", DTMFs="9")
    h.complete(await h.node.nth_sent(1))
    playback = await h.node.nth_sent(2)
    await h.command("answer", **{"Insert-At": "now"})
    await h.node.until(lambda: f"uuid_break {h.call_id}" in h.node.apis)
    h.complete(playback, "FILE PLAYED")  # broken off
    assert (await h.next_event())["Application-Name"] == "play"
    assert (await h.node.nth_sent(3)).app == "answer"
    h.complete(h.node.sent[2])
    assert (await h.node.nth_sent(4)).arg == "9"


async def test_hangup_now_runs_at_once_beside_the_queue(harness):
    h = harness
    await h.command("answer")
    await h.node.nth_sent(1)
    hangup = await h.command("hangup", **{"Insert-At": "now"})
    done = await h.next_event()
    assert (done["Application-Name"], done["Msg-ID"]) == ("hangup", hangup["Msg-ID"])
    assert h.node.apis == [f"uuid_kill {h.call_id} NORMAL_CLEARING"]


async def test_insert_at_flush_breaks_all_empties_the_queue_then_runs_the_new_command(harness):
    h = harness
    await h.command("answer")
    await h.command("send_dtmf", DTMFs="1")
    await h.command("send_dtmf", DTMFs="2")
    answer = await h.node.nth_sent(1)
    await h.until_queued(2)
    noop = await h.command("noop", **{"Insert-At": "flush"})
    await h.node.until(lambda: f"uuid_break {h.call_id} all" in h.node.apis)
    h.complete(answer)
    assert (await h.next_event())["Application-Name"] == "answer"
    done = await h.next_event()
    assert (done["Application-Name"], done["Application-Response"]) == ("noop", noop["Msg-ID"])
    assert len(h.node.sent) == 1  # the flushed send_dtmfs never ran
    await h.until_settled()  # and they were acknowledged: nothing left in the control queue


async def test_a_refused_command_publishes_a_dialplan_error_and_the_queue_moves_on(harness):
    h = harness
    bad = await h.command("play", **{"Media-Name": "/system_media/vm-hello"})
    await h.command("answer")
    error = await h.next_event()
    assert (error["Event-Category"], error["Event-Name"]) == ("error", "dialplan")
    assert error["Dialplan-Error"] == "media_not_found"
    assert error["Error-Message"].startswith("Could not execute dialplan action")
    assert error["Msg-ID"] == bad["Msg-ID"] and error["Call-ID"] == h.call_id
    assert error["Request"]["Media-Name"] == "/system_media/vm-hello"
    assert "App-Name" not in error["Request"]
    assert (await h.node.nth_sent(1)).app == "answer"


async def test_freeswitch_errors_and_a_disconnected_node_become_dialplan_errors(harness):
    h = harness
    h.node.sendmsg_reply = f"-ERR invalid session id [{h.call_id}]"
    await h.command("answer")
    error = await h.next_event()
    assert error["Dialplan-Error"] == "nosession"
    h.node.sendmsg_reply = "+OK"
    h.node.api_replies["uuid_kill"] = "-ERR No such channel!\n"
    await h.command("hangup")
    assert (await h.next_event())["Dialplan-Error"] == "nosession"
    h.node.connected.clear()
    await h.command("answer")
    assert (await h.next_event())["Dialplan-Error"] == "NODE_DOWN"
    h.node.connected.set()
    h.node.up = False  # type: ignore[attr-defined]  # ecallmgr.node.FreeswitchNode says it with ``up``
    await h.command("answer")
    assert (await h.next_event())["Dialplan-Error"] == "NODE_DOWN"


async def test_after_channel_destroy_remaining_commands_fail_with_down_and_the_queue_goes(harness):
    h = harness
    h.manager.keep_alive = 0.0
    control = h.manager.get(h.call_id)
    control.keep_alive = 0.0
    await h.command("play", **{"Media-Name": "silence_stream://60000"})
    queued = await h.command("answer")
    await h.node.nth_sent(1)
    h.destroy()
    first = await h.next_event()
    second = await h.next_event()
    assert [first["Dialplan-Error"], second["Dialplan-Error"]] == ["DOWN", "DOWN"]
    assert second["Msg-ID"] == queued["Msg-ID"]
    assert second["Channel-State"] == "DOWN"
    async with asyncio.timeout(WAIT):
        await control.retired.wait()
    assert h.manager.get(h.call_id) is None
    # deleted at once, not left to x-expires: idle queues would pile up on the broker
    assert f"ctl.{h.call_id}" not in h.ecallmgr.transport.broker.queues  # type: ignore[attr-defined]


async def test_a_command_is_acknowledged_only_once_it_completed(harness):
    h = harness
    await h.command("answer")
    answer = await h.node.nth_sent(1)
    consumer = queue_of(h).consumers[0]
    assert consumer.in_flight == 1  # executing: not acknowledged yet
    h.complete(answer)
    await h.next_event()
    await h.until_settled()


async def test_closing_hands_unfinished_commands_back_to_the_queue(harness):
    h = harness
    await h.command("answer")
    await h.command("send_dtmf", DTMFs="5")
    await h.node.nth_sent(1)
    await h.until_queued(2)
    await h.manager.close()
    queue = queue_of(h)
    assert len(queue.pending) == 2 and all(m.redelivered for m in queue.pending)
    # a new ecallmgr adopting the call gets them again. (RabbitMQ requeues them where they were; the
    # in-memory broker's cancel puts them back in reverse order, so the order is not checked here.)
    fresh = CallControlManager(h.ecallmgr, h.ecallmgr.origin, lambda name: h.node)
    h.node.sent.clear()
    await fresh.adopt(h.call_id, NODE)
    first = await h.node.nth_sent(1)
    h.manager = fresh
    h.complete(first)
    second = await h.node.nth_sent(2)
    assert {first.app, second.app} == {"answer", "send_dtmf"}
    await fresh.close()


async def test_noop_now_with_filter_applications_drops_matching_commands_at_the_head(harness):
    h = harness
    await h.command("answer")
    answer = await h.node.nth_sent(1)
    await h.command("play", **{"Media-Name": "silence_stream://100"})
    await h.command("play", **{"Media-Name": "silence_stream://200"})
    await h.command("send_dtmf", DTMFs="3")
    await h.until_queued(4)
    noop = await h.command("noop", **{"Insert-At": "now", "Filter-Applications": ["play"]})
    done = await h.next_event()  # at once, beside the running answer
    assert (done["Application-Name"], done["Application-Response"]) == ("noop", noop["Msg-ID"])
    h.complete(answer)
    await h.next_event()
    assert (await h.node.nth_sent(2)).app == "send_dtmf"


async def test_hangup_other_leg_only_kills_the_leg_the_call_is_bridged_to(harness):
    h = harness
    h.manager.on_event(
        NODE, {"Event-Name": "CHANNEL_BRIDGE", "Unique-ID": h.call_id, "Other-Leg-Unique-ID": "b-leg-1"}
    )
    await h.command("hangup", **{"Other-Leg-Only": True, "Hangup-Cause": "USER_BUSY"})
    await h.next_event()
    assert h.node.apis == ["uuid_kill b-leg-1 USER_BUSY"]
