"""Run whapps: one per process (``whistle run callflow``), or all of them beside ecallmgr (``run all``).

Each whapp gets a bus of its own (its own connection and Server-ID, named after the whapp), so running
them in one process behaves like running them apart. They share the store: with ``memory://`` that is
what makes the in-memory database one database.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import signal
from collections.abc import Iterator, Sequence
from contextlib import AsyncExitStack, contextmanager

from whistle_common.bus import Bus
from whistle_common.config import Settings
from whistle_common.store import Store
from whistle_common.whapp import Whapp

log = logging.getLogger(__name__)

DRAIN_SECONDS = 20.0  # on SIGTERM, how long calls in an IVR get to finish before their flows are cancelled

# name -> "module:Class"; imported only when asked for, so one whapp's imports never burden another
WHAPPS: dict[str, str] = {
    "callflow": "whapps.callflow.service:Callflow",
    "registrar": "whapps.registrar.service:Registrar",
}


def whapp_class(name: str) -> type[Whapp]:
    """The class of whapp ``name``; KeyError names the known ones."""
    try:
        target = WHAPPS[name]
    except KeyError:
        raise KeyError(f"no whapp {name!r}: known whapps are {', '.join(sorted(WHAPPS))}") from None
    module, _, attribute = target.partition(":")
    cls = getattr(importlib.import_module(module), attribute)
    if not (isinstance(cls, type) and issubclass(cls, Whapp)):
        raise TypeError(f"{target} is not a Whapp")
    return cls


def make_bus(settings: Settings, app_name: str) -> Bus:
    return Bus.from_url(
        settings.amqp_url, app_name=app_name, node=settings.node, content_type=settings.content_type
    )


async def start_whapps(
    stack: AsyncExitStack, names: Sequence[str], settings: Settings, store: Store
) -> list[Whapp]:
    """Start each named whapp on a bus of its own; ``stack`` stops them (and closes the buses)."""
    started = []
    for name in names:
        cls = whapp_class(name)
        bus = make_bus(settings, cls.name)
        await bus.start()
        stack.push_async_callback(bus.close)
        whapp = cls(bus, store)
        await whapp.start()
        stack.push_async_callback(whapp.stop, DRAIN_SECONDS)
        started.append(whapp)
    return started


@contextmanager
def stopped_by_signals(stop: asyncio.Event) -> Iterator[asyncio.Event]:
    """Set ``stop`` on SIGTERM/SIGINT while the block runs (installed first, so a signal that arrives
    while the services are still starting stops them cleanly too)."""
    loop = asyncio.get_running_loop()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, stop.set)
    try:
        yield stop
    finally:
        for number in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(number)


async def serve(names: Sequence[str], settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """Run the named whapps until SIGTERM/SIGINT (or ``stop`` is set), then stop them in reverse order."""
    with stopped_by_signals(stop or asyncio.Event()) as stopping:
        async with AsyncExitStack() as stack:
            store = Store.open(settings.couch_url)
            stack.push_async_callback(store.aclose)
            await start_whapps(stack, names, settings, store)
            log.info("running %s", ", ".join(names))
            await stopping.wait()  # the process's lifetime: the one wait without a timeout
            log.info("stopping %s", ", ".join(names))
