"""``play``: play a media file (an account media document, a system prompt or a FreeSWITCH stream).

``data.id`` is a media document of the account (played as ``/<account_id>/<media_id>``) or a path used as
it is (``ivr/ivr-welcome.wav``, ``tone_stream://...``; see :mod:`whapps.callflow.media`). The call is
answered first unless ``answer`` is false; ``terminators`` (any key by default) cut the prompt short;
``loop_count`` repeats it; ``endless_playback`` plays it until the caller hangs up.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from whapps.callflow.flow import NEXT, FlowContext, Outcome, module
from whapps.callflow.media import media_path

log = logging.getLogger(__name__)

ANY_KEY = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#")  # Kazoo's ?ANY_DIGIT
PLAY_SECONDS = 600.0  # bound of one playback of one prompt


@module("play")
async def play(ctx: FlowContext, data: Mapping[str, Any]) -> Outcome:
    media = await media_path(ctx, str(data["id"]))
    if data.get("answer", True):
        await ctx.call.answer()
    fields: dict[str, Any] = {"Media-Name": media, "Terminators": list(data.get("terminators", ANY_KEY))}
    if data.get("endless_playback"):
        # ends when the caller hangs up (CallHungUp), so the call itself bounds the wait
        await ctx.call.command("play", {**fields, "Endless-Playback": True}, timeout=float("inf"))
        return NEXT
    loops = int(data.get("loop_count", 1))
    if loops > 1:
        fields["Loop-Count"] = loops
    done = await ctx.call.command("play", fields, timeout=PLAY_SECONDS * loops)
    if digit := done.get("DTMF-Digit"):
        log.info("play of %s stopped by %s", media, digit, extra={"call_id": ctx.call.call_id})
    return NEXT
