"""Bus throughput: whistle_common.bus against bare aio-pika, same broker, same 1.5 KB call event, one run.

Prints one JSON object per measurement, then a summary object as the last line. The figure that counts is
the ratio of the wrapper to bare aio-pika measured in the same run; absolute rates vary with the machine.

    python benchmarks/bus.py [--amqp-url URL] [--messages N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika

from whistle_common import codec
from whistle_common.bus import Bus, Delivery

DEFAULT_URL = os.environ.get("WHISTLE_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


def call_event(bus: Bus) -> dict[str, Any]:
    """A CHANNEL_ANSWER as ecallmgr publishes it, padded with channel variables to about 1.5 KB."""
    call_id = str(uuid.uuid4())
    return bus.build(
        "call_event",
        event_name="CHANNEL_ANSWER",
        call_id=call_id,
        call_direction="inbound",
        caller_id_name="Alice Example",
        caller_id_number="+14155550100",
        callee_id_name="Bob Example",
        callee_id_number="+14155550199",
        channel_state="EXECUTE",
        channel_call_state="ACTIVE",
        channel_name="sofia/internal/1000@pbx.example.com",
        timestamp=1795411510.123456,
        other_leg_call_id=str(uuid.uuid4()),
        custom_channel_vars={
            "Account-ID": uuid.uuid4().hex,
            "Authorizing-ID": uuid.uuid4().hex,
            "Authorizing-Type": "device",
            "Owner-ID": uuid.uuid4().hex,
            "Realm": "pbx.example.com",
            "Username": "user_1000",
            "Fetch-ID": str(uuid.uuid4()),
            "Call-Interaction-ID": f"63900000000-{uuid.uuid4().hex[:8]}",
            "Bridge-ID": str(uuid.uuid4()),
            "Ecallmgr-Node": "ecallmgr@media1.example.com",
            "CallFlow-ID": uuid.uuid4().hex,
            "Channel-Authorized": "true",
            "Global-Resource": "false",
            "Inception": "on-net",
            "Presence-ID": "1000@pbx.example.com",
            "Media-Recording-ID": uuid.uuid4().hex,
            "Register-Overwrite-Notify": "false",
            "Application-Name": "callflow",
            "Application-Node": "callflow@apps1.example.com",
            "Caller-Screen-Bit": "false",
            "Original-Number": "+14155550199",
        },
    )


PIPELINE_WINDOW = 256  # confirms outstanding at once when pipelining


async def timed(count: int, operation: Callable[[], Awaitable[None]], window: int) -> float:
    """Seconds for ``count`` operations, ``window`` of them in flight at a time."""
    started = time.perf_counter()
    if window == 1:
        for _ in range(count):
            await operation()
    else:
        slots = asyncio.Semaphore(window)

        async def one() -> None:
            async with slots:
                await operation()

        await asyncio.gather(*(one() for _ in range(count)))
    return time.perf_counter() - started


async def compare_publish(
    url: str, count: int, content_type: str, confirm: bool, window: int = 1, block: int = 250
) -> tuple[float, float]:
    """(bus, bare) messages per second, measured in alternating blocks on two open connections."""
    connection = await aio_pika.connect_robust(url)
    async with (
        connection,
        Bus.from_url(url, app_name="bench", node="bench", content_type=content_type) as bus,
    ):
        channel = await connection.channel(publisher_confirms=confirm)
        exchange = await channel.declare_exchange("callevt", "topic", durable=True)
        event = call_event(bus)
        key = f"call.CHANNEL_ANSWER.{event['Call-ID']}"

        async def bare() -> None:
            body = codec.encode(event, content_type)
            # mandatory=False as the bus publishes events: aio-pika's default (True) makes the broker
            # return every unroutable message.
            await exchange.publish(aio_pika.Message(body, content_type=content_type), key, mandatory=False)

        async def wrapped() -> None:
            await bus.send(event, confirm=confirm)

        spent = {"bus": 0.0, "bare": 0.0}
        for _ in range(max(count // block, 1)):
            spent["bare"] += await timed(block, bare, window)
            spent["bus"] += await timed(block, wrapped, window)
        total = max(count // block, 1) * block
        return total / spent["bus"], total / spent["bare"]


async def fill_queue(url: str, queue: str, count: int, content_type: str) -> None:
    """Put ``count`` valid call events in ``queue`` (durable) without going through the code measured."""
    connection = await aio_pika.connect_robust(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await channel.declare_queue(queue, durable=True)
        bus = Bus.from_url("memory://bench", app_name="bench", node="bench")
        body = codec.encode(call_event(bus), content_type)
        for _ in range(count):
            await channel.default_exchange.publish(aio_pika.Message(body, content_type=content_type), queue)


async def bus_consume(url: str, count: int, content_type: str) -> float:
    queue = f"bench-bus-{uuid.uuid4().hex[:8]}"
    await fill_queue(url, queue, count, content_type)
    done = asyncio.Event()
    handled = 0

    async def handle(_delivery: Delivery) -> None:
        nonlocal handled
        handled += 1
        if handled == count:
            done.set()

    async with Bus.from_url(url, app_name="bench", node="bench", prefetch=500) as bus:
        started = time.perf_counter()
        subscription = await bus.consume(queue, handle)
        async with asyncio.timeout(300):
            await done.wait()
        elapsed = time.perf_counter() - started
        await subscription.cancel()
        await bus.transport.delete_queue(queue)
    return count / elapsed


async def bare_consume(url: str, count: int, content_type: str) -> float:
    queue_name = f"bench-bare-{uuid.uuid4().hex[:8]}"
    await fill_queue(url, queue_name, count, content_type)
    done = asyncio.Event()
    handled = 0

    async def handle(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        nonlocal handled
        codec.decode(message.body, message.content_type)
        await message.ack()
        handled += 1
        if handled == count:
            done.set()

    connection = await aio_pika.connect_robust(url)
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=500)
        queue = await channel.declare_queue(queue_name, durable=True)
        started = time.perf_counter()
        tag = await queue.consume(handle)
        async with asyncio.timeout(300):
            await done.wait()
        elapsed = time.perf_counter() - started
        await queue.cancel(tag)
        await queue.delete(if_unused=False, if_empty=False)
    return count / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--amqp-url", default=DEFAULT_URL)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    url, count = args.amqp_url, args.messages

    size = len(codec.encode(call_event(Bus.from_url("memory://bench", app_name="bench", node="bench"))))
    runs: dict[str, list[float]] = {}

    def record(name: str, value: float) -> None:
        runs.setdefault(name, []).append(value)

    # Publishing alternates wrapper and bare aio-pika in small blocks, and each consume run follows its
    # bare twin, so machine noise hits both alike; medians over the rounds are reported.
    for round_number in range(args.rounds):
        for content_type in (codec.JSON, codec.MSGPACK):
            short = "json" if content_type == codec.JSON else "msgpack"
            for confirm, window in ((False, 1), (True, 1), (True, PIPELINE_WINDOW)):
                name = f"{short}_confirm{int(confirm)}" + ("_pipelined" if window > 1 else "")
                wrapped, bare = await compare_publish(url, count, content_type, confirm, window)
                record(f"{name}_bare_publish", bare)
                record(f"{name}_publish", wrapped)
            # Alternate which consumer goes first, so neither always meets a busier broker.
            if round_number % 2:
                record(f"{short}_consume", await bus_consume(url, count, content_type))
                record(f"{short}_bare_consume", await bare_consume(url, count, content_type))
            else:
                record(f"{short}_bare_consume", await bare_consume(url, count, content_type))
                record(f"{short}_consume", await bus_consume(url, count, content_type))
    results = {name: statistics.median(values) for name, values in runs.items()}
    for name, value in results.items():
        print(json.dumps({"measure": name, "per_s": round(value), "runs": [round(v) for v in runs[name]]}))
    summary = {
        "event_bytes": size,
        "messages": count,
        "rounds": args.rounds,
        "publish_per_s": round(results["json_confirm0_publish"]),
        "bare_publish_per_s": round(results["json_confirm0_bare_publish"]),
        "publish_ratio": round(results["json_confirm0_publish"] / results["json_confirm0_bare_publish"], 3),
        "confirmed_publish_per_s": round(results["json_confirm1_publish"]),
        "pipelined_confirmed_publish_per_s": round(results["json_confirm1_pipelined_publish"]),
        "bare_pipelined_confirmed_publish_per_s": round(results["json_confirm1_pipelined_bare_publish"]),
        "bare_confirmed_publish_per_s": round(results["json_confirm1_bare_publish"]),
        "consume_per_s": round(results["json_consume"]),
        "bare_consume_per_s": round(results["json_bare_consume"]),
        "consume_ratio": round(results["json_consume"] / results["json_bare_consume"], 3),
        "msgpack_publish_per_s": round(results["msgpack_confirm0_publish"]),
        "msgpack_consume_per_s": round(results["msgpack_consume"]),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    asyncio.run(main())
