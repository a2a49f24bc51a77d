"""ecallmgr's event throughput: fsim bursts realistic call events at one ecallmgr pipeline.

One run, one fsim (a separate OS process, ``whistle fsim --esl 127.0.0.1:0``), one RabbitMQ:

1. ecallmgr: :class:`ecallmgr.node.FreeswitchNode` (our asyncio ESL client, JSON events) ->
   :class:`ecallmgr.publisher.EventPublisher` (``call_event``/``cdr`` translation, validation, publish on
   ``callevt``; CDRs with confirms), once with catalogue validation of call events (the default) and
   once without it, to show what validation costs on this path;
2. the baseline, in a subprocess (gevent monkey-patching must not touch this process): greenswitch
   (plain events) + pika ``BlockingConnection`` under gevent: parse, ``json.dumps``, publish each event.

Each pipeline triggers ``bgapi fsim_burst <calls> <concurrency>`` on its own connection and the clock
stops when the BACKGROUND_JOB arrives (every event of the burst was read before it, and handled in order)
and, for ecallmgr, every CDR is confirmed. A queue bound to ``callevt`` ``#`` (capped, dropped after
the run) makes the broker route every message. Prints one JSON object per measurement; the last line is
the summary with ``events_per_s`` (ecallmgr, default configuration), ``baseline_events_per_s``, ``ratio``.

fsim, RabbitMQ and the pipeline under test share the machine's CPUs, so the wall rates are the rates of
the three together. The summary also gives each pipeline's own CPU per event and ``events_per_cpu_s``
(1e6 / that: what one ecallmgr process handles per second of a core it had to itself), and the 1-minute
load average before the run (other work on the machine lowers every wall rate).

    python benchmarks/ecallmgr_events.py [--amqp-url URL] [--calls N] [--concurrency C]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

DEFAULT_URL = os.environ.get("WHISTLE_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
ROOT = Path(__file__).resolve().parent.parent
EVENTS_PER_CALL = 7  # fsim.burst without states


# -- the baseline: greenswitch + pika under gevent (run as a subprocess of this script) ---------------


def baseline_worker(host: str, port: int, password: str, amqp_url: str, calls: int, concurrency: int) -> None:
    from gevent import monkey

    monkey.patch_all()
    import gevent.event
    import greenswitch
    import pika

    from ecallmgr.node import SUBSCRIPTIONS

    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    properties = pika.BasicProperties(content_type="application/json")
    counts = {"events": 0, "published": 0}
    done = gevent.event.Event()
    job_uuid = str(uuid.uuid4())

    def handle(event: Any) -> None:
        headers = event.headers
        name = headers.get("Event-Name")
        if name == "BACKGROUND_JOB":
            if headers.get("Job-UUID") == job_uuid:
                done.set()
            return
        counts["events"] += 1
        key = f"call.{name}.{headers.get('Unique-ID', '')}"
        channel.basic_publish("callevt", key, json.dumps(headers), properties)
        counts["published"] += 1

    esl = greenswitch.InboundESL(host, port, password)
    esl.connect()
    esl.register_handle("*", handle)
    esl.send("event plain " + " ".join(SUBSCRIPTIONS))
    started = time.perf_counter()
    cpu = time.process_time()
    esl.send(f"bgapi fsim_burst {calls} {concurrency}\nJob-UUID: {job_uuid}")
    if not done.wait(timeout=600):
        raise SystemExit("baseline: the burst did not finish")
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    print(
        json.dumps(
            {
                "events": counts["events"],
                "published": counts["published"],
                "seconds": round(seconds, 3),
                "cpu_us_per_event": round(cpu / max(1, counts["events"]) * 1e6, 1),
                "events_per_s": round(counts["events"] / seconds),
            }
        )
    )
    sys.stdout.flush()
    connection.close()
    os._exit(0)  # greenswitch's greenlets would keep the process alive


def run_baseline(port: int, amqp_url: str, calls: int, concurrency: int) -> dict[str, Any]:
    command = [
        sys.executable, __file__, "--baseline-worker", "--port", str(port), "--amqp-url", amqp_url,
        "--calls", str(calls), "--concurrency", str(concurrency),
    ]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT, check=False)
    if output.returncode != 0:
        raise SystemExit(f"baseline failed:\n{output.stderr[-4000:]}")
    return json.loads(output.stdout.strip().splitlines()[-1])


# -- fsim, as its own process ---------------------------------------------------------------------------


def start_fsim() -> tuple[subprocess.Popen[str], int]:
    # The checkout's CLI (cwd=ROOT is on sys.path with -c), not an installed entry point: the figure is
    # for the code in this tree, and the entry point need not see every package of the checkout.
    command = [sys.executable, "-c", "from whistle_cli import main; main()"]
    process = subprocess.Popen(
        [*command, "--log-level", "WARNING", "fsim", "--esl", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if line.startswith("fsim: Event Socket on "):
            address = line.split()[4].rstrip(",")
            return process, int(address.rpartition(":")[2])
    process.kill()
    raise SystemExit("fsim did not start")


# -- ecallmgr's pipeline ----------------------------------------------------------------------------------


async def measure_ecallmgr(
    port: int,
    amqp_url: str,
    calls: int,
    concurrency: int,
    *,
    validate: bool,
    label: str,
    read_only: bool = False,
) -> dict[str, Any]:
    """One burst through FreeswitchNode + EventPublisher. ``read_only``: the events are read and counted but
    neither translated nor published (the ceiling that fsim and the ESL reader set on this machine)."""
    from ecallmgr.node import FreeswitchNode
    from ecallmgr.publisher import EventPublisher
    from whistle_common.bus import Bus

    class ReadOnly(EventPublisher):
        async def handle(self, node: str, fs: Any) -> None:
            self.stats.events += 1

    bus = Bus.from_url(amqp_url, app_name="ecallmgr", node="bench")
    await bus.start()
    publisher = (ReadOnly if read_only else EventPublisher)(bus, validate=validate)
    node = FreeswitchNode("fsim", "127.0.0.1", port, "ClueCon", bus=bus, publisher=publisher)
    try:
        await node.start()
        await node.wait_synced(30)
        await node.bgapi("fsim_burst 50 10", timeout=60)  # warm-up
        await publisher.flush()
        before = publisher.stats.events, publisher.stats.call_events, publisher.stats.cdrs
        errors = publisher.stats.errors
        started = time.perf_counter()
        cpu = time.process_time()
        reply = await node.bgapi(f"fsim_burst {calls} {concurrency}", timeout=600)
        await publisher.flush(600)
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
        stats = publisher.stats
        events = stats.events - before[0]
        return {
            "pipeline": label,
            "fsim": reply.strip(),
            "events": events,
            "call_events_published": stats.call_events - before[1],
            "cdrs_confirmed": stats.cdrs - before[2],
            "errors": stats.errors - errors,
            "seconds": round(seconds, 3),
            "cpu_us_per_event": round(cpu / max(1, events) * 1e6, 1),
            "events_per_s": round(events / seconds),
        }
    finally:
        await node.close()
        await publisher.close()
        await bus.close()


def validation_cost(samples: int = 20_000) -> dict[str, Any]:
    """µs per call_event for translate alone, and for the catalogue check on its result."""
    from ecallmgr.translate import call_event
    from whistle_common.api import Catalogue
    from whistle_common.api.catalogue import Origin

    catalogue = Catalogue.default()
    origin = Origin(app_name="ecallmgr", node="bench", server_id="ecallmgr@bench-1")
    fs = {
        "Event-Name": "CHANNEL_ANSWER", "Unique-ID": str(uuid.uuid4()),
        "Event-Date-Timestamp": "1700000000000000", "Event-Sequence": "42", "Channel-State": "CS_EXECUTE",
        "Call-Direction": "inbound",
        "Caller-Caller-ID-Name": "Alice", "Caller-Caller-ID-Number": "1000",
        "Channel-Name": "sofia/internal/1000",
        "Caller-Channel-Created-Time": "1700000000000000", "variable_ecallmgr_Account-ID": "a" * 32,
        "variable_sip_from_user": "1000", "variable_sip_to_user": "2000", "variable_sip_req_uri": "2000@x",
        "FreeSWITCH-Hostname": "fs1",
    }  # fmt: skip
    started = time.perf_counter()
    for _ in range(samples):
        message = call_event(fs, origin=origin)
    translate = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(samples):
        catalogue.validate(message)
    validate = time.perf_counter() - started
    return {
        "measure": "per_message_cost",
        "translate_us": round(translate / samples * 1e6, 1),
        "validate_us": round(validate / samples * 1e6, 1),
    }


async def bench(args: argparse.Namespace) -> None:
    import aio_pika

    load_before = os.getloadavg()[0]
    process, port = start_fsim()
    queue_name = f"bench-callevt-{uuid.uuid4().hex[:8]}"
    connection = await aio_pika.connect(args.amqp_url)
    try:
        channel = await connection.channel()
        exchange = await channel.declare_exchange("callevt", aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(
            queue_name, arguments={"x-max-length": 20_000, "x-overflow": "drop-head"}, auto_delete=False
        )
        await queue.bind(exchange, "#")
        print(
            json.dumps({"fsim_port": port, "calls": args.calls, "concurrency": args.concurrency}), flush=True
        )
        print(json.dumps(validation_cost()), flush=True)
        ceiling = await measure_ecallmgr(
            port,
            args.amqp_url,
            args.calls,
            args.concurrency,
            validate=False,
            label="read_only",
            read_only=True,
        )
        print(json.dumps(ceiling), flush=True)
        validated = await measure_ecallmgr(
            port, args.amqp_url, args.calls, args.concurrency, validate=True, label="ecallmgr"
        )
        print(json.dumps(validated), flush=True)
        unvalidated = await measure_ecallmgr(
            port, args.amqp_url, args.calls, args.concurrency, validate=False, label="ecallmgr_no_validation"
        )
        print(json.dumps(unvalidated), flush=True)
        baseline = run_baseline(port, args.amqp_url, args.calls, args.concurrency)
        baseline["pipeline"] = "greenswitch+pika+gevent"
        print(json.dumps(baseline), flush=True)
        await queue.delete(if_unused=False, if_empty=False)
    finally:
        await connection.close()
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
    rate, base = validated["events_per_s"], baseline["events_per_s"]
    summary = {
        "benchmark": "ecallmgr_events",
        "events_per_s": rate,
        "events_per_s_no_validation": unvalidated["events_per_s"],
        "baseline_events_per_s": base,
        "read_only_events_per_s": ceiling["events_per_s"],
        "ratio": round(rate / base, 2) if base else None,
        "cpu_us_per_event": validated["cpu_us_per_event"],
        "baseline_cpu_us_per_event": baseline["cpu_us_per_event"],
        "events_per_cpu_s": round(1e6 / cpu_us) if (cpu_us := validated["cpu_us_per_event"]) else None,
        "load_average_1m": round(load_before, 2),
        "events": validated["events"],
        "goal_events_per_s": 15_000,
        "goal_ratio": 2.0,
    }
    print(json.dumps(summary), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--amqp-url", default=DEFAULT_URL)
    parser.add_argument("--calls", type=int, default=4000, help="calls per burst (7 events each)")
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--baseline-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=8021, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_worker:
        baseline_worker("127.0.0.1", args.port, "ClueCon", args.amqp_url, args.calls, args.concurrency)
        return
    import asyncio

    asyncio.run(bench(args))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
