"""One call's command queue (Kazoo's ``ecallmgr_call_control``): bus commands in, one FS app at a time.

``CallControl`` consumes the call's durable control queue ``ctl.<Call-ID>`` (``x-expires``, bound on
``callctl`` by its own name) and runs the commands strictly in order, one at a time:

* ``Insert-At``: ``tail`` (default) appends, ``head`` goes next (several heads: the last one first),
  ``now`` interrupts what runs (``uuid_break <uuid>``) and goes next; a ``now`` without a FreeSWITCH
  application (hangup, noop) runs at once beside the queue. ``flush`` drops the queued commands (they are
  acknowledged without a reply, as Kazoo does), sends ``uuid_break <uuid> all`` when something runs, then
  enqueues. A ``noop`` with ``Insert-At: now`` and ``Filter-Applications`` drops the queued commands at the
  head that run one of those applications.
* Each application is sent with a fresh Event-UUID and ``event-lock: true``; the command is complete when
  the CHANNEL_EXECUTE_COMPLETE carrying that Application-UUID comes to :meth:`CallControl.on_event`. Then a
  ``call_event`` CHANNEL_EXECUTE_COMPLETE goes to ``callevt`` with Application-Name the command's (so
  ``tones`` completes as ``tones``, not ``play``), FreeSWITCH's Application-Response and the command's
  Msg-ID. noop completes with Application-Response = its Msg-ID when it reaches the head. ``store`` runs
  no FreeSWITCH application either: at the head of the queue ecallmgr uploads the recording itself
  (:mod:`ecallmgr.control.store`) and completes it with Application-Response ``success``.
* An error (command refused, bad media, ``-ERR`` from FreeSWITCH, node not connected) publishes a
  ``dialplan_error`` (``call.dialplan.<Call-ID>``) with the command's Msg-ID, and the queue moves on.
* After CHANNEL_DESTROY every command still queued, or arriving, fails with Dialplan-Error ``DOWN``; after
  ``keep_alive`` seconds without a new command the consumer stops and the queue is left to ``x-expires``.

Acknowledgement (durability across an ecallmgr restart, DESIGN 3): a command message is acknowledged
only once it has been executed (its completion published) or failed (its dialplan_error published), or
dropped by a flush. Until then it stays unacknowledged in RabbitMQ, so an ecallmgr that dies loses
nothing: the commands come back, in order, to the ecallmgr that re-adopts the call. The price is
at-least-once: the command that was running when ecallmgr died runs again. The consumer's prefetch
(``prefetch``, 100 by default) bounds how many commands are seen at once, so a head/now/flush command is
noticed while up to that many run or wait before it. On :meth:`CallControl.close` the consumer is cancelled
first and the unfinished commands are handed back (nacked, requeued) rather than failed.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid as uuidlib
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ecallmgr.control.commands import CommandRefused, FsApp, Plan, plan
from ecallmgr.control.store import store_recording
from ecallmgr.esl.errors import EslDisconnected
from ecallmgr.translate import KAZOO_TO_FS, call_event
from whistle_common.api.catalogue import Origin
from whistle_common.bus.bus import Bus, Delivery
from whistle_common.bus.transport import QueueSpec, Subscription

log = logging.getLogger("ecallmgr.control")

CONTROL_EXCHANGE = "callctl"
DEFAULT_EXPIRES_MS = 10 * 60 * 1000
DEFAULT_KEEP_ALIVE = 2.0
DEFAULT_PREFETCH = 100
ENVELOPE_HEADERS = frozenset(
    ("App-Name", "App-Version", "Event-Category", "Event-Name", "Msg-ID", "Node", "Server-ID", "Msg-Reply-ID")
)


class Node(Protocol):
    """What CallControl needs of a node: ``ecallmgr.esl.EslClient`` (its ``connected`` event tells whether
    it is up) or ``ecallmgr.node.FreeswitchNode`` (its ``up`` property)."""

    async def api(self, command: str, *, timeout: float | None = None) -> str: ...

    async def sendmsg(
        self,
        uuid: str,
        app: str,
        arg: str | None = None,
        *,
        event_uuid: str | None = None,
        event_lock: bool = False,
        loops: int = 1,
        timeout: float | None = None,
    ) -> str: ...


NodeLookup = Callable[[str], Node | None]


def _is_up(node: Any) -> bool:
    up = getattr(node, "up", None)
    if isinstance(up, bool):
        return up
    connected = getattr(node, "connected", None)
    return connected is None or connected.is_set()


def control_queue_spec(call_id: str, expires_ms: int = DEFAULT_EXPIRES_MS) -> QueueSpec:
    """``ctl.<Call-ID>``: durable (commands survive a broker restart), gone x-expires after its last use."""
    return QueueSpec(control_queue_name(call_id), durable=True, arguments={"x-expires": expires_ms})


async def declare_control_queue(bus: Bus, call_id: str, expires_ms: int = DEFAULT_EXPIRES_MS) -> None:
    """Declare and bind the call's control queue, so commands sent to it wait there until consumed."""
    spec = control_queue_spec(call_id, expires_ms)
    await bus.transport.declare_queue(spec)
    await bus.transport.bind(spec.name, CONTROL_EXCHANGE, spec.name)


