"""An ecallmgr served by a thread's own event loop, for tests of CLI commands (which run asyncio.run
themselves, so the ecallmgr they talk to cannot share the test's loop)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ecallmgr.service import Ecallmgr
from tests.ecallmgr.whapp_stub import WAIT


@dataclass
class Threaded:
    """The running ecallmgr, its loop, and what the test's ``serve`` function left in ``extras``."""

    loop: asyncio.AbstractEventLoop | None = None
    service: Ecallmgr | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    ready: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def call(self, coroutine: Any) -> Any:
        """Run ``coroutine`` on the ecallmgr's loop and return its result."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(WAIT)

    async def run(self, service: Ecallmgr) -> None:
        """Serve ``service`` until the test ends; ready once node fs1 is synced."""
        self.loop, self.service = asyncio.get_running_loop(), service
        task = asyncio.create_task(service.run_forever(handle_signals=False))
        async with asyncio.timeout(WAIT):
            await service.started.wait()
            node = service.nodes.get("fs1")
            assert node is not None
            await node.wait_synced(WAIT)
        self.ready.set()
        await task


@contextmanager
def served_in_thread(serve: Callable[[Threaded], Awaitable[None]], name: str) -> Iterator[Threaded]:
    """Run ``serve(state)`` (which ends with ``await state.run(service)``) in a thread of its own."""
    state = Threaded()

    def thread_main() -> None:
        try:
            asyncio.run(serve(state))  # type: ignore[arg-type]
        except BaseException as error:  # reported by the test
            state.error = error
        finally:
            state.ready.set()

    thread = threading.Thread(target=thread_main, name=name, daemon=True)
    thread.start()
    assert state.ready.wait(WAIT * 2)
    if state.error is not None:
        raise state.error
    try:
        yield state
    finally:
        if state.loop is not None and state.service is not None:
            state.loop.call_soon_threadsafe(state.service.stop)
        thread.join(WAIT * 2)
        assert not thread.is_alive()
