"""A scripted call for whapp unit tests: ecallmgr's part played on the in-memory bus.

::

    async with CallflowHarness() as h:
        account = await h.account(realm="acme.test")
        switch = h.switch(digits=["1"], bridges=["NO_ANSWER", "SUCCESS"])
        await h.run(switch, flow)                  # runs the flow to its end
        assert switch.applications() == ["answer", "play_and_collect_digits", "bridge", "hangup"]

The :class:`ScriptedSwitch` consumes the call's control queue, records each command, and answers it
with the completion the script says: digits for play_and_collect_digits (one entry per command), a
disposition for bridge, FILE PLAYED for play... ``hangup_after`` makes the caller hang up when the
n-th command arrives (that command never completes), as a real caller would mid-prompt.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from whapps.call import Call
from whapps.callflow.executor import run_flow
from whapps.callflow.flow import FlowContext
from whapps.callflow.service import Callflow
from whistle_common.bus import Bus, Delivery, MemoryBroker, MemoryTransport, QueueSpec
from whistle_common.store import Store, account_db, init_databases

Message = dict[str, Any]


class ScriptedSwitch:
    """Plays ecallmgr and FreeSWITCH for one call: completes commands as scripted, in order."""

    def __init__(
        self,
        bus: Bus,
        *,
        digits: Sequence[str] = (),
        bridges: Sequence[str] = (),
        hangup_after: int | None = None,
        failures: Mapping[str, str] | None = None,
        hold: Sequence[str] = (),
    ) -> None:
        self.bus = bus
        self.call_id = f"call-{uuid.uuid4().hex[:12]}"
        self.control_queue = f"ctl.{self.call_id}"
        self.commands: list[Message] = []
        self._digits = list(digits)
        self._bridges = list(bridges)
        self._hangup_after = hangup_after
        self._failures = dict(failures or {})  # application -> Dialplan-Error
        self._hold = set(hold)  # applications that run until the call ends (never complete)
        self.received = asyncio.Event()  # set on every command that arrives
        self.hung_up = False
        self.ended = asyncio.Event()  # set once the call is hung up

    def applications(self) -> list[str]:
        return [str(command["Application-Name"]) for command in self.commands]

    def of(self, application: str) -> list[Message]:
        return [command for command in self.commands if command["Application-Name"] == application]

    async def start(self) -> None:
        queue = QueueSpec(self.control_queue, durable=False, auto_delete=True)
        await self.bus.consume(queue, self._on_command, bindings=[("callctl", self.control_queue)])

    async def _on_command(self, delivery: Delivery) -> None:
        command = delivery.message
        self.commands.append(command)
        self.received.set()
        if self.hung_up:
            await self._error(command, "nosession")
            return
        if self._hangup_after is not None and len(self.commands) >= self._hangup_after:
            await self.hangup("NORMAL_CLEARING")
            return
        application = str(command["Application-Name"])
        if application in self._hold:
            return
        if application in self._failures:
            await self._error(command, self._failures[application])
            return
        if application == "hangup":
            await self._complete(command, "+OK")
            await self.hangup(str(command.get("Hangup-Cause") or "NORMAL_CLEARING"))
            return
        await self._complete(command, self._response(command))

    def _response(self, command: Message) -> str:
        application = command["Application-Name"]
        if application == "play_and_collect_digits":
            return self._digits.pop(0) if self._digits else ""
        if application == "bridge":
            return self._bridges.pop(0) if self._bridges else "NO_ANSWER"
        if application == "play":
            return "FILE PLAYED"
        if application == "record":
            return str(command["Media-Name"])
        if application == "noop":
            return str(command["Msg-ID"])
        return "+OK"

    async def _event(self, name: str, fields: Message) -> None:
        await self.bus.send(
            self.bus.build("call_event", {"Event-Name": name, "Call-ID": self.call_id, **fields})
        )

    async def _complete(self, command: Message, response: str) -> None:
        await self._event(
            "CHANNEL_EXECUTE_COMPLETE",
            {
                "Application-Name": command["Application-Name"],
                "Application-Response": response,
                "Msg-ID": command["Msg-ID"],
            },
        )

    async def _error(self, command: Message, error: str) -> None:
        message = self.bus.build(
            "dialplan_error",
            {
                "Call-ID": self.call_id,
                "Dialplan-Error": error,
                "Error-Message": f"Could not execute dialplan action: {command['Application-Name']}",
                "Msg-ID": command["Msg-ID"],
            },
        )
        await self.bus.send(message)

    async def hangup(self, cause: str = "NORMAL_CLEARING") -> None:
        """The caller hangs up: CHANNEL_HANGUP then CHANNEL_DESTROY."""
        if self.hung_up:
            return
        self.hung_up = True
        for name in ("CHANNEL_HANGUP", "CHANNEL_DESTROY"):
            await self._event(name, {"Hangup-Cause": cause})
        self.ended.set()


class CallflowHarness:
    """A callflow whapp on a private in-memory bus and store, and scripted calls to run flows on."""

    def __init__(self) -> None:
        broker = MemoryBroker.named(f"cf-{uuid.uuid4().hex}")
        self.bus = Bus(MemoryTransport(broker), app_name="callflow", node="test")
        self.switch_bus = Bus(MemoryTransport(broker), app_name="ecallmgr", node="test")
        self.store = Store.open("memory://")
        self.whapp = Callflow(self.bus, self.store)
        self.account_id = ""
        self.realm = ""

    async def __aenter__(self) -> CallflowHarness:
        await init_databases(self.store)
        await self.bus.start()
        await self.switch_bus.start()
        await self.whapp.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.whapp.stop()
        await self.switch_bus.close()
        await self.bus.close()
        await self.store.aclose()

    async def account(self, realm: str = "acme.test", **fields: Any) -> str:
        """Create the account (and its database with views); later docs go into it."""
        self.account_id = uuid.uuid4().hex
        self.realm = realm
        doc = {"_id": self.account_id, "pvt_type": "account", "name": realm, "realm": realm, **fields}
        await self.store.save("accounts", doc)
        db = account_db(self.account_id)
        await self.store.ensure_db(db)
        await self.store.install_views(db)
        await self.store.save(db, doc)
        return self.account_id

    async def save(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        """Save ``doc`` into the account's database (``_id`` generated when missing)."""
        body = {"_id": uuid.uuid4().hex, **doc}
        return await self.store.save(account_db(self.account_id), body)

    def switch(self, **script: Any) -> ScriptedSwitch:
        return ScriptedSwitch(self.switch_bus, **script)

    async def call(self, switch: ScriptedSwitch, *, caller: str = "1000", number: str = "2000") -> Call:
        await switch.start()
        request = {
            "Call-ID": switch.call_id,
            "Caller-ID-Name": f"Caller {caller}",
            "Caller-ID-Number": caller,
            "Request": f"{number}@{self.realm}",
            "To": f"{number}@{self.realm}",
            "From": f"{caller}@{self.realm}",
        }
        win = {"Call-ID": switch.call_id, "Control-Queue": switch.control_queue}
        return await self.whapp.events.adopt(win, account_id=self.account_id, request=request)

    async def run(
        self, switch: ScriptedSwitch, flow: Mapping[str, Any], *, callflow: Mapping[str, Any] | None = None,
        caller: str = "1000", number: str = "2000", capture_group: str | None = None,
    ) -> FlowContext:  # fmt: skip
        """Run ``flow`` on a new scripted call to its end; returns the context the modules saw."""
        call = await self.call(switch, caller=caller, number=number)
        context = FlowContext(
            call=call,
            account_id=self.account_id,
            callflow=callflow or {"_id": "test-callflow", "flow": flow},
            whapp=self.whapp,
            capture_group=capture_group,
        )
        await run_flow(context, flow)
        return context
