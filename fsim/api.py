"""FreeSWITCH api commands: a registry of handlers, and the API event every execution fires."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fsim.events import EventFactory, Origin
from fsim.hub import EventHub

ApiHandler = Callable[[str], Awaitable[str]]  # argument string -> response body

_API_ORIGIN = Origin("switch_loadable_module.c", "switch_api_execute", 3140)


class ApiRegistry:
    """Runs ``api``/``bgapi`` commands by name, answering unknown ones as FreeSWITCH does."""

    def __init__(self, events: EventFactory, hub: EventHub) -> None:
        self._events = events
        self._hub = hub
        self._handlers: dict[str, ApiHandler] = {}

    def register(self, name: str, handler: ApiHandler) -> None:
        self._handlers[name] = handler

    async def execute(self, command: str, argument: str) -> str:
        """Fire the API event, run the command, return what it printed (the api/response body)."""
        headers = [("API-Command", command)]
        if argument:
            headers.append(("API-Command-Argument", argument))
        api_event = self._events.make("API", _API_ORIGIN, headers)
        handler = self._handlers.get(command)
        output = f"-ERR {command} Command not found!\n" if handler is None else await handler(argument)
        # The recordings show the API event numbered before the command runs but delivered after it.
        self._hub.fire(api_event)
        return output
