"""``whistle``: the one command operators type; every process and tool of whistle-voip is a subcommand.

Connection settings come from the options below, falling back to environment variables (see
``whistle_common.config``); each subcommand's help says what it does.
"""

from __future__ import annotations

import click

from ecallmgr.cli import ecallmgr
from fsim.cli import fsim
from whapps.cli import COMMANDS as WHAPP_COMMANDS
from whistle_cli.accounts import account
from whistle_cli.callflows import callflow
from whistle_cli.channels import channels
from whistle_cli.endpoints import device, user
from whistle_cli.events import events
from whistle_cli.nodes import nodes
from whistle_common import APP_VERSION
from whistle_common.cli import bus, db, messages
from whistle_common.config import ENV_AMQP_URL, ENV_COUCH_URL, ENV_NODE, ConfigError, Settings
from whistle_common.logs import setup_logging
from whistle_demo.cli import demo


@click.group(help="whistle-voip: hosted-PBX call control (FreeSWITCH, RabbitMQ, CouchDB).")
@click.version_option(APP_VERSION, prog_name="whistle")
@click.option(
    "--amqp-url", help=f"RabbitMQ URL, or memory://NAME for the in-process bus [env {ENV_AMQP_URL}]."
)
@click.option(
    "--couch-url", help=f"CouchDB URL (http://user:pass@host:5984), or memory:// [env {ENV_COUCH_URL}]."
)
@click.option("--node", help=f"This host's name on the bus [env {ENV_NODE}; default: the hostname].")
@click.option("--log-level", default="INFO", show_default=True, help="DEBUG, INFO, WARNING or ERROR.")
@click.pass_context
def main(
    ctx: click.Context, amqp_url: str | None, couch_url: str | None, node: str | None, log_level: str
) -> None:
    setup_logging(log_level)
    try:
        ctx.obj = Settings.from_env(amqp_url=amqp_url, couch_url=couch_url, node=node)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc


@main.group(help="Run one whistle-voip service in the foreground until SIGTERM.")
def run() -> None:
    pass


run.add_command(ecallmgr)
for run_command in WHAPP_COMMANDS:
    run.add_command(run_command)
for command in (db, messages, bus, fsim, nodes, account, user, device, callflow, events, channels):
    main.add_command(command)
main.add_command(demo)
