"""Media applications: playback, record, record_session, play_and_get_digits, read.

Nothing is decoded or mixed; what matters is timing and events. A playback lasts as long as its file:
``tone_stream://`` from its tone spec and loops, ``silence_stream://<ms>``, a WAV file its real length (read
with :mod:`wave`), anything else (other files, URLs, sounds not on disk) ``switch.default_playback_seconds``.
A recording writes a real WAV file (8 kHz, 16-bit, mono silence) as long as the recording lasted.
"""

from __future__ import annotations

import math
import os
import re
import wave
from pathlib import Path
from typing import TYPE_CHECKING

from fsim.apps import application
from fsim.channels.channel import Wake

if TYPE_CHECKING:
    from fsim.channels.channel import Channel
    from fsim.switch import Switch

RATE = 8000
DONE, BREAK, HANGUP, NOT_FOUND = "done", "break", "hangup", "notfound"
RESPONSES = {DONE: "FILE PLAYED", BREAK: "FILE PLAYED", HANGUP: "PLAYBACK ERROR", NOT_FOUND: "FILE NOT FOUND"}
_TONE = re.compile(r"%\(([^)]*)\)")


def tone_duration(spec: str) -> float:
    """Seconds a ``tone_stream://`` spec plays: every ``%(on,off,...)`` times ``loops`` (-1: forever)."""
    loops, total = 1, 0
    for token in spec.split(";"):
        token = token.strip()
        key, sep, value = token.partition("=")
        if sep and key.lower() in ("loops", "l"):
            loops = int(value) if value.lstrip("-").isdigit() else 1
        for match in _TONE.finditer(token):
            numbers = [part.strip() for part in match.group(1).split(",")]
            total += sum(int(n) for n in numbers[:2] if n.lstrip("-").isdigit() and int(n) > 0)
    if loops < 0:
        return math.inf
    return total * max(loops, 1) / 1000


def media_duration(switch: Switch, channel: Channel, path: str) -> float | None:
    """How long ``path`` plays in simulated seconds; math.inf: until stopped; None: file not found."""
    path = path.strip()
    if path.startswith("{") and "}" in path:
        path = path[path.index("}") + 1 :]
    lowered = path.lower()
    if lowered.startswith("tone_stream://"):
        return tone_duration(path[len("tone_stream://") :])
    if lowered.startswith("silence_stream://"):
        milliseconds = path[len("silence_stream://") :].split(",")[0].strip()
        value = int(milliseconds) if milliseconds.lstrip("-").isdigit() else 0
        return math.inf if value < 0 else value / 1000
    if lowered.startswith("local_stream://"):
        return math.inf
    if lowered.startswith("file_string://"):
        parts = [media_duration(switch, channel, part) for part in path[len("file_string://") :].split("!")]
        return None if any(part is None for part in parts) else sum(part or 0 for part in parts)
    if "://" in path or ":" in path.split("/")[0]:
        return switch.default_playback_seconds
    local = Path(path)
    if not local.is_absolute():
        prefix = channel.get_var("sound_prefix") or switch.sounds_dir
        local = Path(prefix or ".") / path
    if local.is_file():
        if local.suffix.lower() == ".wav":
            try:
                with wave.open(str(local)) as sound:
                    return sound.getnframes() / float(sound.getframerate() or RATE)
            except (wave.Error, EOFError, OSError):
                return switch.default_playback_seconds
        return switch.default_playback_seconds
    if switch.strict_files and Path(path).is_absolute():
        return None
    return switch.default_playback_seconds


