"""``whistle channels``: the table, ecallmgr's responder on its own, and both against RabbitMQ with an
ecallmgr and fsim running in a background thread with their own event loop."""

from __future__ import annotations

import asyncio
import re
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from ecallmgr.channels_api import ChannelsApi, answered_seconds
from ecallmgr.service import Ecallmgr, EcallmgrSettings, NodeSpec
from fsim.runtime import Simulator, SimulatorSettings
from tests.ecallmgr.threaded import Threaded, served_in_thread
from whistle_cli import main
from whistle_cli.channels import format_table
from whistle_common.bus import Bus, Delivery, QueueSpec

WAIT = 10.0


def cells(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


def test_the_table_has_one_line_per_channel_and_names_unreachable_nodes() -> None:
    replies = [
        {"Node": "ecm-b", "Channels": [], "Unreachable-Nodes": ["fs9"]},
        {
            "Node": "ecm-a",
            "Channels": [
                {"Call-ID": "c2", "Media-Node": "fs1", "Controlled": False},
                {"Call-ID": "c1", "Media-Node": "fs1", "Controlled": True, "Caller-ID-Number": "1000",
                 "Caller-ID-Name": "Alice", "Destination-Number": "2000", "Channel-Call-State": "ACTIVE",
                 "Application": "park", "Created-Time": 1000, "Answered-Time": 1030.5},
            ],
        },
    ]  # fmt: skip
    lines = format_table(replies, now=1095)
    assert [cells(line) for line in lines[:3]] == [
        ["CALL-ID", "ECALLMGR", "NODE", "STATE", "FROM", "TO", "APP", "AGE", "ANSWERED", "CONTROL"],
        ["c1", "ecm-a", "fs1", "ACTIVE", "1000 (Alice)", "2000", "park", "1:35", "1:04", "yes"],
        ["c2", "ecm-a", "fs1", "-", "-", "-", "-", "-", "-", "no"],
    ]
    assert lines[3:] == ["ecm-b: node fs9 unreachable: only its Call-IDs are known"]


def test_answered_time_is_microseconds_and_zero_means_not_answered() -> None:
    assert answered_seconds("1700000000250000") == 1_700_000_000.25
    assert [answered_seconds(v) for v in ("0", "_undef_", "-ERR No such channel!\n")] == [None] * 3


class FakeNode:
    def __init__(self, name: str, up: bool, rows: list[dict[str, str]], channels: set[str]) -> None:
        self.name, self.up, self.rows, self.channels = name, up, rows, channels

    async def api(self, command: str, *, timeout: float | None = None) -> str:
        if command == "show channels as json":
            return orjson.dumps({"row_count": len(self.rows), "rows": self.rows}).decode()
        assert command.startswith("uuid_getvar ") and command.endswith(" answered_time")
        return "1700000000500000" if command.split()[1] == "a" else "0"


class FakeControl:
    def get(self, call_id: str) -> object | None:
        return object() if call_id == "a" else None

    def control_queue_name(self, call_id: str) -> str:
        return f"ctl.{call_id}"


async def test_the_responder_reads_freeswitch_and_says_what_it_controls() -> None:
    row = {"uuid": "a", "direction": "inbound", "cid_num": "1000", "dest": "2000", "callstate": "ACTIVE",
           "state": "CS_EXECUTE", "application": "park", "created_epoch": "1700000000",
           "cid_name": ""}  # fmt: skip
    nodes = [
        FakeNode("fs1", True, [row, {"uuid": "b", "state": "CS_ROUTING"}], {"a", "b"}),
        FakeNode("fs2", False, [], {"z"}),
    ]

    class Service:
        control_manager = FakeControl()

    service: Any = Service()
    service.nodes = nodes
    channels, unreachable = await ChannelsApi(service).channels()
    assert channels == [
        {"Call-ID": "a", "Media-Node": "fs1", "Call-Direction": "inbound", "Caller-ID-Number": "1000",
         "Destination-Number": "2000", "Channel-State": "CS_EXECUTE", "Channel-Call-State": "ACTIVE",
         "Application": "park", "Created-Time": 1700000000, "Answered-Time": 1700000000.5,
         "Controlled": True, "Control-Queue": "ctl.a"},
        {"Call-ID": "b", "Media-Node": "fs1", "Channel-State": "CS_ROUTING", "Controlled": False},
        {"Call-ID": "z", "Media-Node": "fs2", "Controlled": False},
    ]  # fmt: skip
    assert unreachable == ["fs2"]
    only, _ = await ChannelsApi(service).channels("b")
    assert [channel["Call-ID"] for channel in only] == ["b"]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def running(amqp_url: str) -> Iterator[Threaded]:
    """An ecallmgr with node fs1 (an fsim, in ``extras["sim"]``) and node fs9 (nobody listening)."""
    node = f"ecallmgr@channels-{uuid.uuid4().hex[:8]}"

    async def serve(state: Threaded) -> None:
        async with Simulator(SimulatorSettings(esl_port=0, time_scale=0.01)) as sim:
            state.extras.update(sim=sim, node=node)
            nodes = [NodeSpec("fs1", "127.0.0.1", sim.esl_port), NodeSpec("fs9", "127.0.0.1", closed_port())]
            settings = EcallmgrSettings(amqp_url=amqp_url, node=node, nodes=nodes, fetch_port=0,
                                        backoff_initial=0.01)  # fmt: skip
            await state.run(Ecallmgr(settings))

    with served_in_thread(serve, "ecallmgr-for-channels") as state:
        yield state


async def place_parked_call(amqp_url: str, running: Threaded, call_id: str) -> None:
    """Place a call to fsim's answer_park; return once ecallmgr has published that it runs park."""
    parked = asyncio.Event()

    async def on_park(delivery: Delivery) -> None:
        if delivery.message.get("Application-Name") == "park":
            parked.set()

    async with Bus.from_url(amqp_url, app_name="test-channels", node="test") as bus:
        queue = QueueSpec(f"test.park.{uuid.uuid4().hex}", durable=False, exclusive=True, auto_delete=True)
        await bus.consume(queue, on_park, bindings=[("callevt", f"call.CHANNEL_EXECUTE.{call_id}")])

        async def place() -> None:
            running.extras["sim"].switch.inbound_call(
                "answer_park", caller_id_number="1000", caller_id_name="Alice", uuid=call_id
            )

        assert running.loop is not None
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(place(), running.loop))
        async with asyncio.timeout(WAIT):
            await parked.wait()


