"""A live call as whapp code sees it: commands that return when FreeSWITCH has done them.

::

    call = await events.adopt(route_win, account_id=account_id, request=route_req)
    await call.answer()
    digits = await call.play_and_collect("ivr/ivr-welcome.wav", max_digits=1, timeout_ms=5000)
    result = await call.bridge([endpoint], timeout=20)
    if not result.answered: ...

Every command is sent to the call's Control-Queue (with confirms, mandatory) and awaits the completion
that carries its own Msg-ID (CHANNEL_EXECUTE_COMPLETE, or a dialplan error). It raises
:class:`CallHungUp` once the channel is gone, :class:`CommandTimeout` when no completion comes in time and
:class:`CommandFailed` on a dialplan error, so module code reads top to bottom.

:class:`CallEvents` is the one queue per process that carries the events of every call the process
drives: adopting a call binds the events it needs (:data:`WATCHED_EVENTS`), forgetting the call unbinds them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from whistle_common.bus import Bus, Delivery, QueueSpec, Unroutable
from whistle_common.bus.transport import Subscription
from whistle_common.routing import escape_word

log = logging.getLogger(__name__)

Message = dict[str, Any]
COMMAND_TIMEOUT = 30.0  # seconds for a command that has no natural bound of its own
HANGUP_EVENTS = frozenset({"CHANNEL_HANGUP", "CHANNEL_DESTROY"})
# What a Call needs to hear: its commands' completions and errors, and its end. A call has some thirty
# other events; receiving each would cost this process (and the broker) far more than three bindings.
WATCHED_EVENTS = ("CHANNEL_EXECUTE_COMPLETE", "dialplan", "CHANNEL_DESTROY")


class CallError(Exception):
    """Base class of what a call command can raise; carries the Call-ID."""

    def __init__(self, call_id: str, message: str) -> None:
        self.call_id = call_id
        super().__init__(f"call {call_id}: {message}")


class CallHungUp(CallError):
    """The channel is gone (the caller hung up, or the call ended elsewhere)."""


class CommandTimeout(CallError):
    """No completion for a command before its deadline."""


class CommandFailed(CallError):
    """ecallmgr answered a command with a dialplan error (``error`` is its Dialplan-Error)."""

    def __init__(self, call_id: str, application: str, error: str, detail: str) -> None:
        self.application, self.error = application, error
        super().__init__(call_id, f"{application} failed: {error} ({detail})")


@dataclass(frozen=True)
class BridgeResult:
    """How a bridge ended: ``disposition`` is FreeSWITCH's originate_disposition (SUCCESS, NO_ANSWER...)."""

    disposition: str
    other_leg: str | None = None

    @property
    def answered(self) -> bool:
        return self.disposition in ("SUCCESS", "ANSWER")


@dataclass(frozen=True)
class Recording:
    """A finished ``record``: where it went, how long it is (ms), and the key that stopped it."""

    path: str
    length_ms: int
    terminator: str | None


Listener = Callable[[Message], None]


