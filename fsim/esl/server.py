"""The inbound Event Socket server: accepts ESL clients, one ``EslConnection`` each."""

from __future__ import annotations

import asyncio
import logging

from fsim.core_api import SwitchCore
from fsim.esl.connection import EslConnection
from fsim.esl.framing import MAX_CONTENT_LENGTH, MAX_HEADER_BLOCK, LogLine

log = logging.getLogger("fsim.esl")

SHUTDOWN_MESSAGE = "The system is being shut down.\n"  # kill_all_listeners


class EslServer:
    """FreeSWITCH's mod_event_socket, inbound side: several clients at once, each with its own
    subscriptions, all fed from ``switch.hub``.

    ``port=0`` binds a free port; ``port`` tells the one bound after ``start()``. ``close()`` sends
    every client the disconnect notice, closes every socket and cancels every task the server owns
    (connections and the ``bgapi`` jobs still running).
    """

    def __init__(
        self,
        switch: SwitchCore,
        host: str = "127.0.0.1",
        port: int = 8021,
        password: str = "ClueCon",
        *,
        auth_timeout: float = 25.0,
        max_header_block: int = MAX_HEADER_BLOCK,
        max_content_length: int = MAX_CONTENT_LENGTH,
    ) -> None:
        self.switch = switch
        self.host = host
        self._port = port
        self.password = password
        self._options = {
            "auth_timeout": auth_timeout,
            "max_header_block": max_header_block,
            "max_content_length": max_content_length,
        }
        self._server: asyncio.Server | None = None
        self._connections: dict[EslConnection, asyncio.Task[None]] = {}
        self._jobs: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The TCP port clients connect to (the one actually bound once started)."""
        return self._port

    @property
    def connections(self) -> list[EslConnection]:
        """The clients connected right now."""
        return list(self._connections)

    async def start(self) -> None:
        """Listen for clients."""
        self._server = await asyncio.start_server(self._accept, self.host, self._port, limit=1024 * 1024)
        self._port = self._server.sockets[0].getsockname()[1]
        log.info("ESL listening on %s:%d", self.host, self._port)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = EslConnection(
            self.switch, reader, writer, password=self.password, jobs=self._jobs, **self._options
        )
        task = asyncio.current_task()
        assert task is not None
        self._connections[connection] = task
        log.debug("ESL %s connected", connection.peer)
        try:
            await connection.run()
        finally:
            self._connections.pop(connection, None)
            log.debug("ESL %s closed", connection.peer)

    def log(self, line: LogLine) -> None:
        """Send a log line to every client that asked for logs at that level (``log <level>``)."""
        for connection in self._connections:
            connection.deliver_log(line)

    async def close(self) -> None:
        """Stop listening, disconnect every client, cancel the running bgapi jobs."""
        if self._server is not None:
            self._server.close()
        tasks = list(self._connections.values())
        for connection in list(self._connections):
            connection.stop(SHUTDOWN_MESSAGE)
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=2.0)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        jobs = list(self._jobs)
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
