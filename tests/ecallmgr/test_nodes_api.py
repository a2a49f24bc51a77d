"""ecallmgr.nodes_api: nodes_req answered by every ecallmgr, node_status published, against fsim and the
in-memory bus."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from ecallmgr.nodes_api import NodesApi
from ecallmgr.service import Ecallmgr, EcallmgrSettings, NodeSpec
from fsim.runtime import Simulator
from whistle_common.bus import Bus, Delivery, QueueSpec
from whistle_common.routing import escape_word

WAIT = 10.0
Message = dict[str, Any]


def settings_for(
    url: str, *specs: NodeSpec, node: str = "ecallmgr@nodes", **options: Any
) -> EcallmgrSettings:
    return EcallmgrSettings(
        amqp_url=url, node=node, nodes=specs, fetch_port=0, backoff_initial=0.01, control=False, **options
    )


class Watcher:
    """Every message bound to one topic of a client bus, waited on with timeouts."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.changed = asyncio.Condition()

    async def on_delivery(self, delivery: Delivery) -> None:
        async with self.changed:
            self.deliveries.append(delivery)
            self.changed.notify_all()

    async def wait_for(self, predicate: Callable[[Message], bool]) -> Delivery:
        def found() -> Delivery | None:
            return next((d for d in self.deliveries if predicate(d.message)), None)

        async with asyncio.timeout(WAIT), self.changed:
            await self.changed.wait_for(lambda: found() is not None)
        result = found()
        assert result is not None
        return result


def by_name(message: Message) -> dict[str, Message]:
    return {node["Name"]: node for node in message.get("Nodes", [])}


def node_is(name: str, up: bool) -> Callable[[Message], bool]:
    return lambda message: name in by_name(message) and by_name(message)[name]["Up"] is up


async def ask(client: Bus, **headers: Any) -> Message:
    """One nodes_req, and the one answer of the one ecallmgr of the test."""
    replies = await client.collect(client.build("nodes_req", **headers), timeout=WAIT, until=lambda _: True)
    assert len(replies) == 1, replies
    assert replies[0]["Event-Name"] == "nodes_resp"
    return replies[0]


async def test_nodes_are_listed_added_and_removed_over_the_bus_and_their_status_published(
    sims: tuple[Simulator, Simulator],
) -> None:
    one, two = sims
    url = f"memory://nodes-{uuid.uuid4().hex}"
    service = Ecallmgr(settings_for(url, NodeSpec("fs1", "127.0.0.1", one.esl_port)))
    client = Bus.from_url(url, app_name="whistle-cli", node="cli@test")
    statuses, events = Watcher(), Watcher()
    async with client:
        await client.consume(
            QueueSpec("nodes-status-watch", durable=False),
            statuses.on_delivery,
            bindings=[("notifications", "nodes.status.#")],
        )
        await client.consume(
            QueueSpec("nodes-event-watch", durable=False),
            events.on_delivery,
            bindings=[("callevt", "call.CHANNEL_ANSWER.*")],
        )
        async with service:
            first_up = await statuses.wait_for(node_is("fs1", True))
            assert first_up.routing_key == f"nodes.status.{escape_word('ecallmgr@nodes')}"
            assert first_up.message["Node"] == "ecallmgr@nodes"
            assert first_up.message["Server-ID"] == service.bus.server_id
            assert first_up.message["Reason"] == "changed"

            node1 = service.nodes.get("fs1")
            assert node1 is not None
            await node1.wait_synced(WAIT)
            assert (await node1.bgapi("originate loopback/answer_park/default &park()")).startswith("+OK")
            await events.wait_for(lambda message: True)  # the node has counted the channel by now

            listed = await ask(client, action="list")
            assert listed["Server-ID"] == service.bus.server_id and "Error-Message" not in listed
            [fs1] = listed["Nodes"]
            assert (fs1["Name"], fs1["Host"], fs1["Port"], fs1["Up"]) == (
                "fs1",
                "127.0.0.1",
                one.esl_port,
                True,
            )
            assert fs1["Channel-Count"] == len(node1.channels) >= 1

            bare = await ask(client, action="add", name="fs2", host="127.0.0.1", port=two.esl_port)
            assert bare["Error-Message"] == "Password is required" and set(by_name(bare)) == {"fs1"}
            secret = {"password": "ClueCon"}
            added = await ask(client, action="add", name="fs2", host="127.0.0.1", port=two.esl_port, **secret)
            assert "Error-Message" not in added and set(by_name(added)) == {"fs1", "fs2"}
            await statuses.wait_for(node_is("fs2", True))
            listed = await ask(client, action="list")
            assert by_name(listed)["fs2"]["Up"] is True

            again = await ask(client, action="add", name="fs2", host="127.0.0.1", port=two.esl_port, **secret)
            assert "already configured" in again["Error-Message"]

            await two.close()  # fs2 goes down: node_status says so without waiting for the timer
            down = await statuses.wait_for(node_is("fs2", False))
            assert down.message["Reason"] == "changed" and by_name(down.message)["fs1"]["Up"] is True

            removed = await ask(client, action="remove", name="fs2")
            assert "Error-Message" not in removed and list(by_name(removed)) == ["fs1"]
            assert [s.name for s in service.status()] == ["fs1"]
            await statuses.wait_for(lambda message: list(by_name(message)) == ["fs1"])

            unknown = await ask(client, action="remove", name="fs2")
            assert unknown["Error-Message"] == "unknown node 'fs2'" and list(by_name(unknown)) == ["fs1"]


async def test_every_ecallmgr_answers_and_publishes_its_status_periodically(
    sims: tuple[Simulator, Simulator],
) -> None:
    one, two = sims
    url = f"memory://nodes-{uuid.uuid4().hex}"
    first = Ecallmgr(
        settings_for(url, NodeSpec("fs1", "127.0.0.1", one.esl_port), node="ecm-a", node_status_interval=0.05)
    )
    second = Ecallmgr(settings_for(url, NodeSpec("fs2", "127.0.0.1", two.esl_port), node="ecm-b"))
    client = Bus.from_url(url, app_name="whistle-cli", node="cli@test")
    statuses = Watcher()
    async with client, first, second:
        await client.consume(
            QueueSpec("nodes-periodic-watch", durable=False),
            statuses.on_delivery,
            bindings=[("notifications", "nodes.status.ecm-a")],
        )
        periodic = await statuses.wait_for(lambda message: message.get("Reason") == "periodic")
        assert periodic.message["Node"] == "ecm-a"

        got: list[Message] = []

        def both(reply: Message) -> bool:
            got.append(reply)
            return len(got) >= 2

        replies = await client.collect(client.build("nodes_req", action="list"), timeout=WAIT, until=both)
        assert {reply["Node"]: set(by_name(reply)) for reply in replies} == {
            "ecm-a": {"fs1"},
            "ecm-b": {"fs2"},
        }


def test_the_intervals_must_be_positive() -> None:
    service = Ecallmgr(settings_for("memory://nodes-intervals"))
    assert isinstance(service.nodes_api, NodesApi) and service.nodes_api.status_interval == 30.0
    with pytest.raises(ValueError):
        NodesApi(service, status_interval=0)
