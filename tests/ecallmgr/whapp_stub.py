"""A test whapp for the ecallmgr end-to-end tests: routes calls to ``park``, takes route_win, sends
call commands and watches the call's events and CDRs, all on the real bus.

::

    async with TestWhapp(amqp_url) as whapp:
        whapp.expect(call_id)                      # answer its route_req with a park
        await whapp.watch(call_id)                 # bind call.*.<Call-ID> before the call starts
        win = await whapp.route_win(call_id)       # the route_win: Control-Queue
        sent = await whapp.command(call_id, "answer")
        done = await whapp.completion(call_id, sent["Msg-ID"])

Every queue is named after a fresh tag, non-durable and auto-deleted, so tests never share one.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

from whistle_common.bus import Bus, Delivery, QueueSpec

WAIT = 10.0
Message = dict[str, Any]


class Inbox:
    """Messages in arrival order, and a way to wait for one (never sleeping)."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._changed = asyncio.Condition()

    async def add(self, message: Message) -> None:
        async with self._changed:
            self.messages.append(message)
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[Message], bool], timeout: float = WAIT) -> Message:
        """The first message (already here or still to come) that ``predicate`` accepts."""

        def found() -> Message | None:
            return next((m for m in self.messages if predicate(m)), None)

        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: found() is not None)
        message = found()
        assert message is not None
        return message


class TestWhapp:
    """The whapp side of a call, on a bus of app_name ``testwhapp``."""

    __test__ = False  # not a pytest class

    def __init__(self, amqp_url: str, tag: str | None = None) -> None:
        self.tag = tag or uuid.uuid4().hex[:12]
        self.bus = Bus.from_url(amqp_url, app_name="testwhapp", node=f"testwhapp@{self.tag}")
        self.route_reqs: dict[str, Message] = {}
        self._expected: set[str] = set()
        self._wins: dict[str, asyncio.Future[Message]] = {}
        self.events: dict[str, Inbox] = {}
        self.cdrs = Inbox()

    async def __aenter__(self) -> TestWhapp:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.bus.close()

    def _queue(self, purpose: str) -> QueueSpec:
        return QueueSpec(f"testwhapp.{purpose}.{self.tag}", durable=False, exclusive=True, auto_delete=True)

    async def start(self) -> None:
        await self.bus.start()
        self.bus.on_targeted(self._on_targeted)
        await self.bus.consume(self._queue("route"), self._on_route_req, bindings=[("callmgr", "route.req")])
        await self.bus.consume(self._queue("cdr"), self._on_cdr, bindings=[("callevt", "cdr.*")])

    # -- routing ----------------------------------------------------------------------------------------

    def expect(self, call_id: str) -> None:
        """Answer the route_req of ``call_id`` with a park (other calls' route_reqs are ignored)."""
        self._expected.add(call_id)
        self._wins[call_id] = asyncio.get_running_loop().create_future()

    async def _on_route_req(self, delivery: Delivery) -> None:
        request = delivery.message
        call_id = str(request.get("Call-ID"))
        if call_id not in self._expected:
            return
        self.route_reqs[call_id] = request
        await self.bus.reply(request, self.bus.build("route_resp", {"Method": "park"}))

    async def _on_targeted(self, delivery: Delivery) -> None:
        message = delivery.message
        if message.get("Event-Name") != "route_win":
            return
        future = self._wins.get(str(message.get("Call-ID")))
        if future is not None and not future.done():
            future.set_result(message)

    async def route_win(self, call_id: str, timeout: float = WAIT) -> Message:
        async with asyncio.timeout(timeout):
            return await asyncio.shield(self._wins[call_id])

    # -- events ------------------------------------------------------------------------------------------

    async def watch(self, call_id: str) -> Inbox:
        """Collect every ``call.*.<Call-ID>`` message of the call (and its dialplan errors)."""
        inbox = self.events.setdefault(call_id, Inbox())

        async def on_event(delivery: Delivery) -> None:
            await inbox.add(delivery.message)

        await self.bus.consume(
            self._queue(f"events.{call_id}"), on_event, bindings=[("callevt", f"call.*.{call_id}")]
        )
        return inbox

    async def completion(self, call_id: str, msg_id: str, timeout: float = WAIT) -> Message:
        """The CHANNEL_EXECUTE_COMPLETE (or the dialplan error, Event-Name ``dialplan``) of ``msg_id``."""
        return await self.events[call_id].wait_for(
            lambda m: (
                m.get("Msg-ID") == msg_id and m.get("Event-Name") in ("CHANNEL_EXECUTE_COMPLETE", "dialplan")
            ),
            timeout,
        )

    def completions(self, call_id: str, msg_ids: set[str]) -> list[Message]:
        """The completions (and errors) of ``msg_ids`` received so far, in arrival order."""
        return [
            m
            for m in self.events[call_id].messages
            if m.get("Msg-ID") in msg_ids and m.get("Event-Name") in ("CHANNEL_EXECUTE_COMPLETE", "dialplan")
        ]

    async def event(
        self, call_id: str, predicate: Callable[[Message], bool], timeout: float = WAIT
    ) -> Message:
        return await self.events[call_id].wait_for(predicate, timeout)

    # -- commands ----------------------------------------------------------------------------------------

    async def command(self, call_id: str, control_queue: str, name: str, **fields: Any) -> Message:
        """Publish ``call_command.<name>`` for the call on ``callctl`` to its Control-Queue."""
        message = self.bus.build(f"call_command.{name}", {"Call-ID": call_id, **fields})
        await self.bus.send(message, routing_key=control_queue)
        return message

    # -- CDRs --------------------------------------------------------------------------------------------

    async def _on_cdr(self, delivery: Delivery) -> None:
        await self.cdrs.add(delivery.message)

    async def cdr_barrier(self, timeout: float = WAIT) -> None:
        """Publish a marker CDR and wait for it on our CDR queue: every CDR published before has arrived."""
        marker = f"marker-{uuid.uuid4().hex}"
        message = self.bus.build(
            "cdr",
            {
                "Call-ID": marker,
                "Timestamp": 0,
                "Hangup-Cause": "NORMAL_CLEARING",
                "Duration-Seconds": 0,
                "Billing-Seconds": 0,
                "Ringing-Seconds": 0,
            },
        )
        await self.bus.send(message)
        await self.cdrs.wait_for(lambda m: m.get("Call-ID") == marker, timeout)

    def cdrs_of(self, call_id: str) -> list[Message]:
        return [m for m in self.cdrs.messages if m.get("Call-ID") == call_id]
