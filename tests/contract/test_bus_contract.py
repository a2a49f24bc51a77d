"""The bus contract: the in-memory backend and RabbitMQ behave the same for everything a whapp relies on."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tests.samples import cdr
from whistle_common import codec
from whistle_common.api import ValidationError
from whistle_common.bus import (
    INVALID_QUEUE,
    REASON_HEADER,
    Bus,
    Delivery,
    PublishFailed,
    QueueSpec,
    RequestTimeout,
    Unroutable,
)
from whistle_common.bus.transport import RawDelivery

WAIT = 10.0  # seconds any single expectation may take before the test fails


@pytest.fixture(params=["memory", pytest.param("amqp", marks=pytest.mark.integration)])
def bus_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return f"memory://contract-{uuid.uuid4().hex}"
    return request.getfixturevalue("amqp_url")


@pytest.fixture
async def open_bus(bus_url: str) -> AsyncIterator[Callable[..., Awaitable[Bus]]]:
    """Opens buses on the backend under test and closes them after the test."""
    opened: list[Bus] = []

    async def _open(app_name: str = "contract", **options: object) -> Bus:
        bus = Bus.from_url(bus_url, app_name=app_name, node="test-node", **options)
        await bus.start()
        opened.append(bus)
        return bus

    yield _open
    for bus in opened:
        await bus.close()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class Inbox:
    """Collects deliveries and lets a test wait for a number of them."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self._changed = asyncio.Event()

    async def __call__(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)
        self._changed.set()

    @property
    def messages(self) -> list[dict]:
        return [d.message for d in self.deliveries]

    async def wait_for(self, count: int) -> list[dict]:
        async with asyncio.timeout(WAIT):
            while len(self.deliveries) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.messages


def call_event(bus: Bus, call_id: str, event: str = "CHANNEL_ANSWER") -> dict:
    return bus.build("call_event", event_name=event, call_id=call_id)


def route_req(bus: Bus) -> dict:
    return bus.build("route_req", {"From": "a@r", "To": "b@r", "Request": "b@r"}, call_id=unique("c"))


async def test_topic_bindings_follow_amqp_word_matching(open_bus) -> None:
    bus = await open_bus()
    call_id = unique("call")
    one_word, any_words = Inbox(), Inbox()
    await bus.consume(unique("q-star"), one_word, bindings=[("callevt", f"call.*.{call_id}")])
    await bus.consume(unique("q-hash"), any_words, bindings=[("callevt", f"#.{call_id}")])

    await bus.send(call_event(bus, unique("other-call")))
    await bus.send(call_event(bus, call_id, "CHANNEL_CREATE"))
    await bus.send(call_event(bus, call_id, "CHANNEL_ANSWER"))

    assert [m["Event-Name"] for m in await one_word.wait_for(2)] == ["CHANNEL_CREATE", "CHANNEL_ANSWER"]
    assert [m["Call-ID"] for m in await any_words.wait_for(2)] == [call_id, call_id]


async def test_a_call_id_with_dots_stays_one_routing_word(open_bus) -> None:
    bus = await open_bus()
    prefix = unique("abc")
    dotted = f"{prefix}.example.com"
    exact, on_prefix = Inbox(), Inbox()
    await bus.consume(unique("q-exact"), exact, bindings=[("callevt", f"call.*.{prefix}%2Eexample%2Ecom")])
    await bus.consume(unique("q-prefix"), on_prefix, bindings=[("callevt", f"call.*.{prefix}.#")])

    await bus.send(call_event(bus, dotted))
    await bus.send(call_event(bus, f"{prefix}.marker"))
    await bus.send(call_event(bus, prefix))  # the one message "<prefix>.#" must see

    assert [m["Call-ID"] for m in await exact.wait_for(1)] == [dotted]
    # Queues deliver in order, so once the last message is in, the dotted ones had their chance too.
    assert [m["Call-ID"] for m in await on_prefix.wait_for(1)] == [prefix]


async def test_pool_queue_consumers_share_the_work_and_each_message_is_handled_once(open_bus) -> None:
    queue = unique("pool")
    handled, by_worker = Inbox(), Counter()
    for worker in ("first", "second"):
        bus = await open_bus(worker)

        async def handle(delivery: Delivery, worker: str = worker) -> None:
            by_worker[worker] += 1
            await handled(delivery)

        await bus.consume(queue, handle, bindings=[("callevt", "call.CHANNEL_DESTROY.*")], prefetch=1)
    publisher = await open_bus("publisher")
    call_ids = [unique("c") for _ in range(40)]

    for call_id in call_ids:
        await publisher.send(call_event(publisher, call_id, "CHANNEL_DESTROY"))

    await handled.wait_for(len(call_ids))
    counts = Counter(m["Call-ID"] for m in handled.messages if m["Call-ID"] in call_ids)
    assert set(counts) == set(call_ids)
    assert set(counts.values()) == {1}
    assert by_worker["first"] > 0 and by_worker["second"] > 0


