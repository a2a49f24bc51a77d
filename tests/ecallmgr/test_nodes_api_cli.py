"""``whistle nodes``: its formatting, and the commands against RabbitMQ with an ecallmgr (and fsim) running
in a background thread with its own event loop."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from ecallmgr.service import Ecallmgr, EcallmgrSettings, NodeSpec
from fsim.runtime import Simulator, SimulatorSettings
from tests.ecallmgr.threaded import Threaded, served_in_thread
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


@pytest.fixture
def running(amqp_url: str) -> Iterator[Threaded]:
    """An ecallmgr with node fs1, and a second fsim for ``add`` (its port in ``extras["fs2_port"]``)."""
    node = f"ecallmgr@cli-{uuid.uuid4().hex[:8]}"

    async def serve(state: Threaded) -> None:
        sim = SimulatorSettings(esl_port=0, time_scale=0.01)
        async with Simulator(sim) as one, Simulator(sim) as two:
            state.extras.update(node=node, fs2_port=two.esl_port)
            nodes = [NodeSpec("fs1", "127.0.0.1", one.esl_port)]
            settings = EcallmgrSettings(amqp_url=amqp_url, node=node, nodes=nodes, fetch_port=0,
                                        backoff_initial=0.01, control=False)  # fmt: skip
            await state.run(Ecallmgr(settings))

    with served_in_thread(serve, "ecallmgr-for-cli") as state:
        yield state


def ours(output: str, node: str) -> list[list[str]]:
    return [line.split() for line in output.splitlines() if line.split()[:1] == [node]]


def test_the_nodes_commands_against_a_running_ecallmgr(amqp_url: str, running: Threaded) -> None:
    runner = CliRunner()

    def whistle(*args: str) -> tuple[int, list[list[str]]]:
        result = runner.invoke(main, ["--amqp-url", amqp_url, "nodes", *args], catch_exceptions=False)
        return result.exit_code, ours(result.output, running.extras["node"])

    code, lines = whistle("list")
    assert code == 0
    [fs1] = lines
    assert fs1[1:5] == ["fs1", fs1[2], "up", "0"] and fs1[2].startswith("127.0.0.1:")

    code, lines = whistle("add", "fs2", f"127.0.0.1:{running.extras['fs2_port']}", "--password", "ClueCon")
    assert code == 0 and [line[1] for line in lines] == ["fs1", "fs2"]
    assert lines[1][2] == f"127.0.0.1:{running.extras['fs2_port']}"

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
