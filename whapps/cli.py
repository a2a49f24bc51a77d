"""``whistle run <whapp>`` for each whapp, and ``whistle run all`` (ecallmgr and every whapp in one process).

::

    whistle --amqp-url amqp://guest:guest@127.0.0.1:5672/ --couch-url http://admin:pw@127.0.0.1:5984 \\
        run callflow
    whistle --amqp-url memory://dev --couch-url memory:// run all --node fs1=127.0.0.1:8021
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import click

from ecallmgr.cdr_spool import default_directory
from ecallmgr.cli import DEFAULT_FETCH_LISTEN, ENV_FETCH_LISTEN, ENV_PASSWORD, node_specs, parse_listen
from ecallmgr.service import DEFAULT_PASSWORD, Ecallmgr, EcallmgrSettings
from whapps.runner import WHAPPS, serve, start_whapps, stopped_by_signals
from whistle_common.config import ConfigError, Settings
from whistle_common.store import Store


def settings_of(ctx: click.Context) -> Settings:
    if isinstance(ctx.obj, Settings):
        return ctx.obj
    try:
        return Settings.from_env()
    except ConfigError as error:
        raise click.UsageError(str(error)) from error


def whapp_command(name: str) -> click.Command:
    """``whistle run <name>``: one whapp in the foreground until SIGTERM/SIGINT."""

    @click.pass_context
    def run_one(ctx: click.Context) -> None:
        try:
            asyncio.run(serve([name], settings_of(ctx)))
        except OSError as error:
            raise click.ClickException(f"{name}: {error}") from error

    return click.Command(
        name,
        callback=run_one,
        help=f"Run the {name} whapp until SIGTERM/SIGINT; start as many as you like, they share the work.",
    )


async def run_everything(settings: Settings, ecallmgr_settings: EcallmgrSettings) -> None:
    """ecallmgr and every whapp in this process, on one bus URL and one store, until SIGTERM/SIGINT."""
    with stopped_by_signals(asyncio.Event()) as stopping:
        async with AsyncExitStack() as stack:
            service = Ecallmgr(ecallmgr_settings)
            await service.start()
            stack.push_async_callback(service.close)
            store = Store.open(settings.couch_url)
            stack.push_async_callback(store.aclose)
            await start_whapps(stack, sorted(WHAPPS), settings, store)
            await stopping.wait()  # the process's lifetime: the one wait without a timeout


@click.command("all", help="Run ecallmgr and every whapp in one process (development and the demo).")
@click.option(
    "--node", "nodes", multiple=True, metavar="NAME=HOST:PORT", help="A FreeSWITCH node (repeatable)."
)
@click.option("--password", envvar=ENV_PASSWORD, default=DEFAULT_PASSWORD, show_default=True,
              help="Event Socket password of the nodes.")  # fmt: skip
@click.option("--fetch-listen", envvar=ENV_FETCH_LISTEN, default=DEFAULT_FETCH_LISTEN, show_default=True,
              help="HOST:PORT of the mod_xml_curl endpoint.")  # fmt: skip
@click.pass_context
def run_all(ctx: click.Context, nodes: tuple[str, ...], password: str, fetch_listen: str) -> None:
    settings = settings_of(ctx)
    host, port = parse_listen(fetch_listen)
    ecallmgr_settings = EcallmgrSettings(
        amqp_url=settings.amqp_url,
        node=settings.node,
        nodes=node_specs(nodes, password),
        password=password,
        fetch_host=host,
        fetch_port=port,
        content_type=settings.content_type,
        cdr_spool=str(default_directory(settings.node)),
    )
    try:
        asyncio.run(run_everything(settings, ecallmgr_settings))
    except OSError as error:
        raise click.ClickException(f"run all: {error}") from error


COMMANDS = [whapp_command(name) for name in sorted(WHAPPS)] + [run_all]
