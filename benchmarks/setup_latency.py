"""Call set-up through the control plane: fsim -> ecallmgr -> RabbitMQ -> callflow -> ecallmgr -> fsim.

One run, everything on this machine: RabbitMQ (the machine's), a pouchdb-server started here (in memory),
ecallmgr and the callflow whapp as separate OS processes (``whistle run ...``, as operators run them), and
fsim *inside this process*, so that both ends of the measurement are timestamped by one clock in one place:

* start: fsim's dialplan lookup for the channel begins (the switch's route hook, wrapped after
  ``Simulator.start``; it builds the mod_xml_curl form and POSTs it to ecallmgr);
* end: the first call command reaches fsim: the first ``sendmsg`` for the channel's uuid that fsim's
  Event Socket hands to the switch (``Switch.sendmsg``, wrapped), i.e. the ``answer`` that the callflow's
  ``play`` module sends first, after ecallmgr has parsed the ESL command and before the channel runs it.

In between: the xml_curl POST, ecallmgr's route_req, the callflow's account and callflow lookup (cached
after the first call), route_resp, the park XML, fsim parking the channel, CHANNEL_PARK over ESL,
route_win to the winning callflow instance, its ``answer`` on the call's control queue, ecallmgr's
``sendmsg``. The split is reported too: ``fetch`` (POST to XML answer), ``park`` (answer to CHANNEL_PARK
fired in fsim) and ``win`` (CHANNEL_PARK to the first command).

Calls are offered at a fixed rate (an absolute schedule: a late call does not push the others back) to
the number of a callflow ``play`` (a 200 ms tone) that the whapp answers, plays and hangs up. The same
offered load runs with one callflow instance, then with two (both consuming ``callflow.route_req``).
A call fails when its dialplan lookup gives no route, when no command reaches fsim within ``--deadline``
seconds of its lookup, when it ends with a cause other than NORMAL_CLEARING, or when it is still up once
the run has drained.

Printed: one JSON object per configuration, then the summary as the last line: the headline figures
(``calls_per_s``, ``setup_ms_p50``/``p90``/``p99``, ``failed_calls``) are the **two-instance** run's, and
``one_instance``/``two_instances`` hold both. ``calls_per_s`` is calls set up (first command reached
fsim) per second, from the first offer to the last set-up. CPU seconds per process over each measured
window say where the machine's time went; ``--profile DIR`` also samples ecallmgr and the callflow
instances with py-spy (``.venv/bin/py-spy``, collapsed stacks) during the measured windows.

    python benchmarks/setup_latency.py [--amqp-url URL] [--rate 200] [--seconds 15] [--profile DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.e2e.daemons: the same Daemon the end-to-end tests run

import httpx  # noqa: E402

from fsim.events import Event  # noqa: E402
from fsim.runtime import Simulator, SimulatorSettings  # noqa: E402
from tests.e2e.daemons import Daemon, free_port  # noqa: E402
from tests.vhost import private_vhost  # noqa: E402
from whistle_common.store import Store, account_db  # noqa: E402
from whistle_demo.sample import create_sample_account  # noqa: E402

DEFAULT_URL = os.environ.get("WHISTLE_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
NUMBER = "3000"
TONE = "tone_stream://%(200,0,440)"
TICK = os.sysconf("SC_CLK_TCK")


# -- pouchdb-server -------------------------------------------------------------------------------------


@contextlib.contextmanager
def pouchdb() -> Iterator[tuple[str, int]]:
    """An in-memory pouchdb-server on a free port (as tests/couch_server.py starts it): (url, pid)."""
    configured = os.environ.get("WHISTLE_POUCHDB")
    binary = Path(configured) if configured else ROOT / ".node" / "node_modules" / ".bin" / "pouchdb-server"
    if not binary.is_file():
        raise SystemExit(f"pouchdb-server not found at {binary}: run `make install`")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="bench-pouchdb-") as workdir:
        log = Path(workdir) / "output.txt"
        output = log.open("wb")  # closed below
        process = subprocess.Popen(
            [str(binary), "--in-memory", "--host", "127.0.0.1", "--port", str(port)],
            cwd=workdir, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(url + "/", timeout=1.0).status_code == 200:
                        break
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"pouchdb-server did not start:\n{log.read_text()}")
                time.sleep(0.1)
            yield url, process.pid
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)  # its own process group: ours alone
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)
            output.close()


# -- what fsim sees of each call --------------------------------------------------------------------------


@dataclass
class CallRecord:
    offered: float
    fetch_start: float | None = None
    fetch_end: float | None = None
    routed: bool = False
    park: float | None = None
    first_command: float | None = None
    first_app: str | None = None
    destroyed: float | None = None
    cause: str | None = None
    shed: bool = False  # not placed: too many calls were waiting for their dialplan (see --max-pending)


class Tracker:
    """Timestamps (``time.perf_counter``) of every call placed on ``sim``, by uuid."""

    def __init__(self, sim: Simulator) -> None:
        self.calls: dict[str, CallRecord] = {}
        self.awaiting_dialplan = 0  # placed calls whose dialplan lookup has not answered yet
        switch = sim.switch
        route_hook = switch.route_hook
        sendmsg = switch.sendmsg

        async def timed_route(channel: Any) -> Any:
            record = self.calls.get(channel.uuid)
            if record is not None:
                record.fetch_start = time.perf_counter()
            try:
                result = await route_hook(channel)
            finally:
                self.awaiting_dialplan -= record is not None
            if record is not None:
                record.fetch_end = time.perf_counter()
                record.routed = bool(result)
            return result

        async def timed_sendmsg(uuid: str, headers: list[tuple[str, str]], body: bytes | None) -> str:
            record = self.calls.get(uuid)
            if record is not None and record.first_command is None:
                record.first_command = time.perf_counter()
                names = {name.lower(): value for name, value in headers}
                record.first_app = names.get("execute-app-name") or names.get("call-command")
            return await sendmsg(uuid, headers, body)

        switch.route_hook = timed_route
        switch.sendmsg = timed_sendmsg  # type: ignore[method-assign]  # the ESL server calls it per sendmsg
        switch.hub.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        name = event.headers[0][1] if event.headers and event.headers[0][0] == "Event-Name" else event.name
        if name == "CHANNEL_PARK":
            record = self.calls.get(event.get("Unique-ID") or "")
            if record is not None and record.park is None:
                record.park = time.perf_counter()
        elif name == "CHANNEL_DESTROY":
            record = self.calls.get(event.get("Unique-ID") or "")
            if record is not None:
                record.destroyed = time.perf_counter()
                record.cause = event.get("Hangup-Cause") or event.get("variable_hangup_cause")


class BusTrace:
    """Copies of one call's bus messages, timestamped where this process receives them (``--trace``).

    An exclusive queue bound to ``callmgr route.req``, to the targeted keys of ecallmgr and the callflow
    instances (route_resp, route_win) and, per call, to its control queue's key (the commands): each copy
    arrives about when the real consumer gets the original, so the gaps between them split the set-up.
    """

    def __init__(self, amqp_url: str) -> None:
        from whistle_common.bus import Bus

        self.bus = Bus.from_url(amqp_url, app_name="bench-trace", node=f"trace-{uuid.uuid4().hex[:8]}")
        self.queue = f"{self.bus.server_id}.trace"
        self.seen: dict[str, dict[str, float]] = {}
        self.ecallmgr_id: str | None = None
        self._calls_by_msg_id: dict[str, str] = {}  # a route_resp carries its request's Msg-ID only

    async def start(self, server_ids: list[str]) -> None:
        from whistle_common.bus import QueueSpec

        await self.bus.start()
        spec = QueueSpec(self.queue, durable=False, exclusive=True, auto_delete=True)
        bindings = [("callmgr", "route.req"), *(("targeted", server_id) for server_id in server_ids)]
        await self.bus.consume(spec, self._on_message, bindings=bindings, prefetch=1000)

    async def watch(self, call_uuid: str) -> None:
        await self.bus.transport.bind(self.queue, "callctl", f"ctl.{call_uuid}")

    async def _on_message(self, delivery: Any) -> None:
        now = time.perf_counter()
        message = delivery.message
        name = str(message.get("Event-Name"))
        if name == "command":
            name = str(message.get("Application-Name"))
        call_id = str(message.get("Call-ID") or self._calls_by_msg_id.get(str(message.get("Msg-ID")), ""))
        if name == "route_req":
            self._calls_by_msg_id[str(message.get("Msg-ID"))] = call_id
            if self.ecallmgr_id is None:
                self.ecallmgr_id = str(message.get("Server-ID"))
                await self.bus.transport.bind(self.queue, "targeted", self.ecallmgr_id)
        self.seen.setdefault(call_id, {}).setdefault(name, now)

    async def close(self) -> None:
        await self.bus.close()


class LoopLag:
    """How late this process's event loop (fsim's) wakes up: a 5 ms sleep, measured over and over."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.samples = []
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.005)
            self.samples.append((time.perf_counter() - before - 0.005) * 1000)

    async def stop(self) -> dict[str, float]:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        return {"loop_lag_ms_p50": pct(self.samples, 50), "loop_lag_ms_p99": pct(self.samples, 99),
                "loop_lag_ms_max": round(max(self.samples, default=0.0), 2)}  # fmt: skip