class Call:
    """One call driven by this process: Call-ID, Control-Queue, and the commands to drive it."""

    def __init__(
        self,
        bus: Bus,
        *,
        call_id: str,
        control_queue: str,
        account_id: str | None = None,
        request: Mapping[str, Any] | None = None,
        on_forget: Callable[[Call], Any] | None = None,
    ) -> None:
        self.bus = bus
        self.call_id = call_id
        self.control_queue = control_queue
        self.account_id = account_id
        self.request: Mapping[str, Any] = request or {}  # the route_req that started the call
        self.caller_id_name = str(self.request.get("Caller-ID-Name") or "")
        self.caller_id_number = str(self.request.get("Caller-ID-Number") or "")
        self.hangup_cause: str | None = None
        self.values: dict[str, Any] = {}  # what flow steps leave for later ones (capture groups...)
        self._waiters: dict[str, asyncio.Future[Message]] = {}
        self._hung_up = asyncio.Event()
        self._listeners: list[Listener] = []
        self._on_forget = on_forget

    @property
    def request_user(self) -> str:
        """The dialled number: the user part of the Request."""
        request = str(self.request.get("Request") or self.request.get("To") or "")
        return request.partition("@")[0]

    @property
    def hung_up(self) -> bool:
        return self._hung_up.is_set()

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every event received for the call (:data:`WATCHED_EVENTS`); returns the
        function that stops it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    async def wait_hangup(self, timeout: float | None = None) -> None:
        """Return once the channel is gone; raises TimeoutError after ``timeout`` seconds."""
        async with asyncio.timeout(timeout):
            await self._hung_up.wait()

    # -- events ------------------------------------------------------------------------------------------

    def deliver(self, message: Message) -> None:
        """An event of this call arrived (called by :class:`CallEvents`)."""
        for listener in list(self._listeners):
            try:
                listener(message)
            except Exception:  # one listener's bug must not stop the call's completions
                log.exception("call listener failed", extra={"call_id": self.call_id})
        name = message.get("Event-Name")
        msg_id = message.get("Msg-ID")
        if name in ("CHANNEL_EXECUTE_COMPLETE", "dialplan") and msg_id in self._waiters:
            future = self._waiters[msg_id]
            if not future.done():
                future.set_result(message)
        if name in HANGUP_EVENTS and not self._hung_up.is_set():
            self.hangup_cause = message.get("Hangup-Cause")
            self._hung_up.set()

    # -- commands ----------------------------------------------------------------------------------------

    async def command(
        self,
        application: str,
        fields: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = COMMAND_TIMEOUT,
        insert_at: str | None = None,
    ) -> Message:
        """Send ``call_command.<application>`` and return its completion event (``timeout`` None: wait as
        long as the call lasts, for commands the call itself bounds)."""
        if self.hung_up:
            raise CallHungUp(self.call_id, f"cannot {application}: the channel is gone")
        headers: dict[str, Any] = {"Call-ID": self.call_id, **(fields or {})}
        if insert_at:
            headers["Insert-At"] = insert_at
        message = self.bus.build(f"call_command.{application}", headers)
        msg_id = str(message["Msg-ID"])
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._waiters[msg_id] = future
        try:
            try:
                await self.bus.send(message, routing_key=self.control_queue, mandatory=True)
            except Unroutable as error:
                raise CallHungUp(self.call_id, f"its control queue is gone ({error})") from error
            return await self._completion(application, future, timeout)
        finally:
            self._waiters.pop(msg_id, None)

    async def _completion(
        self, application: str, future: asyncio.Future[Message], timeout: float | None
    ) -> Message:
        hangup = asyncio.ensure_future(self._hung_up.wait())
        try:
            done, _ = await asyncio.wait(
                {future, hangup}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            hangup.cancel()
        if future in done:
            result = future.result()
            if result.get("Event-Name") == "dialplan":
                raise CommandFailed(
                    self.call_id,
                    application,
                    str(result.get("Dialplan-Error")),
                    str(result.get("Error-Message") or ""),
                )
            return result
        if done:
            raise CallHungUp(self.call_id, f"hung up ({self.hangup_cause}) during {application}")
        raise CommandTimeout(self.call_id, f"no completion of {application} within {timeout:g}s")

    async def answer(self) -> None:
        await self.command("answer")

    async def play(self, media: str, *, terminators: Sequence[str] = (), timeout: float = 600) -> str | None:
        """Play ``media`` to the end (or until a terminator); returns the terminator pressed, if any."""
        done = await self.command(
            "play", {"Media-Name": media, "Terminators": list(terminators)}, timeout=timeout
        )
        return done.get("DTMF-Digit")

    async def play_and_collect(
        self,
        media: str,
        *,
        min_digits: int = 1,
        max_digits: int = 1,
        timeout_ms: int = 5000,
        tries: int = 1,
        terminators: Sequence[str] = ("#",),
        regex: str = r"\d+",
        invalid_media: str | None = None,
    ) -> str:
        """Play ``media`` and collect digits; returns them ('' when the caller pressed nothing)."""
        fields: dict[str, Any] = {
            "Media-Name": media,
            "Minimum-Digits": min_digits,
            "Maximum-Digits": max_digits,
            "Timeout": timeout_ms,
            "Media-Tries": tries,
            "Terminators": list(terminators),
            "Digits-Regex": regex,
        }
        if invalid_media:
            fields["Failed-Media-Name"] = invalid_media
        # its own bound: every try plays the prompt and waits; 600 s covers any prompt we ship
        done = await self.command("play_and_collect_digits", fields, timeout=600 + tries * timeout_ms / 1000)
        return str(done.get("Application-Response") or "")

    async def bridge(
        self, endpoints: Sequence[Mapping[str, Any]], *, timeout: int = 20, strategy: str = "simultaneous",
        headers: Mapping[str, Any] | None = None,
    ) -> BridgeResult:  # fmt: skip
        """Ring ``endpoints`` (simultaneous or single) for ``timeout`` seconds; returns how it ended.

        ``headers`` are more fields of the bridge command, by their header names (``Caller-ID-Name``...).
        While the bridge is up the command is still running; it completes when either leg hangs up or the
        originate fails, so the wait is bounded by the call itself rather than a clock.
        """
        fields: dict[str, Any] = {
            "Endpoints": list(endpoints),
            "Timeout": timeout,
            "Dial-Endpoint-Method": strategy,
            **(headers or {}),
        }
        try:
            done = await self.command("bridge", fields, timeout=None)
        except CallHungUp:
            return BridgeResult("ORIGINATOR_CANCEL" if self.hangup_cause is None else str(self.hangup_cause))
        return BridgeResult(str(done.get("Application-Response") or "FAIL"), done.get("Other-Leg-Call-ID"))

    async def record(
        self, media_name: str, *, time_limit: int = 300, terminators: Sequence[str] = ("#",)
    ) -> Recording:
        """Record the caller into ``media_name`` until a terminator, silence or ``time_limit`` seconds."""
        done = await self.command(
            "record",
            {"Media-Name": media_name, "Time-Limit": time_limit, "Terminators": list(terminators)},
            timeout=time_limit + 30,
        )
        return Recording(
            str(done.get("Application-Response") or media_name),
            int(done.get("Length") or 0),
            done.get("DTMF-Digit") or done.get("Terminator"),
        )

    async def tones(self, tones: Sequence[Mapping[str, Any]]) -> None:
        await self.command("tones", {"Tones": list(tones)})

    async def set_variables(self, channel_vars: Mapping[str, Any], *, export: bool = False) -> None:
        """Set Custom-Channel-Vars on the channel (``export``: on legs it bridges to as well)."""
        await self.command(
            "set", {"Custom-Channel-Vars": dict(channel_vars), "Custom-Call-Vars": {}, "Export-All": export}
        )

    async def noop(self) -> str:
        """A barrier: returns once every command sent before it is done."""
        done = await self.command("noop")
        return str(done.get("Application-Response") or "")

    async def hangup(self, cause: str | None = None) -> None:
        """Hang the call up; returns once the channel is gone (or it already was)."""
        if self.hung_up:
            return
        fields = {"Hangup-Cause": cause} if cause else {}
        try:
            await self.command("hangup", fields, timeout=10)
        except CallHungUp:
            return
        except CommandTimeout:
            log.warning("no completion of our hangup within 10s", extra={"call_id": self.call_id})
            return
        try:
            await self.wait_hangup(timeout=10)
        except TimeoutError:
            log.warning("channel still up 10s after our hangup", extra={"call_id": self.call_id})

    async def record_call(
        self, action: str, media_name: str | None = None, *, time_limit: int | None = None
    ) -> str:
        """Start (``action`` start) or stop a background recording of the whole call into ``media_name``.

        Returns at once: the recording runs beside the call's other commands until stopped, until
        ``time_limit`` seconds or until the hangup. Stopping without a name stops every recording.
        """
        fields: dict[str, Any] = {"Record-Action": action}
        if media_name:
            fields["Media-Name"] = media_name
        if time_limit is not None:
            fields["Time-Limit"] = time_limit
        done = await self.command("record_call", fields)
        return str(done.get("Application-Response") or "")

    async def intercept(self, target_call_id: str, *, other_leg: bool = False) -> str:
        """Bridge this call to another live call ``target_call_id`` (a parked call, a ringing leg...).

        With ``other_leg``, to the leg bridged to ``target_call_id`` instead. The leg the target was
        bridged to, if any, is hung up. Completes once the bridge is set up; it lasts until a side hangs up.
        """
        fields: dict[str, Any] = {"Target-Call-ID": target_call_id}
        if other_leg:
            fields["Other-Leg"] = True
        done = await self.command("intercept", fields)
        return str(done.get("Application-Response") or "")

    async def forget(self) -> None:
        """Stop receiving this call's events."""
        if self._on_forget is not None:
            await self._on_forget(self)


class CallEvents:
    """The process's queue for the events of the calls it drives; routes each event to its Call.

    :meth:`watch` binds a call's events ahead of time (while routing, before the call is won), so the
    binding is off the path from route_win to the first command; :meth:`adopt` waits for it if needed.
    """

    def __init__(self, bus: Bus, *, queue: str | None = None) -> None:
        self.bus = bus
        self.queue = queue or f"{bus.server_id}.calls"
        self._calls: dict[str, Call] = {}
        self._bindings: dict[str, asyncio.Future[None]] = {}  # Call-ID -> its bindings, made or being made
        self._subscription: Subscription | None = None

    async def start(self) -> None:
        spec = QueueSpec(self.queue, durable=False, exclusive=True, auto_delete=True)
        self._subscription = await self.bus.consume(spec, self._on_event, prefetch=500)

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.cancel()
            self._subscription = None
        for task in self._bindings.values():
            task.cancel()
        await asyncio.gather(*self._bindings.values(), return_exceptions=True)
        self._bindings.clear()
        self._calls.clear()

    @property
    def calls(self) -> Mapping[str, Call]:
        return self._calls

    def watch(self, call_id: str) -> None:
        """Start binding ``call_id``'s events now (idempotent); :meth:`unwatch` if it is never adopted."""
        if call_id not in self._bindings:
            self._bindings[call_id] = asyncio.ensure_future(self._bind(call_id))

    async def _bind(self, call_id: str) -> None:
        bind = self.bus.transport.bind
        await asyncio.gather(*(bind(self.queue, "callevt", key) for key in self._keys(call_id)))

    async def unwatch(self, call_id: str) -> None:
        """Drop the binding of a call that was watched but is not driven here."""
        if call_id in self._calls:
            return
        task = self._bindings.pop(call_id, None)
        if task is None:
            return
        try:
            await task
            unbind = self.bus.transport.unbind
            await asyncio.gather(*(unbind(self.queue, "callevt", key) for key in self._keys(call_id)))
        except Exception as error:  # the binding goes with our exclusive queue anyway
            log.warning("could not unbind the call's events: %r", error, extra={"call_id": call_id})

    async def adopt(
        self, route_win: Mapping[str, Any], *, account_id: str | None = None,
        request: Mapping[str, Any] | None = None,
    ) -> Call:  # fmt: skip
        """A Call for the route_win's Call-ID and Control-Queue, receiving its events from now on."""
        call = Call(
            self.bus,
            call_id=str(route_win["Call-ID"]),
            control_queue=str(route_win["Control-Queue"]),
            account_id=account_id,
            request=request,
            on_forget=self._forget,
        )
        self._calls[call.call_id] = call
        self.watch(call.call_id)
        try:
            await self._bindings[call.call_id]
        except BaseException:
            self._calls.pop(call.call_id, None)
            self._bindings.pop(call.call_id, None)
            raise
        return call

    async def _forget(self, call: Call) -> None:
        if self._calls.pop(call.call_id, None) is None:
            return
        await self.unwatch(call.call_id)

    @staticmethod
    def _keys(call_id: str) -> list[str]:
        word = escape_word(call_id)
        return [f"call.{name}.{word}" for name in WATCHED_EVENTS]

    async def _on_event(self, delivery: Delivery) -> None:
        call = self._calls.get(str(delivery.message.get("Call-ID")))
        if call is not None:
            call.deliver(delivery.message)