async def play_file(
    channel: Channel, path: str, *, digits: list[str] | None = None, terminators: str = ""
) -> str:
    """``switch_ivr_play_file``: PLAYBACK_START, play (serving the channel), playback_* vars, PLAYBACK_STOP.

    A DTMF digit in ``terminators`` stops the playback; with ``digits`` given, any digit does and is
    appended to it (prompt semantics of ``read``/``play_and_get_digits``).
    """
    switch, clock = channel.switch, channel.switch.clock
    duration = media_duration(switch, channel, path)
    if duration is None:
        return NOT_FOUND
    kind = next((k for k in ("tone_stream", "local_stream") if path.lower().startswith(k + "://")), None)
    headers = ([("Playback-File-Type", kind)] if kind else []) + [("Playback-File-Path", path)]
    channel.fire("PLAYBACK_START", after=headers)
    started, status = clock.now(), DONE
    while True:
        remaining = None if math.isinf(duration) else duration - (clock.now() - started)
        wake = await channel.wait(remaining, dtmf=True)
        if wake is Wake.TIMEOUT:
            break
        if wake is Wake.DTMF:
            digit = channel.last_dtmf or ""
            if digits is not None:
                digits.append(digit)
                status = BREAK
                break
            if digit in terminators:
                channel.set_var("playback_terminator_used", digit)
                status = BREAK
                break
            continue
        status = HANGUP if wake is Wake.HANGUP else BREAK
        break
    elapsed = duration if status == DONE and not math.isinf(duration) else clock.now() - started
    samples = int(min(elapsed, duration) * RATE)
    channel.set_var("playback_last_offset_pos", str(samples))
    channel.set_var("playback_seconds", str(samples // RATE))
    channel.set_var("playback_ms", str(samples // (RATE // 1000)))
    channel.set_var("playback_samples", str(samples))
    channel.fire(
        "PLAYBACK_STOP", after=[*headers, ("Playback-Status", "break" if status == BREAK else "done")]
    )
    return status


def playback_terminators(channel: Channel) -> str:
    """``playback_terminators`` (default ``*``; ``any``: every digit; ``none``: none)."""
    value = channel.get_var("playback_terminators")
    if value is None:
        return "*"
    if value.lower() == "any":
        return "1234567890*#ABCD"
    return "" if value.lower() == "none" else value


@application("playback", media=True)
async def playback(channel: Channel, data: str) -> None:
    channel.set_var("playback_terminator_used", None)
    status = await play_file(channel, data, terminators=playback_terminators(channel))
    channel.set_var("current_application_response", RESPONSES[status])


def write_wav(path: str, seconds: float) -> int:
    """Write ``seconds`` of 8 kHz 16-bit mono silence to ``path``; returns the file size."""
    samples = max(0, int(seconds * RATE))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with wave.open(path, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        chunk = b"\x00\x00" * RATE
        remaining = samples
        while remaining > 0:
            count = min(remaining, RATE)
            out.writeframes(chunk[: count * 2])
            remaining -= count
    return 44 + samples * 2


def _reset_read_codec(channel: Channel) -> None:
    channel.set_var("read_codec", channel.codec[0])
    channel.set_var("read_rate", str(channel.codec[1]))


@application("record", media=True)
async def record(channel: Channel, data: str) -> None:
    """``record <path> [<limit seconds>] [<silence thresh>] [<silence hits>]``; a terminator DTMF stops."""
    args = data.split()
    if not args:
        return
    path = args[0]
    limit_text = args[1].lstrip("+") if len(args) > 1 else ""
    limit = int(limit_text) if limit_text.isdigit() and int(limit_text) > 0 else None
    clock = channel.switch.clock
    channel.set_var("playback_terminator_used", None)
    channel.set_var("silence_hits_exhausted", "false")
    _reset_read_codec(channel)
    channel.fire("RECORD_START", after=[("Record-File-Path", path)])
    terminators, started = playback_terminators(channel), clock.now()
    while True:
        remaining = None if limit is None else limit - (clock.now() - started)
        wake = await channel.wait(remaining, dtmf=True)
        if wake is Wake.DTMF:
            if (channel.last_dtmf or "") in terminators:
                channel.set_var("playback_terminator_used", channel.last_dtmf)
                break
            continue
        break
    elapsed = clock.now() - started
    if limit is not None:
        elapsed = min(elapsed, limit)
    size = write_wav(path, elapsed)
    samples = int(elapsed * RATE)
    channel.set_var("record_record_file_size", str(size))
    channel.set_var("record_file_size", str(size))
    channel.set_var("record_seconds", str(samples // RATE))
    channel.set_var("record_ms", str(samples // (RATE // 1000)))
    channel.set_var("record_samples", str(samples))
    channel.fire("RECORD_STOP", after=[("Record-File-Path", path)])
    _reset_read_codec(channel)


async def _collect(
    channel: Channel,
    digits: list[str],
    *,
    max_digits: int,
    terminators: str,
    first_timeout: float,
    digit_timeout: float,
) -> tuple[str, str]:
    """``switch_ivr_collect_digits_count``: until ``max_digits``, a terminator or a timeout."""
    if len(digits) >= max_digits:
        return "success", ""
    while True:
        wake = await channel.wait(digit_timeout if digits else first_timeout, dtmf=True)
        if wake is not Wake.DTMF:
            return ("timeout" if wake is Wake.TIMEOUT else "failure"), ""
        digit = channel.last_dtmf or ""
        if digit in terminators:
            return "success", digit
        digits.append(digit)
        if len(digits) >= max_digits:
            return "success", ""


async def read_digits(
    channel: Channel,
    *,
    min_digits: int,
    max_digits: int,
    prompt: str,
    var_name: str | None,
    timeout_ms: int,
    terminators: str,
    digit_timeout_ms: int,
) -> tuple[str, str]:
    """``switch_ivr_read``: prompt, collect, set read_terminator_used, read_result and the variable."""
    channel.set_var("read_result", None)
    if var_name:
        channel.set_var(var_name, None)
    digits: list[str] = []
    terminator = ""
    if prompt and prompt.lower() != "silence":
        await play_file(channel, prompt, digits=digits)
        if digits and digits[-1] in terminators:
            terminator = digits.pop()
    result = "success"
    if not terminator and len(digits) < max(max_digits, min_digits):
        result, terminator = await _collect(
            channel,
            digits,
            max_digits=max(max_digits, min_digits),
            terminators=terminators,
            first_timeout=timeout_ms / 1000,
            digit_timeout=(digit_timeout_ms or timeout_ms) / 1000,
        )
    if terminator:
        channel.set_var("read_terminator_used", terminator)
    if min_digits and len(digits) < min_digits:
        result = "failure"
    channel.set_var("read_result", result)
    text = "".join(digits)
    if var_name and text:
        channel.set_var(var_name, text)
    return result, text


def _int(values: list[str], index: int, default: int) -> int:
    try:
        return int(values[index])
    except (IndexError, ValueError):
        return default


@application("read", media=True)
async def read(channel: Channel, data: str) -> None:
    """``read <min> <max> <prompt> <var> <timeout ms> <terminators> [<digit timeout>]``."""
    args = data.split()
    min_digits = max(_int(args, 0, 1), 1)
    await read_digits(
        channel,
        min_digits=min_digits,
        max_digits=max(_int(args, 1, 0), min_digits),
        prompt=args[2] if len(args) > 2 else "",
        var_name=args[3] if len(args) > 3 else None,
        timeout_ms=max(_int(args, 4, 1000), 1000),
        terminators=args[5] if len(args) > 5 else "#",
        digit_timeout_ms=_int(args, 6, 0),
    )


@application("play_and_get_digits", media=True)
async def play_and_get_digits(channel: Channel, data: str) -> None:
    """``<min> <max> <tries> <timeout ms> <terminators> <file> <invalid file> <var> <regex> [<digit ms>]``."""
    args = data.split()
    min_digits = max(_int(args, 0, 0), 0)
    max_digits = max(_int(args, 1, 0), min_digits)
    tries = _int(args, 2, 1)
    timeout_ms = max(_int(args, 3, 1000), 1000)
    terminators = args[4] if len(args) > 4 and args[4] else "#"
    prompt = args[5] if len(args) > 5 else ""
    invalid = args[6] if len(args) > 6 else ""
    var_name = args[7] if len(args) > 7 else None
    regex = args[8] if len(args) > 8 else ""
    digit_timeout_ms = _int(args, 9, 0)
    if regex and var_name:
        channel.set_var(f"{var_name}_invalid", None)
    while channel.ready and tries > 0:
        result, text = await read_digits(
            channel,
            min_digits=min_digits,
            max_digits=max_digits,
            prompt=prompt,
            var_name=var_name,
            timeout_ms=timeout_ms,
            terminators=terminators,
            digit_timeout_ms=digit_timeout_ms,
        )
        if result in ("success", "timeout") and len(text) >= min_digits and (text or min_digits == 0):
            if not regex or re.search(regex, text):
                return
            if var_name:
                channel.set_var(var_name, None)
                channel.set_var(f"{var_name}_invalid", text)
        if not channel.ready:
            return
        if invalid:
            await play_file(channel, invalid)
        tries -= 1