def pct(values: list[float], percent: float) -> float:
    """Nearest-rank percentile, rounded to 0.01 (0.0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * percent // 100))
    return round(ordered[int(rank) - 1], 2)


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (and of its waited-for children) so far; 0.0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return sum(int(value) for value in fields[11:15]) / TICK


def rabbitmq_pid() -> int | None:
    """The local broker's Erlang VM (read-only: its CPU time is part of where set-up time goes)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if b"rabbit" in (entry / "cmdline").read_bytes() and "beam" in (entry / "comm").read_text():
                    return int(entry.name)
    return None


# -- one configuration ------------------------------------------------------------------------------------


async def place_calls(
    sim: Simulator, tracker: Tracker, realm: str, rate: float, count: int, tag: str, max_pending: int = 100
) -> tuple[list[str], float, float]:
    """Offer ``count`` calls at ``rate``/s on an absolute schedule; (uuids, first offer, last offer).

    A call due while ``max_pending`` calls still wait for their dialplan is not placed (it counts as
    failed, ``shed``), as a switch at its limit would refuse it: past that point the control plane is not
    keeping up anyway, and fsim's xml_curl client (httpx, 100 connections) would spend its CPU scanning
    its queue of waiting requests and take the load generator down with the run.
    """
    uuids: list[str] = []
    variables = {"sip_to_host": realm, "sip_req_host": realm, "sip_from_host": realm}
    start = time.perf_counter()
    last = start
    for index in range(count):
        due = start + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        call_uuid = str(uuid.uuid4())
        tracker.calls[call_uuid] = CallRecord(offered=time.perf_counter())
        last = tracker.calls[call_uuid].offered
        uuids.append(call_uuid)
        if tracker.awaiting_dialplan >= max_pending:
            tracker.calls[call_uuid].shed = True
            continue
        tracker.awaiting_dialplan += 1
        sim.switch.inbound_call(
            NUMBER,
            uuid=call_uuid,
            caller_id_number=f"1{index % 1000:03d}",
            caller_id_name=f"bench {tag}",
            variables=variables,
        )
    return uuids, start, last


