"""ecallmgr.node and ecallmgr.publisher against fsim (real sockets) and the in-memory bus; one test on the
real RabbitMQ (the CDR's durability)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import pytest

from ecallmgr.fetch import PendingRouteWins, RouteWinner
from ecallmgr.node import FreeswitchNode, NodeSet, parse_channels
from ecallmgr.publisher import EventPublisher, registration_flush
from fsim.esl.server import EslServer
from fsim.events import Origin as FsOrigin
from fsim.runtime import Simulator, SimulatorSettings
from whistle_common.bus import Bus, Delivery, QueueSpec

WAIT = 10.0  # seconds any single expectation may take


class Watcher:
    """A whapp on the bus: every message on callevt and callmgr registration.#, with a way to wait."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.targeted: list[Delivery] = []
        self._changed = asyncio.Condition()

    async def on_delivery(self, delivery: Delivery) -> None:
        async with self._changed:
            self.deliveries.append(delivery)
            self._changed.notify_all()

    async def on_targeted(self, delivery: Delivery) -> None:
        async with self._changed:
            self.targeted.append(delivery)
            self._changed.notify_all()

    async def until(self, predicate: Callable[[], bool]) -> None:
        async with asyncio.timeout(WAIT), self._changed:
            await self._changed.wait_for(predicate)

    def named(self, name: str) -> list[dict[str, Any]]:
        return [d.message for d in self.deliveries if d.message.get("Event-Name") == name]


class FakeControl:
    """A CallControlManager stand-in: records adoptions and events."""

    def __init__(self) -> None:
        self.adopted: list[tuple[str, str]] = []
        self.events: list[tuple[str, str]] = []
        self.publishes_itself: set[str] = set()  # event names on_event claims (returns True for)
        self.downs: list[str] = []
        self._changed = asyncio.Condition()

    async def adopt(self, call_id: str, node_name: str) -> None:
        async with self._changed:
            self.adopted.append((call_id, node_name))
            self._changed.notify_all()

    def on_event(self, node_name: str, fs_event: Mapping[str, str]) -> bool:
        self.events.append((node_name, fs_event.get("Event-Name", "")))
        return fs_event.get("Event-Name") in self.publishes_itself

    def node_down(self, node_name: str) -> None:
        self.downs.append(node_name)

    def control_queue_name(self, call_id: str) -> str:
        return f"ctl.{call_id}"

    async def until(self, predicate: Callable[[], bool]) -> None:
        async with asyncio.timeout(WAIT), self._changed:
            await self._changed.wait_for(predicate)


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(SimulatorSettings(esl_port=0, time_scale=0.01)) as simulator:
        yield simulator


@pytest.fixture
async def buses() -> AsyncIterator[tuple[Bus, Bus]]:
    """(ecallmgr's bus, a whapp's bus) on one in-memory broker."""
    url = f"memory://node-{uuid.uuid4().hex}"
    ecallmgr = Bus.from_url(url, app_name="ecallmgr", node="ecallmgr@test")
    whapp = Bus.from_url(url, app_name="whapp", node="whapp@test")
    await ecallmgr.start()
    await whapp.start()
    try:
        yield ecallmgr, whapp
    finally:
        await whapp.close()
        await ecallmgr.close()


@pytest.fixture
async def watcher(buses: tuple[Bus, Bus]) -> Watcher:
    watcher = Watcher()
    whapp = buses[1]
    whapp.on_targeted(watcher.on_targeted)
    await whapp.consume(
        QueueSpec(f"watch-{uuid.uuid4().hex}", durable=False, auto_delete=True),
        watcher.on_delivery,
        bindings=[("callevt", "#"), ("callmgr", "registration.#")],
    )
    return watcher


@pytest.fixture
def control() -> FakeControl:
    return FakeControl()


@pytest.fixture
async def node(sim: Simulator, buses: tuple[Bus, Bus], control: FakeControl) -> AsyncIterator[FreeswitchNode]:
    bus = buses[0]
    publisher = EventPublisher(bus)
    fs_node = FreeswitchNode(
        "fs1",
        "127.0.0.1",
        sim.esl_port,
        "ClueCon",
        bus=bus,
        publisher=publisher,
        control_manager=control,
        pending_route_wins=PendingRouteWins(),
        backoff_initial=0.01,
    )
    await fs_node.start()
    await fs_node.wait_synced(WAIT)
    try:
        yield fs_node
    finally:
        await fs_node.close()
        await publisher.close()


async def settle(node: FreeswitchNode, watcher: Watcher, bus: Bus) -> None:
    """Everything the node has been sent is handled and on the bus: an api round trip (its reply follows
    every earlier event on the socket), the CDRs confirmed, then a sentinel behind them in the queue."""
    await node.api("status")
    await node.publisher.flush(WAIT)
    sentinel = bus.build("call_event", event_name="CHANNEL_CREATE", call_id=f"sentinel-{uuid.uuid4().hex}")
    await bus.send(sentinel)
    await watcher.until(lambda: any(d.message["Msg-ID"] == sentinel["Msg-ID"] for d in watcher.deliveries))