def test_channels_lists_the_live_calls_of_a_running_ecallmgr(amqp_url: str, running: Threaded) -> None:
    call_id, node = str(uuid.uuid4()), running.extras["node"]
    asyncio.run(place_parked_call(amqp_url, running, call_id))
    assert running.service is not None and running.service.control_manager is not None
    running.call(running.service.control_manager.adopt(call_id, "fs1"))  # as a route_win would

    def whistle(*args: str) -> tuple[int, list[list[str]], list[str]]:
        result = CliRunner().invoke(main, ["--amqp-url", amqp_url, "channels", *args], catch_exceptions=False)
        lines = result.stdout.splitlines()
        ours = [cells(line) for line in lines if node in cells(line)]
        return result.exit_code, ours, lines

    code, ours, lines = whistle("--wait", "2")
    assert code == 0 and cells(lines[0])[0] == "CALL-ID"
    [row] = ours
    assert row[:7] == [call_id, node, "fs1", "ACTIVE", "1000 (Alice)", "answer_park", "park"]
    assert row[9] == "yes"
    assert f"{node}: node fs9 unreachable: only its Call-IDs are known" in lines

    code, ours, _ = whistle("--call", str(uuid.uuid4()))
    assert code == 0 and ours == []


def test_nobody_answering_is_an_error() -> None:
    result = CliRunner().invoke(
        main, ["--amqp-url", f"memory://nobody-{uuid.uuid4().hex}", "channels", "--wait", "0.1"]
    )
    assert result.exit_code == 1 and "no ecallmgr answered" in result.output