async def drain(sim: Simulator, timeout: float) -> None:
    """Wait until fsim has no channel left; after ``timeout`` seconds hang up what is left (and wait for
    that at most 10 s more): those calls count as failed (``still_up``)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(sim.switch.channels.wait_empty(), timeout)
    for channel in list(sim.switch.channels):
        channel.hangup("SYSTEM_SHUTDOWN")
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(sim.switch.channels.wait_empty(), 10)


def summarise(
    tracker: Tracker, uuids: list[str], first_offer: float, last_offer: float, deadline: float
) -> dict[str, Any]:
    setup, fetch, park, win = [], [], [], []
    failed: dict[str, int] = {}
    last_setup = first_offer
    for call_uuid in uuids:
        record = tracker.calls[call_uuid]
        reason = None
        if record.shed:
            reason = "shed"
        elif record.fetch_start is None:
            reason = "never_routed"
        elif record.fetch_end is not None and not record.routed:
            reason = "no_route"
        elif record.first_command is None:
            reason = "no_command"
        elif record.first_command - record.fetch_start > deadline:
            reason = "late_command"
        elif record.destroyed is None or record.cause == "SYSTEM_SHUTDOWN":
            reason = "still_up"
        elif record.cause != "NORMAL_CLEARING":
            reason = f"cause_{record.cause}"
        if record.first_command is not None and record.fetch_start is not None:
            setup.append((record.first_command - record.fetch_start) * 1000)
            last_setup = max(last_setup, record.first_command)
            if record.fetch_end is not None and record.park is not None:
                fetch.append((record.fetch_end - record.fetch_start) * 1000)
                park.append((record.park - record.fetch_end) * 1000)
                win.append((record.first_command - record.park) * 1000)
        if reason is not None:
            failed[reason] = failed.get(reason, 0) + 1
    set_up = len(setup)
    apps = {tracker.calls[u].first_app for u in uuids if tracker.calls[u].first_app}
    return {
        "calls": len(uuids),
        "placed": sum(1 for u in uuids if not tracker.calls[u].shed),
        "offered_per_s": round((len(uuids) - 1) / max(1e-9, last_offer - first_offer), 1),
        "calls_per_s": round(set_up / max(1e-9, last_setup - first_offer), 1),
        "setup_ms_p50": pct(setup, 50),
        "setup_ms_p90": pct(setup, 90),
        "setup_ms_p99": pct(setup, 99),
        "setup_ms_max": round(max(setup, default=0.0), 2),
        "failed_calls": sum(failed.values()),
        "failures": failed,
        "first_command": sorted(apps),
        "split_ms_p50": {"fetch": pct(fetch, 50), "park": pct(park, 50), "win": pct(win, 50)},
        "split_ms_p99": {"fetch": pct(fetch, 99), "park": pct(park, 99), "win": pct(win, 99)},
    }


async def measure(
    sim: Simulator,
    tracker: Tracker,
    realm: str,
    args: argparse.Namespace,
    processes: dict[str, int],
    label: str,
) -> dict[str, Any]:
    """Warm every instance's caches, then offer ``rate`` calls/s for ``seconds``; the figures."""
    warm, _, _ = await place_calls(sim, tracker, realm, 20.0, args.warmup, f"{label}-warmup")
    await drain(sim, 30)
    warm_ok = sum(1 for u in warm if tracker.calls[u].first_command is not None)
    if warm_ok < len(warm):
        print(json.dumps({"warning": f"{label}: {len(warm) - warm_ok} of {len(warm)} warm-up calls failed"}))
    profilers = start_profilers(args.profile, processes, label, args.seconds + 2) if args.profile else []
    before = {name: cpu_seconds(pid) for name, pid in processes.items()}
    lag = LoopLag()
    lag.start()
    wall = time.perf_counter()
    count = int(args.rate * args.seconds)
    uuids, first, last = await place_calls(sim, tracker, realm, args.rate, count, label, args.max_pending)
    await drain(sim, args.deadline + 5)
    wall = time.perf_counter() - wall
    cpu = {name: round(cpu_seconds(pid) - before[name], 2) for name, pid in processes.items()}
    loop = await lag.stop()
    for profiler in profilers:
        with contextlib.suppress(subprocess.TimeoutExpired):
            profiler.wait(timeout=30)
    result = {"config": label, "rate": args.rate, "seconds": args.seconds}
    result.update(summarise(tracker, uuids, first, last, args.deadline))
    result["cpu_s"] = cpu  # over the measured window (offering and draining)
    result["cpu_share_of_window"] = {name: round(value / wall, 2) for name, value in cpu.items()}
    result["window_s"] = round(wall, 2)
    result["fsim_loop"] = loop
    for record_uuid in uuids:  # keep memory flat across configurations
        tracker.calls.pop(record_uuid, None)
    return result