async def originate_answered(node: FreeswitchNode, call_id: str | None = None) -> str:
    """A loopback call whose dialplan leg answers and parks; returns the -a leg's uuid."""
    variables = f"{{origination_uuid={call_id}}}" if call_id else ""
    reply = await node.bgapi(f"originate {variables}loopback/answer_park/default &park()", timeout=WAIT)
    assert reply.startswith("+OK "), reply
    return reply.split()[1]


# -- events, CDRs, registrations ------------------------------------------------------------------------


async def test_channel_events_of_a_call_arrive_as_call_events_and_one_cdr_per_leg(
    node: FreeswitchNode, watcher: Watcher, buses: tuple[Bus, Bus]
) -> None:
    a_leg = await originate_answered(node)
    assert (await node.api(f"uuid_kill {a_leg}")).startswith("+OK")
    created = lambda: {m["Call-ID"] for m in watcher.named("CHANNEL_CREATE")}  # noqa: E731
    await watcher.until(lambda: len(created()) == 2)
    legs = created()
    assert a_leg in legs
    await watcher.until(lambda: {m["Call-ID"] for m in watcher.named("cdr")} >= legs)
    await settle(node, watcher, buses[0])

    call_events = [d for d in watcher.deliveries if d.definition.name == "call_event" and d.call_id in legs]
    for delivery in call_events:
        message = delivery.message
        assert delivery.exchange == "callevt"
        assert delivery.routing_key == f"call.{message['Event-Name']}.{message['Call-ID']}"
        assert message["Event-Category"] == "call_event" and message["App-Name"] == "ecallmgr"
    names = {(d.call_id, d.message["Event-Name"]) for d in call_events}
    for leg in legs:
        assert {(leg, "CHANNEL_CREATE"), (leg, "CHANNEL_ANSWER"), (leg, "CHANNEL_DESTROY")} <= names
    cdrs = [d for d in watcher.deliveries if d.definition.name == "cdr"]
    assert sorted(d.call_id for d in cdrs) == sorted(legs)  # exactly one per leg
    for delivery in cdrs:
        assert delivery.routing_key == f"cdr.{delivery.call_id}"
        assert delivery.message["Hangup-Cause"] and delivery.message["Duration-Seconds"] >= 0
    assert node.publisher.stats.errors == 0
    assert node.status().channel_count == 0 and node.status().up


async def test_a_registration_gives_registration_success_and_an_unregister_a_flush(
    sim: Simulator, node: FreeswitchNode, watcher: Watcher
) -> None:
    device = ("1000", "127.0.0.1", "1234", "sip:1000@127.0.0.1:5070")
    result = await sim.registrar.register(*device, 3600, "test-phone", "127.0.0.1", 5070)
    assert result.status == 200
    await watcher.until(lambda: bool(watcher.named("reg_success")))
    [success] = [d for d in watcher.deliveries if d.definition.name == "registration_success"]
    assert success.exchange == "callmgr"
    assert success.message["Username"] == "1000" and success.message["Realm"] == "127.0.0.1"
    assert success.message["Expires"] == 3600 and "1000@127.0.0.1:5070" in success.message["Contact"]

    await sim.registrar.register(*device, 0, "test-phone", "127.0.0.1", 5070)
    await watcher.until(lambda: bool(watcher.named("reg_flush")))
    [flush] = [d for d in watcher.deliveries if d.definition.name == "registration_flush"]
    assert flush.routing_key.startswith("registration.flush.")
    assert (flush.message["Username"], flush.message["Reason"]) == ("1000", "unregister")


def test_an_expire_becomes_a_registration_flush(buses: tuple[Bus, Bus]) -> None:
    bus = buses[0]
    fs = {
        "Event-Name": "CUSTOM", "Event-Subclass": "sofia::expire", "Event-Date-Timestamp": "1700000000000000",
        "profile-name": "internal", "call-id": "abc@1.2.3.4", "user": "1001", "username": "1001",
        "host": "example.com", "contact": '"" <sip:1001@1.2.3.4:5060>', "expires": "1700000100",
        "realm": "example.com", "network-ip": "1.2.3.4", "network-port": "5060",
    }  # fmt: skip
    message = registration_flush(fs, origin=bus.origin)
    assert message is not None
    assert bus.catalogue.validate(message).name == "registration_flush"
    assert (message["Realm"], message["Username"], message["Reason"]) == ("example.com", "1001", "expire")
    assert registration_flush({**fs, "Event-Subclass": "sofia::register"}, origin=bus.origin) is None


