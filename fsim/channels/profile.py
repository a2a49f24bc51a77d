"""The caller profile (``switch_caller_profile_t``) and its timetable, serialised as ``Caller-*`` headers."""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field

Headers = list[tuple[str, str]]


@dataclass
class Times:
    """``switch_channel_timetable_t``: epoch microseconds, 0 until it happened."""

    profile_created: int = 0
    created: int = 0
    answered: int = 0
    progress: int = 0
    progress_media: int = 0
    hungup: int = 0
    transferred: int = 0
    resurrected: int = 0
    bridged: int = 0
    last_hold: int = 0
    hold_accum: int = 0
    version: int = field(default=0, repr=False, compare=False)

    def __setattr__(self, name: str, value: object) -> None:
        object.__setattr__(self, name, value)
        if name != "version":
            object.__setattr__(self, "version", self.version + 1 if hasattr(self, "version") else 0)


@dataclass
class CallerProfile:
    """Who calls whom: the fields FreeSWITCH serialises with a ``Caller-``/``Other-Leg-`` prefix."""

    direction: str = "inbound"
    logical_direction: str = "inbound"
    username: str = ""
    dialplan: str = "xml"
    caller_id_name: str = ""
    caller_id_number: str = ""
    orig_caller_id_name: str = ""
    orig_caller_id_number: str = ""
    callee_id_name: str = ""
    callee_id_number: str = ""
    network_addr: str = ""
    ani: str = ""
    aniii: str = ""
    destination_number: str = ""
    uuid: str = ""
    source: str = ""
    transfer_source: str = ""
    context: str = "default"
    rdnis: str = ""
    channel_name: str = ""
    profile_index: str = "1"
    times: Times = field(default_factory=Times)
    screen_bit: bool = True
    hide_name: bool = False
    hide_number: bool = False
    version: int = field(default=0, repr=False, compare=False)

    def __setattr__(self, name: str, value: object) -> None:
        object.__setattr__(self, name, value)
        if name != "version":
            object.__setattr__(self, "version", self.version + 1 if hasattr(self, "version") else 0)

    def snapshot(self) -> CallerProfile:
        """A copy, as FreeSWITCH stores the other leg's profile (originator/originatee) on a channel:
        without a profile index (``Other-Leg-Profile-Index`` is never sent)."""
        clone = copy.deepcopy(self)
        clone.__dict__.pop("_cache", None)
        clone.profile_index = ""
        return clone

    def headers(self, prefix: str = "Caller") -> Headers:
        """``switch_caller_profile_event_set_data``: empty fields are left out, times are always there.

        The list is cached until a field changes: do not modify it."""
        cache: dict[str, tuple[int, int, Headers]] = self.__dict__.setdefault("_cache", {})
        key = (self.version, self.times.version)
        cached = cache.get(prefix)
        if cached is not None and cached[:2] == key:
            return cached[2]
        cache[prefix] = (*key, self._headers(prefix))
        return cache[prefix][2]

    def _headers(self, prefix: str) -> Headers:
        names = _names(prefix)
        values = (
            self.username,
            self.dialplan,
            self.caller_id_name,
            self.caller_id_number,
            self.orig_caller_id_name if self.caller_id_name else "",
            self.orig_caller_id_number if self.caller_id_number else "",
            self.callee_id_name,
            self.callee_id_number,
            self.network_addr,
            self.ani,
            self.aniii,
            self.destination_number,
            self.uuid,
            self.source,
            self.transfer_source,
            self.context,
            self.rdnis,
            self.channel_name,
            self.profile_index,
        )
        out: Headers = [(names[0], self.direction), (names[1], self.logical_direction)]
        out += [(name, value) for name, value in zip(names[2:21], values, strict=True) if value]
        t = self.times
        times = (
            t.profile_created, t.created, t.answered, t.progress, t.progress_media, t.hungup, t.transferred,
            t.resurrected, t.bridged, t.last_hold, t.hold_accum,
        )  # fmt: skip
        out += [(name, str(value)) for name, value in zip(names[21:32], times, strict=True)]
        out += [
            (names[32], "true" if self.screen_bit else "false"),
            (names[33], "true" if self.hide_name else "false"),
            (names[34], "true" if self.hide_number else "false"),
        ]
        return out


_FIELDS = (
    "Direction", "Logical-Direction", "Username", "Dialplan", "Caller-ID-Name", "Caller-ID-Number",
    "Orig-Caller-ID-Name", "Orig-Caller-ID-Number", "Callee-ID-Name", "Callee-ID-Number", "Network-Addr",
    "ANI", "ANI-II", "Destination-Number", "Unique-ID", "Source", "Transfer-Source", "Context", "RDNIS",
    "Channel-Name", "Profile-Index", "Profile-Created-Time", "Channel-Created-Time", "Channel-Answered-Time",
    "Channel-Progress-Time", "Channel-Progress-Media-Time", "Channel-Hangup-Time", "Channel-Transfer-Time",
    "Channel-Resurrect-Time", "Channel-Bridged-Time", "Channel-Last-Hold", "Channel-Hold-Accum", "Screen-Bit",
    "Privacy-Hide-Name", "Privacy-Hide-Number",
)  # fmt: skip


@functools.cache
def _names(prefix: str) -> tuple[str, ...]:
    return tuple(f"{prefix}-{field}" for field in _FIELDS)
