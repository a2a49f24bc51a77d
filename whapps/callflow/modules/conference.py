"""``conference``: hand the call to the conference whapps to join conference ``data.id`` (or, without
one, to be asked for a conference number and PIN).

Sends ``conference_req`` (on ``whapps``, key ``conference.join``); what follows the answer is as for
``voicemail`` (see :func:`whapps.callflow.modules.voicemail.hand_off`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from whapps.callflow.flow import FlowContext, Outcome, module
from whapps.callflow.media import media_path
from whapps.callflow.modules.voicemail import HANDOFF_TIMEOUT, hand_off


@module("conference")
async def conference(ctx: FlowContext, data: Mapping[str, Any]) -> Outcome:
    fields: dict[str, Any] = {}
    if conference_id := data.get("id"):
        await ctx.document(str(conference_id), "conference")
        fields["Conference-ID"] = str(conference_id)
    if "moderator" in data:
        fields["Moderator"] = bool(data["moderator"])
    welcome = data.get("welcome_prompt") or {}
    if "play" in welcome:
        fields["Play-Welcome"] = bool(welcome["play"])
    if media := welcome.get("media_id"):
        fields["Welcome-Media"] = await media_path(ctx, str(media))
    for key, header in (("play_entry_tone", "Play-Entry-Tone"), ("play_exit_tone", "Play-Exit-Tone")):
        if key in data:
            fields[header] = bool(data[key])
    return await hand_off(ctx, "conference_req", fields, float(data.get("timeout", HANDOFF_TIMEOUT)))
