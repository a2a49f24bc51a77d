"""The ``whistle`` command: help for every subcommand, clear errors, and the commands that work offline."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from whistle_cli import main
from whistle_common.bus import EXCHANGES, INVALID_QUEUE, MemoryBroker


def invoke(*args: str, stdin: str | None = None, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), input=stdin, env=env)


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["db"],
        ["db", "init"],
        ["messages"],
        ["messages", "validate"],
        ["bus"],
        ["bus", "send"],
        ["run"],
        ["run", "ecallmgr"],
        ["fsim"],
        ["fsim", "call"],
        ["account"],
        ["account", "create"],
        ["account", "list"],
        ["user", "create"],
        ["device", "create"],
        ["callflow"],
        ["callflow", "publish"],
        ["callflow", "list"],
        ["events", "tail"],
        ["channels"],
    ],
)
def test_every_subcommand_explains_itself(command: list[str]) -> None:
    result = invoke(*command, "--help")
    assert result.exit_code == 0
    assert "Usage:" in result.output and len(result.output.splitlines()) > 3


def test_messages_list_names_each_message_with_its_exchange() -> None:
    result = invoke("messages", "list")
    assert result.exit_code == 0
    assert any(
        line.split()[:3] == ["call_event", "callevt", "call.{Event-Name}.{Call-ID}"]
        for line in result.output.splitlines()
    )


def test_validating_a_bad_message_prints_every_issue_and_fails() -> None:
    result = invoke(
        "messages",
        "validate",
        "-",
        stdin='{"Event-Category": "call_command", "Event-Name": "command", '
        '"Application-Name": "play", "Insert-At": "later"}',
    )
    assert result.exit_code == 1
    assert "$.Insert-At:" in result.output
    assert '"Media-Name" is a required property' in result.output


def test_validating_a_file_that_is_not_json_says_so() -> None:
    result = invoke("messages", "validate", "-", stdin="{oops")
    assert result.exit_code == 1
    assert "not JSON" in result.output


def test_a_malformed_bus_url_is_a_usage_error_naming_the_variable() -> None:
    result = invoke("bus", "declare", env={"WHISTLE_AMQP_URL": "http://mq"})
    assert result.exit_code == 2
    assert "WHISTLE_AMQP_URL" in result.output


def test_db_init_on_the_in_memory_store_creates_the_global_databases() -> None:
    result = invoke("--couch-url", "memory://", "db", "init")
    assert result.exit_code == 0, result.output
    assert [line.split(":")[0] for line in result.output.splitlines()] == [
        "accounts",
        "system_config",
        "offnet",
    ]


def test_an_unreachable_couchdb_is_a_one_line_error() -> None:
    result = invoke("--couch-url", "http://127.0.0.1:9", "db", "init")
    assert result.exit_code == 1
    assert "StoreUnavailable" in result.output


def test_bus_declare_on_the_in_memory_bus() -> None:
    result = invoke("--amqp-url", "memory://cli-declare", "bus", "declare")
    broker = MemoryBroker.named("cli-declare")
    assert result.exit_code == 0, result.output
    assert {exchange.name for exchange in EXCHANGES} <= set(broker.exchanges)
    assert INVALID_QUEUE in broker.queues
