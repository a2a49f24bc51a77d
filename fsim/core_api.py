"""What the Event Socket layer needs from the simulated switch, and nothing more.

``fsim.esl`` only talks to the switch through this protocol, so it can be tested against a small fake
and the switch (``fsim/switch.py``) stays free to organise channels as it likes.
"""

from __future__ import annotations

from typing import Protocol

from fsim.api import ApiRegistry
from fsim.events import EventFactory
from fsim.hub import EventHub


class SwitchCore(Protocol):
    """The switch as an ESL connection sees it."""

    events: EventFactory
    """Builds every event the ESL layer fires itself (BACKGROUND_JOB, sendevent), so they share the
    switch's Core-UUID, host headers and global Event-Sequence."""

    hub: EventHub
    """Where every event of the switch is fired. Each ESL connection subscribes a non-blocking listener
    for its whole life, registered as a flow-controlled consumer (``hub.drain`` waits for its queue);
    events fired by ``sendevent`` and ``bgapi`` go through it too."""

    api: ApiRegistry
    """Runs ``api``/``bgapi`` commands: ``await api.execute(command, argument)`` returns the output
    (the api/response body) and fires the API event. ``argument`` is ``""`` when there is none. A slow
    command (``originate`` waiting for the answer) simply takes its time: ``api`` holds that
    connection's replies and events until it returns, ``bgapi`` runs it as a task."""

    async def sendmsg(self, uuid: str, headers: list[tuple[str, str]], body: bytes | None) -> str:
        """Queue a ``sendmsg`` on channel ``uuid`` and return the Reply-Text at once.

        ``headers`` are the client's headers verbatim and in order (``call-command``,
        ``execute-app-name``, ``execute-app-arg``, ``event-lock``, ``loops``, ``Event-UUID``,
        ``content-type``, ``content-length``, ...; look them up case-insensitively), ``body`` the
        ``content-length`` bytes if any. Returns ``+OK``, or ``-ERR invalid session id [<uuid>]`` when
        there is no such channel. The application runs later, as on an inbound socket in FreeSWITCH.
        """
        ...

    def channel_name(self, uuid: str) -> str | None:
        """The ``Channel-Name`` of live channel ``uuid`` (``loopback/answer_park-a``), None if there is
        no such channel. ``myevents <uuid>`` binds only to a live channel; the linger notice names it."""
        ...

    def channel_variable(self, uuid: str, name: str) -> str | None:
        """Channel variable ``name`` of live channel ``uuid`` as set (``getvar`` on a socket bound with
        ``myevents``); None when the variable is unset or there is no such channel."""
        ...

    def channel_data(self, uuid: str) -> list[tuple[str, str]] | None:
        """``switch_channel_event_set_data`` of live channel ``uuid``: its basic headers
        (``Channel-State``, ``Unique-ID``, ``Caller-*``...) then ``variable_<name>`` for each channel
        variable, in wire order and not encoded; None when there is no such channel."""
        ...