# -- resilience -----------------------------------------------------------------------------------------


async def test_a_malformed_event_does_not_stop_the_pipeline(
    sim: Simulator, node: FreeswitchNode, watcher: Watcher, buses: tuple[Bus, Bus]
) -> None:
    origin = FsOrigin("test.c", "test", 1)
    events = sim.switch.events
    # a HANGUP_COMPLETE without Unique-ID (no CDR can be made), a channel event with nonsense values
    sim.switch.hub.fire(events.make("CHANNEL_HANGUP_COMPLETE", origin, [("Hangup-Cause", "NORMAL")]))
    sim.switch.hub.fire(
        events.make(
            "CHANNEL_ANSWER",
            origin,
            [("Unique-ID", "bad-1"), ("Caller-Channel-Created-Time", "soon"), ("Call-Direction", "up")],
        )
    )
    await node.publisher.handle("fs1", {"Event-Name": "CHANNEL_HANGUP_COMPLETE"})  # type: ignore[arg-type]
    await node.publisher.handle("fs1", None)  # type: ignore[arg-type]
    a_leg = await originate_answered(node)
    await watcher.until(lambda: any(m["Call-ID"] == a_leg for m in watcher.named("CHANNEL_ANSWER")))
    await settle(node, watcher, buses[0])
    assert node.publisher.stats.errors >= 3
    assert node.up


async def test_reconnects_after_the_esl_server_restarts_and_readopts_the_channels(
    sim: Simulator, node: FreeswitchNode, control: FakeControl, watcher: Watcher
) -> None:
    a_leg = await originate_answered(node)
    port = sim.esl_port
    channels = {row["uuid"] for row in parse_channels(await node.api("show channels as json"))}
    assert a_leg in channels and len(channels) == 2
    assert control.adopted == []  # nothing was up when the node connected

    await sim.esl.close()  # FreeSWITCH keeps its calls; its Event Socket goes away and comes back
    server = EslServer(sim.switch, port=port)
    await server.start()
    try:
        await control.until(lambda: {call for call, _ in control.adopted} == channels)
        assert all(name == "fs1" for _, name in control.adopted)
        assert control.downs == ["fs1"]
        await node.wait_synced(WAIT)
        assert node.client.connections == 2 and node.resyncs == 2
        assert node.channels == channels and node.status().channel_count == 2
        # events flow again through the new connection
        assert (await node.api(f"uuid_kill {a_leg}")).startswith("+OK")
        await watcher.until(lambda: {m["Call-ID"] for m in watcher.named("cdr")} >= channels)
    finally:
        await node.close()
        await server.close()


async def test_a_parked_call_with_a_route_winner_is_adopted_and_route_win_sent(
    node: FreeswitchNode, control: FakeControl, watcher: Watcher, buses: tuple[Bus, Bus]
) -> None:
    whapp = buses[1]
    call_id = str(uuid.uuid4())
    assert node.pending_route_wins is not None
    node.pending_route_wins.add(
        call_id, RouteWinner(server_id=whapp.server_id, reply={"Custom-Channel-Vars": {"Account-ID": "a1"}})
    )
    await originate_answered(node, call_id)
    await watcher.until(lambda: bool(watcher.targeted))
    [win] = watcher.targeted
    assert win.definition.name == "route_win"
    assert win.message["Call-ID"] == call_id and win.message["Control-Queue"] == f"ctl.{call_id}"
    assert win.message["Custom-Channel-Vars"] == {"Account-ID": "a1"}
    assert (call_id, "fs1") in control.adopted
    assert call_id not in node.pending_route_wins
    assert ("fs1", "CHANNEL_PARK") in control.events


async def test_a_node_that_is_down_at_start_connects_when_it_comes_up(
    sim: Simulator, buses: tuple[Bus, Bus]
) -> None:
    port = sim.esl_port
    await sim.esl.close()
    nodes = NodeSet()
    publisher = EventPublisher(buses[0])
    node = FreeswitchNode(
        "fs-late", "127.0.0.1", port, "ClueCon", bus=buses[0], publisher=publisher, backoff_initial=0.01
    )
    await nodes.add(node)
    with pytest.raises(ValueError):
        await nodes.add(node)
    assert [status.up for status in nodes.status()] == [False]
    server = EslServer(sim.switch, port=port)
    await server.start()
    try:
        await node.wait_synced(WAIT)
        assert [status.up for status in nodes.status()] == [True]
        assert await nodes.remove("fs-late") and "fs-late" not in nodes
        assert not node.up
    finally:
        await nodes.close()
        await server.close()


async def test_heartbeats_are_recorded(sim: Simulator, node: FreeswitchNode) -> None:
    assert node.status().last_heartbeat is None or node.status().last_heartbeat > 0
    before = node.events
    sim.switch.heartbeat.beat()
    await node.api("status")
    assert node.events > before and node.status().last_heartbeat is not None


