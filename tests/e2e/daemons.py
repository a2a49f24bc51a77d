"""Running whistle-voip daemons as separate OS processes in tests, and knowing when they are ready.

A :class:`Daemon` runs ``whistle ...`` with its stderr read line by line as it comes; a test waits for
the log line that says the daemon is ready (never for a while), and finds each daemon's log in the
failure output.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

WHISTLE = str(Path(sys.executable).with_name("whistle"))
READY_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Daemon:
    """One ``whistle`` process; ``lines`` holds its output (its log) so far."""

    def __init__(self, name: str, args: Sequence[str], env: dict[str, str] | None = None) -> None:
        self.name = name
        self.args = [WHISTLE, *args]
        self.env = {**os.environ, **(env or {})}
        self.lines: list[str] = []
        self._changed = asyncio.Condition()
        self.process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> Daemon:
        self.process = await asyncio.create_subprocess_exec(
            *self.args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,  # fsim prints to stdout, the daemons log to stderr
            env=self.env,
        )
        self._reader = asyncio.get_running_loop().create_task(self._read(), name=f"log:{self.name}")
        return self

    async def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        while line := await self.process.stdout.readline():
            async with self._changed:
                self.lines.append(line.decode(errors="replace").rstrip())
                self._changed.notify_all()
        async with self._changed:
            self._changed.notify_all()  # the process ended: waiters re-check and give up

    async def wait_for_line(self, pattern: str, timeout: float = READY_TIMEOUT) -> str:
        """The first log line matching ``pattern`` (already logged or still to come)."""
        regex = re.compile(pattern)

        def found() -> str | None:
            return next((line for line in self.lines if regex.search(line)), None)

        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: found() is not None or self._exited())
        except TimeoutError:
            raise AssertionError(
                f"{self.name}: no log line {pattern!r} in {timeout}s:\n{self.log()}"
            ) from None
        line = found()
        if line is None:
            raise AssertionError(f"{self.name} exited ({self.returncode}) before {pattern!r}:\n{self.log()}")
        return line

    def _exited(self) -> bool:
        return self.process is not None and self.process.returncode is not None and self._reader_done()

    def _reader_done(self) -> bool:
        return self._reader is not None and self._reader.done()

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.returncode

    def log(self) -> str:
        return "\n".join(f"  {self.name}| {line}" for line in self.lines[-80:])

    async def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up."""
        await self._signal(signal.SIGKILL)

    async def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout``; returns the exit status."""
        return await self._signal(signal.SIGTERM, timeout)

    async def _signal(self, number: int, timeout: float = 15.0) -> int | None:
        if self.process is None or self.process.returncode is not None:
            return self.returncode
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(number)
        try:
            async with asyncio.timeout(timeout):
                await self.process.wait()
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        return self.process.returncode