async def test_request_gets_the_reply_carrying_its_msg_id(open_bus) -> None:
    responder = await open_bus("callflow")
    requester = await open_bus("ecallmgr")
    queue = unique("route-req")

    async def answer(delivery: Delivery) -> None:
        reply = responder.build("route_resp", method="park", routes=[])
        await responder.reply(delivery.message, reply)

    await responder.consume(queue, answer, bindings=[("callmgr", f"route.req.{queue}")])
    request = route_req(requester)

    reply = await requester.request(request, timeout=WAIT, routing_key=f"route.req.{queue}")

    assert reply["Method"] == "park"
    assert reply["Msg-ID"] == request["Msg-ID"]
    assert reply["Server-ID"] == responder.server_id


async def test_collect_gathers_replies_until_the_predicate_accepts_one(open_bus) -> None:
    requester = await open_bus("ecallmgr")
    key = f"route.req.{unique('k')}"
    methods = ["error", "park"]
    for method in methods:
        responder = await open_bus(f"responder-{method}")

        async def answer(delivery: Delivery, responder: Bus = responder, method: str = method) -> None:
            fields = {"Route-Error-Code": "404"} if method == "error" else {}
            await responder.reply(delivery.message, responder.build("route_resp", fields, method=method))

        await responder.consume(unique("q"), answer, bindings=[("callmgr", key)])
    request = route_req(requester)

    everything = await requester.collect(request, timeout=1.0, routing_key=key)
    until_park = await requester.collect(
        route_req(requester),
        timeout=WAIT,
        until=lambda reply: reply["Method"] == "park",
        routing_key=key,
    )

    assert sorted(r["Method"] for r in everything) == ["error", "park"]
    assert until_park[-1]["Method"] == "park"


async def test_a_request_nobody_answers_times_out(open_bus) -> None:
    requester = await open_bus("ecallmgr")
    request = route_req(requester)

    with pytest.raises(RequestTimeout):
        await requester.request(request, timeout=0.2, routing_key=f"route.req.{unique('nobody')}")


async def test_targeted_messages_that_are_not_replies_reach_the_targeted_handler(open_bus) -> None:
    owner, sender = await open_bus("callflow"), await open_bus("ecallmgr")
    inbox = Inbox()
    owner.on_targeted(inbox)
    win = sender.build("route_win", call_id=unique("c"), control_queue=unique("ctl"))

    await sender.send(win, routing_key=owner.server_id)

    assert (await inbox.wait_for(1))[0]["Control-Queue"] == win["Control-Queue"]


async def test_publishing_an_invalid_message_raises_and_sends_nothing(open_bus) -> None:
    bus = await open_bus()
    inbox = Inbox()
    call_id = unique("c")
    await bus.consume(unique("q"), inbox, bindings=[("callevt", f"call.*.{call_id}")])
    bad = {**call_event(bus, call_id), "Event-Name": "NOT_AN_EVENT"}

    with pytest.raises(ValidationError):
        await bus.send(bad)
    await bus.send(call_event(bus, call_id))

    assert [m["Event-Name"] for m in await inbox.wait_for(1)] == ["CHANNEL_ANSWER"]


async def invalid_letters(bus: Bus, source_queue: str, count: int) -> list[RawDelivery]:
    """Our dead letters from ``whistle.invalid`` (others' are left alone), acknowledged as read."""
    found: list[RawDelivery] = []
    arrived = asyncio.Event()

    async def on_letter(raw: RawDelivery) -> None:
        if raw.headers.get("x-whistle-queue") == source_queue:
            found.append(raw)
            await raw.ack()
            arrived.set()

    subscription = await bus.transport.consume(INVALID_QUEUE, on_letter, prefetch=1000)
    try:
        async with asyncio.timeout(WAIT):
            while len(found) < count:
                arrived.clear()
                await arrived.wait()
    finally:
        await subscription.cancel()
    return found


