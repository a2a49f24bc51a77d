"""The default dialplan hook: the static XML dialplan of the recording switch (context ``default``).

A route hook is ``async def hook(channel) -> extension | None``: called in CS_ROUTING for every channel
that runs the dialplan (inbound channels, loopback ``-b`` legs, transfers). It returns the applications to
execute as ``(application, data)`` pairs (or any iterable of objects with ``application`` and ``data``
attributes, or an object with ``inline`` and ``actions`` lists such as ``fsim.dialplan_xml.Route``), or
None / an empty list for "no route" (the channel hangs up with NO_ROUTE_DESTINATION). Data is expanded
(``${var}``) when each application executes, as FreeSWITCH does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fsim.channels.channel import Channel

STATIC_EXTENSIONS: dict[str, list[tuple[str, str]]] = {
    "park_me": [("park", "")],
    "answer_park": [("answer", ""), ("park", "")],
    "9999": [
        ("set", "my_test_var=sip_tone_hangup"),
        ("answer", ""),
        ("playback", "tone_stream://%(200,100,440);loops=5"),
        ("park", ""),
    ],
    "outbound_esl_async": [("socket", "127.0.0.1:8084 async full")],
    "outbound_esl_sync": [("socket", "127.0.0.1:8084 full")],
}


async def static_dialplan(channel: Channel) -> list[tuple[str, str]] | None:
    """The README's fixture extensions: park_me, answer_park, 9999, conf_<room>, outbound_esl_*."""
    destination = channel.profile.destination_number
    if channel.profile.context not in ("default", "public", ""):
        return None
    if destination in STATIC_EXTENSIONS:
        return list(STATIC_EXTENSIONS[destination])
    if destination.startswith("conf_") and len(destination) > len("conf_"):
        room = destination[len("conf_") :]
        channel.set_var(
            "DP_MATCH", f"ARRAY::{destination}|:{room}"
        )  # the regex captures, as dialplan_xml sets
        return [("answer", ""), ("conference", f"{room}@default")]
    return None
