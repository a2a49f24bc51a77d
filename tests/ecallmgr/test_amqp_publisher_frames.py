"""The batched publish path under ecallmgr's events: our own AMQP frames, written many to a socket write.

``whistle_common.bus.amqp`` encodes basic.publish, the content header and the body frames itself and
hands a whole batch to aiormq's writer at once. The bytes must be exactly what pamqp (aiormq's encoder)
would send, and on a real broker the messages must arrive whole, in publish order, confirmed ones
confirmed, interleaved with confirmed publishes on the other channel.
"""

from __future__ import annotations

import asyncio
import uuid

import pamqp.frame
import pytest
from pamqp import commands
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

from tests.samples import cdr
from whistle_common.bus import Bus, Delivery, PublishFailed
from whistle_common.bus.amqp import encode_properties, encode_publish

WAIT = 20.0


def pamqp_publish(
    channel: int,
    max_body: int,
    exchange: str,
    routing_key: str,
    body: bytes,
    properties: commands.Basic.Properties,
    mandatory: bool = False,
) -> bytes:
    """The frames aiormq's basic_publish writes for the same message (minus its random message id)."""
    frames: list[object] = [
        commands.Basic.Publish(exchange=exchange, routing_key=routing_key, mandatory=mandatory),
        ContentHeader(0, len(body), properties),
    ]
    frames += [ContentBody(body[start : start + max_body]) for start in range(0, len(body), max_body)]
    return b"".join(pamqp.frame.marshal(frame, channel) for frame in frames)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("body", "max_body"),
    [(b"", 131064), (b'{"Call-ID":"x"}', 131064), (bytes(range(256)) * 40, 1000), (b"x" * 2000, 1000)],
    ids=["empty", "small", "split-uneven", "split-exact"],
)
@pytest.mark.parametrize("mandatory", [False, True])
def test_encoded_frames_are_the_bytes_pamqp_would_write(body: bytes, max_body: int, mandatory: bool) -> None:
    properties = commands.Basic.Properties(content_type="application/json", delivery_mode=2)
    ours = encode_publish(
        7, max_body, "callevt", "call.CHANNEL_ANSWER.a-b", body, encode_properties("application/json", 2),
        mandatory=mandatory,
    )  # fmt: skip
    assert b"".join(ours) == pamqp_publish(
        7, max_body, "callevt", "call.CHANNEL_ANSWER.a-b", body, properties, mandatory
    )


def test_properties_with_headers_and_message_id_match_pamqp() -> None:
    headers = {"X-Reason": "bad", "n": 3}
    properties = commands.Basic.Properties(
        content_type="application/x-msgpack", delivery_mode=1, headers=headers, message_id="abc"
    )
    ours = encode_publish(
        1, 131064, "", "q", b"body", encode_properties("application/x-msgpack", 1, headers, "abc")
    )
    assert b"".join(ours) == pamqp_publish(1, 131064, "", "q", b"body", properties)


def test_a_routing_key_longer_than_a_short_string_is_refused() -> None:
    with pytest.raises(PublishFailed):
        encode_publish(1, 131064, "callevt", "k" * 256, b"", encode_properties("application/json", 1))


@pytest.mark.integration
async def test_batched_publishes_arrive_whole_and_in_order_beside_confirmed_ones(amqp_url: str) -> None:
    """Call events (unconfirmed, batched), some larger than a frame, and CDRs (confirmed) interleaved:
    every message arrives once, intact, the call events in publish order."""
    publisher = Bus.from_url(amqp_url, app_name="ecallmgr", node="test")
    consumer = Bus.from_url(amqp_url, app_name="test", node="test")
    await publisher.start()
    await consumer.start()
    call_id = f"batch-{uuid.uuid4().hex[:8]}"
    received: list[dict] = []
    done = asyncio.Event()
    count = 600

    async def collect(delivery: Delivery) -> None:
        received.append(delivery.message)
        if len(received) == count + count // 100:
            done.set()

    await consumer.consume(
        f"batch-{uuid.uuid4().hex[:8]}",
        collect,
        bindings=[("callevt", f"call.*.{call_id}"), ("callevt", f"cdr.{call_id}")],
        prefetch=1000,
    )
    big = "s" * 300_000  # more than RabbitMQ's default frame_max (131072): split into body frames
    message = publisher.build(
        "call_event", {"Call-ID": call_id, "Event-Name": "CHANNEL_ANSWER", "Timestamp": 1700000000.0}
    )
    try:
        confirms = []
        for index in range(count):
            event = {
                **message,
                "Msg-ID": str(index),
                "Custom-Channel-Vars": {"Big": big if index % 97 == 0 else ""},
            }
            await publisher.send(event)
            if index % 100 == 0:  # a confirmed publish in the middle of unconfirmed ones
                confirms.append(asyncio.ensure_future(publisher.send(cdr(publisher, call_id))))
        await asyncio.gather(*confirms)
        async with asyncio.timeout(WAIT):
            await done.wait()
    finally:
        await publisher.close()
        await consumer.close()

    events = [m for m in received if m["Event-Category"] == "call_event"]
    assert [m["Msg-ID"] for m in events] == [str(index) for index in range(count)]
    assert all(m["Custom-Channel-Vars"]["Big"] == (big if int(m["Msg-ID"]) % 97 == 0 else "") for m in events)
    assert len(received) - len(events) == count // 100


@pytest.mark.integration
async def test_close_writes_what_was_published_just_before(amqp_url: str) -> None:
    publisher = Bus.from_url(amqp_url, app_name="ecallmgr", node="test")
    consumer = Bus.from_url(amqp_url, app_name="test", node="test")
    await publisher.start()
    await consumer.start()
    call_id = f"close-{uuid.uuid4().hex[:8]}"
    received: list[str] = []
    done = asyncio.Event()

    async def collect(delivery: Delivery) -> None:
        received.append(delivery.message["Msg-ID"])
        if len(received) == 50:
            done.set()

    await consumer.consume(
        f"close-{uuid.uuid4().hex[:8]}", collect, bindings=[("callevt", f"call.*.{call_id}")]
    )
    message = publisher.build(
        "call_event", {"Call-ID": call_id, "Event-Name": "CHANNEL_HANGUP", "Timestamp": 1700000000.0}
    )
    try:
        for index in range(50):
            await publisher.send({**message, "Msg-ID": str(index)})
    finally:
        # No publish awaited a socket write, and the transport closes at once (Bus.close would first
        # cancel its reply consumer, an RPC that lets the batch go out anyway): close() sends the batch.
        await publisher.transport.close()
    try:
        async with asyncio.timeout(WAIT):
            await done.wait()
    finally:
        await consumer.close()
    assert received == [str(index) for index in range(50)]
