"""``whistle db init`` against a real CouchDB-API server: it creates, then finds everything in place."""

from __future__ import annotations

import asyncio

import pytest
from click.testing import CliRunner

from whistle_cli import main
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


def test_bus_send_publishes_a_valid_message_and_refuses_an_invalid_one(amqp_url: str) -> None:
    valid = (
        '{"App-Name": "ops", "App-Version": "1", "Node": "n", "Server-ID": "", "Msg-ID": "m1",'
        ' "Event-Category": "call_event", "Event-Name": "CHANNEL_ANSWER", "Call-ID": "cli-test"}'
    )
    sent = CliRunner().invoke(main, ["--amqp-url", amqp_url, "bus", "send", "-"], input=valid)
    refused = CliRunner().invoke(
        main, ["--amqp-url", amqp_url, "bus", "send", "-"], input=valid.replace('"m1"', "1")
    )

    assert sent.exit_code == 0, sent.output
    assert refused.exit_code == 1
    assert "$.Msg-ID" in refused.output
