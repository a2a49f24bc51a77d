"""What the callflow plays: media documents of the account, FreeSWITCH's own sounds, streams.

``media`` in a module's data (or a menu document) is either a path played as it is, or the id of a media
document of the account. Paths are FreeSWITCH streams and URLs (``tone_stream://``...), absolute paths,
and FreeSWITCH's stock sounds by relative path (``ivr/ivr-that_was_an_invalid_entry.wav``, found under
its sound_prefix). A media document is played as ``/<account_id>/<media_id>``.

The system prompts below are FreeSWITCH's stock English sounds, so a plain FreeSWITCH (and fsim) can play
them without a media server; Kazoo's ``/system_media/...`` ids need one, which whistle-voip lacks so far.
"""

from __future__ import annotations

from whapps.callflow.flow import FlowContext

STREAMS = ("tone_stream://", "silence_stream://", "local_stream://", "http://", "https://")
_SOUND_SUFFIXES = (".wav", ".mp3", ".ogg", ".flac")

# system prompts
MENU_NO_PROMPT = "silence_stream://250"
INVALID_ENTRY = "ivr/ivr-that_was_an_invalid_entry.wav"
GOODBYE = "ivr/ivr-thank_you_for_calling.wav"
CANNOT_COMPLETE = "ivr/ivr-call_cannot_be_completed_as_dialed.wav"
HOLD_MUSIC = "local_stream://default"
PARK_SLOT_IN_USE = CANNOT_COMPLETE
PARK_SLOT_EMPTY = INVALID_ENTRY
PARK_PLACED = "ivr/ivr-hold_connect_call.wav"


def is_path(media: str) -> bool:
    """Whether ``media`` is played as it is (a path, a sound or a stream) rather than a document id."""
    return media.startswith("/") or media.startswith(STREAMS) or media.lower().endswith(_SOUND_SUFFIXES)


async def media_path(ctx: FlowContext, media: str) -> str:
    """What to play for ``media``: itself when a path, else ``/<account>/<id>`` of an existing media doc."""
    if is_path(media):
        return media
    await ctx.document(media, "media")
    return f"/{ctx.account_id}/{media}"
