"""A database's changes as an async iterator, for invalidating caches.

The feed fetches a batch of changes, and when there is none waits (the in-memory backend is woken by
the write; the CouchDB backend polls a normal ``_changes`` feed every ``poll_interval``). It owns no
background task and holds no connection between calls, so a consumer that breaks out of its loop, or is
cancelled, leaves nothing running.
"""

from __future__ import annotations

from collections import deque
from types import TracebackType

from whistle_common.store.backend import Backend, Change


class ChangeFeed:
    """Changes to one database after a sequence, in order: ``async for change in feed``.

    Waits as long as it takes for the next change (bound it with ``asyncio.timeout``). ``__anext__``
    raises DatabaseNotFound if the database goes away and StoreUnavailable if the server does; the
    consumer should then drop what it cached and subscribe again. After ``aclose()`` iteration stops.
    """

    def __init__(
        self, backend: Backend, db: str, since: str, *, poll_interval: float = 0.5, batch: int = 200
    ) -> None:
        self.db = db
        self._backend = backend
        self._since = since  # the last change handed out: where a consumer resumes
        self._read_up_to = since  # the last change fetched from the server
        self._poll_interval = poll_interval
        self._batch = batch
        self._pending: deque[Change] = deque()
        self._closed = False

    @property
    def since(self) -> str:
        """The sequence of the last change handed out; resume with ``Store.changes(db, since=...)``."""
        return self._since

    def __aiter__(self) -> ChangeFeed:
        return self

    async def __anext__(self) -> Change:
        while not self._pending:
            if self._closed:
                raise StopAsyncIteration
            changes, self._read_up_to = await self._backend.changes_since(
                self.db, self._read_up_to, self._batch
            )
            if changes:
                self._pending.extend(changes)
            else:
                self._since = self._read_up_to
                await self._backend.wait_for_changes(self.db, self._read_up_to, self._poll_interval)
        change = self._pending.popleft()
        # Never ahead of what the consumer has seen; at the end of a batch, where the server's read ended.
        self._since = str(change.seq) if self._pending else self._read_up_to
        return change

    async def aclose(self) -> None:
        """Stop the feed: a pending ``__anext__`` finishes its wait, then iteration ends."""
        self._closed = True
        self._pending.clear()

    async def __aenter__(self) -> ChangeFeed:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
