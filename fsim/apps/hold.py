"""``endless_playback <file>`` (mod_dptools): play a file over and over until the channel is taken away.

What a held or parked caller hears. It ends on hangup, on ``uuid_break``, on a terminator key, or when
another party redirects the channel (a bridge, an intercept, a transfer); a file that cannot be played
ends it at once, as in FreeSWITCH.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fsim.apps import application
from fsim.apps.media import DONE, NOT_FOUND, RESPONSES, media_duration, play_file, playback_terminators

if TYPE_CHECKING:
    from fsim.channels.channel import Channel


@application("endless_playback", media=True)
async def endless_playback(channel: Channel, data: str) -> None:
    channel.set_var("playback_terminator_used", None)
    duration = media_duration(channel.switch, channel, data)
    if duration is None:
        channel.set_var("current_application_response", RESPONSES[NOT_FOUND])
        return
    if duration <= 0:  # nothing to loop: hold the channel silently until it is taken away
        await channel.wait(None)
        channel.set_var("current_application_response", RESPONSES[DONE])
        return
    status = DONE
    while status == DONE and channel.ready:
        status = await play_file(channel, data, terminators=playback_terminators(channel))
    channel.set_var("current_application_response", RESPONSES[status])