def control_queue_name(call_id: str) -> str:
    return f"ctl.{call_id}"


@dataclass(eq=False)
class _Item:
    command: dict[str, Any]
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    @property
    def name(self) -> str:
        return str(self.command.get("Application-Name") or "")

    def finish(self) -> None:
        if not self.done.done():
            self.done.set_result(None)


def _error_of(reply: str) -> str:
    lowered = reply.lower()
    if "invalid session" in lowered or "no such channel" in lowered:
        return "nosession"
    return reply.strip().removeprefix("-ERR").strip() or "failed"


class CallControl:
    """Executes the commands of one call on its FreeSWITCH node; see the module docstring."""

    def __init__(
        self,
        bus: Bus,
        origin: Origin,
        call_id: str,
        node_name: str,
        node_for: NodeLookup,
        *,
        keep_alive: float = DEFAULT_KEEP_ALIVE,
        expires_ms: int = DEFAULT_EXPIRES_MS,
        prefetch: int = DEFAULT_PREFETCH,
        on_stopped: Callable[[CallControl], None] | None = None,
    ) -> None:
        self.bus, self.origin, self.call_id, self.node_name = bus, origin, call_id, node_name
        self.node_for = node_for
        self.keep_alive, self.expires_ms, self.prefetch = keep_alive, expires_ms, prefetch
        self.on_stopped = on_stopped
        self.queue_name = control_queue_name(call_id)
        self.destroyed = False
        self.channel_state: str | None = None
        self.channel_call_state: str | None = None
        self.other_leg: str | None = None
        self.stopped = asyncio.Event()
        self.retired = asyncio.Event()  # set once, the channel gone, its control queue is deleted
        self._queue: deque[_Item] = deque()
        self._beside: set[_Item] = set()  # Insert-At now without an FS application: running beside the queue
        self._current: _Item | None = None
        self._current_plan: Plan | None = None
        self._ready = asyncio.Event()
        self._ours: set[str] = set()  # Event-UUIDs we sent: their completions are ours to publish
        self._waiting: dict[str, asyncio.Future[dict[str, str]]] = {}
        self._subscription: Subscription | None = None
        self._worker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._expiry: asyncio.TimerHandle | None = None
        self._start_lock = asyncio.Lock()
        self._changed: asyncio.Future[None] | None = None
        self._closing = False

    def __repr__(self) -> str:
        return f"<CallControl {self.call_id} on {self.node_name}>"

    # -- lifecycle ----------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start executing and consume ``ctl.<Call-ID>`` (declared durable with x-expires). Idempotent."""
        async with self._start_lock:
            if self._subscription is not None or self._closing:
                return
            if self._worker is None:
                self._worker = asyncio.get_running_loop().create_task(
                    self._work(), name=f"call-control-{self.call_id}"
                )
            self._subscription = await self.bus.consume(
                control_queue_spec(self.call_id, self.expires_ms),
                self._on_delivery,
                bindings=[(CONTROL_EXCHANGE, self.queue_name)],
                prefetch=self.prefetch,
            )

    async def close(self) -> None:
        """Stop consuming and executing; unfinished commands go back to the queue (not acknowledged)."""
        if self._closing:
            await self.stopped.wait()
            return
        self._closing = True
        if self._expiry is not None:
            self._expiry.cancel()
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            try:
                await subscription.cancel()
            except Exception as exc:  # the connection may be gone already; the broker requeues anyway
                log.debug("%r: cancelling the consumer: %r", self, exc)
        tasks = [t for t in (self._worker, *self._tasks) if t is not None and t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for item in [*([self._current] if self._current else []), *self._queue, *self._beside]:
            item.done.cancel()  # the bus handler nacks it: back to the queue for whoever adopts the call
        self._queue.clear()
        for waiter in self._waiting.values():
            waiter.cancel()
        self._waiting.clear()
        self._ours.clear()
        self.stopped.set()
        if self.on_stopped is not None:
            self.on_stopped(self)

    @property
    def held(self) -> int:
        """Commands received and not yet finished (running, queued, or running beside the queue)."""
        return len(self._queue) + len(self._beside) + (self._current is not None)

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Wait until ``predicate()`` holds, re-checking whenever a command arrives or finishes."""
        while not predicate():
            if self._changed is None or self._changed.done():
                self._changed = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._changed)

    def _touch(self) -> None:
        if self._changed is not None and not self._changed.done():
            self._changed.set_result(None)

    # -- input: commands ----------------------------------------------------------------------------------

    async def _on_delivery(self, delivery: Delivery) -> None:
        """Bus handler: returns (and so acknowledges) only when the command is executed or failed."""
        await self.submit(delivery.message)

    def submit(self, command: Mapping[str, Any]) -> asyncio.Future[None]:
        """Queue ``command`` by its Insert-At; the future is done once it completed or failed."""
        item = _Item(dict(command))
        if self._closing:
            item.done.cancel()
            return item.done
        if self.destroyed:
            self._queue.append(item)
            self._arm_expiry()
        else:
            self._insert(item, command.get("Insert-At") or "tail")
        self._ready.set()
        self._touch()
        return item.done

    def _insert(self, item: _Item, where: str) -> None:
        if where == "head":
            self._queue.appendleft(item)
        elif where == "flush":
            dropped, self._queue = list(self._queue), deque([item])
            for old in dropped:
                log.info("%r: flush drops %s %s", self, old.name, old.command.get("Msg-ID"))
                old.finish()
            if self._running_app():
                self._spawn(self._break(all_=True))
        elif where == "now":
            if item.name == "noop" and (filtered := item.command.get("Filter-Applications")):
                while self._queue and self._queue[0].name in filtered:
                    self._queue.popleft().finish()
            if self._has_app(item):
                self._queue.appendleft(item)
                if self._running_app():
                    self._spawn(self._break(all_=False))
            else:
                self._beside.add(item)
                self._spawn(self._execute(item))
        else:
            self._queue.append(item)

    def _has_app(self, item: _Item) -> bool:
        try:
            return bool(plan(item.command, self.call_id, other_leg=self.other_leg).apps)
        except CommandRefused:
            return True  # it fails in turn, through the queue

    def _running_app(self) -> bool:
        return self._current is not None and bool(self._current_plan and self._current_plan.apps)

    async def _break(self, *, all_: bool) -> None:
        node = self.node_for(self.node_name)
        if node is None:
            return
        command = f"uuid_break {self.call_id}" + (" all" if all_ else "")
        try:
            reply = await node.api(command)
        except Exception as exc:
            log.warning("%r: %s failed: %r", self, command, exc)
            return
        if reply.startswith("-"):
            log.info("%r: %s: %s", self, command, reply.strip())

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- input: FreeSWITCH events -------------------------------------------------------------------------

    def on_event(self, fs: Mapping[str, str]) -> bool:
        """Feed one event of this channel (called inline by the ESL reader: never blocks).

        Returns True for a CHANNEL_EXECUTE_COMPLETE of an application this control sent: its completion
        is published here (with the command's Msg-ID), so the node must not publish it again.
        """
        if state := fs.get("Channel-State"):
            self.channel_state = state.removeprefix("CS_")
        if call_state := fs.get("Channel-Call-State"):
            self.channel_call_state = call_state
        name = fs.get("Event-Name")
        if name == "CHANNEL_EXECUTE_COMPLETE":
            app_uuid = fs.get("Application-UUID") or ""
            if app_uuid not in self._ours:
                return False
            self._ours.discard(app_uuid)
            waiter = self._waiting.pop(app_uuid, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(dict(fs))
            return True
        if name == "CHANNEL_BRIDGE":
            self.other_leg = fs.get("Other-Leg-Unique-ID") or self.other_leg
        elif name == "CHANNEL_UNBRIDGE":
            self.other_leg = None
        elif name == "CHANNEL_DESTROY":
            self._on_destroy()
        return False

    def _on_destroy(self) -> None:
        if self.destroyed:
            return
        self.destroyed = True
        self.channel_state = self.channel_call_state = "DOWN"
        for waiter in self._waiting.values():
            if not waiter.done():
                waiter.set_exception(CommandRefused("DOWN", "channel is down"))
        self._waiting.clear()
        self._ready.set()
        self._arm_expiry()

    async def gone(self) -> None:
        """The channel vanished while we could not hear its node (it is not in ``show channels`` after a
        reconnect): end it as CHANNEL_DESTROY would, and tell whoever drives it, or they would wait on a
        call that no longer exists. Its real CDR, if any, went with the lost connection."""
        if self.destroyed:
            return
        self._on_destroy()
        fields = {
            "Event-Name": "CHANNEL_DESTROY",
            "Call-ID": self.call_id,
            "Channel-State": "DOWN",
            "Hangup-Cause": "NORMAL_UNSPECIFIED",
            "Disposition": "gone while the node was unreachable",
        }
        try:
            await self.bus.send(self.bus.catalogue.build("call_event", fields, origin=self.origin))
        except Exception:  # the control still ends; the whapp's own timeouts cover the rest
            log.exception("%r: could not publish that the channel is gone", self)

    def node_down(self) -> None:
        """The node's ESL connection was lost: what runs will not report back; fail it with NODE_DOWN."""
        for waiter in self._waiting.values():
            if not waiter.done():
                waiter.set_exception(CommandRefused("NODE_DOWN", "node down"))
        self._waiting.clear()

    def _arm_expiry(self) -> None:
        if self._closing:
            return
        if self._expiry is not None:
            self._expiry.cancel()
        self._expiry = asyncio.get_running_loop().call_later(self.keep_alive, self._expire)

    def _expire(self) -> None:
        self._expiry = None
        if self._queue or self._current is not None or self._beside:
            self._arm_expiry()
            return
        self._spawn(self._retire())

    async def _retire(self) -> None:
        """The channel is gone and its last commands answered: stop, and delete ``ctl.<Call-ID>`` now
        rather than leave it to x-expires (at hundreds of calls a second, idle queues pile up on the
        broker by the hundred thousand); x-expires still cleans up after an ecallmgr that died."""
        await self.close()
        try:
            await self.bus.transport.delete_queue(self.queue_name)
        except Exception as error:  # x-expires deletes it later anyway
            log.warning("%r: could not delete %s: %r", self, self.queue_name, error)
        self.retired.set()

    # -- execution ----------------------------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            while not self._queue:
                self._ready.clear()
                await self._ready.wait()
            item = self._queue.popleft()
            if item.done.done():  # its delivery went away (cancelled)
                continue
            self._current = item
            try:
                await self._execute(item)
            finally:
                self._current = self._current_plan = None
            if self.destroyed and not self._queue:
                self._arm_expiry()

    async def _execute(self, item: _Item) -> None:
        command = item.command
        try:
            if self.destroyed:
                raise CommandRefused("DOWN", "channel is down")
            if command.get("Call-ID") != self.call_id:
                raise CommandRefused("baduuid", f"not call {self.call_id}")
            # store runs no FreeSWITCH application: ecallmgr uploads the recording itself
            steps = None if item.name == "store" else plan(command, self.call_id, other_leg=self.other_leg)
            if item is self._current:
                self._current_plan = steps
            if steps is None:
                fs = self._synthetic("noop", await store_recording(command))
            elif steps.immediate:
                fs = self._synthetic("noop" if item.name == "noop" else item.name, steps.response)
            elif steps.api is not None:
                reply = await self._node().api(steps.api.command)
                if reply.startswith("-"):
                    raise CommandRefused(_error_of(reply), f"{reply.strip()}")
                fs = self._synthetic(item.name, reply.strip())
            else:
                fs = await self._run_apps(steps.apps)
            await self._publish_completion(command, fs)
        except CommandRefused as refused:
            await self._publish_error(command, refused)
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            await self._publish_error(command, CommandRefused("timeout", "FreeSWITCH did not answer in time"))
        except Exception as exc:
            log.exception("%r: %s failed", self, item.name)
            error = "NODE_DOWN" if isinstance(exc, EslDisconnected) else "throw"
            await self._publish_error(command, CommandRefused(error, str(exc) or repr(exc)))
        self._beside.discard(item)
        item.finish()
        self._touch()

    def _node(self) -> Node:
        node = self.node_for(self.node_name)
        if node is None or not _is_up(node):
            raise CommandRefused("NODE_DOWN", f"node {self.node_name} is down")
        return node

    async def _run_apps(self, apps: tuple[FsApp, ...]) -> dict[str, str]:
        node = self._node()
        waiter: asyncio.Future[dict[str, str]] | None = None
        sent: list[str] = []
        try:
            for index, app in enumerate(apps):
                app_uuid = str(uuidlib.uuid4())
                self._ours.add(app_uuid)
                sent.append(app_uuid)
                if index == len(apps) - 1 and app.wait:
                    waiter = asyncio.get_running_loop().create_future()
                    self._waiting[app_uuid] = waiter  # before sending: the completion can beat the reply
                reply = await node.sendmsg(
                    self.call_id,
                    app.app,
                    app.arg,
                    event_uuid=app_uuid,
                    event_lock=app.event_lock,
                    loops=app.loops,
                )
                if not reply.startswith("+OK"):
                    raise CommandRefused(_error_of(reply), f"{app.app}: {reply.strip()}")
            if waiter is None:
                return self._synthetic(apps[-1].app, "+OK")
            return await waiter
        except BaseException:
            self._ours.difference_update(sent)  # nobody waits for these any more
            raise
        finally:
            for app_uuid in sent:
                self._waiting.pop(app_uuid, None)

    def _synthetic(self, fs_app: str, response: str) -> dict[str, str]:
        """A CHANNEL_EXECUTE_COMPLETE for a command that ran no FreeSWITCH application."""
        fs_names = KAZOO_TO_FS.get(fs_app)
        fs = {
            "Event-Name": "CHANNEL_EXECUTE_COMPLETE",
            "Unique-ID": self.call_id,
            "Application": fs_names[0] if fs_names else fs_app,
            "Application-Response": response,
            "Event-Date-Timestamp": str(time.time_ns() // 1000),
        }
        if self.channel_state:
            fs["Channel-State"] = self.channel_state
        if self.channel_call_state:
            fs["Channel-Call-State"] = self.channel_call_state
        return fs

    # -- output -------------------------------------------------------------------------------------------

    async def _publish_completion(self, command: Mapping[str, Any], fs: Mapping[str, str]) -> None:
        msg_id = str(command.get("Msg-ID"))
        message = call_event(fs, origin=self.origin, msg_id=msg_id)
        if message is None:  # an FS application Kazoo's name table lacks (transfer, att_xfer...)
            message = call_event({**fs, "Application": "noop"}, origin=self.origin, msg_id=msg_id)
            assert message is not None
            message["Raw-Application-Name"] = fs.get("Application") or ""
        message["Application-Name"] = command.get("Application-Name")
        if command.get("Application-Name") == "noop":
            message["Application-Response"] = msg_id
        await self.bus.send(message)

    async def _publish_error(self, command: Mapping[str, Any], refused: CommandRefused) -> None:
        error, text = refused.error, refused.message
        log.info("%r: %s %s: %s", self, command.get("Application-Name"), command.get("Msg-ID"), text)
        fields: dict[str, Any] = {
            "Call-ID": self.call_id,
            "Dialplan-Error": error,
            "Error-Message": text,
            "Request": {k: v for k, v in command.items() if k not in ENVELOPE_HEADERS},
        }
        if command.get("Msg-ID"):
            fields["Msg-ID"] = str(command["Msg-ID"])
        if self.channel_state:
            fields["Channel-State"] = self.channel_state
        if self.channel_call_state:
            fields["Channel-Call-State"] = self.channel_call_state
        try:
            await self.bus.send(self.bus.catalogue.build("dialplan_error", fields, origin=self.origin))
        except Exception:  # never stop the queue over a report
            log.exception("%r: could not publish a dialplan_error", self)