def test_parse_channels() -> None:
    assert parse_channels('{"row_count": 0}\n') == []
    assert parse_channels('{"row_count": 1, "rows": [{"uuid": "u1"}, {"x": 1}]}') == [{"uuid": "u1"}]
    with pytest.raises(ValueError):
        parse_channels("not json")


# -- the real RabbitMQ ------------------------------------------------------------------------------------


async def test_the_cdr_reaches_a_durable_queue_and_survives_its_consumer_closing(
    sim: Simulator, amqp_url: str
) -> None:
    queue = f"test-cdr-{uuid.uuid4().hex}"
    ecallmgr = Bus.from_url(amqp_url, app_name="ecallmgr", node="ecallmgr@test")
    await ecallmgr.start()
    publisher = EventPublisher(ecallmgr)
    fs_node = FreeswitchNode(
        "fs1", "127.0.0.1", sim.esl_port, "ClueCon", bus=ecallmgr, publisher=publisher, backoff_initial=0.01
    )
    await ecallmgr.transport.declare_queue(QueueSpec(queue, durable=True))
    await ecallmgr.transport.bind(queue, "callevt", "cdr.*")
    try:
        await fs_node.start()
        await fs_node.wait_synced(WAIT)
        a_leg = await originate_answered(fs_node)
        assert (await fs_node.api(f"uuid_kill {a_leg}")).startswith("+OK")
        await fs_node.api("status")
        await fs_node.close()
        await publisher.close()
        assert publisher.stats.cdrs == 2 and publisher.stats.errors == 0

        # a first consumer takes the CDRs and goes away without acknowledging them
        first = Bus.from_url(amqp_url, app_name="cdr", node="cdr@test")
        await first.start()
        taken: list[str] = []
        got_two = asyncio.Event()
        never = asyncio.Event()

        async def hold(delivery: Delivery) -> None:
            taken.append(str(delivery.call_id))
            if len(taken) == 2:
                got_two.set()
            await never.wait()  # the cdr whapp dies before it has stored them

        await first.consume(queue, hold, prefetch=10)
        async with asyncio.timeout(WAIT):
            await got_two.wait()
        await first.close()

        second = Bus.from_url(amqp_url, app_name="cdr", node="cdr@test")
        await second.start()
        again: list[Delivery] = []
        got_again = asyncio.Event()

        async def store(delivery: Delivery) -> None:
            again.append(delivery)
            if len(again) == 2:
                got_again.set()

        try:
            await second.consume(queue, store)
            async with asyncio.timeout(WAIT):
                await got_again.wait()
        finally:
            await second.close()
        assert sorted(str(d.call_id) for d in again) == sorted(taken)
        assert a_leg in taken
        assert all(d.definition.name == "cdr" and d.redelivered for d in again)
    finally:
        await fs_node.close()
        await ecallmgr.transport.delete_queue(queue)
        await ecallmgr.close()


async def test_configure_adds_removes_and_replaces_nodes(sim: Simulator, buses: tuple[Bus, Bus]) -> None:
    publisher = EventPublisher(buses[0])

    def make(name: str, port: int) -> FreeswitchNode:
        return FreeswitchNode(
            name, "127.0.0.1", port, "ClueCon", bus=buses[0], publisher=publisher, backoff_initial=0.01
        )

    nodes = NodeSet()
    try:
        await nodes.configure([make("a", sim.esl_port), make("b", sim.esl_port)])
        first_a = nodes.get("a")
        assert nodes.names == ["a", "b"] and first_a is not None
        await first_a.wait_synced(WAIT)
        await nodes.configure([make("a", sim.esl_port), make("c", sim.esl_port)])
        assert sorted(nodes.names) == ["a", "c"] and nodes.get("a") is first_a  # unchanged: kept
        await nodes.configure([make("a", 1)])  # a new address: replaced
        assert nodes.names == ["a"] and nodes.get("a") is not first_a and not first_a.up
    finally:
        await nodes.close()
        await publisher.close()


async def test_an_event_the_call_control_publishes_itself_is_not_published_again(
    node: FreeswitchNode, control: FakeControl, watcher: Watcher, buses: tuple[Bus, Bus]
) -> None:
    control.publishes_itself.add("CHANNEL_EXECUTE_COMPLETE")
    a_leg = await originate_answered(node)
    assert (await node.api(f"uuid_kill {a_leg}")).startswith("+OK")
    await watcher.until(lambda: len(watcher.named("cdr")) == 2)
    await settle(node, watcher, buses[0])
    assert watcher.named("CHANNEL_EXECUTE") and not watcher.named("CHANNEL_EXECUTE_COMPLETE")
    assert ("fs1", "CHANNEL_EXECUTE_COMPLETE") in control.events
