"""FreeSWITCH application names <-> Kazoo call-command names (Kazoo 4.3 ``FS_APPLICATION_NAMES``).

One FreeSWITCH application can serve several Kazoo commands (``playback`` runs play, tts, tones and
play_macro); an event names the FreeSWITCH one, so it is published under the first Kazoo name, as Kazoo
does. A CHANNEL_EXECUTE* of an application missing here is not published.
"""

from __future__ import annotations

from types import MappingProxyType

# (FreeSWITCH application, Kazoo command), in Kazoo's order: the first pair of an FS name wins.
APPLICATION_NAMES: tuple[tuple[str, str], ...] = (
    ("playback", "play"),
    ("broadcast", "play"),
    ("playback", "tts"),
    ("speak", "tts"),
    ("hangup", "hangup"),
    ("record", "record"),
    ("playback", "tones"),
    ("park", "park"),
    ("set", "set"),
    ("export", "set"),
    ("say", "say"),
    ("sleep", "sleep"),
    ("respond", "respond"),
    ("bridge", "bridge"),
    ("signal_bridge", "bridge"),
    ("answer", "answer"),
    ("pre_answer", "progress"),
    ("ring_ready", "ring"),
    ("rxfax", "receive_fax"),
    ("tone_detect", "tone_detect"),
    ("play_and_get_digits", "play_and_collect_digits"),
    ("redirect", "redirect"),
    ("conference", "conference"),
    ("noop", "noop"),
    ("execute_extension", "execute_extension"),
    ("endless_playback", "hold"),
    ("soft_hold", "soft_hold"),
    ("uuid_record", "record_call"),
    ("record_session", "record_call"),
    ("presence", "presence"),
    ("privacy", "privacy"),
    ("conference", "page"),
    ("playback", "play_macro"),
    # Beyond Kazoo's table: commands of our catalogue whose completion a whapp may await.
    ("stop_record_session", "record_call"),
    ("send_dtmf", "send_dtmf"),
)


def _first_by_fs(pairs: tuple[tuple[str, str], ...]) -> dict[str, str]:
    table: dict[str, str] = {}
    for fs_name, kazoo_name in pairs:
        table.setdefault(fs_name, kazoo_name)
    return table


def _by_kazoo(pairs: tuple[tuple[str, str], ...]) -> dict[str, tuple[str, ...]]:
    table: dict[str, tuple[str, ...]] = {}
    for fs_name, kazoo_name in pairs:
        if fs_name not in table.get(kazoo_name, ()):
            table[kazoo_name] = (*table.get(kazoo_name, ()), fs_name)
    return table


FS_TO_KAZOO: MappingProxyType[str, str] = MappingProxyType(_first_by_fs(APPLICATION_NAMES))
"""FreeSWITCH application -> the Kazoo name its events are published under."""

KAZOO_TO_FS: MappingProxyType[str, tuple[str, ...]] = MappingProxyType(_by_kazoo(APPLICATION_NAMES))
"""Kazoo command -> every FreeSWITCH application that may run it (to match a completion to a command)."""


def kazoo_application_name(fs_application: str | None) -> str | None:
    """``playback`` -> ``play``; None for an application Kazoo does not know."""
    return FS_TO_KAZOO.get(fs_application) if fs_application else None
