"""Whapps as services: a class that says what it consumes, and async methods that handle it.

::

    class Callflow(Whapp):
        name = "callflow"

        @pool("route_req", ("callmgr", "route.req"))      # shared by every callflow instance
        async def on_route_req(self, delivery: Delivery) -> None: ...

        @targeted("route_win")                             # sent to this instance's own queue
        async def on_route_win(self, delivery: Delivery) -> None: ...

        @per_instance("registrations", ("callmgr", "registration.success.#"))  # every instance gets one
        async def on_registration(self, delivery: Delivery) -> None: ...

Reading the class tells what it listens to. A pool queue is durable and named ``<name>.<queue>``, so any
number of instances compete for its messages; a per-instance queue is exclusive to one process and goes
with it. :meth:`Whapp.start` declares and consumes them all; :meth:`Whapp.stop` cancels them and the
tasks the whapp started with :meth:`Whapp.spawn`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from whistle_common.bus import Bus, Delivery, QueueSpec
from whistle_common.bus.transport import Subscription
from whistle_common.store import Store

log = logging.getLogger(__name__)

Binding = tuple[str, str]
Method = TypeVar("Method", bound=Callable[..., Awaitable[None]])
_MARK = "__whistle_consumes__"


@dataclass(frozen=True)
class Consumes:
    """What one handler method consumes: a pool queue, a per-instance queue, or a targeted Event-Name."""

    kind: str  # "pool", "instance" or "targeted"
    name: str  # queue suffix, or the Event-Name for targeted messages
    bindings: tuple[Binding, ...] = ()
    prefetch: int | None = None


def _mark(consumes: Consumes) -> Callable[[Method], Method]:
    def decorate(method: Method) -> Method:
        if not inspect.iscoroutinefunction(method):
            raise TypeError(f"{method.__qualname__}: a whapp handler must be an async method")
        setattr(method, _MARK, consumes)
        return method

    return decorate


def pool(queue: str, *bindings: Binding, prefetch: int | None = None) -> Callable[[Method], Method]:
    """Handle messages of the durable pool queue ``<whapp>.<queue>``, shared by all instances."""
    return _mark(Consumes("pool", queue, tuple(bindings), prefetch))


def per_instance(queue: str, *bindings: Binding) -> Callable[[Method], Method]:
    """Handle messages of an exclusive queue of this process: every instance gets every message."""
    return _mark(Consumes("instance", queue, tuple(bindings)))


def targeted(event_name: str) -> Callable[[Method], Method]:
    """Handle messages named ``event_name`` sent to this process's Server-ID (that are not replies)."""
    return _mark(Consumes("targeted", event_name))


class Whapp:
    """Base class of every whapp; subclasses set ``name`` and decorate their handlers."""

    name: ClassVar[str]

    def __init__(self, bus: Bus, store: Store) -> None:
        self.bus = bus
        self.store = store
        self._subscriptions: list[Subscription] = []
        self._targeted: dict[str, Callable[[Delivery], Awaitable[None]]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    @classmethod
    def consumes(cls) -> list[tuple[str, Consumes]]:
        """(method name, what it consumes) for every handler, in definition order."""
        found = []
        for klass in reversed(cls.__mro__):
            for attribute, value in vars(klass).items():
                consumes = getattr(value, _MARK, None)
                if isinstance(consumes, Consumes):
                    found.append((attribute, consumes))
        return found

    def pool_queue(self, queue: str) -> str:
        return f"{self.name}.{queue}"

    async def start(self) -> None:
        """Run :meth:`setup`, then declare and consume every queue the class names."""
        await self.setup()
        for attribute, consumes in self.consumes():
            handler = getattr(self, attribute)
            if consumes.kind == "targeted":
                self._targeted[consumes.name] = handler
                continue
            if consumes.kind == "pool":
                spec: str | QueueSpec = self.pool_queue(consumes.name)
            else:
                spec = QueueSpec(
                    f"{self.bus.server_id}.{consumes.name}", durable=False, exclusive=True, auto_delete=True
                )
            subscription = await self.bus.consume(
                spec, handler, bindings=consumes.bindings, prefetch=consumes.prefetch
            )
            self._subscriptions.append(subscription)
        if self._targeted:
            self.bus.on_targeted(self._on_targeted)
        log.info("%s started as %s", self.name, self.bus.server_id)

    async def _on_targeted(self, delivery: Delivery) -> None:
        handler = self._targeted.get(str(delivery.message.get("Event-Name")))
        if handler is None:
            log.warning(
                "%s: unexpected %s on our queue; dropped",
                self.name,
                delivery.definition.name,
                extra={"call_id": delivery.call_id},
            )
            return
        await handler(delivery)

    async def stop(self, drain: float = 0.0) -> None:
        """Stop consuming, give the whapp's tasks (calls being driven) ``drain`` seconds to finish,
        cancel the rest, then run :meth:`teardown`."""
        for subscription in self._subscriptions:
            try:
                await subscription.cancel()
            except Exception as exc:  # stopping anyway: the connection closes next
                log.debug("%s: cancelling a consumer while stopping: %r", self.name, exc)
        self._subscriptions.clear()
        if self._tasks and drain > 0:
            log.info("%s: waiting up to %gs for %d task(s) to finish", self.name, drain, len(self._tasks))
            await asyncio.wait(list(self._tasks), timeout=drain)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.teardown()

    def spawn(self, coroutine: Coroutine[Any, Any, Any], *, name: str | None = None) -> asyncio.Task[Any]:
        """Run ``coroutine`` as a task the whapp owns: cancelled on stop, its failure logged."""
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("%s: task %s failed: %r", self.name, task.get_name(), error, exc_info=error)

    async def setup(self) -> None:
        """Start what the handlers need (caches, change feeds); runs before consuming."""

    async def teardown(self) -> None:
        """Release what :meth:`setup` started; runs after consuming stopped."""
