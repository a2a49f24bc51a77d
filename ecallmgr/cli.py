"""``whistle run ecallmgr``: run one ecallmgr process in the foreground until SIGTERM or SIGINT.

::

    whistle --amqp-url amqp://guest:guest@127.0.0.1:5672/ run ecallmgr \\
        --node fs1=10.0.0.5:8021 --node fs2=10.0.0.6:8021 --password ClueCon --fetch-listen 0.0.0.0:8088

The bus URL and this process's node name come from the ``whistle`` group's :class:`Settings` (``ctx.obj``),
or from the environment when the command runs on its own.
"""

from __future__ import annotations

import asyncio
import os

import click

from ecallmgr.cdr_spool import ENV_SPOOL, default_directory
from ecallmgr.service import DEFAULT_PASSWORD, Ecallmgr, EcallmgrSettings, NodeSpec, parse_nodes
from whistle_common.config import ConfigError, Settings

ENV_NODES = "ECALLMGR_NODES"
ENV_PASSWORD = "ECALLMGR_ESL_PASSWORD"
ENV_FETCH_LISTEN = "ECALLMGR_FETCH_LISTEN"
DEFAULT_FETCH_LISTEN = "127.0.0.1:8088"


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8088`` for IPv6); raises click.BadParameter."""
    host, colon, port = text.rpartition(":")
    if not colon or not host or not port.isdigit() or int(port) > 65535:
        raise click.BadParameter(f"{text!r}: expected HOST:PORT, e.g. 127.0.0.1:8088")
    return host.strip("[]"), int(port)


def node_specs(values: tuple[str, ...], password: str) -> list[NodeSpec]:
    """The ``--node`` values, else ``ECALLMGR_NODES``; raises click.BadParameter."""
    try:
        if values:
            return parse_nodes(list(values), password)
        return parse_nodes(os.environ.get(ENV_NODES, ""), password)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--node") from error


@click.command(
    "ecallmgr",
    help="Run ecallmgr: FreeSWITCH events to the bus, mod_xml_curl routing, call control, until "
    "SIGTERM/SIGINT.",
)
@click.option(
    "--node", "nodes", multiple=True, metavar="NAME=HOST:PORT",
    help=f"A FreeSWITCH node's Event Socket (repeatable; NAME@HOST:PORT also works) [env {ENV_NODES}, "
    "comma-separated].",
)  # fmt: skip
@click.option(
    "--password", envvar=ENV_PASSWORD, default=DEFAULT_PASSWORD, show_default=True,
    help=f"Event Socket password of the nodes [env {ENV_PASSWORD}].",
)  # fmt: skip
@click.option(
    "--fetch-listen", envvar=ENV_FETCH_LISTEN, default=DEFAULT_FETCH_LISTEN, show_default=True,
    help=f"HOST:PORT of the mod_xml_curl endpoint [env {ENV_FETCH_LISTEN}].",
)  # fmt: skip
@click.option(
    "--cdr-spool", type=click.Path(file_okay=False),
    help=f"Where CDRs wait on disk until the broker confirms them [default: ${ENV_SPOOL} or "
    "$XDG_STATE_HOME/whistle-voip/cdr-spool, then a folder named after --node].",
)  # fmt: skip
@click.pass_context
def ecallmgr(
    ctx: click.Context, nodes: tuple[str, ...], password: str, fetch_listen: str, cdr_spool: str | None
) -> None:
    settings = ctx.obj if isinstance(ctx.obj, Settings) else None
    if settings is None:
        try:
            settings = Settings.from_env()
        except ConfigError as error:
            raise click.UsageError(str(error)) from error
    host, port = parse_listen(fetch_listen)
    specs = node_specs(nodes, password)
    if not specs:
        click.echo(
            f"ecallmgr: no FreeSWITCH node configured (--node or {ENV_NODES}); add them later", err=True
        )
    service = Ecallmgr(
        EcallmgrSettings(
            amqp_url=settings.amqp_url,
            node=settings.node,
            nodes=specs,
            password=password,
            fetch_host=host,
            fetch_port=port,
            content_type=settings.content_type,
            cdr_spool=cdr_spool or str(default_directory(settings.node)),
        )
    )
    try:
        asyncio.run(service.run_forever())
    except OSError as error:
        raise click.ClickException(f"ecallmgr: {error}") from error
