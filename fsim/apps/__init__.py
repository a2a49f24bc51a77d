"""Dialplan applications (mod_dptools, mod_conference...), one registry: ``APPLICATIONS[name]``.

An application is ``async def app(channel, data)``; it runs in the channel's session task between
CHANNEL_EXECUTE and CHANNEL_EXECUTE_COMPLETE, sets ``current_application_response`` when it has one, and
waits only through ``channel.wait(...)`` (which serves DTMF, hangup, uuid_break and nested sendmsg).
``media=True`` apps pre-answer a channel that has no media yet, as FreeSWITCH does for apps without
SAF_SUPPORT_NOMEDIA. A :class:`fsim.switch.Switch` copies the registry, so tests can add their own apps.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fsim.channels.channel import Channel

AppFunction = Callable[["Channel", str], Awaitable[None]]


@dataclass(frozen=True)
class Application:
    """A registered application."""

    name: str
    function: AppFunction
    media: bool = False


APPLICATIONS: dict[str, Application] = {}


def application(name: str, *, media: bool = False) -> Callable[[AppFunction], AppFunction]:
    """Register ``async def f(channel, data)`` as dialplan application ``name``."""

    def register(function: AppFunction) -> AppFunction:
        APPLICATIONS[name] = Application(name, function, media)
        return function

    return register


def load() -> dict[str, Application]:
    """Import every application module and return the registry."""
    from fsim.apps import basic, bridge, conference, hold, intercept, media, recording  # noqa: F401

    return APPLICATIONS
