"""A running channel: its session task, the sendmsg queue, the media loop, application execution, hangup.

Every channel runs one asyncio task, its "session thread". The task walks the state machine (CS_INIT,
CS_ROUTING, CS_EXECUTE..., CS_HANGUP, CS_REPORTING, CS_DESTROY) and runs applications. Anything that waits
(park, playback, record, bridge, conference) waits in :meth:`Channel.wait`, the media loop: like
FreeSWITCH's, it dequeues DTMF (firing DTMF events) and runs queued ``sendmsg`` messages *nested* while the
current application is still running, unless an ``event-lock`` message is executing.
"""

from __future__ import annotations

import asyncio
import logging
import uuid as uuidlib
from collections import deque
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, Any

from fsim.channels.base import INBOUND, ChannelBase
from fsim.channels.cdr import set_timestamps
from fsim.channels.states import CallState, ChannelState, cause_q850

if TYPE_CHECKING:
    from fsim.channels.flow import Instruction

log = logging.getLogger(__name__)


class Wake(Enum):
    """Why :meth:`Channel.wait` returned."""

    TIMEOUT = "timeout"
    HANGUP = "hangup"
    BREAK = "break"
    DTMF = "dtmf"
    DONE = "done"
    INTERRUPT = "interrupt"


class Message:
    """One queued ``sendmsg``: its headers as sent (looked up case-insensitively) and its body."""

    def __init__(self, headers: list[tuple[str, str]], body: bytes | None) -> None:
        self.headers = headers
        self.body = body
        self._lower = {name.lower(): value for name, value in reversed(headers)}

    def get(self, name: str) -> str | None:
        return self._lower.get(name.lower())


def true(value: str | None) -> bool:
    """``switch_true``."""
    text = (value or "").strip().lower()
    return text in {"yes", "on", "true", "t", "enabled", "active", "allow"} or (
        text.isdigit() and int(text) != 0
    )


