"""``whistle events tail`` against RabbitMQ: a subprocess tails one call while the test publishes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import uuid

import orjson
from click.testing import CliRunner

from whistle_cli import main
from whistle_cli.events import binding_key, format_event
from whistle_common.bus import Bus

WAIT = 20.0


def test_one_readable_line_per_event() -> None:
    line = format_event(
        {
            "Event-Name": "CHANNEL_EXECUTE_COMPLETE",
            "Call-ID": "abc",
            "Timestamp": 1_700_000_000.25,
            "Application-Name": "play",
            "Application-Response": "FILE PLAYED",
        }
    )
    assert line.split(" ", 1)[1] == "abc CHANNEL_EXECUTE_COMPLETE app=play response=FILE PLAYED"
    hangup = format_event(
        {"Event-Name": "CHANNEL_HANGUP", "Call-ID": "abc", "Hangup-Cause": "NORMAL_CLEARING"}
    )
    assert hangup == "--:--:--.--- abc CHANNEL_HANGUP cause=NORMAL_CLEARING"


def test_the_binding_is_every_call_or_one_escaped_call_id() -> None:
    assert binding_key(None) == "call.*.*"
    assert binding_key("a.b c@host") == "call.*.a%2Eb+c@host"


def start_tail(amqp_url: str, *args: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-c", "from whistle_cli import main; main()", "--amqp-url", amqp_url]
    command += ["--log-level", "WARNING", "events", "tail", *args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_listening(process: subprocess.Popen[str]) -> str:
    """The tail's 'listening' line (its queue is bound: nothing published later is missed)."""
    killer = threading.Timer(WAIT, process.kill)  # a tail that never listens must not hang the test
    killer.start()
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
    finally:
        killer.cancel()
    assert line.startswith("listening on callevt"), line + process.stderr.read()
    return line


async def publish(amqp_url: str, *events: tuple[str, str, dict]) -> None:
    async with Bus.from_url(amqp_url, app_name="test-tail", node="test") as bus:
        for event_name, call_id, extra in events:
            await bus.send(bus.build("call_event", extra, event_name=event_name, call_id=call_id))


def test_tail_prints_the_events_of_one_call_then_stops_at_count(amqp_url: str) -> None:
    call_id, other = f"tail-{uuid.uuid4()}.x", str(uuid.uuid4())
    process = start_tail(amqp_url, "--call", call_id, "--count", "2", "--timeout", str(WAIT))
    try:
        assert "call.*.tail-" in wait_listening(process)
        asyncio.run(
            publish(
                amqp_url,
                ("CHANNEL_CREATE", other, {}),  # another call: not shown
                ("CHANNEL_ANSWER", call_id, {}),
                ("CHANNEL_HANGUP", call_id, {"Hangup-Cause": "NORMAL_CLEARING"}),
            )
        )
        out, err = process.communicate(timeout=WAIT)
    finally:
        process.kill()
    assert process.returncode == 0, err
    lines = [line.split()[1:] for line in out.splitlines()]
    assert lines == [[call_id, "CHANNEL_ANSWER"], [call_id, "CHANNEL_HANGUP", "cause=NORMAL_CLEARING"]]


def test_tail_json_prints_the_raw_message(amqp_url: str) -> None:
    call_id = str(uuid.uuid4())
    process = start_tail(amqp_url, "--call", call_id, "--count", "1", "--json", "--timeout", str(WAIT))
    try:
        wait_listening(process)
        asyncio.run(publish(amqp_url, ("DTMF", call_id, {"DTMF-Digit": "5"})))
        out, err = process.communicate(timeout=WAIT)
    finally:
        process.kill()
    assert process.returncode == 0, err
    message = orjson.loads(out)
    assert (message["Call-ID"], message["Event-Name"], message["DTMF-Digit"]) == (call_id, "DTMF", "5")
    assert message["App-Name"] == "test-tail"


def test_too_few_events_before_the_timeout_is_a_failure() -> None:
    result = CliRunner().invoke(
        main,
        [
            "--amqp-url",
            f"memory://tail-{uuid.uuid4().hex}",
            "events",
            "tail",
            "--count",
            "1",
            "--timeout",
            "0.05",
        ],
    )
    assert result.exit_code == 1 and "only 0 of 1 events" in result.output
