"""``whistle db init`` against a real CouchDB-API server: it creates, then finds everything in place."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from click.testing import CliRunner

from whistle_cli import main
from whistle_common.bus import Bus, Delivery, QueueSpec
from whistle_common.store import GLOBAL_DBS, Store

pytestmark = pytest.mark.integration


async def drop_global_databases(couch_url: str) -> None:
    async with Store.open(couch_url) as store:
        for name in GLOBAL_DBS:
            if await store.db_exists(name):
                await store.delete_db(name)


def test_db_init_installs_views_once_and_then_reports_up_to_date(couch_url: str) -> None:
    asyncio.run(drop_global_databases(couch_url))  # other tests share this server
    first = CliRunner().invoke(main, ["--couch-url", couch_url, "db", "init"])
    second = CliRunner().invoke(main, ["--couch-url", couch_url, "db", "init"])

    assert first.exit_code == 0, first.output
    assert "accounts: _design/accounts" in first.output
    assert second.output.splitlines() == [
        "accounts: up to date",
        "system_config: up to date",
        "offnet: up to date",
    ]


async def bind_queue(amqp_url: str, queue: str, call_id: str) -> None:
    async with Bus.from_url(amqp_url, app_name="test", node="test") as bus:
        await bus.transport.declare_queue(QueueSpec(queue, durable=True))
        await bus.transport.bind(queue, "callevt", f"call.*.{call_id}")


async def drain_queue(amqp_url: str, queue: str) -> list[dict]:
    """Every message waiting in ``queue`` (it is deleted afterwards)."""
    async with Bus.from_url(amqp_url, app_name="test", node="test") as bus:
        await bus.transport.declare_queue(QueueSpec(queue, durable=True))
        received: list[dict] = []
        arrived = asyncio.Event()

        async def keep(delivery: Delivery) -> None:
            received.append(delivery.message)
            arrived.set()

        subscription = await bus.consume(QueueSpec(queue, durable=True), keep)
        async with asyncio.timeout(10):
            await arrived.wait()
        await subscription.cancel()
        await bus.transport.delete_queue(queue)
        return received


def test_bus_send_publishes_a_valid_message_and_refuses_an_invalid_one(amqp_url: str) -> None:
    call_id = f"cli-{uuid.uuid4().hex[:10]}"
    queue = f"cli-send-{call_id}"
    asyncio.run(bind_queue(amqp_url, queue, call_id))
    valid = (
        '{"App-Name": "ops", "App-Version": "1", "Node": "n", "Server-ID": "", "Msg-ID": "m1",'
        f' "Event-Category": "call_event", "Event-Name": "CHANNEL_ANSWER", "Call-ID": "{call_id}"}}'
    )
    refused = CliRunner().invoke(
        main, ["--amqp-url", amqp_url, "bus", "send", "-"], input=valid.replace('"m1"', "1")
    )
    sent = CliRunner().invoke(main, ["--amqp-url", amqp_url, "bus", "send", "-"], input=valid)

    assert sent.exit_code == 0, sent.output
    assert refused.exit_code == 1
    assert "$.Msg-ID" in refused.output
    assert [m["Msg-ID"] for m in asyncio.run(drain_queue(amqp_url, queue))] == ["m1"]