class Channel(ChannelBase):
    """A FreeSWITCH channel with its behaviour; see :class:`ChannelBase` for its data and events."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """The arguments of :class:`ChannelBase`; the channel does nothing until :meth:`start`."""
        super().__init__(*args, **kwargs)
        self.messages: deque[Message] = deque()
        self.event_lock = 0
        self.break_requested = False
        self.instruction: Instruction | None = None
        self.dtmf_listener: Callable[[str], None] | None = None
        self.last_dtmf: str | None = None
        self.parked = False
        self.task: asyncio.Task[None] | None = None
        self.on_hangup: list[Callable[[Channel], None]] = []
        self.app_state: dict[str, object] = {}  # per-application state (recordings, conference member...)

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self, first: Instruction) -> None:
        """Launch the session task: CS_INIT (CHANNEL_CREATE...), then ``first`` and what follows it."""
        self.task = asyncio.get_running_loop().create_task(self._main(first), name=f"fsim {self.name}")

    async def _main(self, first: Instruction) -> None:
        try:
            self.set_running_state(ChannelState.CS_INIT)
            self.set_state(ChannelState.CS_ROUTING)
            self.fire("CHANNEL_CREATE")
            if self.direction != INBOUND:
                self.fire("CHANNEL_ORIGINATE")
            instruction: Instruction | None = first
            while instruction is not None and self.ready:
                self.instruction = None
                following = await instruction.run(self)
                instruction = self.instruction or following
            if self.ready:
                self.hangup("NORMAL_CLEARING")
        except Exception:  # a bug in an app must not leave a channel up forever
            log.exception("fsim channel %s crashed", self.name)
            self.hangup("CRASH")
        await self._finish()

    async def _finish(self) -> None:
        """CS_HANGUP (CDR variables), CS_REPORTING (HANGUP_COMPLETE), CS_DESTROY (CHANNEL_DESTROY)."""
        cause = self.hangup_cause or "NORMAL_CLEARING"
        self.set_running_state(ChannelState.CS_HANGUP)
        self.profile.times.hungup = self.switch.clock.now_us()
        for callback in list(self.on_hangup):  # media bugs (session recordings) go first
            callback(self)
        self.set_var("hangup_cause", cause)
        self.set_var("hangup_cause_q850", str(cause_q850(cause)))
        set_timestamps(self)
        self.set_callstate(CallState.HANGUP)
        if self.loopback_peer is not None and self.loopback_peer.up:
            self.loopback_peer.hangup(cause)
        await asyncio.sleep(0)
        self.set_running_state(ChannelState.CS_REPORTING)
        if self.kind == "loopback":
            self.set_var("is_loopback", "1")
        self.fire("CHANNEL_HANGUP_COMPLETE", before=[("Hangup-Cause", cause)])
        self.set_state(ChannelState.CS_DESTROY)
        self.fire("CHANNEL_DESTROY")
        self.set_running_state(ChannelState.CS_DESTROY)
        self.switch.channels.remove(self)
        self.destroyed_event.set()

    def interrupt(self, instruction: Instruction) -> None:
        """Make the running applications return and do ``instruction`` next (transfer, bridge...)."""
        self.instruction = instruction
        self.wake()

    # -- endpoint behaviour ------------------------------------------------------------------------

    def answer(self) -> bool:
        """``switch_channel_answer``; a loopback ``-b`` leg answers its ``-a`` leg first."""
        if self.answered:
            return True
        if not self.ready:
            return False
        peer = self.loopback_peer
        if isinstance(peer, Channel) and self.direction == INBOUND and not peer.answered:
            peer.answer()
        if not self.mark_answered():
            return False
        self.set_var("endpoint_disposition", "ANSWER")
        return True

    def pre_answer(self) -> bool:
        """``switch_channel_pre_answer``: early media (answered channels already have media)."""
        if self.answered or self.early_media:
            return True
        peer = self.loopback_peer
        if isinstance(peer, Channel) and self.direction == INBOUND:
            peer.pre_answer()
        return self.mark_pre_answered()

    def ring(self) -> bool:
        """``switch_channel_ring_ready``."""
        peer = self.loopback_peer
        if isinstance(peer, Channel) and self.direction == INBOUND:
            peer.mark_ring_ready()
        return self.mark_ring_ready()

    def flip_cid(self) -> None:
        """``switch_channel_flip_cid`` (after an api originate): swap caller and callee ids, CALL_UPDATE."""
        profile = self.profile
        if profile.callee_id_name:
            self.set_var("pre_transfer_caller_id_name", profile.caller_id_name)
            profile.caller_id_name, profile.callee_id_name = profile.callee_id_name, profile.caller_id_name
        if profile.callee_id_number:
            self.set_var("pre_transfer_caller_id_number", profile.caller_id_number)
            profile.caller_id_number, profile.callee_id_number = (
                profile.callee_id_number,
                profile.caller_id_number,
            )
        self.set_var("channel_cid_flipped", "yes")
        before = [("Direction", "RECV")] + ([("Bridged-To", self.partner.uuid)] if self.partner else [])
        self.fire("CALL_UPDATE", before=before)

    def send_dtmf(self, digits: str, duration_ms: int | None = None) -> None:
        """Send DTMF out of this channel: a loopback leg's twin receives it; other endpoints record it."""
        samples = (duration_ms or 250) * 8
        for digit in digits:
            if digit in "wW":
                continue
            if isinstance(self.loopback_peer, Channel):
                self.set_var("last_dtmf_duration", str(samples))
                self.loopback_peer.receive_dtmf(digit.upper(), samples)
            else:
                self.sent_dtmf.append(digit.upper())

    def receive_dtmf(self, digit: str, samples: int = 2000) -> None:
        """DTMF arriving from the far end: queued until the channel's media loop dequeues it."""
        if self.up:
            self.dtmf_queue.append((digit, samples))
            self.wake()

    def _dequeue_dtmf(self) -> str:
        digit, samples = self.dtmf_queue.popleft()
        self.dtmf_log.append(digit)
        self.fire(
            "DTMF", after=[("DTMF-Digit", digit), ("DTMF-Duration", str(samples)), ("DTMF-Source", "UNKNOWN")]
        )
        return digit

    def request_break(self, flush: bool = False) -> None:
        """``uuid_break``: stop the current media application; ``flush`` also drops queued messages."""
        self.break_requested = True
        if flush:
            self.messages.clear()
        self.wake()

    # -- the media loop ----------------------------------------------------------------------------

    async def wait(
        self,
        seconds: float | None = None,
        *,
        dtmf: bool = False,
        until: Callable[[], bool] | None = None,
        breakable: bool = True,
    ) -> Wake:
        """Wait ``seconds`` simulated seconds (None: forever) while serving the channel, see module doc.

        Returns early on hangup, on a pending instruction (transfer...), on ``uuid_break`` (if
        ``breakable``), on DTMF (if ``dtmf``: the digit is in :attr:`last_dtmf`), or when ``until()``.
        """
        clock = self.switch.clock
        deadline = None if seconds is None else clock.now() + seconds
        while True:
            if not self.ready:
                return Wake.HANGUP
            if self.instruction is not None:
                return Wake.INTERRUPT
            if self.break_requested:
                self.break_requested = False
                if breakable:
                    return Wake.BREAK
            if self.dtmf_queue:
                digit = self._dequeue_dtmf()
                if dtmf:
                    self.last_dtmf = digit
                    return Wake.DTMF
                if self.dtmf_listener is not None:
                    self.dtmf_listener(digit)
                continue
            if until is not None and until():
                return Wake.DONE
            if self.messages and not self.event_lock:
                # switch_ivr_park without media parses the message directly: no PRIVATE_COMMAND then.
                await self.parse_next_message(announce=not self.parked or self.answered or self.early_media)
                continue
            remaining = None if deadline is None else deadline - clock.now()
            if remaining is not None and remaining <= 0:
                return Wake.TIMEOUT
            self._wake.clear()
            try:
                async with clock.timeout(remaining):
                    await self._wake.wait()
            except TimeoutError:
                pass

    # -- sendmsg -----------------------------------------------------------------------------------

    def queue_message(self, headers: list[tuple[str, str]], body: bytes | None = None) -> None:
        """Queue a sendmsg (``switch_core_session_queue_private_event``); the media loop runs it."""
        self.messages.append(Message(headers, body))
        self.wake()

    async def parse_next_message(self, *, announce: bool = True) -> bool:
        """``switch_ivr_parse_next_event``: run the next queued message, then fire PRIVATE_COMMAND."""
        if not self.messages or self.event_lock:
            return False
        message = self.messages.popleft()
        await self.parse_message(message)
        if announce:
            self.fire("PRIVATE_COMMAND", leading=message.headers, extended=False, body=message.body)
        return True

    async def parse_message(self, message: Message) -> None:
        """``switch_ivr_parse_event``: call-command execute (with loops and event-lock) or hangup."""
        command = (message.get("call-command") or "").lower()
        locked = true(message.get("event-lock"))
        if locked:
            self.event_lock += 1
        try:
            if command == "execute":
                await self._execute_message(message)
            elif command == "hangup":
                self.hangup(message.get("hangup-cause") or "NORMAL_CLEARING")
            else:
                log.warning("fsim %s: unsupported call-command %r", self.name, command)
        finally:
            if locked:
                self.event_lock -= 1

    async def _execute_message(self, message: Message) -> None:
        app = message.get("execute-app-name")
        if not app:
            return
        arg = message.get("execute-app-arg")
        if not arg and (message.get("content-type") or "").lower() == "text/plain" and message.body:
            arg = message.body.decode(errors="replace")
        try:
            loops = int(message.get("loops") or 1)
        except ValueError:
            loops = 1
        clock = self.switch.clock
        iteration = 0
        while loops < 0 or iteration < loops:
            started = clock.now()
            self.set_var("current_loop", str(iteration + 1))
            self.set_var("total_loops", str(loops))
            if not await self.execute(app, arg or "", app_uuid=message.get("event-uuid")):
                break
            iteration += 1
            if not self.ready or clock.now() - started < 0.5:
                break
        self.set_var("current_loop", None)
        self.set_var("total_loops", None)

    # -- applications ------------------------------------------------------------------------------

    async def execute(self, app: str, data: str = "", *, app_uuid: str | None = None) -> bool:
        """``switch_core_session_execute_application``: CHANNEL_EXECUTE, run, CHANNEL_EXECUTE_COMPLETE."""
        application = self.switch.apps.get(app)
        if application is None:
            log.warning("fsim %s: invalid application %s", self.name, app)
            self.hangup("DESTINATION_OUT_OF_ORDER")
            return False
        if application.media and not (self.answered or self.early_media) and not self.pre_answer():
            return False
        expanded = self.expand(data)
        app_uuid = app_uuid or str(uuidlib.uuid4())
        self.set_var("current_application", app)
        self.set_var("current_application_data", expanded)
        self.set_var("current_application_response", None)
        details = [("Application", app)] + ([("Application-Data", expanded)] if expanded else [])
        self.fire("CHANNEL_EXECUTE", after=[*details, ("Application-UUID", app_uuid)])
        self.break_requested = False
        self.set_var("current_application", app)
        self.app_log.append((app, expanded))
        try:
            await application.function(self, expanded)
        except Exception:
            log.exception("fsim %s: application %s failed", self.name, app)
        response = self.get_var("current_application_response") or "_none_"
        self.fire(
            "CHANNEL_EXECUTE_COMPLETE",
            after=[*details, ("Application-Response", response), ("Application-UUID", app_uuid)],
        )
        return True
