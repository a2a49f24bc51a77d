"""``whistle nodes``: list, add and remove the FreeSWITCH nodes of every running ecallmgr over the bus.

Each command sends one ``nodes_req`` and prints the ``nodes_resp`` of every ecallmgr that answers within
``--wait`` seconds (a refusal, such as an unknown node, is an answer too); it exits with status 1 when none
answered.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import click

from ecallmgr.service import NodeSpec
from whistle_common.cli import open_bus, run
from whistle_common.config import Settings

DEFAULT_WAIT = 1.0


def format_heartbeat(value: Any) -> str:
    if not isinstance(value, int | float):
        return "never"
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_node(ecallmgr: str, node: Mapping[str, Any]) -> str:
    """One line: ecallmgr, node, host:port, up/down, channels, last heartbeat."""
    address = f"{node.get('Host')}:{node.get('Port')}"
    state = "up" if node.get("Up") else "down"
    channels = f"{node.get('Channel-Count', 0)} channels"
    heartbeat = f"heartbeat {format_heartbeat(node.get('Last-Heartbeat'))}"
    return f"{ecallmgr:24} {node.get('Name')!s:16} {address:22} {state:5} {channels:12} {heartbeat}"


def format_replies(replies: Iterable[Mapping[str, Any]]) -> list[str]:
    """The lines for the ``nodes_resp`` of every ecallmgr: its error if any, then one line per node."""
    lines: list[str] = []
    for reply in sorted(replies, key=lambda r: (str(r.get("Node")), str(r.get("Server-ID")))):
        ecallmgr = str(reply.get("Node") or reply.get("Server-ID") or "?")
        if reply.get("Error-Message"):
            lines.append(f"{ecallmgr:24} error: {reply['Error-Message']}")
        nodes = reply.get("Nodes") or []
        if not nodes:
            lines.append(f"{ecallmgr:24} (no nodes)")
        lines.extend(format_node(ecallmgr, node) for node in nodes)
    return lines


async def ask(settings: Settings, wait: float, **headers: Any) -> list[dict[str, Any]]:
    """Send one nodes_req and collect every answer for ``wait`` seconds."""
    async with open_bus(settings) as bus:
        request = bus.build("nodes_req", **headers)
        return await bus.collect(request, timeout=wait)


def _report(replies: list[dict[str, Any]]) -> None:
    for line in format_replies(replies):
        click.echo(line)
    if not replies:
        click.echo("no ecallmgr answered", err=True)
        sys.exit(1)


wait_option = click.option(
    "--wait", default=DEFAULT_WAIT, show_default=True, help="Seconds to collect the answers."
)


@click.group(help="The FreeSWITCH nodes of every running ecallmgr: list, add, remove.")
def nodes() -> None:
    pass


@nodes.command("list", help="One line per ecallmgr per node: node, address, up/down, channels, heartbeat.")
@wait_option
@click.pass_obj
def nodes_list(settings: Settings, wait: float) -> None:
    _report(run(ask(settings, wait, action="list")))


@nodes.command("add", help="Make every ecallmgr connect to node NAME at HOST:PORT.")
@click.argument("name")
@click.argument("address", metavar="HOST:PORT")
@click.option("--password", help="Its Event Socket password [default: each ecallmgr's own].")
@wait_option
@click.pass_obj
def nodes_add(settings: Settings, name: str, address: str, password: str | None, wait: float) -> None:
    try:
        spec = NodeSpec.parse(f"{name}={address}")
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="HOST:PORT") from exc
    replies = run(
        ask(settings, wait, action="add", name=spec.name, host=spec.host, port=spec.port, password=password)
    )
    _report(replies)


@nodes.command("remove", help="Make every ecallmgr disconnect from node NAME and forget it.")
@click.argument("name")
@wait_option
@click.pass_obj
def nodes_remove(settings: Settings, name: str, wait: float) -> None:
    _report(run(ask(settings, wait, action="remove", name=name)))
