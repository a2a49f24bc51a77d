"""``whistle channels``: the live calls of every running ecallmgr, as one table.

One ``channels_req`` goes to every ecallmgr (``resource``/``channels.req``); the ``channels_resp`` of each
that answers within ``--wait`` seconds is printed, one line per channel. Status 1 when none answered.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Mapping
from typing import Any

import click

from whistle_common.cli import open_bus, run
from whistle_common.config import Settings

DEFAULT_WAIT = 3.0  # seconds: each ecallmgr asks its nodes first (all at once; up to 2 s in two rounds)
HEADER = ("CALL-ID", "ECALLMGR", "NODE", "STATE", "FROM", "TO", "APP", "AGE", "ANSWERED", "CONTROL")


def _age(created: Any, now: float) -> str:
    if not isinstance(created, int | float):
        return "-"
    seconds = max(0, int(now - created))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _caller(channel: Mapping[str, Any]) -> str:
    number, name = channel.get("Caller-ID-Number"), channel.get("Caller-ID-Name")
    if name and name != number:
        return f"{number or ''} ({name})"
    return str(number or "-")


def channel_row(ecallmgr: str, channel: Mapping[str, Any], now: float) -> tuple[str, ...]:
    answered = channel.get("Answered-Time")
    return (
        str(channel["Call-ID"]),
        ecallmgr,
        str(channel.get("Media-Node", "-")),
        str(channel.get("Channel-Call-State") or channel.get("Channel-State") or "-"),
        _caller(channel),
        str(channel.get("Destination-Number") or "-"),
        str(channel.get("Application") or "-"),
        _age(channel.get("Created-Time"), now),
        _age(answered, now) if answered else "-",
        "yes" if channel.get("Controlled") else "no",
    )


def format_table(replies: Iterable[Mapping[str, Any]], now: float | None = None) -> list[str]:
    """The header, one line per channel of every reply (sorted), then one line per unreachable node."""
    now = time.time() if now is None else now
    rows: list[tuple[str, ...]] = []
    notes: list[str] = []
    for reply in replies:
        ecallmgr = str(reply.get("Node") or reply.get("Server-ID") or "?")
        rows += [channel_row(ecallmgr, channel, now) for channel in reply.get("Channels") or []]
        notes += [
            f"{ecallmgr}: node {node} unreachable: only its Call-IDs are known"
            for node in reply.get("Unreachable-Nodes") or []
        ]
    rows.sort(key=lambda row: (row[1], row[2], row[0]))
    widths = [max(len(row[i]) for row in [HEADER, *rows]) for i in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in [HEADER, *rows]]  # fmt: skip
    return lines + sorted(notes)


async def ask(settings: Settings, wait: float, call_id: str | None) -> list[dict[str, Any]]:
    """Send one channels_req and collect every answer for ``wait`` seconds."""
    async with open_bus(settings) as bus:
        return await bus.collect(bus.build("channels_req", call_id=call_id), timeout=wait)


@click.command(help="The live calls of every ecallmgr: one line per channel (call leg).")
@click.option("--call", "call_id", metavar="CALL-ID", help="Only this channel.")
@click.option("--wait", default=DEFAULT_WAIT, show_default=True, help="Seconds to collect the answers.")
@click.pass_obj
def channels(settings: Settings, call_id: str | None, wait: float) -> None:
    replies = run(ask(settings, wait, call_id))
    if not replies:
        click.echo("no ecallmgr answered", err=True)
        sys.exit(1)
    for line in format_table(replies):
        click.echo(line)