async def test_undecodable_or_invalid_messages_are_dead_lettered_and_the_consumer_goes_on(open_bus) -> None:
    bus = await open_bus()
    queue, inbox = unique("q"), Inbox()
    call_id = unique("c")
    await bus.consume(queue, inbox, bindings=[("callevt", f"call.*.{call_id}")])
    key = f"call.CHANNEL_ANSWER.{call_id}"
    good = call_event(bus, call_id)
    wrong_schema = {**good, "Call-ID": 42}
    unknown_event = {**good, "Event-Category": "nonsense", "Event-Name": "who_knows"}

    for body in (b"{not json", codec.encode(wrong_schema), codec.encode(unknown_event)):
        await bus.transport.publish("callevt", key, body, content_type=codec.JSON)
    await bus.send(good)

    assert await inbox.wait_for(1) == [good]
    letters = await invalid_letters(bus, queue, 3)
    reasons = sorted(str(letter.headers[REASON_HEADER]) for letter in letters)
    assert any(reason.startswith("body is not valid application/json") for reason in reasons)
    assert any("$.Call-ID" in reason for reason in reasons)
    assert any("unknown message" in reason for reason in reasons)
    assert all(letter.headers["x-whistle-routing-key"] == key for letter in letters)


async def test_a_failing_handler_gets_the_message_once_more_then_it_is_dead_lettered(open_bus) -> None:
    bus = await open_bus()
    queue = unique("q")
    call_id = unique("c")
    attempts: list[bool] = []

    async def always_fails(delivery: Delivery) -> None:
        attempts.append(delivery.redelivered)
        raise RuntimeError("database down")

    await bus.consume(queue, always_fails, bindings=[("callevt", f"call.*.{call_id}")])
    await bus.send(call_event(bus, call_id))

    letters = await invalid_letters(bus, queue, 1)
    assert attempts == [False, True]
    assert "handler failed twice" in str(letters[0].headers[REASON_HEADER])


async def test_messagepack_publishers_are_understood_by_json_consumers(open_bus) -> None:
    publisher = await open_bus("publisher", content_type=codec.MSGPACK)
    consumer = await open_bus("consumer")
    inbox = Inbox()
    call_id = unique("c")
    await consumer.consume(unique("q"), inbox, bindings=[("callevt", f"cdr.{call_id}")])
    record = cdr(publisher, call_id)

    await publisher.send(record)

    assert await inbox.wait_for(1) == [record]


async def test_a_mandatory_command_for_a_call_nobody_controls_is_unroutable(open_bus) -> None:
    bus = await open_bus()
    command = bus.build("call_command.noop", call_id=unique("c"))

    with pytest.raises(Unroutable):
        await bus.send(command, routing_key=unique("ctl.nobody"), mandatory=True)


async def test_commands_reach_the_control_queue_in_order(open_bus) -> None:
    bus = await open_bus()
    control_queue, inbox = unique("ctl"), Inbox()
    call_id = unique("c")
    await bus.consume(
        QueueSpec(control_queue, durable=True), inbox, bindings=[("callctl", control_queue)], prefetch=1
    )
    commands = [bus.build("call_command.noop", call_id=call_id) for _ in range(20)]

    for command in commands:
        await bus.send(command, routing_key=control_queue, mandatory=True)

    assert [m["Msg-ID"] for m in await inbox.wait_for(20)] == [c["Msg-ID"] for c in commands]


async def test_prefetch_limits_the_messages_in_flight_to_one_consumer(open_bus) -> None:
    bus = await open_bus()
    call_id = unique("c")
    started, third, release = asyncio.Event(), asyncio.Event(), asyncio.Event()
    running: list[str] = []

    async def slow(delivery: Delivery) -> None:
        running.append(delivery.message["Msg-ID"])
        if len(running) == 2:
            started.set()
        if len(running) == 3:
            third.set()
        await release.wait()

    await bus.consume(unique("q"), slow, bindings=[("callevt", f"call.*.{call_id}")], prefetch=2)
    for _ in range(5):
        await bus.send(call_event(bus, call_id))

    async with asyncio.timeout(WAIT):
        await started.wait()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):  # a third delivery would arrive well within this
            await third.wait()
    release.set()


async def test_publishing_to_an_exchange_the_bus_does_not_declare_is_refused(open_bus) -> None:
    bus = await open_bus()
    inbox = Inbox()
    call_id = unique("c")
    await bus.consume(unique("q"), inbox, bindings=[("callevt", f"call.*.{call_id}")])

    with pytest.raises(PublishFailed):
        await bus.publish("no-such-exchange", "x", call_event(bus, call_id))
    await bus.send(call_event(bus, call_id))  # the publishing channel is still usable

    assert len(await inbox.wait_for(1)) == 1
