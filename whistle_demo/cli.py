"""``whistle demo``: run the demo, embedded by default or against real RabbitMQ and CouchDB."""

from __future__ import annotations

import asyncio
import logging

import click

from whistle_demo import TIME_SCALE


@click.command(
    "demo",
    help="Set up a sample company, place scripted calls through fsim, ecallmgr and the "
    "whapps, and print a live timeline of each call.",
)
@click.option(
    "--amqp-url",
    default="memory://demo",
    show_default=True,
    help="RabbitMQ URL; the default runs an in-process bus.",
)
@click.option(
    "--couch-url",
    default="memory://",
    show_default=True,
    help="CouchDB URL (http://user:pass@host:5984); the default runs an in-process store.",
)
@click.option(
    "--time-scale",
    type=float,
    default=TIME_SCALE,
    show_default=True,
    help="Real seconds per simulated second (1 plays the calls in real time).",
)
@click.option("--verbose", is_flag=True, help="Show the services' log lines between the timeline's.")
def demo(amqp_url: str, couch_url: str, time_scale: float, verbose: bool) -> None:
    from whistle_demo.run import run_demo  # here: it builds on whistle_cli, which imports this module

    if not verbose:  # the timeline is the demo's output; warnings and errors still show
        logging.getLogger().setLevel(logging.WARNING)
    callers, _ = asyncio.run(run_demo(amqp_url, couch_url, time_scale=time_scale, printer=click.echo))
    click.echo("")
    for outcome in callers:
        digits = "".join(outcome.digits_sent) or "nothing"
        click.echo(
            f"{outcome.name:<9} answered={outcome.answered} pressed {digits}; "
            f"hung up by {outcome.hung_up_by or 'nobody'}"
        )
