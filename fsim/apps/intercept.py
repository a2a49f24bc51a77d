"""``intercept [-bleg] <uuid>`` (mod_dptools, ``switch_ivr_intercept_session``): take over another call.

The target (with ``-bleg``: the leg bridged to it) leaves what it was doing; the leg it was bridged to, if
any, is hung up with PICKED_OFF; this channel answers and becomes the originator of a ``uuid_bridge`` with
the target. The application itself returns at once (its CHANNEL_EXECUTE_COMPLETE comes before the
bridge), as in FreeSWITCH; an unknown or gone target is logged and nothing happens.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fsim.apps import application
from fsim.apps.bridge import UuidBridge

if TYPE_CHECKING:
    from fsim.channels.channel import Channel

log = logging.getLogger(__name__)


@application("intercept")
async def intercept(channel: Channel, data: str) -> None:
    args = data.split()
    bleg = bool(args) and args[0] == "-bleg"
    uuid = args[1] if bleg and len(args) > 1 else (args[0] if args and not bleg else "")
    target = channel.switch.channels.get(uuid) if uuid else None
    if bleg and target is not None:
        target = target.partner
    if target is None or target is channel or not target.ready:
        log.warning("fsim %s: intercept: no call %r to intercept", channel.name, data)
        channel.set_var("current_application_response", "-ERR no such call")
        return
    former = target.partner
    if former is not None and former is not channel and former.ready:
        former.hangup("PICKED_OFF")
    channel.answer()
    channel.interrupt(UuidBridge(target))
