"""The ``whistle`` subcommands of the core: ``db``, ``messages`` and ``bus``.

They receive the validated ``Settings`` as the click context object (see ``whistle_cli``).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

import click
import orjson

from whistle_common.api import Catalogue, ValidationError
from whistle_common.bus import EXCHANGES, INVALID_QUEUE, Bus, BusError, QueueSpec
from whistle_common.config import Settings
from whistle_common.store import Store, StoreError, init_databases

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run one command's coroutine; bus and store failures become a one-line error and exit status 1."""
    try:
        return asyncio.run(coroutine)
    except (BusError, StoreError, ConnectionError, OSError) as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from exc


def read_json(file: Any) -> Any:
    """The JSON in ``file``; anything else is a one-line error naming the file."""
    try:
        return orjson.loads(file.read())
    except orjson.JSONDecodeError as exc:
        raise click.ClickException(f"{getattr(file, 'name', '-')}: not JSON: {exc}") from exc


# -- the database -------------------------------------------------------------------------------------


@click.group(help="CouchDB: create the global databases and install the views.")
def db() -> None:
    pass


@db.command("init", help="Create accounts, system_config and offnet and install their views (idempotent).")
@click.pass_obj
def db_init(settings: Settings) -> None:
    async def init() -> dict[str, list[str]]:
        store = Store.open(settings.couch_url)
        try:
            return await init_databases(store)
        finally:
            await store.aclose()

    for database, design_docs in run(init()).items():
        click.echo(f"{database}: {', '.join(design_docs) if design_docs else 'up to date'}")


# -- the message catalogue ----------------------------------------------------------------------------


@click.group(help="The message catalogue: every bus message, as defined in schemas/api/.")
def messages() -> None:
    pass


@messages.command("list", help="Every message: its name, exchange and routing key.")
def messages_list() -> None:
    catalogue = Catalogue.default()
    for name in catalogue.names:
        definition = catalogue.definition(name)
        where = definition.exchange or "-"
        key = definition.routing_key_template or "(given by the sender)"
        click.echo(f"{name:40} {where:10} {key}")


@messages.command(
    "validate", help="Check a JSON message (FILE, or - for stdin); print every issue with its path."
)
@click.argument("file", type=click.File("rb"))
@click.option("--name", help="Validate as this message instead of the one its Event-Name says.")
def messages_validate(file: Any, name: str | None) -> None:
    message = read_json(file)
    issues = Catalogue.default().issues(message, name)
    for issue in issues:
        click.echo(f"{issue.path}: {issue.reason}")
    if issues:
        sys.exit(1)
    click.echo("valid")


# -- the bus ------------------------------------------------------------------------------------------


@click.group(help="RabbitMQ: declare the exchanges, publish a message, read dead letters.")
def bus() -> None:
    pass


def open_bus(settings: Settings) -> Bus:
    """A bus for a one-shot CLI command, configured from the process settings."""
    return Bus.from_url(
        settings.amqp_url, app_name="whistle-cli", node=settings.node, content_type=settings.content_type
    )


@bus.command("declare", help="Declare every exchange and the whistle.invalid dead-letter queue.")
@click.pass_obj
def bus_declare(settings: Settings) -> None:
    async def declare() -> None:
        async with open_bus(settings):
            pass  # starting a bus declares the topology

    run(declare())
    click.echo(f"declared {', '.join(e.name for e in EXCHANGES)} and {INVALID_QUEUE}")


@bus.command("send", help="Publish a JSON message (FILE, or -) where its schema says, after validating it.")
@click.argument("file", type=click.File("rb"))
@click.option("--routing-key", help="Needed for replies and commands, which have no key of their own.")
@click.pass_obj
def bus_send(settings: Settings, file: Any, routing_key: str | None) -> None:
    message = read_json(file)

    async def send() -> None:
        async with open_bus(settings) as connected:
            await connected.send(message, routing_key=routing_key, confirm=True)

    try:
        run(send())
    except ValidationError as exc:
        raise click.ClickException("\n".join(str(issue) for issue in exc.issues)) from exc
    click.echo("sent")


@bus.command("invalid", help="Show (and keep) up to N dead-lettered messages with the reason for each.")
@click.option("--count", default=20, show_default=True)
@click.option("--wait", default=1.0, show_default=True, help="Seconds to wait for messages.")
@click.pass_obj
def bus_invalid(settings: Settings, count: int, wait: float) -> None:
    async def peek() -> list[tuple[str, bytes]]:
        found: list[tuple[str, bytes]] = []
        enough = asyncio.Event()
        async with open_bus(settings) as connected:
            await connected.transport.declare_queue(QueueSpec(INVALID_QUEUE, durable=True))

            async def keep(raw: Any) -> None:
                found.append((str(raw.headers.get("x-whistle-reason", "?")), raw.body))
                if len(found) >= count:
                    enough.set()  # left unacknowledged: they go back to the queue when we disconnect

            subscription = await connected.transport.consume(INVALID_QUEUE, keep, prefetch=count)
            try:
                async with asyncio.timeout(wait):
                    await enough.wait()
            except TimeoutError:
                pass
            await subscription.cancel()
        return found

    for reason, body in run(peek()):
        click.echo(f"{reason}\n    {body[:300]!r}")