async def trace(
    sim: Simulator, tracker: Tracker, realm: str, args: argparse.Namespace, server_ids: list[str]
) -> dict[str, Any]:
    """``--trace``: calls at ``args.trace`` per second with their bus messages timestamped; medians."""
    bus_trace = BusTrace(args.amqp_url)
    await bus_trace.start(server_ids)
    try:
        await place_calls(sim, tracker, realm, 20.0, 5, "trace-learn")  # learns ecallmgr's Server-ID
        await drain(sim, 10)
        hops: dict[str, list[float]] = {}
        count = max(1, int(args.trace * args.seconds))
        start = time.perf_counter()
        uuids = []
        for index in range(count):
            delay = start + index / args.trace - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            call_uuid = str(uuid.uuid4())
            await bus_trace.watch(call_uuid)  # before the call exists: its commands cannot be missed
            tracker.calls[call_uuid] = CallRecord(offered=time.perf_counter())
            tracker.awaiting_dialplan += 1
            sim.switch.inbound_call(NUMBER, uuid=call_uuid, caller_id_number="1999",
                                    variables={"sip_to_host": realm, "sip_req_host": realm})  # fmt: skip
            uuids.append(call_uuid)
        await drain(sim, 30)
        order = [
            ("fetch_start", False), ("route_req", True), ("route_resp", True), ("fetch_end", False),
            ("park", False), ("route_win", True), ("answer", True), ("first_command", False),
        ]  # fmt: skip
        for call_uuid in uuids:
            record, seen = tracker.calls.pop(call_uuid), bus_trace.seen.get(call_uuid, {})
            stamps = [seen.get(name) if where else getattr(record, name) for name, where in order]
            for (name, _), before, after in zip(order[1:], stamps, stamps[1:], strict=False):
                if before is not None and after is not None:
                    hops.setdefault(name, []).append((after - before) * 1000)
        return {"config": "trace", "rate": args.trace, "calls": len(uuids),
                "hop_ms_p50": {name: pct(values, 50) for name, values in hops.items()},
                "hop_ms_p90": {name: pct(values, 90) for name, values in hops.items()}}  # fmt: skip
    finally:
        await bus_trace.close()


