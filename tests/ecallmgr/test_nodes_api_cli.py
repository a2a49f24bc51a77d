"""``whistle nodes``: its formatting, and the commands against RabbitMQ with an ecallmgr (and fsim) running
in a background thread with its own event loop."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from click.testing import CliRunner

from ecallmgr.service import Ecallmgr, EcallmgrSettings, NodeSpec
from fsim.runtime import Simulator, SimulatorSettings
from whistle_cli import main
from whistle_cli.nodes import format_replies

WAIT = 10.0


def test_replies_are_printed_one_line_per_ecallmgr_per_node() -> None:
    replies = [
        {
            "Node": "ecm-b",
            "Server-ID": "b",
            "Nodes": [],
            "Error-Message": "unknown node 'fs9'",
        },
        {
            "Node": "ecm-a",
            "Server-ID": "a",
            "Nodes": [
                {"Name": "fs1", "Host": "10.0.0.5", "Port": 8021, "Up": True, "Channel-Count": 3,
                 "Last-Heartbeat": 1700000000.5},
                {"Name": "fs2", "Host": "10.0.0.6", "Port": 8022, "Up": False, "Channel-Count": 0},
            ],
        },
    ]  # fmt: skip
    lines = format_replies(replies)
    assert [line.split() for line in lines] == [
        ["ecm-a", "fs1", "10.0.0.5:8021", "up", "3", "channels", "heartbeat", "2023-11-14T22:13:20Z"],
        ["ecm-a", "fs2", "10.0.0.6:8022", "down", "0", "channels", "heartbeat", "never"],
        ["ecm-b", "error:", "unknown", "node", "'fs9'"],
        ["ecm-b", "(no", "nodes)"],
    ]
    assert format_replies([]) == []


@dataclass
class Running:
    """An ecallmgr with node fs1, and a second fsim (for ``add``), served by a thread's own loop."""

    node: str
    fs2_port: int = 0
    loop: asyncio.AbstractEventLoop | None = None
    service: Ecallmgr | None = None
    ready: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


@pytest.fixture
def running(amqp_url: str) -> Iterator[Running]:
    state = Running(node=f"ecallmgr@cli-{uuid.uuid4().hex[:8]}")

    async def serve() -> None:
        sim = SimulatorSettings(esl_port=0, time_scale=0.01)
        async with Simulator(sim) as one, Simulator(sim) as two:
            service = Ecallmgr(
                EcallmgrSettings(
                    amqp_url=amqp_url,
                    node=state.node,
                    nodes=[NodeSpec("fs1", "127.0.0.1", one.esl_port)],
                    fetch_port=0,
                    backoff_initial=0.01,
                    control=False,
                )
            )
            state.loop, state.service, state.fs2_port = asyncio.get_running_loop(), service, two.esl_port
            task = asyncio.create_task(service.run_forever(handle_signals=False))
            async with asyncio.timeout(WAIT):
                await service.started.wait()
                node = service.nodes.get("fs1")
                assert node is not None
                await node.wait_synced(WAIT)
            state.ready.set()
            await task

    def thread_main() -> None:
        try:
            asyncio.run(serve())
        except BaseException as error:  # reported by the test
            state.error = error
        finally:
            state.ready.set()

    thread = threading.Thread(target=thread_main, name="ecallmgr-for-cli", daemon=True)
    thread.start()
    assert state.ready.wait(WAIT * 2)
    if state.error is not None:
        raise state.error
    try:
        yield state
    finally:
        if state.loop is not None and state.service is not None:
            state.loop.call_soon_threadsafe(state.service.stop)
        thread.join(WAIT * 2)
        assert not thread.is_alive()


def ours(output: str, node: str) -> list[list[str]]:
    return [line.split() for line in output.splitlines() if line.split()[:1] == [node]]


def test_the_nodes_commands_against_a_running_ecallmgr(amqp_url: str, running: Running) -> None:
    runner = CliRunner()

    def whistle(*args: str) -> tuple[int, list[list[str]]]:
        result = runner.invoke(main, ["--amqp-url", amqp_url, "nodes", *args], catch_exceptions=False)
        return result.exit_code, ours(result.output, running.node)

    code, lines = whistle("list")
    assert code == 0
    [fs1] = lines
    assert fs1[1:5] == ["fs1", fs1[2], "up", "0"] and fs1[2].startswith("127.0.0.1:")

    code, lines = whistle("add", "fs2", f"127.0.0.1:{running.fs2_port}", "--password", "ClueCon")
    assert code == 0 and [line[1] for line in lines] == ["fs1", "fs2"]
    assert lines[1][2] == f"127.0.0.1:{running.fs2_port}"

    code, lines = whistle("remove", "fs2")
    assert code == 0 and [line[1] for line in lines] == ["fs1"]

    code, lines = whistle("remove", "fs2")
    assert code == 0 and lines[0][1:] == ["error:", "unknown", "node", "'fs2'"]


def test_nobody_answering_is_an_error() -> None:
    result = CliRunner().invoke(
        main, ["--amqp-url", f"memory://nobody-{uuid.uuid4().hex}", "nodes", "list", "--wait", "0.1"]
    )
    assert result.exit_code == 1


def test_a_malformed_address_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["--amqp-url", "memory://nobody", "nodes", "add", "fs2", "host:port"])
    assert result.exit_code == 2
