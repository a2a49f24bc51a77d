"""greenswitch, an independent ESL client, against fsim.

greenswitch runs on gevent with blocking gevent sockets; fsim runs on asyncio. So fsim's Switch and
EslServer get their own event loop in a background thread, and greenswitch runs in the test's thread on
gevent's hub, without ``monkey.patch_all()`` (greenswitch uses ``gevent.socket`` directly). Every blocking
call has a gevent.Timeout or a join timeout, so a bug fails the test instead of hanging the suite.
"""

from __future__ import annotations

import asyncio
import threading
import uuid as uuidlib
from collections.abc import Callable
from types import TracebackType

import pytest

from fsim.esl.server import EslServer
from fsim.switch import Switch
from tests.fsim.test_calls_support import make_switch

gevent = pytest.importorskip("gevent")
greenswitch = pytest.importorskip("greenswitch")

TIMEOUT = 10.0


class FsimThread:
    """A Switch (started) and its EslServer on a free port, served by an asyncio loop in another thread."""

    def __init__(self, **switch_options: object) -> None:
        self._options = switch_options
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), name="fsim", daemon=True)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.switch: Switch | None = None
        self.port = 0

    def __enter__(self) -> FsimThread:
        self._thread.start()
        if not self._ready.wait(TIMEOUT):
            raise TimeoutError("fsim did not start")
        if self._error is not None:
            raise self._error
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.loop is not None and self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(TIMEOUT)
        assert not self._thread.is_alive(), "fsim's thread did not stop"

    async def _main(self) -> None:
        try:
            self.loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
            async with make_switch(**self._options) as switch:
                self.switch = switch
                server = EslServer(switch, port=0)
                await server.start()
                try:
                    self.port = server.port
                    self._ready.set()
                    await self._stop.wait()
                finally:
                    await server.close()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            raise


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    """Let gevent's hub run (greenswitch's greenlets read and dispatch) until ``predicate()``."""
    with gevent.Timeout(timeout, TimeoutError(f"greenswitch never saw {what}")):
        while not predicate():
            gevent.sleep(0.01)


def send(esl: object, command: str) -> object:
    with gevent.Timeout(TIMEOUT, TimeoutError(f"no reply to {command!r}")):
        return esl.send(command)  # type: ignore[attr-defined]


def test_greenswitch_follows_a_call_from_create_to_hangup_complete_and_gets_heartbeats():
    with FsimThread(scale=0.01) as fsim:  # a HEARTBEAT every 0.2 real seconds
        esl = greenswitch.InboundESL("127.0.0.1", fsim.port, "ClueCon", timeout=5)
        with gevent.Timeout(TIMEOUT, TimeoutError("greenswitch could not connect")):
            esl.connect()
        seen: list[tuple[str, str | None]] = []

        def record(event: object) -> None:
            headers = event.headers  # type: ignore[attr-defined]
            seen.append((headers.get("Event-Name"), headers.get("Unique-ID")))

        names = ("CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_PARK", "CHANNEL_HANGUP_COMPLETE", "HEARTBEAT")
        for name in names:
            esl.register_handle(name, record)
        try:
            assert send(esl, "events plain ALL").data == "+OK event listener enabled plain"
            uuid = str(uuidlib.uuid4())
            originate = f"api originate {{origination_uuid={uuid}}}loopback/answer_park/default &park()"
            assert send(esl, originate).data == f"+OK {uuid}\n"
            wait_until(lambda: ("CHANNEL_PARK", uuid) in seen, "the A leg park")
            assert fsim.switch is not None and fsim.switch.channel_name(uuid) == "loopback/answer_park-a"
            assert send(esl, f"api uuid_kill {uuid}").data == "+OK\n"
            wait_until(lambda: ("CHANNEL_HANGUP_COMPLETE", uuid) in seen, "the hangup")
            wait_until(lambda: any(name == "HEARTBEAT" for name, _ in seen), "a HEARTBEAT")
        finally:
            with gevent.Timeout(TIMEOUT, TimeoutError("greenswitch did not stop")):
                esl.stop()
    call = [name for name, unique_id in seen if unique_id == uuid]
    assert call == ["CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_PARK", "CHANNEL_HANGUP_COMPLETE"]
    assert not esl.connected


def test_greenswitch_bgapi_and_a_wrong_password():
    with FsimThread() as fsim:
        refused = greenswitch.InboundESL("127.0.0.1", fsim.port, "WrongPassword", timeout=5)
        try:
            with pytest.raises(ValueError, match="Invalid password"):
                with gevent.Timeout(TIMEOUT, TimeoutError("no answer to a wrong password")):
                    refused.connect()
        finally:
            with gevent.Timeout(TIMEOUT, TimeoutError("greenswitch did not stop")):
                refused.stop()  # its event greenlet outlives the closed socket otherwise
        esl = greenswitch.InboundESL("127.0.0.1", fsim.port, "ClueCon", timeout=5)
        with gevent.Timeout(TIMEOUT, TimeoutError("greenswitch could not connect")):
            esl.connect()
        jobs: list[dict[str, str]] = []
        esl.register_handle("BACKGROUND_JOB", lambda event: jobs.append(dict(event.headers)))
        try:
            send(esl, "event plain BACKGROUND_JOB")
            reply = send(esl, "bgapi status")
            job_uuid = reply.headers["Job-UUID"]  # type: ignore[attr-defined]
            assert reply.data == f"+OK Job-UUID: {job_uuid}"  # type: ignore[attr-defined]
            wait_until(lambda: bool(jobs), "the BACKGROUND_JOB")
        finally:
            with gevent.Timeout(TIMEOUT, TimeoutError("greenswitch did not stop")):
                esl.stop()
    assert jobs[0]["Job-UUID"] == job_uuid and jobs[0]["Job-Command"] == "status"
