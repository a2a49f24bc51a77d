"""One inbound Event Socket connection, following mod_event_socket's ``parse_command`` and ``read_packet``.

Promises:

- replies come in command order, and the reply to a command is written before any event fired while
  the command ran (events wait in the connection's queue while a command is being handled);
- events are written in firing order, in the format current when they are written;
- the hub listener never blocks: it filters the event and queues it in the connection's
  :class:`~fsim.esl.outbox.Outbox` (at most ``MAX_QUEUE_LEN``; after ``MAX_MISSED`` events lost in a row
  the connection is killed, as FreeSWITCH does);
- a broken or vanished client only ends its own connection, with a log line;
- the connection is a flow-controlled hub consumer: a producer that calls ``hub.drain`` waits while its
  queue is long (except the producer running as this connection's own ``api`` command, which could
  never see the queue drain: FreeSWITCH holds a connection's events while its ``api`` command runs).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import uuid

from fsim.core_api import SwitchCore
from fsim.esl.framing import (
    AUTH_REQUEST,
    GOODBYE,
    MAX_CONTENT_LENGTH,
    MAX_HEADER_BLOCK,
    Command,
    FramingError,
    LogLine,
    api_response,
    atoi,
    command_reply,
    disconnect_notice,
    linger_notice,
    read_command,
)
from fsim.esl.outbox import CLOSE, Outbox
from fsim.esl.subscriptions import Subscriptions, event_type, header_value
from fsim.events import Event, Origin

log = logging.getLogger("fsim.esl")

_BGAPI_ORIGIN = Origin("mod_event_socket.c", "api_exec", 1580)
_SENDEVENT_ORIGIN = Origin("mod_event_socket.c", "parse_command", 2283)
_HANGUP = frozenset({"CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE", "CHANNEL_DESTROY"})
_LEVELS = {"disable": -1, "console": 0, "alert": 1, "crit": 2, "err": 3}
_LEVELS |= {"warning": 4, "notice": 5, "info": 6, "debug": 7}
# The connection whose command is running in this task (None in bgapi jobs and outside connections).
_RUNNING_COMMAND_OF: contextvars.ContextVar[EslConnection | None] = contextvars.ContextVar(
    "fsim_esl_running_command_of", default=None
)


def _log_level(text: str) -> int | None:
    """switch_log_str2level: a number (clamped to 0..63) or a level name; None when invalid."""
    number = text.lstrip("+-")
    if number and number.replace(".", "", 1).isdigit() and number.isascii():
        return max(0, min(atoi(text), 63))
    return _LEVELS.get(text.lower())


class EslConnection:
    """The server side of one inbound ESL client: auth, subscriptions, commands, event delivery."""

    def __init__(
        self,
        switch: SwitchCore,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        password: str,
        jobs: set[asyncio.Task[None]],
        auth_timeout: float = 25.0,
        max_header_block: int = MAX_HEADER_BLOCK,
        max_content_length: int = MAX_CONTENT_LENGTH,
    ) -> None:
        self._switch = switch
        self._reader = reader
        self._writer = writer
        self._password = password
        self._jobs = jobs  # bgapi jobs outlive their connection; the server cancels them on close
        self._auth_timeout = auth_timeout
        self._limits = {"max_header_block": max_header_block, "max_content_length": max_content_length}
        self.peer = str(writer.get_extra_info("peername"))
        self._authed = False
        self._subs = Subscriptions()
        self._session: str | None = None  # the channel bound by ``myevents <uuid>``
        self._channel_name = ""
        self._linger: int | None = None  # seconds, -1 for ever, None when not lingering
        self._hung_up = False
        self._log_level: int | None = None
        self._outbox = Outbox(
            writer,
            self.peer,
            event_format=lambda: self._subs.format,
            on_close=self.stop,
            on_overflow=lambda: self.stop("killed listener because of lost events\n"),
        )
        self._final_sent = False
        self._final_message = GOODBYE
        self._linger_timer: asyncio.TimerHandle | None = None
        self._serve_task: asyncio.Task[None] | None = None
        self._closing = False  # nothing more is queued or written, except the final notice

    async def run(self) -> None:
        """Serve the client until it exits or is dropped; always ends with the socket closed."""
        unsubscribe = self._switch.hub.subscribe(self._on_event, consumer=self)
        pump = asyncio.create_task(self._outbox.run())
        self._serve_task = asyncio.create_task(self._serve())
        if self._closing:
            self._serve_task.cancel()
        try:
            await asyncio.wait([self._serve_task])
        finally:
            self._closing = True
            unsubscribe()
            if self._linger_timer is not None:
                self._linger_timer.cancel()
            self._serve_task.cancel()
            pump.cancel()
            await asyncio.gather(self._serve_task, pump, return_exceptions=True)
            self._outbox.close()
            try:
                if not self._final_sent:
                    self._writer.write(disconnect_notice(self._final_message, self._session))
                self._writer.close()
                await asyncio.wait_for(self._writer.wait_closed(), 1.0)
            except (OSError, TimeoutError):
                pass

    def stop(self, message: str = GOODBYE) -> None:
        """End the connection: the disconnect notice carries ``message``, queued events are dropped."""
        self._final_message = message
        self._closing = True
        self._outbox.close()
        if self._serve_task is not None:
            self._serve_task.cancel()

    def backlog(self) -> int:
        """Messages queued and not written yet (``fsim.hub.Consumer``).

        0 once the connection is closing, and 0 for the caller that is this connection's own running
        command: its events are held until that command returns, so waiting for them would deadlock.
        """
        if self._closing or _RUNNING_COMMAND_OF.get() is self:
            return 0
        return len(self._outbox)

    async def wait_backlog(self, at_most: int) -> None:
        """Return once at most ``at_most`` messages are queued, or the connection is closing."""
        await self._outbox.wait_until(lambda: self.backlog() <= at_most)

    def deliver_log(self, line: LogLine) -> None:
        """Queue a ``log/data`` frame if this client asked for logs at ``line.level`` or finer."""
        if self._log_level is not None and self._log_level >= line.level:
            self._outbox.push(line)

    # -- reading and answering commands ---------------------------------------------------------------

    async def _serve(self) -> None:
        _RUNNING_COMMAND_OF.set(self)  # this task's context only: what its commands run sees
        self._writer.write(AUTH_REQUEST)
        try:
            async with asyncio.timeout(self._auth_timeout):
                command = await read_command(self._reader, **self._limits)
            while command is not None:
                self._outbox.held = True  # the reply goes before anything queued while the command runs
                try:
                    self._writer.write(await self._execute(command))
                finally:
                    self._outbox.held = False
                if self._final_sent:
                    return
                await self._writer.drain()
                command = await read_command(self._reader, **self._limits)
        except TimeoutError:
            log.info("ESL %s: no command within %ss, closing", self.peer, self._auth_timeout)
        except FramingError as exc:
            log.warning("ESL %s: %s, closing", self.peer, exc)
        except asyncio.IncompleteReadError:
            log.info("ESL %s: client disconnected in the middle of a command", self.peer)
        except ConnectionError as exc:
            log.info("ESL %s: connection lost (%s)", self.peer, exc)
        except Exception:
            log.exception("ESL %s: failed while serving, closing", self.peer)

    def _final(self, reply: str) -> bytes:
        """The last reply, sent together with the disconnect notice; queued events are dropped."""
        self._final_sent = self._closing = True
        self._outbox.close()
        return command_reply(reply) + disconnect_notice(GOODBYE, self._session)

    async def _execute(self, command: Command) -> bytes:
        """Run one command; return the bytes it answers."""
        line = command.line
        low = line.lower()
        if low.startswith(("exit", "...")):
            return self._final("+OK bye")
        if not self._authed:
            return self._before_auth(line, low)
        reply = await self._dispatch(command, line, low)
        if isinstance(reply, bytes):
            return reply
        return command_reply(reply or "-ERR command not found")

    def _before_auth(self, line: str, low: str) -> bytes:
        if low.startswith("auth "):
            if line[5:] != self._password:
                return self._final("-ERR invalid")
            self._authed = True
            return command_reply("+OK accepted")
        if low.startswith("userauth "):
            return self._final("-ERR invalid")  # fsim has no directory users to check
        return command_reply("-ERR command not found")

    async def _dispatch(self, command: Command, line: str, low: str) -> str | bytes:
        """parse_command's checks, in its order (it matches command words by prefix)."""
        if low.startswith("filter "):
            return self._subs.filter_command(line[7:])
        if self._session is not None and low.startswith("resume"):
            return "+OK"
        if self._session is not None or low.startswith("myevents "):
            if low.startswith("myevents"):
                return self._myevents(line)
            if low.startswith("getvar"):
                return self._getvar(line)
            if low.startswith("connect"):
                return ""  # the outbound connect reply (all channel data) is not simulated here
        if low.startswith("divert_events"):
            return self._divert_events(line[13:].strip(" "))
        if low.startswith("sendmsg"):
            return await self._sendmsg(command, line[7:].lstrip(" "))
        if low.startswith("sendevent"):
            return self._sendevent(command, line[9:].lstrip(" \t"))
        if low.startswith("api "):
            name, _, argument = line[4:].partition(" ")
            return api_response(await self._run_api(name, argument))
        if low.startswith("bgapi "):
            return self._bgapi(command, line[6:])
        if low.startswith("log"):
            return self._log(line[3:].lstrip(" ").split(" ", 1)[0])
        if low.startswith("linger"):
            return self._linger_command(line)
        if low.startswith("nolinger"):
            if self._session is None:
                return "-ERR not controlling a session"
            self._linger = None
            return "+OK will not linger"
        if low.startswith("nolog"):
            self._outbox.drop(LogLine)
            if self._log_level is None:
                return "-ERR not loging"
            self._log_level = None
            return "+OK no longer logging"
        if low.startswith("event"):
            return self._subs.event_command(line[5:])
        if low.startswith("nixevent"):
            return self._subs.nixevent_command(line[8:])
        if low.startswith("noevents"):
            self._outbox.drop(Event)
            return self._subs.noevents_command()
        return ""

    def _myevents(self, line: str) -> str:
        if self._subs.myevents:
            return "-ERR aready enabled."
        probe = line
        if self._session is None:
            target, space, _ = line[9:].partition(" ")
            probe = line[: 9 + len(target)]
            name = self._switch.channel_name(target) if target else None
            if name is None and space:
                return "-ERR invalid uuid"
            if name is not None:
                self._session, self._channel_name = target, name
        self._subs.enable_myevents()
        # FreeSWITCH looks for the format only in "myevents <uuid>": the format word is already cut off.
        if "xml" in probe or "XML" in probe:
            self._subs.format = "xml"
        if "json" in probe or "JSON" in probe:
            self._subs.format = "json"
        return "+OK Events Enabled"

    def _getvar(self, line: str) -> str:
        """``getvar <name>``: the raw value as Reply-Text; unset or empty gives "" (command not found)."""
        _, space, name = line.rstrip("\r").partition(" ")
        if not space or self._session is None:
            return ""
        return self._switch.channel_variable(self._session, name) or ""

    def _divert_events(self, value: str) -> str:
        if self._session is None:
            return "-ERR not controlling a session."
        if not value:
            return "-ERR missing value."
        return "+OK events diverted" if value.lower() == "on" else "+OK events not diverted"

    async def _sendmsg(self, command: Command, target: str) -> str:
        target = target or command.header("session-id") or ""
        if self._session is not None and target in ("", self._session):
            target = self._session
        if not target:
            return "-ERR invalid session id []"
        try:
            return await self._switch.sendmsg(target, command.headers, command.body)
        except Exception:
            log.exception("ESL %s: sendmsg %s failed", self.peer, target)
            return "-ERR memory error"

    def _sendevent(self, command: Command, name: str) -> str:
        event_uuid = str(uuid.uuid4())
        event_name = event_type(name) or "CLONE"
        headers = [("Command", command.line), *command.headers, ("Event-UUID", event_uuid)]
        subclass = command.header("Event-Subclass") if event_name == "CUSTOM" else None
        if subclass is not None:  # switch_event_dup puts the subclass first
            rest = [header for header in headers if header[0].lower() != "event-subclass"]
            headers = [("Event-Subclass", subclass), *rest]
        target = command.header("Unique-ID")
        if target is not None and self._switch.channel_name(target) is not None:
            return f"+OK {event_uuid}"  # FreeSWITCH queues it privately on that session: never broadcast
        event = self._switch.events.make(event_name, _SENDEVENT_ORIGIN, leading=headers, body=command.body)
        self._switch.hub.fire(event)
        return f"+OK {event_uuid}"

    async def _run_api(self, name: str, argument: str) -> str:
        try:
            return await self._switch.api.execute(name, argument)
        except Exception:
            log.exception("ESL %s: api %s %s failed", self.peer, name, argument)
            return f"-ERR {name} Command not found!\n"

    def _bgapi(self, command: Command, text: str) -> bytes:
        name, _, argument = text.partition(" ")
        job_uuid = (command.header("Job-UUID") or str(uuid.uuid4()))[:36]
        task = asyncio.create_task(self._background_job(job_uuid, name, argument))
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)
        return command_reply(f"+OK Job-UUID: {job_uuid}", [("Job-UUID", job_uuid)])

    async def _background_job(self, job_uuid: str, name: str, argument: str) -> None:
        _RUNNING_COMMAND_OF.set(None)  # a job does not hold its connection's events
        output = await self._run_api(name, argument)
        headers = [("Job-UUID", job_uuid)]
        if self._session is not None:
            headers.append(("Job-Owner-UUID", self._session))
        headers.append(("Job-Command", name))
        if argument:
            headers.append(("Job-Command-Arg", argument))
        body = output.encode() or None
        self._switch.hub.fire(self._switch.events.make("BACKGROUND_JOB", _BGAPI_ORIGIN, headers, body=body))

    def _log(self, level_text: str) -> str:
        level = _log_level(level_text) if level_text else 7
        if level is None:
            return "-ERR invalid log level"
        self._log_level = level
        return f"+OK log level {level_text} [{level}]"

    def _linger_command(self, line: str) -> str:
        if self._session is None:
            return "-ERR not controlling a session"
        self._linger = atoi(line[7:]) if line[6:7] == " " and line[7:] else -1
        return "+OK will linger" if self._linger == -1 else f"+OK will linger {self._linger} seconds"

    # -- event delivery -------------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        """The hub listener: decide cheaply, queue, return; never raises into the hub."""
        if self._closing:
            return
        try:
            self._select(event)
        except Exception:
            log.exception("ESL %s: could not queue %s", self.peer, event.name)

    def _select(self, event: Event) -> None:
        session = self._session
        if session is not None and not self._hung_up and event.name in _HANGUP:
            if header_value(event.headers, "Unique-ID", "unique-id") == session:
                self._hung_up = True
                if event.name != "CHANNEL_DESTROY" and self._subs.wants(event, session):
                    self._outbox.push(event)
                self._channel_down(event)
                return
        if self._subs.wants(event, session):
            if session is not None and event.name == "CHANNEL_DESTROY":
                # FreeSWITCH destroys a channel only after its session socket is gone.
                if header_value(event.headers, "Unique-ID", "unique-id") == session:
                    return
            self._outbox.push(event)

    def _channel_down(self, event: Event) -> None:
        assert self._session is not None
        name = self._switch.channel_name(self._session) or event.get("Channel-Name") or self._channel_name
        if self._linger is None:
            self._outbox.push_control(CLOSE)
        else:
            self._outbox.push_control(linger_notice(self._session, name, self._linger))
            if self._linger != -1:
                loop = asyncio.get_running_loop()
                self._linger_timer = loop.call_later(max(self._linger, 0), self.stop)