def start_profilers(directory: str, processes: dict[str, int], label: str, seconds: float) -> list[Any]:
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        print(json.dumps({"warning": "--profile: py-spy not found; pip install py-spy into the venv"}))
        return []
    Path(directory).mkdir(parents=True, exist_ok=True)
    started = []
    for name, pid in processes.items():
        if name.startswith(("ecallmgr", "callflow")):
            output = Path(directory) / f"{label}-{name}.txt"
            started.append(subprocess.Popen(
                [spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "250",
                 "--format", "raw", "--output", str(output), "--nonblocking"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ))  # fmt: skip
    return started


# -- the run ----------------------------------------------------------------------------------------------


async def run(args: argparse.Namespace, couch_url: str, couch_pid: int | None) -> list[dict[str, Any]]:
    tag = uuid.uuid4().hex[:8]
    realm = f"bench-{tag}.test"
    async with Store.open(couch_url) as store:
        account = await create_sample_account(store, realm=realm)
        await store.save(account_db(account.account_id), {
            "_id": uuid.uuid4().hex, "pvt_type": "callflow", "numbers": [NUMBER], "patterns": [],
            "flow": {"module": "play", "data": {"id": TONE}, "children": {}},
        })  # fmt: skip
    esl_port, fetch_port = free_port(), free_port()
    settings = SimulatorSettings(
        esl_port=esl_port,
        xml_curl_url=f"http://127.0.0.1:{fetch_port}/xml_curl",
        xml_curl_timeout=args.deadline,  # a fetch that outlives the deadline has failed anyway
        time_scale=args.time_scale,
        domain=realm,
    )
    common = ["--amqp-url", args.amqp_url, "--couch-url", couch_url, "--log-level", args.log_level]
    results = []
    sim = Simulator(settings)
    await sim.start()
    sim.switch.max_sessions = 100_000
    tracker = Tracker(sim)
    broker = rabbitmq_pid()
    # Each configuration gets fresh daemons: a backlog left by an overloaded run must not spill over.
    for count, label in ((1, "one_instance"), (2, "two_instances")):
        run_tag = f"{tag}-{count}"
        ecallmgr = Daemon("ecallmgr", [*common, "--node", f"ecm-{run_tag}", "run", "ecallmgr",
                                       "--node", f"fs1=127.0.0.1:{esl_port}",
                                       "--fetch-listen", f"127.0.0.1:{fetch_port}"])  # fmt: skip
        flows = [Daemon(f"callflow{i}", [*common, "--node", f"cf{i}-{run_tag}", "run", "callflow"])
                 for i in range(1, count + 1)]  # fmt: skip
        daemons = [ecallmgr, *flows]
        try:
            await ecallmgr.start()
            await ecallmgr.wait_for_line(r"fs1.*(connected|synced|up)")
            processes = {"bench+fsim": os.getpid(), "ecallmgr": _pid(ecallmgr)}
            if couch_pid is not None:
                processes["pouchdb"] = couch_pid
            if broker is not None:
                processes["rabbitmq"] = broker
            for flow in flows:
                await flow.start()
                await flow.wait_for_line("callflow started as")
                processes[flow.name] = _pid(flow)
            result = await measure(sim, tracker, realm, args, processes, label)
            result["callflow_instances"] = count
            print(json.dumps(result), flush=True)
            results.append(result)
            if args.trace and count == 2:
                ids = [line.rpartition(" started as ")[2].split()[0] for line in
                       [await flow.wait_for_line("callflow started as") for flow in flows]]  # fmt: skip
                print(json.dumps(await trace(sim, tracker, realm, args, ids)), flush=True)
        except BaseException:
            for daemon in daemons:
                print(daemon.log(), file=sys.stderr)
            await sim.close()
            raise
        finally:
            for daemon in reversed(daemons):
                await daemon.stop()
    await sim.close()
    return results


def _pid(daemon: Daemon) -> int:
    assert daemon.process is not None
    return daemon.process.pid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--amqp-url", default=DEFAULT_URL)
    parser.add_argument("--couch-url", help="a CouchDB-API server to use instead of starting pouchdb-server")
    parser.add_argument("--rate", type=float, default=200.0, help="calls offered per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds of offered load per config")
    parser.add_argument("--warmup", type=int, default=20, help="calls before each measured window")
    parser.add_argument("--deadline", type=float, default=5.0, help="seconds for a call's first command")
    parser.add_argument(
        "--max-pending",
        type=int,
        default=100,
        help="calls awaiting their dialplan beyond which a new call is shed (counted failed)",
    )
    parser.add_argument("--time-scale", type=float, default=0.01, help="fsim: real s per simulated s")
    parser.add_argument("--log-level", default="INFO", help="of ecallmgr and the callflow instances")
    parser.add_argument("--profile", metavar="DIR", help="py-spy ecallmgr and callflow into DIR")
    parser.add_argument("--trace", type=float, metavar="RATE", help="then calls at RATE/s, bus hops timed")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.log_level.upper() not in ("DEBUG", "INFO"):
        parser.error("--log-level: the daemons' readiness is read from their INFO lines")
    # the daemons' CDR spool: a directory of this run's own, gone with it
    os.environ["ECALLMGR_CDR_SPOOL"] = tempfile.mkdtemp(prefix="whistle-bench-cdr-")
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, os.environ["ECALLMGR_CDR_SPOOL"], ignore_errors=True)
        # a virtual host of its own: other callflow instances on the broker must not take its calls
        args.amqp_url = stack.enter_context(private_vhost(args.amqp_url, "whistle-bench"))
        if args.couch_url:
            results = asyncio.run(run(args, args.couch_url, None))
        else:
            couch_url, couch_pid = stack.enter_context(pouchdb())
            results = asyncio.run(run(args, couch_url, couch_pid))
    one, two = results
    headline = {key: two[key] for key in ("calls_per_s", "setup_ms_p50", "setup_ms_p90", "setup_ms_p99",
                                          "failed_calls")}  # fmt: skip
    summary = {
        "benchmark": "setup_latency",
        "headline": "two_instances",
        **headline,
        "offered_per_s": args.rate,
        "targets": {"calls_per_s": 200, "setup_ms_p50": 3, "setup_ms_p99": 15},
        "one_instance": {key: one[key] for key in (*headline, "split_ms_p50", "split_ms_p99")},
        "two_instances": {key: two[key] for key in (*headline, "split_ms_p50", "split_ms_p99")},
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
