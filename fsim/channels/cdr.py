"""The CDR variables FreeSWITCH sets when a channel hangs up (``switch_channel_set_timestamps``).

Same variables, same order, same arithmetic: seconds and milliseconds are differences of truncated epoch
values, microseconds are exact differences, ``waitsec`` counts up to the bridge, ``flow_bill*`` from creation.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fsim.channels.base import ChannelBase


def _stamp(us: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(us / 1_000_000))


def set_timestamps(channel: ChannelBase) -> None:
    """Set digits_dialed, the *_stamp/*_epoch/*_uepoch variables, durations, last_app/last_arg, caller_id."""
    t = channel.profile.times
    setv = channel.set_var
    setv("digits_dialed", "".join(channel.dtmf_log)[:128] or "none")
    setv("start_stamp", _stamp(t.created))
    setv("profile_start_stamp", _stamp(t.profile_created))
    for name, value in (
        ("answer_stamp", t.answered),
        ("bridge_stamp", t.bridged),
        ("hold_stamp", t.last_hold),
        ("resurrect_stamp", t.resurrected),
        ("progress_stamp", t.progress),
        ("progress_media_stamp", t.progress_media),
    ):
        if value:
            setv(name, _stamp(value))
    setv("end_stamp", _stamp(t.hungup))
    for name, value in (
        ("start", t.created),
        ("profile_start", t.profile_created),
        ("answer", t.answered),
        ("bridge", t.bridged),
        ("last_hold", t.last_hold),
    ):
        setv(f"{name}_epoch", str(value // 1_000_000))
        setv(f"{name}_uepoch", str(value))
    setv("hold_accum_seconds", str(t.hold_accum // 1_000_000))
    setv("hold_accum_usec", str(t.hold_accum))
    setv("hold_accum_ms", str(t.hold_accum // 1000))
    for name, value in (
        ("resurrect", t.resurrected),
        ("progress", t.progress),
        ("progress_media", t.progress_media),
    ):
        setv(f"{name}_epoch", str(value // 1_000_000))
        setv(f"{name}_uepoch", str(value))
    setv("end_epoch", str(t.hungup // 1_000_000))
    setv("end_uepoch", str(t.hungup))

    def diff(later: int, earlier: int) -> tuple[int, int, int]:
        if not later:
            return 0, 0, 0
        return later // 1_000_000 - earlier // 1_000_000, later // 1000 - earlier // 1000, later - earlier

    duration = diff(t.hungup, t.created)
    wait = diff(t.bridged, t.created) if t.bridged > t.created else (0, 0, 0)
    bill = diff(t.hungup, t.answered) if t.answered else (0, 0, 0)
    flow = duration if t.answered else (0, 0, 0)
    answer = diff(t.answered, t.created)
    progress = diff(t.progress, t.created)
    progress_media = diff(t.progress_media, t.created)

    if channel.app_log:
        last_app, last_arg = channel.app_log[-1]
        setv("last_app", last_app)
        setv("last_arg", last_arg)
    name, number = channel.profile.caller_id_name, channel.profile.caller_id_number
    setv("caller_id", f'"{name}" <{number}>' if name else number)
    for index, unit in enumerate(("sec", "msec", "usec")):
        prefix = "u" if unit == "usec" else "m" if unit == "msec" else ""
        setv(f"{prefix}duration", str(duration[index]))
        setv(f"bill{unit}", str(bill[index]))
        setv(f"progress{unit}", str(progress[index]))
        setv(f"answer{unit}", str(answer[index]))
        setv(f"wait{unit}", str(wait[index]))
        setv(f"progress_media{unit}", str(progress_media[index]))
        setv(f"flow_bill{unit}", str(flow[index]))
