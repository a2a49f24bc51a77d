"""``whistle events tail``: watch call events go by on the ``callevt`` exchange.

The tail reads through the transport, not ``Bus.consume``: a monitoring tool must print what it sees
(even a message that fails its schema) and must never dead-letter a copy of someone else's traffic.
Its queue is exclusive and auto-deleted, so a tail leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import click
import orjson

from whistle_common import codec
from whistle_common.bus import QueueSpec
from whistle_common.bus.transport import RawDelivery
from whistle_common.cli import open_bus, run
from whistle_common.config import Settings
from whistle_common.routing import escape_word

EXCHANGE = "callevt"
# (header, label): what tells an operator what happened, printed when present
_DETAILS = (
    ("Application-Name", "app"),
    ("Application-Response", "response"),
    ("Hangup-Cause", "cause"),
    ("DTMF-Digit", "dtmf"),
    ("Other-Leg-Call-ID", "other-leg"),
    ("Error-Message", "error"),
)


def binding_key(call_id: str | None) -> str:
    """``call.*.*`` for every call, ``call.*.<escaped Call-ID>`` for one."""
    return f"call.*.{escape_word(call_id)}" if call_id else "call.*.*"


def _time(value: Any) -> str:
    if not isinstance(value, int | float):
        return "--:--:--.---"
    # FreeSWITCH timestamps are microseconds; ours are seconds: tell them apart by size
    seconds = value / 1_000_000 if value > 1e11 else value
    return datetime.fromtimestamp(seconds).strftime("%H:%M:%S.%f")[:-3]


def format_event(message: Mapping[str, Any]) -> str:
    """One readable line: time, Call-ID, Event-Name, caller for new calls, then what happened."""
    name = message.get("Event-Name", "?")
    parts = [_time(message.get("Timestamp")), str(message.get("Call-ID", "?")), str(name)]
    if name == "CHANNEL_CREATE":
        caller = message.get("Caller-ID-Number")
        callee = message.get("Request") or message.get("Callee-ID-Number")  # what was dialled
        parts.append(f"from={caller} to={callee}")
    parts += [
        f"{label}={message[header]}" for header, label in _DETAILS if message.get(header) not in (None, "")
    ]
    return " ".join(parts)


async def tail(
    settings: Settings, call_id: str | None, count: int | None, timeout: float | None, as_json: bool
) -> int:
    """Print events until ``count`` were printed or ``timeout`` passed (forever without either)."""
    printed = 0
    enough = asyncio.Event()

    async def on_raw(raw: RawDelivery) -> None:
        nonlocal printed
        try:
            message = codec.decode(raw.body, raw.content_type)
            line = orjson.dumps(message).decode() if as_json else format_event(message)
        except codec.DecodeError as exc:
            line = f"undecodable message on {raw.routing_key}: {exc}"
        await raw.ack()
        if count is None or printed < count:
            click.echo(line)
            printed += 1
        if count is not None and printed >= count:
            enough.set()

    async with open_bus(settings) as bus:
        queue = QueueSpec(f"events.tail.{bus.server_id}", durable=False, exclusive=True, auto_delete=True)
        await bus.transport.declare_queue(queue)
        key = binding_key(call_id)
        await bus.transport.bind(queue.name, EXCHANGE, key)
        subscription = await bus.transport.consume(queue.name, on_raw, prefetch=100)
        # on stderr: scripts (and tests) know from this line that no later event can be missed
        click.echo(f"listening on {EXCHANGE} {key}", err=True)
        try:
            async with asyncio.timeout(timeout):
                await enough.wait()  # without --count: until Ctrl-C
        except TimeoutError:
            pass
        finally:
            await subscription.cancel()
    return printed


@click.group(help="Call events as they happen.")
def events() -> None:
    pass


@events.command("tail", help="Print one line per call event (all calls, or one) until Ctrl-C.")
@click.option("--call", "call_id", metavar="CALL-ID", help="Only this call's events.")
@click.option("--count", type=click.IntRange(min=1), help="Stop after N events.")
@click.option("--timeout", type=click.FloatRange(min=0), help="Stop after this many seconds.")
@click.option("--json", "as_json", is_flag=True, help="Print each message as JSON, every header.")
@click.pass_obj
def events_tail(
    settings: Settings, call_id: str | None, count: int | None, timeout: float | None, as_json: bool
) -> None:
    try:
        printed = run(tail(settings, call_id, count, timeout, as_json))
    except KeyboardInterrupt:  # Ctrl-C is how a tail ends: not a failure
        return
    if count is not None and printed < count:
        click.echo(f"only {printed} of {count} events before the timeout", err=True)
        sys.exit(1)
