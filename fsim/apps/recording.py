"""Background call recording (``record_session``, ``stop_record_session``, ``uuid_record``): a media bug.

Starting fires RECORD_START and MEDIA_BUG_START; stopping (explicitly, at the time limit, or at hangup)
writes the WAV file and fires RECORD_STOP and MEDIA_BUG_STOP, as ``switch_ivr_async.c`` does.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fsim.apps import application
from fsim.apps.media import RATE, write_wav
from fsim.channels.states import ORIGINS

if TYPE_CHECKING:
    from fsim.channels.channel import Channel


@dataclass
class SessionRecording:
    path: str
    started: float
    limit: float | None
    timer: asyncio.Task[None] | None = field(default=None, repr=False)


def _recordings(channel: Channel) -> dict[str, SessionRecording]:
    recordings = channel.app_state.get("session_recordings")
    if recordings is None:
        recordings = channel.app_state["session_recordings"] = {}
        channel.on_hangup.append(lambda ch: stop_all(ch, "success-maxtime"))
    return recordings  # type: ignore[return-value]


def _bug_headers(path: str) -> list[tuple[str, str]]:
    return [("Media-Bug-Function", "session_record"), ("Media-Bug-Target", path)]


def start(channel: Channel, path: str, limit: float | None = None) -> bool:
    """Start recording ``channel`` to ``path`` (False if it already is, or is down)."""
    recordings = _recordings(channel)
    if not channel.ready or path in recordings:
        return False
    recording = SessionRecording(path, channel.switch.clock.now(), limit)
    recordings[path] = recording
    channel.fire("RECORD_START", after=[("Record-File-Path", path)], origin=ORIGINS["RECORD_START_SESSION"])
    channel.fire("MEDIA_BUG_START", before=_bug_headers(path))
    if limit:
        recording.timer = channel.switch.spawn(_stop_later(channel, path, limit))
    return True


async def _stop_later(channel: Channel, path: str, limit: float) -> None:
    await channel.switch.clock.sleep(limit)
    stop(channel, path, "success-maxtime")


def stop(channel: Channel, path: str, cause: str = "success-maxtime") -> bool:
    """Stop the recording to ``path`` (``all``: every one); False if there was none."""
    recordings = _recordings(channel)
    if path == "all":
        return stop_all(channel, cause) > 0
    recording = recordings.pop(path, None)
    if recording is None:
        return False
    if recording.timer is not None and recording.timer is not asyncio.current_task():
        recording.timer.cancel()
    elapsed = channel.switch.clock.now() - recording.started
    if recording.limit:
        elapsed = min(elapsed, recording.limit)
    size = write_wav(path, elapsed)
    samples = int(elapsed * RATE)
    channel.set_var("record_file_size", str(size))
    channel.set_var("record_samples", str(samples))
    channel.set_var("record_seconds", str(samples // RATE))
    channel.set_var("record_ms", str(samples // (RATE // 1000)))
    channel.set_var("record_completion_cause", cause)
    channel.fire(
        "RECORD_STOP",
        after=[("Record-File-Path", path), ("Record-Completion-Cause", cause)],
        origin=ORIGINS["RECORD_STOP_SESSION"],
    )
    channel.fire("MEDIA_BUG_STOP", before=_bug_headers(path))
    return True


def stop_all(channel: Channel, cause: str) -> int:
    paths = list(_recordings(channel))
    for path in paths:
        stop(channel, path, cause)
    return len(paths)


@application("record_session")
async def record_session(channel: Channel, data: str) -> None:
    """``record_session <path> [+<limit seconds>]``: as mod_dptools, the limit is what follows a `` +``
    (anything else belongs to the path)."""
    path, plus, limit_text = data.strip().rpartition(" +")
    if not plus:
        path, limit_text = data.strip(), ""
    limit = int(limit_text) if limit_text.isdigit() and int(limit_text) > 0 else None
    if path:
        start(channel, path.strip(), limit)


@application("stop_record_session")
async def stop_record_session(channel: Channel, data: str) -> None:
    """``stop_record_session <path|all>``."""
    if data.strip():
        stop(channel, data.strip())
