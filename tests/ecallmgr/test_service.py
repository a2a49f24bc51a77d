"""ecallmgr.service and ecallmgr.cli: the whole process against fsim and the in-memory bus."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import click
import pytest
from click.testing import CliRunner

from ecallmgr import cli
from ecallmgr.service import Ecallmgr, EcallmgrSettings, NodeSpec, default_control_factory, parse_nodes
from fsim.runtime import Simulator
from whistle_common.bus import Bus, Delivery, QueueSpec

WAIT = 10.0


class RecordingControl:
    """Built by the service as it would build CallControlManager(bus, origin, node_for)."""

    instances: list[RecordingControl] = []

    def __init__(self, bus: Bus, origin: Any, node_for: Any) -> None:
        self.bus, self.origin, self.node_for = bus, origin, node_for
        self.adopted: list[tuple[str, str]] = []
        self.closed = False
        RecordingControl.instances.append(self)

    def adopt(self, call_id: str, node_name: str) -> None:
        self.adopted.append((call_id, node_name))

    def on_event(self, node_name: str, fs_event: Mapping[str, str]) -> None:
        pass

    def control_queue_name(self, call_id: str) -> str:
        return f"ctl.{call_id}"

    async def close(self) -> None:
        self.closed = True


def settings_for(url: str, *specs: NodeSpec) -> EcallmgrSettings:
    return EcallmgrSettings(
        amqp_url=url, node="ecallmgr@test", nodes=specs, fetch_port=0, backoff_initial=0.01, control=False
    )


def test_node_specs_parse() -> None:
    assert NodeSpec.parse("fs1@10.0.0.5:8022") == NodeSpec("fs1", "10.0.0.5", 8022)
    assert NodeSpec.parse("fs1=10.0.0.5:8022", "pw") == NodeSpec("fs1", "10.0.0.5", 8022, "pw")
    assert NodeSpec.parse("10.0.0.5") == NodeSpec("10.0.0.5", "10.0.0.5", 8021)
    assert NodeSpec.parse("fs6@[::1]:8021") == NodeSpec("fs6", "::1", 8021)
    assert [s.name for s in parse_nodes("a=h1:1, b=h2:2 c@h3:3")] == ["a", "b", "c"]
    for bad in ("fs1@host:port", "fs1@:8021", "fs1@h:70000"):
        with pytest.raises(ValueError):
            NodeSpec.parse(bad)
    with pytest.raises(ValueError, match="unique"):
        parse_nodes("a=h1:1,a=h2:2")


def test_the_control_factory_is_optional() -> None:
    factory = default_control_factory()
    assert factory is None or callable(factory)


async def test_the_service_serves_nodes_added_and_removed_while_running(
    sims: tuple[Simulator, Simulator],
) -> None:
    one, two = sims
    url = f"memory://service-{uuid.uuid4().hex}"
    RecordingControl.instances.clear()
    service = Ecallmgr(
        settings_for(url, NodeSpec("fs1", "127.0.0.1", one.esl_port)), control_factory=RecordingControl
    )
    whapp = Bus.from_url(url, app_name="whapp", node="whapp@test")
    await whapp.start()
    seen: list[Delivery] = []
    changed = asyncio.Condition()

    async def on_delivery(delivery: Delivery) -> None:
        async with changed:
            seen.append(delivery)
            changed.notify_all()

    await whapp.consume(QueueSpec("svc-watch", durable=False), on_delivery, bindings=[("callevt", "call.#")])
    try:
        async with service:
            assert service.fetch.port != 0
            [control] = RecordingControl.instances
            assert control.origin == service.bus.origin
            node1 = service.nodes.get("fs1")
            assert node1 is not None and control.node_for("fs1") is node1
            await node1.wait_synced(WAIT)
            reply = await node1.bgapi("originate loopback/answer_park/default &park()")
            assert reply.startswith("+OK")

            node2 = await service.add_node(NodeSpec("fs2", "127.0.0.1", two.esl_port))
            await node2.wait_synced(WAIT)
            reply = await node2.bgapi("originate loopback/answer_park/default &park()")
            assert reply.startswith("+OK")
            servers = lambda: {d.message.get("Switch-Hostname") for d in seen}  # noqa: E731
            async with asyncio.timeout(WAIT), changed:
                await changed.wait_for(lambda: {"fs-one", "fs-two"} <= servers())
            status = {s.name: s for s in service.status()}
            assert status["fs1"].up and status["fs2"].up
            assert status["fs2"].channel_count == 2

            assert await service.remove_node("fs2")
            assert [s.name for s in service.status()] == ["fs1"]
            assert not node2.up
        assert control.closed and not node1.up
    finally:
        await whapp.close()


async def test_run_forever_stops_on_sigterm(sims: tuple[Simulator, Simulator]) -> None:
    one, _ = sims
    url = f"memory://service-{uuid.uuid4().hex}"
    service = Ecallmgr(settings_for(url, NodeSpec("fs1", "127.0.0.1", one.esl_port)))
    task = asyncio.create_task(service.run_forever())
    async with asyncio.timeout(WAIT):
        await service.started.wait()
    node = service.nodes.get("fs1")
    assert node is not None
    await node.wait_synced(WAIT)
    os.kill(os.getpid(), signal.SIGTERM)
    async with asyncio.timeout(WAIT):
        await task
    assert not node.up and service.control_manager is None


async def test_start_fails_cleanly_when_the_fetch_port_is_taken() -> None:
    url = f"memory://service-{uuid.uuid4().hex}"
    first = Ecallmgr(settings_for(url))
    async with first:
        port = first.fetch.port
        second = Ecallmgr(EcallmgrSettings(amqp_url=url, fetch_port=port, control=False))
        with pytest.raises(OSError):
            await second.start()


def test_the_cli_reads_its_options_and_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[EcallmgrSettings] = []

    async def fake_run(self: Ecallmgr) -> None:
        ran.append(self.settings)

    monkeypatch.setattr(Ecallmgr, "run_forever", fake_run)
    from whistle_common.config import Settings

    obj = Settings(amqp_url="memory://cli-test", node="ecm1")
    runner = CliRunner()
    result = runner.invoke(
        cli.ecallmgr,
        ["--node", "fs1=10.0.0.5:8021", "--node", "fs2@10.0.0.6:8022", "--fetch-listen", "0.0.0.0:9000"],
        obj=obj,
        env={"ECALLMGR_ESL_PASSWORD": "secret"},
    )
    assert result.exit_code == 0, result.output
    [settings] = ran
    assert settings.amqp_url == "memory://cli-test" and settings.node == "ecm1"
    assert [(n.name, n.host, n.port, n.password) for n in settings.nodes] == [
        ("fs1", "10.0.0.5", 8021, "secret"),
        ("fs2", "10.0.0.6", 8022, "secret"),
    ]
    assert (settings.fetch_host, settings.fetch_port) == ("0.0.0.0", 9000)

    result = runner.invoke(cli.ecallmgr, [], obj=obj, env={"ECALLMGR_NODES": "a=h:1,b=h:2"})
    assert result.exit_code == 0 and [n.name for n in ran[-1].nodes] == ["a", "b"]
    result = runner.invoke(cli.ecallmgr, ["--node", "nonsense:port"], obj=obj)
    assert result.exit_code == 2
    assert isinstance(cli.ecallmgr, click.Command) and cli.ecallmgr.name == "ecallmgr"


async def test_with_the_real_call_control_a_restart_readopts_live_calls(
    sims: tuple[Simulator, Simulator],
) -> None:
    pytest.importorskip("ecallmgr.control")
    one, _ = sims
    url = f"memory://service-{uuid.uuid4().hex}"
    settings = settings_for(url, NodeSpec("fs1", "127.0.0.1", one.esl_port))
    async with Ecallmgr(settings) as first:
        node = first.nodes.get("fs1")
        assert node is not None
        await node.wait_synced(WAIT)
        reply = await node.bgapi("originate loopback/answer_park/default &park()")
        assert reply.startswith("+OK")
    async with Ecallmgr(replace(settings, control=True)) as second:  # a restarted ecallmgr
        manager = second.control_manager
        assert manager is not None and type(manager).__name__ == "CallControlManager"
        node = second.nodes.get("fs1")
        assert node is not None
        await node.wait_synced(WAIT)
        assert node.channels and all(manager.get(call_id) is not None for call_id in node.channels)  # type: ignore[attr-defined]
